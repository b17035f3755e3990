//! Nucleus centres: read CellProfiler's (`Nuclei_Location_Center_X/Y`), or find them on the DNA
//! channel: smooth, Otsu threshold, fill holes, split touching nuclei by a marker watershed on
//! the distance transform, drop small and border-touching objects (CellProfiler's default),
//! report centroids. imageproc supplies Otsu, labelling and the distance transform.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::path::Path;

use image::{GrayImage, Luma};
use imageproc::distance_transform::euclidean_squared_distance_transform;
use imageproc::region_labelling::{connected_components, Connectivity};
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::compress::CompressionParams;
use crate::error::{ImageError, Result};
use crate::resize::gaussian_blur;

/// CellProfiler's column name for a nucleus centre's column.
pub const CENTER_X: &str = "Nuclei_Location_Center_X";
/// CellProfiler's column name for a nucleus centre's row.
pub const CENTER_Y: &str = "Nuclei_Location_Center_Y";

/// Detector settings, in pixels of the image given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NucleusParams {
    /// Gaussian σ applied before thresholding.
    pub smoothing_sigma: f32,
    /// Smallest distance between two nucleus centres (about a nucleus radius).
    pub min_distance: f32,
    /// Objects smaller than this many pixels are debris.
    pub min_area: usize,
    /// Drop objects that touch the image border (CellProfiler's default).
    pub exclude_border: bool,
}

impl Default for NucleusParams {
    fn default() -> Self {
        Self {
            smoothing_sigma: 2.0,
            min_distance: 12.0,
            min_area: 100,
            exclude_border: true,
        }
    }
}

/// One detected nucleus.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Nucleus {
    /// Centroid column, in pixels.
    pub x: f64,
    /// Centroid row, in pixels.
    pub y: f64,
    /// Area in pixels.
    pub area: usize,
}

/// Labels image from detection: 0 is background, 1..=n the nuclei in `Nucleus` order.
pub struct Segmentation {
    /// The nuclei, in label order.
    pub nuclei: Vec<Nucleus>,
    /// Label of each pixel.
    pub labels: Array2<u32>,
    /// The Otsu threshold chosen on the smoothed DNA channel stretched to 8 bits.
    pub threshold: u8,
}

#[derive(PartialEq)]
struct Item {
    priority: f32,
    order: u64,
    y: u32,
    x: u32,
    label: u32,
}
impl Eq for Item {}
impl Ord for Item {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .total_cmp(&other.priority)
            .then_with(|| other.order.cmp(&self.order))
    }
}
impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Finds nuclei on a DNA plane (any intensity range).
pub fn detect_nuclei(dna: ArrayView2<'_, f32>, params: &NucleusParams) -> Result<Segmentation> {
    let (h, w) = dna.dim();
    if h < 3 || w < 3 {
        return Err(ImageError::Params(format!(
            "image of {w}×{h} is too small to segment"
        )));
    }
    let smooth = gaussian_blur(dna, params.smoothing_sigma, params.smoothing_sigma);
    let u8s = CompressionParams::default().stretch_to_u8(smooth.view());
    let gray = GrayImage::from_fn(w as u32, h as u32, |x, y| {
        Luma([u8s[[y as usize, x as usize]]])
    });
    let threshold = imageproc::contrast::otsu_level(&gray);
    let mut mask: Vec<bool> = gray.pixels().map(|p| p[0] > threshold).collect();

    // Fill holes: background regions that do not reach the border become foreground.
    let background = GrayImage::from_fn(w as u32, h as u32, |x, y| {
        Luma([if mask[y as usize * w + x as usize] {
            0
        } else {
            255
        }])
    });
    let bg_labels = connected_components(&background, Connectivity::Four, Luma([0u8]));
    let mut touches = vec![false; (h * w) + 1];
    for y in 0..h {
        for x in 0..w {
            if y == 0 || x == 0 || y == h - 1 || x == w - 1 {
                touches[bg_labels.get_pixel(x as u32, y as u32)[0] as usize] = true;
            }
        }
    }
    for (i, m) in mask.iter_mut().enumerate() {
        let l = bg_labels.as_raw()[i] as usize;
        if !*m && l != 0 && !touches[l] {
            *m = true;
        }
    }

    // Distance from each foreground pixel to the background.
    let inverted = GrayImage::from_fn(w as u32, h as u32, |x, y| {
        Luma([if mask[y as usize * w + x as usize] {
            0
        } else {
            255
        }])
    });
    let d2 = euclidean_squared_distance_transform(&inverted);
    let dist = Array2::from_shape_fn((h, w), |(y, x)| {
        d2.get_pixel(x as u32, y as u32)[0].sqrt() as f32
    });
    let dist = gaussian_blur(dist.view(), 1.0, 1.0);

    // Markers: local maxima of the distance, greedily kept at least min_distance apart.
    let mut candidates: Vec<(f32, usize, usize)> = Vec::new();
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let v = dist[[y, x]];
            if !mask[y * w + x] || v < 1.0 {
                continue;
            }
            let is_max = (y - 1..=y + 1).all(|yy| (x - 1..=x + 1).all(|xx| dist[[yy, xx]] <= v));
            if is_max {
                candidates.push((v, y, x));
            }
        }
    }
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
    let cell = params.min_distance.max(1.0);
    let mut grid: std::collections::HashMap<(usize, usize), Vec<(usize, usize)>> =
        Default::default();
    let mut markers: Vec<(usize, usize)> = Vec::new();
    for &(_, y, x) in &candidates {
        let (gy, gx) = ((y as f32 / cell) as usize, (x as f32 / cell) as usize);
        let near = (gy.saturating_sub(1)..=gy + 1).any(|a| {
            (gx.saturating_sub(1)..=gx + 1).any(|b| {
                grid.get(&(a, b)).is_some_and(|v| {
                    v.iter().any(|&(py, px)| {
                        let (dy, dx) = (py as f32 - y as f32, px as f32 - x as f32);
                        (dy * dy + dx * dx).sqrt() < params.min_distance
                    })
                })
            })
        });
        if !near {
            grid.entry((gy, gx)).or_default().push((y, x));
            markers.push((y, x));
        }
    }

    // Marker watershed on −distance, restricted to the mask.
    let mut labels = Array2::<u32>::zeros((h, w));
    let mut heap = BinaryHeap::new();
    let mut order = 0u64;
    for (i, &(y, x)) in markers.iter().enumerate() {
        labels[[y, x]] = i as u32 + 1;
        heap.push(Item {
            priority: dist[[y, x]],
            order,
            y: y as u32,
            x: x as u32,
            label: i as u32 + 1,
        });
        order += 1;
    }
    while let Some(Item { y, x, label, .. }) = heap.pop() {
        let (y, x) = (y as usize, x as usize);
        for (dy, dx) in [(-1isize, 0isize), (1, 0), (0, -1), (0, 1)] {
            let (ny, nx) = (y as isize + dy, x as isize + dx);
            if ny < 0 || nx < 0 || ny >= h as isize || nx >= w as isize {
                continue;
            }
            let (ny, nx) = (ny as usize, nx as usize);
            if mask[ny * w + nx] && labels[[ny, nx]] == 0 {
                labels[[ny, nx]] = label;
                heap.push(Item {
                    priority: dist[[ny, nx]],
                    order,
                    y: ny as u32,
                    x: nx as u32,
                    label,
                });
                order += 1;
            }
        }
    }

    // Measure, filter, relabel 1..n.
    let n = markers.len();
    let mut area = vec![0usize; n + 1];
    let mut sx = vec![0f64; n + 1];
    let mut sy = vec![0f64; n + 1];
    let mut border = vec![false; n + 1];
    for ((y, x), &l) in labels.indexed_iter() {
        let l = l as usize;
        if l == 0 {
            continue;
        }
        area[l] += 1;
        sx[l] += x as f64;
        sy[l] += y as f64;
        if y == 0 || x == 0 || y == h - 1 || x == w - 1 {
            border[l] = true;
        }
    }
    let mut new_label = vec![0u32; n + 1];
    let mut nuclei = Vec::new();
    for l in 1..=n {
        if area[l] >= params.min_area && !(params.exclude_border && border[l]) {
            nuclei.push(Nucleus {
                x: sx[l] / area[l] as f64,
                y: sy[l] / area[l] as f64,
                area: area[l],
            });
            new_label[l] = nuclei.len() as u32;
        }
    }
    labels.mapv_inplace(|l| new_label[l as usize]);
    Ok(Segmentation {
        nuclei,
        labels,
        threshold,
    })
}

/// Reads nucleus centres from a CellProfiler-style CSV (`Nuclei_Location_Center_X/Y`, or
/// `Location_Center_X/Y`). Rows with an empty coordinate are an error naming the line.
pub fn read_locations(path: impl AsRef<Path>) -> Result<Vec<(f64, f64)>> {
    let path = path.as_ref();
    let (mut rdr, headers) = crate::index::open_csv(path)?;
    let col = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let (Some(cx), Some(cy)) = (
        col(&[CENTER_X, "Location_Center_X"]),
        col(&[CENTER_Y, "Location_Center_Y"]),
    ) else {
        return Err(ImageError::invalid(
            path.display(),
            format!(
                "expected columns {CENTER_X} and {CENTER_Y}; found {}",
                headers
                    .iter()
                    .map(|h| profiles::shown(h))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    };
    let mut out = Vec::new();
    for (i, row) in rdr.records().enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| {
            ImageError::invalid(format!("{}, line {line}", path.display()), e.to_string())
        })?;
        let parse = |c: usize, name: &str| -> Result<f64> {
            let s = row.get(c).unwrap_or("").trim();
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    ImageError::invalid(
                        format!(
                            "{}, line {line}, column {}",
                            path.display(),
                            profiles::shown(name)
                        ),
                        format!("'{}' is not a finite number", profiles::shown(s)),
                    )
                })
        };
        out.push((parse(cx, &headers[cx])?, parse(cy, &headers[cy])?));
    }
    Ok(out)
}

/// Writes nucleus centres with CellProfiler's column names, atomically.
pub fn write_locations(path: impl AsRef<Path>, nuclei: &[Nucleus]) -> Result<()> {
    profiles::write_atomic(path.as_ref(), |w| {
        let mut wtr = csv::Writer::from_writer(w);
        wtr.write_record(["ObjectNumber", CENTER_X, CENTER_Y, "Nuclei_AreaShape_Area"])?;
        for (i, n) in nuclei.iter().enumerate() {
            wtr.write_record([
                (i + 1).to_string(),
                format!("{:.3}", n.x),
                format!("{:.3}", n.y),
                n.area.to_string(),
            ])?;
        }
        wtr.flush()
    })?;
    Ok(())
}

/// Counts the closed outlines in a CellProfiler outline overlay (any non-zero pixel is outline):
/// the regions enclosed by outlines that do not reach the border, larger than `min_area`.
pub fn count_outlined_objects(outline: ArrayView2<'_, bool>, min_area: usize) -> usize {
    let (h, w) = outline.dim();
    let img = GrayImage::from_fn(w as u32, h as u32, |x, y| {
        Luma([if outline[[y as usize, x as usize]] {
            0
        } else {
            255
        }])
    });
    let labels = connected_components(&img, Connectivity::Four, Luma([0u8]));
    let max = labels.as_raw().iter().copied().max().unwrap_or(0) as usize;
    let mut area = vec![0usize; max + 1];
    let mut border = vec![false; max + 1];
    for (x, y, p) in labels.enumerate_pixels() {
        let l = p[0] as usize;
        area[l] += 1;
        if x == 0 || y == 0 || x as usize == w - 1 || y as usize == h - 1 {
            border[l] = true;
        }
    }
    (1..=max)
        .filter(|&l| !border[l] && area[l] >= min_area)
        .count()
}
