//! `AreaShape`: CellProfiler's `MeasureObjectSizeShape` (the 2D core, the radii and the Feret
//! diameters; Zernike moments are not here yet).

use std::f64::consts::{PI, SQRT_2};

use ndarray::Array2;

use crate::distance::squared_distance_to_outside;
use crate::objects::{Object, Objects};

/// Size and shape of one object, named as CellProfiler names them (`AreaShape_<Name>`).
#[derive(Debug, Clone, PartialEq)]
pub struct AreaShape {
    /// Pixels in the object.
    pub area: f64,
    /// Length of the boundary: border pixels weighted 1, √2 or (1 + √2)/2 by the shape of
    /// their neighbourhood (scikit-image's `perimeter`, 4-neighbourhood, which CellProfiler uses).
    pub perimeter: f64,
    /// 4π·area / perimeter² (1 for a disc; NaN when the perimeter is 0).
    pub form_factor: f64,
    /// perimeter² / (4π·area).
    pub compactness: f64,
    /// Eccentricity of the ellipse with the object's second moments (0 = circle).
    pub eccentricity: f64,
    /// Major axis of that ellipse, pixels.
    pub major_axis_length: f64,
    /// Minor axis of that ellipse, pixels.
    pub minor_axis_length: f64,
    /// Angle between the row axis and the major axis in degrees, −90 to 90 (scikit-image's
    /// convention, which CellProfiler reports).
    pub orientation: f64,
    /// area / convex area.
    pub solidity: f64,
    /// Pixel centres inside or on the convex hull of the object's pixels (each pixel taken as
    /// the four midpoints of its sides, as scikit-image does).
    pub convex_area: f64,
    /// area / bounding-box area.
    pub extent: f64,
    /// Objects minus holes (8-connected objects, 4-connected holes).
    pub euler_number: f64,
    /// Diameter of the disc with the same area.
    pub equivalent_diameter: f64,
    /// Mean column of the pixels.
    pub center_x: f64,
    /// Mean row of the pixels.
    pub center_y: f64,
    /// Bounding-box pixels.
    pub bounding_box_area: f64,
    /// First column of the bounding box.
    pub bounding_box_minimum_x: f64,
    /// First row of the bounding box.
    pub bounding_box_minimum_y: f64,
    /// One past the last column.
    pub bounding_box_maximum_x: f64,
    /// One past the last row.
    pub bounding_box_maximum_y: f64,
    /// Largest distance of a pixel to the nearest pixel outside the object (Euclidean, pixel
    /// centres; the image border does not stop it: the object is measured on its own).
    pub maximum_radius: f64,
    /// Mean of those distances over the object's pixels.
    pub mean_radius: f64,
    /// Their median (the mean of the two middle values for an even count, as numpy).
    pub median_radius: f64,
    /// Smallest distance between two parallel lines enclosing the pixel centres (the convex
    /// hull's width; 0 for a single pixel or a line of pixels).
    pub min_feret_diameter: f64,
    /// Largest distance between two pixel centres.
    pub max_feret_diameter: f64,
}

impl AreaShape {
    /// `(CellProfiler name without the AreaShape_ prefix, value)`, in a fixed order.
    /// The feature names, in the order of [`Self::features`].
    pub const NAMES: [&'static str; 25] = [
        "Area",
        "Perimeter",
        "FormFactor",
        "Compactness",
        "Eccentricity",
        "MajorAxisLength",
        "MinorAxisLength",
        "Orientation",
        "Solidity",
        "ConvexArea",
        "Extent",
        "EulerNumber",
        "EquivalentDiameter",
        "Center_X",
        "Center_Y",
        "BoundingBoxArea",
        "BoundingBoxMinimum_X",
        "BoundingBoxMinimum_Y",
        "BoundingBoxMaximum_X",
        "BoundingBoxMaximum_Y",
        "MaximumRadius",
        "MeanRadius",
        "MedianRadius",
        "MinFeretDiameter",
        "MaxFeretDiameter",
    ];

    /// The values, in the order of [`Self::NAMES`].
    pub fn values(&self) -> [f64; 25] {
        [
            self.area,
            self.perimeter,
            self.form_factor,
            self.compactness,
            self.eccentricity,
            self.major_axis_length,
            self.minor_axis_length,
            self.orientation,
            self.solidity,
            self.convex_area,
            self.extent,
            self.euler_number,
            self.equivalent_diameter,
            self.center_x,
            self.center_y,
            self.bounding_box_area,
            self.bounding_box_minimum_x,
            self.bounding_box_minimum_y,
            self.bounding_box_maximum_x,
            self.bounding_box_maximum_y,
            self.maximum_radius,
            self.mean_radius,
            self.median_radius,
            self.min_feret_diameter,
            self.max_feret_diameter,
        ]
    }

    /// `(name, value)` pairs, in the order of [`Self::NAMES`].
    pub fn features(&self) -> [(&'static str, f64); 25] {
        let v = self.values();
        std::array::from_fn(|i| (Self::NAMES[i], v[i]))
    }
}

/// [`AreaShape`] of every object, in the objects' order.
pub fn measure_shapes(objects: &Objects) -> Vec<AreaShape> {
    objects.objects().iter().map(shape_of).collect()
}

fn shape_of(o: &Object) -> AreaShape {
    let n = o.pixels.len() as f64;
    let (sr, sc) = o
        .pixels
        .iter()
        .fold((0.0, 0.0), |(a, b), &(r, c)| (a + r as f64, b + c as f64));
    let (cy, cx) = (sr / n, sc / n);
    let (mut mu20, mut mu02, mut mu11) = (0.0, 0.0, 0.0);
    for &(r, c) in &o.pixels {
        let (dr, dc) = (r as f64 - cy, c as f64 - cx);
        mu20 += dr * dr;
        mu02 += dc * dc;
        mu11 += dr * dc;
    }
    // The inertia tensor [[a, b], [b, c]] in (row, column) order, as scikit-image builds it.
    let (a, b, c) = (mu02 / n, -mu11 / n, mu20 / n);
    let disc = (4.0 * b * b + (a - c) * (a - c)).sqrt();
    let l1 = ((a + c + disc) / 2.0).max(0.0);
    let l2 = ((a + c - disc) / 2.0).max(0.0);
    let orientation = if a - c == 0.0 {
        if b < 0.0 {
            PI / 4.0
        } else {
            -PI / 4.0
        }
    } else {
        0.5 * (-2.0 * b).atan2(c - a)
    };
    let mask = o.mask();
    let perimeter = perimeter(&mask);
    let convex = convex_area(o);
    let (bh, bw) = o.box_shape();
    let box_area = (bh * bw) as f64;
    let (maximum_radius, mean_radius, median_radius) = radii(&mask);
    let (min_feret_diameter, max_feret_diameter) = feret_diameters(o);
    AreaShape {
        area: n,
        perimeter,
        form_factor: if perimeter > 0.0 {
            4.0 * PI * n / (perimeter * perimeter)
        } else {
            f64::NAN
        },
        compactness: perimeter * perimeter / (4.0 * PI * n),
        eccentricity: if l1 == 0.0 {
            0.0
        } else {
            (1.0 - l2 / l1).sqrt()
        },
        major_axis_length: 4.0 * l1.sqrt(),
        minor_axis_length: 4.0 * l2.sqrt(),
        orientation: orientation.to_degrees(),
        solidity: n / convex,
        convex_area: convex,
        extent: n / box_area,
        euler_number: euler_number_8(&mask),
        equivalent_diameter: (4.0 * n / PI).sqrt(),
        center_x: cx,
        center_y: cy,
        bounding_box_area: box_area,
        bounding_box_minimum_x: o.min.1 as f64,
        bounding_box_minimum_y: o.min.0 as f64,
        bounding_box_maximum_x: o.max.1 as f64,
        bounding_box_maximum_y: o.max.0 as f64,
        maximum_radius,
        mean_radius,
        median_radius,
        min_feret_diameter,
        max_feret_diameter,
    }
}

/// Maximum, mean and median distance of the object's pixels to the nearest pixel outside it,
/// on its box padded by one background pixel all round (as CellProfiler pads it).
fn radii(mask: &Array2<bool>) -> (f64, f64, f64) {
    let (h, w) = mask.dim();
    let mut padded = Array2::from_elem((h + 2, w + 2), false);
    padded
        .slice_mut(ndarray::s![1..h + 1, 1..w + 1])
        .assign(mask);
    let d2 = squared_distance_to_outside(&padded);
    let mut inside: Vec<f64> = padded
        .iter()
        .zip(d2.iter())
        .filter(|(&i, _)| i)
        .map(|(_, &v)| v.sqrt())
        .collect();
    let n = inside.len();
    let max = inside.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = inside.iter().sum::<f64>() / n as f64;
    // The middle value(s) by selection, not a full sort.
    let (lower, &mut upper, _) = inside.select_nth_unstable_by(n / 2, f64::total_cmp);
    let median = if n % 2 == 1 {
        upper
    } else {
        let below = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        0.5 * (below + upper)
    };
    (max, mean, median)
}

/// `mask[r][c]` with everything outside the array false.
fn at(mask: &Array2<bool>, r: isize, c: isize) -> bool {
    let (h, w) = mask.dim();
    r >= 0 && c >= 0 && (r as usize) < h && (c as usize) < w && mask[[r as usize, c as usize]]
}

/// Border pixels (in the object, a 4-neighbour outside it) weighted by the pattern of border
/// pixels around them: the code Σ kernel·border over the 3×3 neighbourhood with kernel
/// [[10, 2, 10], [2, 1, 2], [10, 2, 10]] says whether the boundary runs straight (1),
/// diagonally (√2) or turns ((1 + √2)/2) there.
fn perimeter(mask: &Array2<bool>) -> f64 {
    let (h, w) = mask.dim();
    // Border pixels once, padded by one so that every 3×3 neighbourhood is inside.
    let mut border = Array2::from_elem((h + 2, w + 2), false);
    for r in 0..h as isize {
        for c in 0..w as isize {
            border[[r as usize + 1, c as usize + 1]] = at(mask, r, c)
                && !(at(mask, r - 1, c)
                    && at(mask, r + 1, c)
                    && at(mask, r, c - 1)
                    && at(mask, r, c + 1));
        }
    }
    let mut total = 0.0;
    for r in 1..=h {
        for c in 1..=w {
            // Only border pixels have an odd code, and only odd codes carry a weight.
            if !border[[r, c]] {
                continue;
            }
            let b = |dr: isize, dc: isize| {
                border[[(r as isize + dr) as usize, (c as isize + dc) as usize]] as u32
            };
            let code = 1
                + 10 * (b(-1, -1) + b(-1, 1) + b(1, -1) + b(1, 1))
                + 2 * (b(-1, 0) + b(0, -1) + b(0, 1) + b(1, 0));
            total += match code {
                5 | 7 | 15 | 17 | 25 | 27 => 1.0,
                21 | 33 => SQRT_2,
                13 | 23 => (1.0 + SQRT_2) / 2.0,
                _ => 0.0,
            };
        }
    }
    total
}

/// Euler number with 8-connected objects and 4-connected holes, from the counts of 2×2
/// patterns (Gray's bit quads) over the zero-padded mask: (Q1 − Q3 − 2·QD) / 4.
fn euler_number_8(mask: &Array2<bool>) -> f64 {
    let (h, w) = mask.dim();
    let (mut q1, mut q3, mut qd) = (0i64, 0i64, 0i64);
    for r in -1..h as isize {
        for c in -1..w as isize {
            let p = [
                at(mask, r, c),
                at(mask, r, c + 1),
                at(mask, r + 1, c),
                at(mask, r + 1, c + 1),
            ];
            match p.iter().filter(|&&v| v).count() {
                1 => q1 += 1,
                3 => q3 += 1,
                2 if p[0] == p[3] => qd += 1,
                _ => {}
            }
        }
    }
    ((q1 - q3 - 2 * qd) / 4) as f64
}

/// The first and last pixel of each row and of each column (row, column): only these can be
/// vertices of the convex hull of an object's pixels.
fn row_and_column_ends(o: &Object) -> Vec<(i64, i64)> {
    let (bh, bw) = o.box_shape();
    let mut row_ends = vec![(usize::MAX, 0usize); bh];
    let mut col_ends = vec![(usize::MAX, 0usize); bw];
    for &(r, c) in &o.pixels {
        let (rr, cc) = (r - o.min.0, c - o.min.1);
        row_ends[rr] = (row_ends[rr].0.min(cc), row_ends[rr].1.max(cc));
        col_ends[cc] = (col_ends[cc].0.min(rr), col_ends[cc].1.max(rr));
    }
    let mut candidates: Vec<(i64, i64)> = Vec::new();
    for (rr, &(a, b)) in row_ends.iter().enumerate() {
        if a != usize::MAX {
            candidates.push((rr as i64, a as i64));
            candidates.push((rr as i64, b as i64));
        }
    }
    for (cc, &(a, b)) in col_ends.iter().enumerate() {
        if a != usize::MAX {
            candidates.push((a as i64, cc as i64));
            candidates.push((b as i64, cc as i64));
        }
    }
    candidates
}

/// (minimum, maximum) Feret diameter of the pixel centres, as CellProfiler's
/// `MinFeretDiameter` / `MaxFeretDiameter` (centrosome's `feret_diameter` on the convex hull of
/// the pixel coordinates). The width is the least, over the hull's edges, of the farthest
/// vertex's distance to the edge's line (a minimal enclosing strip has a side on an edge); the
/// diameter is the largest vertex-to-vertex distance. Squared distances are exact integers
/// (or one division of them) until the final square root.
fn feret_diameters(o: &Object) -> (f64, f64) {
    let mut points = row_and_column_ends(o);
    let hull = convex_hull(&mut points);
    let d2 = |a: (i64, i64), b: (i64, i64)| (a.0 - b.0).pow(2) + (a.1 - b.1).pow(2);
    let max2 = hull
        .iter()
        .flat_map(|&a| hull.iter().map(move |&b| d2(a, b)))
        .max()
        .unwrap_or(0);
    if hull.len() < 3 {
        return (0.0, (max2 as f64).sqrt());
    }
    let n = hull.len();
    let min2 = (0..n)
        .map(|i| {
            let (a, b) = (hull[i], hull[(i + 1) % n]);
            let far = hull
                .iter()
                .map(|&v| cross(a, b, v).abs())
                .max()
                .unwrap_or(0);
            (far as f64).powi(2) / d2(a, b) as f64
        })
        .fold(f64::INFINITY, f64::min);
    (min2.sqrt(), (max2 as f64).sqrt())
}

/// Pixels of the bounding box whose centre lies inside or on the convex hull of the points
/// (row ± ½, column) and (row, column ± ½) of the object's pixels. Coordinates are doubled so
/// that every test is exact integer arithmetic.
fn convex_area(o: &Object) -> f64 {
    let (bh, bw) = o.box_shape();
    let candidates = row_and_column_ends(o);
    let mut points: Vec<(i64, i64)> = candidates
        .iter()
        .flat_map(|&(r, c)| {
            let (r, c) = (2 * r, 2 * c);
            [(r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)]
        })
        .collect();
    let hull = convex_hull(&mut points);
    // Row by row: the hull meets row y = 2r in one interval (it is convex); count the columns
    // c with 2c inside it, the ends included.
    let mut inside = 0i64;
    for r in 0..bh as i64 {
        let y = 2 * r;
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for i in 0..hull.len() {
            let (a, b) = (hull[i], hull[(i + 1) % hull.len()]);
            if y < a.0.min(b.0) || y > a.0.max(b.0) {
                continue;
            }
            if a.0 == b.0 {
                for x in [a.1, b.1] {
                    lo = lo.min(x.div_euclid(2) + (x.rem_euclid(2) != 0) as i64);
                    hi = hi.max(x.div_euclid(2));
                }
                continue;
            }
            // x = a.1 + (y − a.0)(b.1 − a.1)/(b.0 − a.0), exactly, as num / den with den > 0;
            // the columns are x / 2.
            let (mut num, mut den) = (a.1 * (b.0 - a.0) + (y - a.0) * (b.1 - a.1), b.0 - a.0);
            if den < 0 {
                (num, den) = (-num, -den);
            }
            let den2 = 2 * den;
            lo = lo.min(num.div_euclid(den2) + (num.rem_euclid(den2) != 0) as i64);
            hi = hi.max(num.div_euclid(den2));
        }
        if hi >= lo {
            // Columns outside the box hold no pixel centre of the object's hull.
            inside += hi.min(bw as i64 - 1) - lo.max(0) + 1;
        }
    }
    inside as f64
}

fn cross(o: (i64, i64), a: (i64, i64), b: (i64, i64)) -> i64 {
    (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
}

/// Andrew's monotone chain: the hull's vertices counter-clockwise (in (row, column)
/// coordinates), collinear points dropped.
fn convex_hull(points: &mut Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    points.sort_unstable();
    points.dedup();
    if points.len() < 3 {
        return points.clone();
    }
    let mut hull: Vec<(i64, i64)> = Vec::with_capacity(2 * points.len());
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &(i64, i64)>> = if pass == 0 {
            Box::new(points.iter())
        } else {
            Box::new(points.iter().rev())
        };
        for &p in iter {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

/// Inside or on the boundary of a counter-clockwise convex polygon (the slow definition the
/// row-interval count is tested against).
#[cfg(test)]
fn in_convex_polygon(hull: &[(i64, i64)], p: (i64, i64)) -> bool {
    let n = hull.len();
    (0..n).all(|i| cross(hull[i], hull[(i + 1) % n], p) >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn one(mask: Array2<bool>) -> AreaShape {
        measure_shapes(&Objects::from_mask(mask.view())).remove(0)
    }

    #[test]
    fn a_rectangle_has_the_shape_numbers_of_a_rectangle() {
        // 3 rows × 5 columns, filled: every number can be worked by hand.
        let s = one(Array2::from_elem((3, 5), true));
        assert_eq!(
            (s.area, s.extent, s.solidity, s.euler_number),
            (15.0, 1.0, 1.0, 1.0)
        );
        assert_eq!((s.center_x, s.center_y), (2.0, 1.0));
        // Border: the 12 outer pixels, each weighted 1 (scikit-image: 12.0).
        assert_eq!(s.perimeter, 12.0);
        // Column variance 2, row variance 2/3: axes 4√2 and 4√(2/3), major along x.
        assert!((s.major_axis_length - 4.0 * 2f64.sqrt()).abs() < 1e-12);
        assert!((s.minor_axis_length - 4.0 * (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
        // scikit-image's angle from the row axis: ±90° for a wide object.
        assert_eq!(s.orientation.abs(), 90.0);
    }

    #[test]
    fn a_ring_has_euler_number_zero_and_a_convex_area_including_its_hole() {
        let mut m = Array2::from_elem((5, 5), true);
        m[[2, 2]] = false;
        let s = one(m);
        assert_eq!((s.area, s.euler_number, s.convex_area), (24.0, 0.0, 25.0));
        // scikit-image: 16.0 (the 16 outer pixels; the hole's 8 neighbours are border too,
        // but their codes carry no weight).
        assert_eq!(s.perimeter, 16.0);
    }

    #[test]
    fn the_row_interval_count_equals_the_point_in_polygon_definition() {
        // Seeded blobs: the convex area by rows equals testing every pixel centre.
        let mut state = 12345u64;
        for _ in 0..50 {
            let mut m = Array2::from_elem((17, 23), false);
            for _ in 0..30 {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let (r, c) = ((state >> 33) as usize % 17, (state >> 13) as usize % 23);
                m[[r, c]] = true;
            }
            let o = Objects::from_labels(m.mapv(u32::from));
            let obj = &o.objects()[0];
            let mut points: Vec<(i64, i64)> = obj
                .pixels
                .iter()
                .flat_map(|&(r, c)| {
                    let (r, c) = (2 * (r - obj.min.0) as i64, 2 * (c - obj.min.1) as i64);
                    [(r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)]
                })
                .collect();
            let hull = convex_hull(&mut points);
            let (bh, bw) = obj.box_shape();
            let slow = (0..bh as i64)
                .flat_map(|r| (0..bw as i64).map(move |c| (2 * r, 2 * c)))
                .filter(|&p| in_convex_polygon(&hull, p))
                .count();
            assert_eq!(convex_area(obj), slow as f64);
        }
    }

    #[test]
    fn a_single_pixel_has_no_perimeter_and_an_undefined_form_factor() {
        let s = one(Array2::from_elem((1, 1), true));
        assert_eq!((s.area, s.perimeter, s.convex_area), (1.0, 0.0, 1.0));
        assert!(s.form_factor.is_nan());
    }

    #[test]
    fn feret_diameters_by_hand() {
        // One pixel; a line of 5; a 3 × 4 rectangle (width 2, diagonal √13).
        let s = one(Array2::from_elem((1, 1), true));
        assert_eq!((s.min_feret_diameter, s.max_feret_diameter), (0.0, 0.0));
        let s = one(Array2::from_elem((1, 5), true));
        assert_eq!((s.min_feret_diameter, s.max_feret_diameter), (0.0, 4.0));
        let s = one(Array2::from_elem((3, 4), true));
        assert_eq!(s.min_feret_diameter, 2.0);
        assert_eq!(s.max_feret_diameter, 13f64.sqrt());
        // An L of legs 3: hull the right triangle (0,0), (3,0), (3,3); its height over the
        // hypotenuse is 3/√2, the hypotenuse 3√2.
        let s = one(Array2::from_shape_fn((4, 4), |(r, c)| c == 0 || r == 3));
        assert!((s.min_feret_diameter - 3.0 / 2f64.sqrt()).abs() < 1e-15);
        assert!((s.max_feret_diameter - 18f64.sqrt()).abs() < 1e-15);
    }

    /// The hull-based Feret diameters against their definitions over every pixel: the longest
    /// pixel-to-pixel distance, and the narrowest strip bounded by a line through two pixels
    /// that has every pixel on one side.
    #[test]
    fn feret_diameters_equal_their_definitions_on_seeded_blobs() {
        let mut state = 777u64;
        for _ in 0..60 {
            let mut m = Array2::from_elem((13, 19), false);
            for _ in 0..25 {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let (r, c) = ((state >> 33) as usize % 13, (state >> 13) as usize % 19);
                m[[r, c]] = true;
            }
            let o = Objects::from_labels(m.mapv(u32::from));
            let obj = &o.objects()[0];
            let p: Vec<(f64, f64)> = obj
                .pixels
                .iter()
                .map(|&(r, c)| (r as f64, c as f64))
                .collect();
            let longest = p
                .iter()
                .flat_map(|a| {
                    p.iter()
                        .map(move |b| ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt())
                })
                .fold(0.0, f64::max);
            let mut narrowest = f64::INFINITY;
            for a in &p {
                for b in &p {
                    let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
                    if len == 0.0 {
                        continue;
                    }
                    let side: Vec<f64> = p
                        .iter()
                        .map(|v| ((b.0 - a.0) * (v.1 - a.1) - (b.1 - a.1) * (v.0 - a.0)) / len)
                        .collect();
                    if side.iter().all(|&d| d >= 0.0) || side.iter().all(|&d| d <= 0.0) {
                        narrowest = narrowest.min(side.iter().map(|d| d.abs()).fold(0.0, f64::max));
                    }
                }
            }
            let (min, max) = feret_diameters(obj);
            assert!((max - longest).abs() < 1e-12, "{max} vs {longest}");
            assert!((min - narrowest).abs() < 1e-12, "{min} vs {narrowest}");
        }
    }
}
