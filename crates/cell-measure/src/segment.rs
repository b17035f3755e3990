//! Cells from nuclei: CellProfiler's `IdentifySecondaryObjects` with its default method,
//! *Propagation* — each nucleus grows into the thresholded foreground of a cytoplasm channel
//! along the path of least resistance, where a step costs the local intensity change plus a
//! small distance term (the regularisation). Touching cells split where the stain dips.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use ndarray::{Array2, ArrayView2};

use crate::error::{finite, MeasureError, Result};
use crate::objects::{neighbours4, Objects};

/// How the foreground of the cytoplasm channel is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// Li's minimum cross-entropy threshold (CellProfiler 4's default for secondary objects).
    MinimumCrossEntropy,
    /// Otsu's threshold (256 bins between the smoothed image's minimum and maximum).
    Otsu,
    /// A fixed intensity (the channel's 0–1 scale).
    Manual(f64),
}

/// `IdentifySecondaryObjects` settings. `Default` is CellProfiler's: minimum cross-entropy on
/// the image smoothed with σ = 2 (its threshold smoothing scale 1.3488 ÷ 0.6745), regularisation
/// 0.05, holes filled.
#[derive(Debug, Clone, PartialEq)]
pub struct CellParams {
    /// The thresholding method.
    pub threshold: Threshold,
    /// Multiplies the automatic threshold (CellProfiler's "threshold correction factor").
    pub threshold_correction: f64,
    /// Gaussian σ (pixels) of the smoothing before thresholding; 0 for none.
    pub smoothing_sigma: f64,
    /// Weight of distance against intensity change in the propagation (λ); larger grows cells
    /// more like discs.
    pub regularization: f64,
    /// Fill holes inside each cell.
    pub fill_holes: bool,
}

impl Default for CellParams {
    fn default() -> Self {
        Self {
            threshold: Threshold::MinimumCrossEntropy,
            threshold_correction: 1.0,
            smoothing_sigma: 2.0,
            regularization: 0.05,
            fill_holes: true,
        }
    }
}

impl CellParams {
    /// The settings, or an error naming the one out of range.
    pub fn checked(self) -> Result<Self> {
        let bad = |what: &str, v: f64| {
            Err(MeasureError::Setting {
                what: what.into(),
                value: v.to_string(),
            })
        };
        if !(self.threshold_correction.is_finite() && self.threshold_correction > 0.0) {
            return bad(
                "threshold correction factor (expected > 0)",
                self.threshold_correction,
            );
        }
        if !(self.smoothing_sigma.is_finite() && (0.0..=50.0).contains(&self.smoothing_sigma)) {
            return bad(
                "threshold smoothing sigma (expected 0 to 50 pixels)",
                self.smoothing_sigma,
            );
        }
        if !(self.regularization.is_finite() && self.regularization >= 0.0) {
            return bad("regularization (expected ≥ 0)", self.regularization);
        }
        if let Threshold::Manual(t) = self.threshold {
            if !t.is_finite() {
                return bad("manual threshold (expected a finite intensity)", t);
            }
        }
        Ok(self)
    }
}

/// One cell per nucleus: `nuclei` grown into the foreground of `channel` (0–1). A cell keeps its
/// nucleus's label and contains it whole; a nucleus whose surroundings are all background is a
/// cell of its own size. Returns the cells and the threshold used.
pub fn segment_cells(
    nuclei: &Objects,
    channel: ArrayView2<'_, f64>,
    params: &CellParams,
) -> Result<(Objects, f64)> {
    let params = params.clone().checked()?;
    nuclei.check_size(channel.dim())?;
    for ((r, c), &v) in channel.indexed_iter() {
        finite(v, r, c)?;
    }
    let smooth = gaussian(channel, params.smoothing_sigma);
    let threshold = match params.threshold {
        Threshold::Manual(t) => t,
        Threshold::MinimumCrossEntropy => li_threshold(smooth.iter().copied()),
        Threshold::Otsu => otsu_threshold(smooth.iter().copied()),
    } * match params.threshold {
        Threshold::Manual(_) => 1.0,
        _ => params.threshold_correction,
    };
    let foreground = smooth.mapv(|v| v > threshold);
    let (mut labels, _) = propagate(
        Some(channel),
        nuclei.labels(),
        &foreground,
        params.regularization,
    );
    if params.fill_holes {
        fill_holes(&mut labels);
    }
    Ok((Objects::from_labels(labels), threshold))
}

/// Separable Gaussian blur, edges extended by their nearest pixel; σ = 0 copies.
fn gaussian(image: ArrayView2<'_, f64>, sigma: f64) -> Array2<f64> {
    if sigma == 0.0 {
        return image.to_owned();
    }
    let radius = (4.0 * sigma).ceil() as isize;
    let kernel: Vec<f64> = (-radius..=radius)
        .map(|x| (-(x * x) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f64 = kernel.iter().sum();
    let kernel: Vec<f64> = kernel.iter().map(|k| k / total).collect();
    let (h, w) = image.dim();
    let clamp = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
    let rows = Array2::from_shape_fn((h, w), |(r, c)| {
        kernel
            .iter()
            .enumerate()
            .map(|(k, &g)| g * image[[r, clamp(c as isize + k as isize - radius, w)]])
            .sum::<f64>()
    });
    Array2::from_shape_fn((h, w), |(r, c)| {
        kernel
            .iter()
            .enumerate()
            .map(|(k, &g)| g * rows[[clamp(r as isize + k as isize - radius, h), c]])
            .sum::<f64>()
    })
}

/// `(min, max)` of `v`, or `Err(min)` when there is no spread to threshold (every value equal;
/// an empty image gives +∞).
fn spread(v: &[f64]) -> std::result::Result<(f64, f64), f64> {
    let (lo, hi) = v
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    if hi > lo {
        Ok((lo, hi))
    } else {
        Err(lo)
    }
}

/// Li's iterative minimum cross-entropy threshold (as scikit-image's `threshold_li`: start at
/// the mean, iterate t = (μ_fore − μ_back) / (ln μ_fore − ln μ_back) until a step moves less
/// than 1e-9 of the value range).
fn li_threshold(values: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = values.collect();
    let (lo, hi) = match spread(&v) {
        Ok(range) => range,
        Err(constant) => return constant,
    };
    // Work on values shifted to start at 0 so the logarithms are defined, as scikit-image does.
    let tolerance = (hi - lo) * 1e-9;
    let mut t = v.iter().sum::<f64>() / v.len() as f64 - lo;
    for _ in 0..1000 {
        let (mut sf, mut nf, mut sb, mut nb) = (0.0, 0usize, 0.0, 0usize);
        for &x in &v {
            let x = x - lo;
            if x > t {
                sf += x;
                nf += 1;
            } else {
                sb += x;
                nb += 1;
            }
        }
        if nf == 0 || nb == 0 {
            break;
        }
        let (mf, mb) = (sf / nf as f64, sb / nb as f64);
        if mb <= 0.0 {
            // Every background value is the minimum: the midpoint of the two means.
            let next = mf / 2.0;
            if (next - t).abs() < tolerance {
                break;
            }
            t = next;
            continue;
        }
        let next = (mf - mb) / (mf.ln() - mb.ln());
        if (next - t).abs() < tolerance {
            t = next;
            break;
        }
        t = next;
    }
    t + lo
}

/// Otsu's threshold over 256 equal bins between the minimum and the maximum.
fn otsu_threshold(values: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = values.collect();
    let (lo, hi) = match spread(&v) {
        Ok(range) => range,
        Err(constant) => return constant,
    };
    let bins = 256;
    let width = (hi - lo) / bins as f64;
    let mut hist = vec![0f64; bins];
    for &x in &v {
        hist[(((x - lo) / width) as usize).min(bins - 1)] += 1.0;
    }
    let total: f64 = hist.iter().sum();
    let centre = |k: usize| lo + (k as f64 + 0.5) * width;
    let sum_all: f64 = (0..bins).map(|k| hist[k] * centre(k)).sum();
    let (mut wb, mut sb, mut best, mut best_k) = (0.0, 0.0, -1.0, 0);
    for k in 0..bins - 1 {
        wb += hist[k];
        sb += hist[k] * centre(k);
        let wf = total - wb;
        if wb == 0.0 || wf == 0.0 {
            continue;
        }
        let (mb, mf) = (sb / wb, (sum_all - sb) / wf);
        let between = wb * wf * (mb - mf) * (mb - mf);
        if between > best {
            best = between;
            best_k = k;
        }
    }
    lo + (best_k as f64 + 1.0) * width
}

#[derive(PartialEq)]
struct Step {
    distance: f64,
    label: u32,
    at: (usize, usize),
}
impl Eq for Step {}
impl Ord for Step {
    // A min-heap on distance; ties by label, then position, so the result never depends on
    // the heap's internals.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .distance
            .total_cmp(&self.distance)
            .then_with(|| other.label.cmp(&self.label))
            .then_with(|| other.at.cmp(&self.at))
    }
}
impl PartialOrd for Step {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// CellProfiler's propagate: seeds grow over `mask` (8-connected) in order of accumulated
/// distance, a step between neighbours p and q costing
/// √((Σ over the 3×3 offsets δ of |I(p+δ) − I(q+δ)|)² + manhattan(p, q)·λ²), pixels outside
/// the image read as the nearest edge pixel; without an image the step costs
/// √manhattan(p, q)·λ (RadialDistribution's path length from an object's centre). Seed pixels
/// keep their labels whether or not they are in the mask. Returns the labels and each pixel's
/// accumulated distance (0 at seeds, infinite where nothing reached).
pub(crate) fn propagate(
    image: Option<ArrayView2<'_, f64>>,
    seeds: ArrayView2<'_, u32>,
    mask: &Array2<bool>,
    lambda: f64,
) -> (Array2<u32>, Array2<f64>) {
    let (h, w) = seeds.dim();
    let mut labels = Array2::<u32>::zeros((h, w));
    let mut best = Array2::from_elem((h, w), f64::INFINITY);
    let mut heap = BinaryHeap::new();
    for ((r, c), &l) in seeds.indexed_iter() {
        if l != 0 {
            best[[r, c]] = 0.0;
            if mask[[r, c]] {
                heap.push(Step {
                    distance: 0.0,
                    label: l,
                    at: (r, c),
                });
            }
        }
    }
    let cost = |(r1, c1): (usize, usize), (r2, c2): (usize, usize)| {
        let mut diff = 0.0;
        if let Some(image) = &image {
            let fetch = |r: isize, c: isize| {
                image[[
                    r.clamp(0, h as isize - 1) as usize,
                    c.clamp(0, w as isize - 1) as usize,
                ]]
            };
            for dr in -1..=1isize {
                for dc in -1..=1isize {
                    diff += (fetch(r1 as isize + dr, c1 as isize + dc)
                        - fetch(r2 as isize + dr, c2 as isize + dc))
                    .abs();
                }
            }
        }
        let manhattan = (r1.abs_diff(r2) + c1.abs_diff(c2)) as f64;
        (diff * diff + manhattan * lambda * lambda).sqrt()
    };
    while let Some(Step {
        distance,
        label,
        at,
    }) = heap.pop()
    {
        if labels[at] != 0 {
            continue;
        }
        labels[at] = label;
        for dr in -1..=1isize {
            for dc in -1..=1isize {
                if dr == 0 && dc == 0 {
                    continue;
                }
                let (y, x) = (at.0 as isize + dr, at.1 as isize + dc);
                if y < 0 || x < 0 || y as usize >= h || x as usize >= w {
                    continue;
                }
                let q = (y as usize, x as usize);
                if labels[q] != 0 || !mask[q] {
                    continue;
                }
                let d = distance + cost(at, q);
                if d < best[q] {
                    best[q] = d;
                    heap.push(Step {
                        distance: d,
                        label,
                        at: q,
                    });
                }
            }
        }
    }
    // Seeds outside the mask keep their labels (CellProfiler's labels_out[labels > 0]).
    for ((r, c), &l) in seeds.indexed_iter() {
        if l != 0 {
            labels[[r, c]] = l;
        }
    }
    (labels, best)
}

/// Background regions (4-connected) that do not reach the image border and touch only one
/// label become that label.
fn fill_holes(labels: &mut Array2<u32>) {
    let (h, w) = labels.dim();
    let mut seen = Array2::from_elem((h, w), false);
    let mut region = Vec::new();
    let mut stack = Vec::new();
    for r in 0..h {
        for c in 0..w {
            if labels[[r, c]] != 0 || seen[[r, c]] {
                continue;
            }
            region.clear();
            stack.push((r, c));
            seen[[r, c]] = true;
            let mut border = false;
            let mut touching: Option<u32> = None;
            let mut several = false;
            while let Some((y, x)) = stack.pop() {
                region.push((y, x));
                if y == 0 || x == 0 || y == h - 1 || x == w - 1 {
                    border = true;
                }
                for q in neighbours4((y, x), (h, w)) {
                    let l = labels[q];
                    if l == 0 {
                        if !seen[q] {
                            seen[q] = true;
                            stack.push(q);
                        }
                    } else if touching.is_some_and(|t| t != l) {
                        several = true;
                    } else {
                        touching = Some(l);
                    }
                }
            }
            if let (false, false, Some(l)) = (border, several, touching) {
                for &p in &region {
                    labels[p] = l;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two bright cells side by side, a dark valley between them, each with a nucleus.
    #[test]
    fn two_touching_cells_split_at_the_valley_and_keep_their_nuclei() {
        let (h, w) = (30, 60);
        let mut img = Array2::<f64>::from_elem((h, w), 0.02);
        let mut nuclei = Array2::<u32>::zeros((h, w));
        for r in 5..25 {
            for c in 5..55 {
                // Two plateaus, 0.6 and 0.5, meeting at a valley of 0.3 at column 30.
                img[[r, c]] = match c {
                    29..=31 => 0.3,
                    c if c < 29 => 0.6,
                    _ => 0.5,
                };
            }
        }
        for r in 13..17 {
            for c in 13..17 {
                nuclei[[r, c]] = 1;
            }
            for c in 43..47 {
                nuclei[[r, c]] = 2;
            }
        }
        let (cells, t) = segment_cells(
            &Objects::from_labels(nuclei),
            img.view(),
            &CellParams::default(),
        )
        .unwrap();
        assert!(t > 0.02 && t < 0.5, "threshold {t}");
        assert_eq!(cells.count(), 2);
        let l = cells.labels();
        assert_eq!((l[[15, 10]], l[[15, 50]]), (1, 2));
        assert_eq!((l[[2, 2]], l[[15, 15]], l[[15, 45]]), (0, 1, 2));
        // Away from the blurred rim, each plateau is one cell; the split is in the valley.
        for r in 7..23 {
            assert!((7..29).all(|c| l[[r, c]] == 1), "row {r}");
            assert!((32..53).all(|c| l[[r, c]] == 2), "row {r}");
            let split = (5..55).position(|c| l[[r, c]] == 2).unwrap() + 5;
            assert!((29..=32).contains(&split), "row {r} splits at {split}");
        }
        // Nothing grows into the dark surround.
        let areas: usize = cells.objects().iter().map(|o| o.pixels.len()).sum();
        assert!((900..=1250).contains(&areas), "{areas}");
    }

    #[test]
    fn a_hole_inside_one_cell_is_filled_and_bad_settings_are_named() {
        let mut labels = Array2::<u32>::zeros((9, 9));
        for r in 1..8 {
            for c in 1..8 {
                labels[[r, c]] = 3;
            }
        }
        labels[[4, 4]] = 0;
        labels[[4, 5]] = 0;
        fill_holes(&mut labels);
        assert_eq!((labels[[4, 4]], labels[[4, 5]], labels[[0, 0]]), (3, 3, 0));
        let err = CellParams {
            regularization: -1.0,
            ..CellParams::default()
        }
        .checked()
        .unwrap_err();
        assert!(err.to_string().contains("regularization"), "{err}");
    }

    #[test]
    fn li_and_otsu_split_two_populations() {
        let v: Vec<f64> = (0..1000)
            .map(|i| {
                if i < 700 {
                    0.1 + (i % 7) as f64 * 0.001
                } else {
                    0.8 + (i % 5) as f64 * 0.01
                }
            })
            .collect();
        for t in [
            li_threshold(v.iter().copied()),
            otsu_threshold(v.iter().copied()),
        ] {
            assert!(t > 0.106 && t < 0.8, "{t}");
        }
    }
}
