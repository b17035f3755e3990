//! `Texture`: CellProfiler's `MeasureTexture` — Haralick's 13 features of the gray-level
//! co-occurrence matrix, per object, channel, scale and direction.

use ndarray::{Array2, ArrayView2};

use crate::error::{finite, Result};
use crate::objects::{Object, Objects};

/// Haralick's features, CellProfiler's names, in the order of [`Texture::values`].
pub const HARALICK: [&str; 13] = [
    "AngularSecondMoment",
    "Contrast",
    "Correlation",
    "Variance",
    "InverseDifferenceMoment",
    "SumAverage",
    "SumVariance",
    "SumEntropy",
    "Entropy",
    "DifferenceVariance",
    "DifferenceEntropy",
    "InfoMeas1",
    "InfoMeas2",
];

/// The four 2D directions (row, column steps), CellProfiler's `00` … `03`.
const DIRECTIONS: [(isize, isize); 4] = [(0, 1), (1, 1), (1, 0), (1, -1)];

/// Texture of one object in one channel at one scale: `values[d]` are the 13 [`HARALICK`]
/// features in direction `d`. CellProfiler's column is
/// `Texture_<Feature>_<Channel>_<scale>_<0d>_256`. All NaN when a direction has no pair of
/// nonzero gray levels at this scale (an object smaller than the scale).
#[derive(Debug, Clone, PartialEq)]
pub struct Texture {
    /// Per direction, the 13 features.
    pub values: [[f64; 13]; 4],
}

impl Texture {
    /// Column names for `channel` at `scale`, in the order of [`Self::flat`].
    pub fn names(channel: &str, scale: usize) -> Vec<String> {
        (0..4)
            .flat_map(|d| {
                HARALICK
                    .iter()
                    .map(move |f| format!("Texture_{f}_{channel}_{scale}_{d:02}_256"))
            })
            .collect()
    }

    /// The 52 values, direction by direction.
    pub fn flat(&self) -> Vec<f64> {
        self.values.iter().flatten().copied().collect()
    }
}

/// [`Texture`] of every object in `pixels` (0–1) at distance `scale` (CellProfiler's default
/// is 3). Intensities are quantized to 256 gray levels over the whole image (v·255 rounded,
/// no stretching), as CellProfiler does; gray level 0 (and the pixels outside the object) takes
/// no part in the co-occurrences.
pub fn measure_texture(
    objects: &Objects,
    pixels: ArrayView2<'_, f64>,
    scale: usize,
) -> Result<Vec<Texture>> {
    objects.check_size(pixels.dim())?;
    objects
        .objects()
        .iter()
        .map(|o| {
            let crop = quantized_crop(o, &pixels)?;
            Ok(texture_of(&crop, scale.max(1)))
        })
        .collect()
}

/// The object's bounding box with its own pixels' gray levels and 0 elsewhere.
fn quantized_crop(o: &Object, pixels: &ArrayView2<'_, f64>) -> Result<Array2<u8>> {
    let mut crop = Array2::<u8>::zeros(o.box_shape());
    for &(r, c) in &o.pixels {
        let v = finite(pixels[[r, c]], r, c)?;
        crop[[r - o.min.0, c - o.min.1]] = (v * 255.0).round_ties_even().clamp(0.0, 255.0) as u8;
    }
    Ok(crop)
}

/// −Σ p·log2 p over the nonzero entries.
fn entropy(p: impl Iterator<Item = f64>) -> f64 {
    -p.filter(|&v| v != 0.0).map(|v| v * v.log2()).sum::<f64>()
}

fn texture_of(crop: &Array2<u8>, scale: usize) -> Texture {
    let levels = crop.iter().copied().max().unwrap_or(0) as usize + 1;
    let (h, w) = crop.dim();
    let mut values = [[f64::NAN; 13]; 4];
    let mut counts = vec![0u64; levels * levels];
    for (d, &(dr, dc)) in DIRECTIONS.iter().enumerate() {
        counts.iter_mut().for_each(|c| *c = 0);
        let (dr, dc) = (dr * scale as isize, dc * scale as isize);
        for r in 0..h as isize {
            for c in 0..w as isize {
                let (r2, c2) = (r + dr, c + dc);
                if r2 < 0 || c2 < 0 || r2 >= h as isize || c2 >= w as isize {
                    continue;
                }
                let a = crop[[r as usize, c as usize]] as usize;
                let b = crop[[r2 as usize, c2 as usize]] as usize;
                // Symmetric counts; pairs with gray level 0 are ignored.
                if a != 0 && b != 0 {
                    counts[a * levels + b] += 1;
                    counts[b * levels + a] += 1;
                }
            }
        }
        let total: u64 = counts.iter().sum();
        if total == 0 {
            // One direction without pairs makes the whole object undefined.
            return Texture {
                values: [[f64::NAN; 13]; 4],
            };
        }
        values[d] = haralick(&counts, levels, total as f64);
    }
    Texture { values }
}

/// Haralick's 13 features of a symmetric co-occurrence matrix (`levels`², row-major), with
/// mahotas's definitions (which CellProfiler uses): DifferenceVariance is the variance of the
/// `levels` entries of P(|i−j|), and a zero marginal s.d. makes Correlation 1.
fn haralick(counts: &[u64], levels: usize, total: f64) -> [f64; 13] {
    let n = levels;
    let p: Vec<f64> = counts.iter().map(|&c| c as f64 / total).collect();
    let mut px = vec![0.0; n];
    let mut py = vec![0.0; n];
    let mut plus = vec![0.0; 2 * n];
    let mut minus = vec![0.0; n];
    let (mut asm, mut ij, mut idm) = (0.0, 0.0, 0.0);
    for i in 0..n {
        for j in 0..n {
            let v = p[i * n + j];
            if v == 0.0 {
                continue;
            }
            px[j] += v;
            py[i] += v;
            plus[i + j] += v;
            minus[i.abs_diff(j)] += v;
            asm += v * v;
            ij += (i * j) as f64 * v;
            idm += v / (1.0 + ((i as f64 - j as f64).powi(2)));
        }
    }
    let k = |i: usize| i as f64;
    let ux: f64 = (0..n).map(|i| px[i] * k(i)).sum();
    let uy: f64 = (0..n).map(|i| py[i] * k(i)).sum();
    let vx = (0..n).map(|i| px[i] * k(i) * k(i)).sum::<f64>() - ux * ux;
    let vy = (0..n).map(|i| py[i] * k(i) * k(i)).sum::<f64>() - uy * uy;
    let (sx, sy) = (vx.sqrt(), vy.sqrt());
    let contrast: f64 = (0..n).map(|i| k(i) * k(i) * minus[i]).sum();
    let correlation = if sx == 0.0 || sy == 0.0 {
        1.0
    } else {
        (ij - ux * uy) / sx / sy
    };
    let sum_average: f64 = (0..2 * n).map(|i| k(i) * plus[i]).sum();
    let sum_entropy = entropy(plus.iter().copied());
    let sum_variance =
        (0..2 * n).map(|i| k(i) * k(i) * plus[i]).sum::<f64>() - sum_average * sum_average;
    let ent = entropy(p.iter().copied());
    let mean_minus = minus.iter().sum::<f64>() / n as f64;
    let difference_variance = minus
        .iter()
        .map(|v| (v - mean_minus) * (v - mean_minus))
        .sum::<f64>()
        / n as f64;
    let difference_entropy = entropy(minus.iter().copied());
    let (hx, hy) = (entropy(px.iter().copied()), entropy(py.iter().copied()));
    // HXY1 = −Σ p(i,j)·log2(px(i)·py(j)); HXY2 = −Σ px(i)py(j)·log2(px(i)py(j)).
    let (mut hxy1, mut hxy2) = (0.0, 0.0);
    for i in 0..n {
        for j in 0..n {
            let c = px[i] * py[j];
            if c == 0.0 {
                continue;
            }
            hxy1 -= p[i * n + j] * c.log2();
            hxy2 -= c * c.log2();
        }
    }
    let hmax = hx.max(hy);
    let info1 = if hmax == 0.0 {
        ent - hxy1
    } else {
        (ent - hxy1) / hmax
    };
    let info2 = (1.0 - (-2.0 * (hxy2 - ent)).exp()).max(0.0).sqrt();
    [
        asm,
        contrast,
        correlation,
        vx,
        idm,
        sum_average,
        sum_variance,
        sum_entropy,
        ent,
        difference_variance,
        difference_entropy,
        info1,
        info2,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uniform_object_has_no_contrast_and_full_energy() {
        let crop = Array2::from_elem((6, 6), 7u8);
        let t = texture_of(&crop, 1);
        for d in 0..4 {
            let v = t.values[d];
            assert_eq!(
                (v[0], v[1], v[2], v[8]),
                (1.0, 0.0, 1.0, 0.0),
                "direction {d}"
            );
        }
    }

    #[test]
    fn an_object_smaller_than_the_scale_is_undefined() {
        let crop = Array2::from_elem((2, 2), 9u8);
        assert!(texture_of(&crop, 3).flat().iter().all(|v| v.is_nan()));
    }

    #[test]
    fn stripes_have_contrast_across_not_along() {
        // Columns alternate 10 and 20: along rows (direction 00) every pair differs by 10.
        let crop = Array2::from_shape_fn((4, 6), |(_, c)| if c % 2 == 0 { 10 } else { 20 });
        let t = texture_of(&crop, 1);
        assert_eq!(t.values[0][1], 100.0); // (0, 1): neighbours across the stripes
        assert_eq!(t.values[2][1], 0.0); // (1, 0): along a stripe
    }
}
