//! `Granularity`: CellProfiler's `MeasureGranularity` — a granular spectrum (Ravkin's
//! size distribution by erosion and reconstruction) of the whole field, read out per object.
//!
//! The field is subsampled, its background (a grey opening by a disk, computed on a further
//! subsampled copy) subtracted, and then eroded by a 4-connected cross step by step; after each
//! step the eroded image is reconstructed under the background-free one. Each object's spectrum
//! value `k` is how much of its mean intensity step `k` removed, in percent of its starting
//! mean. The reconstructions are brought back to the original scale by bilinear interpolation
//! before the object means are taken, so objects are measured on their own pixels.

use ndarray::{Array2, ArrayView2};

use crate::error::{finite, MeasureError, Result};
use crate::objects::{neighbours4, Objects};

/// MeasureGranularity's settings. `Default` is CellProfiler's (and cp_measure's): subsample
/// 0.25, background subsample 0.25, structuring element radius 10, 16 spectrum steps.
#[derive(Debug, Clone, PartialEq)]
pub struct GranularityParams {
    /// Subsampling factor of the field before the spectrum, in (0, 1].
    pub subsample: f64,
    /// Further subsampling for the background estimate, in (0, 1].
    pub background_subsample: f64,
    /// Radius in (subsampled) pixels of the disk whose opening is the background.
    pub element_radius: usize,
    /// Number of spectrum steps (CellProfiler's "range of the granular spectrum").
    pub spectrum_length: usize,
}

impl Default for GranularityParams {
    fn default() -> Self {
        Self {
            subsample: 0.25,
            background_subsample: 0.25,
            element_radius: 10,
            spectrum_length: 16,
        }
    }
}

impl GranularityParams {
    /// The settings, or an error naming the first one out of range.
    pub fn checked(self) -> Result<Self> {
        let bad = |what: &str, value: String| {
            Err(MeasureError::Setting {
                what: what.into(),
                value,
            })
        };
        if !(self.subsample > 0.0 && self.subsample <= 1.0) {
            return bad(
                "granularity subsample (expected in (0, 1])",
                self.subsample.to_string(),
            );
        }
        if !(self.background_subsample > 0.0 && self.background_subsample <= 1.0) {
            return bad(
                "granularity background subsample (expected in (0, 1])",
                self.background_subsample.to_string(),
            );
        }
        if self.element_radius == 0 || self.element_radius > 1000 {
            return bad(
                "granularity element radius (expected 1 to 1000 pixels)",
                self.element_radius.to_string(),
            );
        }
        if self.spectrum_length == 0 || self.spectrum_length > 256 {
            return bad(
                "granularity spectrum length (expected 1 to 256)",
                self.spectrum_length.to_string(),
            );
        }
        Ok(self)
    }

    /// Column names for `channel`, CellProfiler's `Granularity_<k>_<Channel>`.
    pub fn names(&self, channel: &str) -> Vec<String> {
        (1..=self.spectrum_length)
            .map(|k| format!("Granularity_{k}_{channel}"))
            .collect()
    }
}

/// The granular spectrum of one field: the background-free subsampled image's reconstructions
/// after 1, 2, … erosions, ready to be read out per object ([`Self::of_objects`]).
#[derive(Debug, Clone)]
pub struct GranularSpectrum {
    /// The field's pixels at the original scale (the objects' starting means).
    original: Array2<f64>,
    /// The reconstructions after each step at the subsampled scale, interleaved: the
    /// `length` values of pixel `(r, c)` at `(r·width + c)·length` (an object's read-out takes
    /// all steps of a pixel at once). Empty when the subsampled field is too small to
    /// interpolate (under 2 pixels on a side): every value is then NaN.
    steps: Vec<f64>,
    /// `(height, width)` of the subsampled field.
    small: (usize, usize),
    length: usize,
}

impl GranularSpectrum {
    /// The spectrum of `pixels` (0–1, finite).
    pub fn new(pixels: ArrayView2<'_, f64>, params: &GranularityParams) -> Result<Self> {
        let params = params.clone().checked()?;
        let (h, w) = pixels.dim();
        if let Some((i, &v)) = pixels.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            finite(v, i / w, i % w)?;
        }
        let mut spectrum = Self {
            original: pixels.to_owned(),
            steps: Vec::new(),
            small: (0, 0),
            length: params.spectrum_length,
        };
        // numpy's `(shape * factor).astype(int)`: truncation.
        let (nh, nw) = if params.subsample < 1.0 {
            (
                (h as f64 * params.subsample) as usize,
                (w as f64 * params.subsample) as usize,
            )
        } else {
            (h, w)
        };
        if nh < 2 || nw < 2 {
            return Ok(spectrum);
        }
        // Every step is kept for the read-out: refuse sizes that cannot fit before allocating.
        const MAX_VALUES: usize = 1 << 30;
        if nh
            .checked_mul(nw)
            .and_then(|n| n.checked_mul(params.spectrum_length))
            .is_none_or(|n| n > MAX_VALUES)
        {
            return Err(MeasureError::Setting {
                what: format!(
                    "granularity subsample ({nh}×{nw} pixels of a {h}×{w} field × {} steps is over \
                     {MAX_VALUES} values; expected a smaller subsample or spectrum length)",
                    params.spectrum_length
                ),
                value: params.subsample.to_string(),
            });
        }
        let sub = if params.subsample < 1.0 {
            let s = params.subsample;
            resample(pixels, (nh, nw), |i| i as f64 / s, |j| j as f64 / s)
        } else {
            pixels.to_owned()
        };
        let mut background = if params.background_subsample < 1.0 {
            let s = params.background_subsample;
            // numpy's `mgrid[0:n * s]` has ceil(n·s) samples.
            let (bh, bw) = (
                (nh as f64 * s).ceil() as usize,
                (nw as f64 * s).ceil() as usize,
            );
            resample(sub.view(), (bh, bw), |i| i as f64 / s, |j| j as f64 / s)
        } else {
            sub.clone()
        };
        let disk = disk_offsets(params.element_radius);
        background = grey_filter(&background, &disk, f64::min, f64::INFINITY);
        background = grey_filter(&background, &disk, f64::max, f64::NEG_INFINITY);
        if params.background_subsample < 1.0 {
            // CellProfiler maps back with (n·s − 1)/(n − 1), n·s unrounded.
            let s = params.background_subsample;
            let sr = (nh as f64 * s - 1.0) / (nh as f64 - 1.0);
            let sc = (nw as f64 * s - 1.0) / (nw as f64 - 1.0);
            background = resample(
                background.view(),
                (nh, nw),
                |i| i as f64 * sr,
                |j| j as f64 * sc,
            );
        }
        let free = Array2::from_shape_fn((nh, nw), |p| (sub[p] - background[p]).max(0.0));
        let mut eroded = free.clone();
        let length = params.spectrum_length;
        let recs: Vec<Array2<f64>> = (0..length)
            .map(|_| {
                eroded = erode_cross(&eroded);
                reconstruct_by_dilation(&eroded, &free)
            })
            .collect();
        // Interleave pixel by pixel (16 sequential reads, one sequential write).
        let slices: Vec<&[f64]> = recs
            .iter()
            .map(|r| r.as_slice().expect("standard layout"))
            .collect();
        spectrum.steps = Vec::with_capacity(nh * nw * length);
        for i in 0..nh * nw {
            spectrum.steps.extend(slices.iter().map(|r| r[i]));
        }
        spectrum.small = (nh, nw);
        Ok(spectrum)
    }

    /// Each object's spectrum (`spectrum_length` values, percent of its starting mean), in the
    /// order of [`Objects::objects`].
    pub fn of_objects(&self, objects: &Objects) -> Result<Vec<Vec<f64>>> {
        objects.check_size(self.original.dim())?;
        let (h, w) = self.original.dim();
        if self.steps.is_empty() {
            return Ok(vec![vec![f64::NAN; self.length]; objects.count()]);
        }
        let (nh, nw) = self.small;
        let l = self.length;
        let sr = (nh - 1) as f64 / (h - 1) as f64;
        let sc = (nw - 1) as f64 / (w - 1) as f64;
        Ok(objects
            .objects()
            .iter()
            .map(|o| {
                let n = o.pixels.len() as f64;
                let mut current = o.pixels.iter().map(|&p| self.original[p]).sum::<f64>() / n;
                let start = current.max(f64::EPSILON);
                let mut sums = vec![0.0; l];
                for &(r, c) in &o.pixels {
                    if let Some(taps) = bilinear_taps((nh, nw), r as f64 * sr, c as f64 * sc) {
                        let at = taps.at.map(|(y, x)| (y * nw + x) * l);
                        for (k, sum) in sums.iter_mut().enumerate() {
                            // Taps in raster order, as `Taps::apply` sums them.
                            let mut v = 0.0;
                            for t in 0..4 {
                                v += self.steps[at[t] + k] * taps.weight[t];
                            }
                            *sum += v;
                        }
                    }
                }
                sums.iter()
                    .map(|s| {
                        let mean = s / n;
                        let g = (current - mean) * 100.0 / start;
                        current = mean;
                        g
                    })
                    .collect()
            })
            .collect())
    }
}

/// [`GranularSpectrum`] of `pixels` read out for every object of `objects`.
pub fn measure_granularity(
    objects: &Objects,
    pixels: ArrayView2<'_, f64>,
    params: &GranularityParams,
) -> Result<Vec<Vec<f64>>> {
    objects.check_size(pixels.dim())?;
    GranularSpectrum::new(pixels, params)?.of_objects(objects)
}

/// The four neighbours and weights of a bilinear sample, as scipy's
/// `map_coordinates(order=1, mode="constant")` takes them.
struct Taps {
    at: [(usize, usize); 4],
    weight: [f64; 4],
}

impl Taps {
    fn apply(&self, image: &ArrayView2<'_, f64>) -> f64 {
        // scipy's order of products and sums: weights multiplied row first, taps in raster order.
        let mut v = 0.0;
        for k in 0..4 {
            v += image[self.at[k]] * self.weight[k];
        }
        v
    }
}

/// `None` outside [0, h − 1] × [0, w − 1]: scipy's constant mode gives 0 there.
fn bilinear_taps((h, w): (usize, usize), r: f64, c: f64) -> Option<Taps> {
    if !(r >= 0.0 && r <= (h - 1) as f64 && c >= 0.0 && c <= (w - 1) as f64) {
        return None;
    }
    let (r0, c0) = (r.floor(), c.floor());
    let (tr, tc) = (r - r0, c - c0);
    let (r0, c0) = (r0 as usize, c0 as usize);
    // At the last row or column the second tap has weight 0; any in-range pixel will do.
    let (r1, c1) = ((r0 + 1).min(h - 1), (c0 + 1).min(w - 1));
    let (wr, wc) = ([1.0 - tr, tr], [1.0 - tc, tc]);
    Some(Taps {
        at: [(r0, c0), (r0, c1), (r1, c0), (r1, c1)],
        weight: [wr[0] * wc[0], wr[0] * wc[1], wr[1] * wc[0], wr[1] * wc[1]],
    })
}

/// `image` sampled bilinearly at `(row(i), col(j))` for every pixel of an `out`-sized grid.
fn resample(
    image: ArrayView2<'_, f64>,
    out: (usize, usize),
    row: impl Fn(usize) -> f64,
    col: impl Fn(usize) -> f64,
) -> Array2<f64> {
    Array2::from_shape_fn(out, |(i, j)| {
        bilinear_taps(image.dim(), row(i), col(j)).map_or(0.0, |t| t.apply(&image))
    })
}

/// skimage's `disk(radius)`: offsets with dr² + dc² ≤ radius².
fn disk_offsets(radius: usize) -> Vec<(isize, isize)> {
    let r = radius as isize;
    let mut v = Vec::new();
    for dr in -r..=r {
        for dc in -r..=r {
            if dr * dr + dc * dc <= r * r {
                v.push((dr, dc));
            }
        }
    }
    v
}

/// Grey erosion (`f64::min`) or dilation (`f64::max`) by a symmetric footprint. Pixels outside
/// the image take no part, which is what skimage's default `reflect` border gives for a
/// symmetric footprint (every reflected pixel is also inside the footprint).
fn grey_filter(
    image: &Array2<f64>,
    footprint: &[(isize, isize)],
    pick: fn(f64, f64) -> f64,
    neutral: f64,
) -> Array2<f64> {
    let (h, w) = image.dim();
    Array2::from_shape_fn((h, w), |(r, c)| {
        let mut v = neutral;
        for &(dr, dc) in footprint {
            let (y, x) = (r as isize + dr, c as isize + dc);
            if y >= 0 && x >= 0 && (y as usize) < h && (x as usize) < w {
                v = pick(v, image[[y as usize, x as usize]]);
            }
        }
        v
    })
}

/// Grey erosion by the 4-connected cross (skimage's `disk(1)`), pixels outside the image
/// taking no part: what [`grey_filter`] computes for that footprint, in one pass over rows.
fn erode_cross(image: &Array2<f64>) -> Array2<f64> {
    let (h, w) = image.dim();
    let src = image.as_slice().expect("standard layout");
    let mut out = vec![0.0; h * w];
    for r in 0..h {
        for c in 0..w {
            let i = r * w + c;
            let mut v = src[i];
            if r > 0 {
                v = v.min(src[i - w]);
            }
            if c > 0 {
                v = v.min(src[i - 1]);
            }
            if c + 1 < w {
                v = v.min(src[i + 1]);
            }
            if r + 1 < h {
                v = v.min(src[i + w]);
            }
            out[i] = v;
        }
    }
    Array2::from_shape_vec((h, w), out).expect("h × w values")
}

/// Morphological reconstruction by dilation of `seed` under `mask` (seed ≤ mask), 4-connected:
/// Vincent's hybrid algorithm (a raster and an anti-raster pass, then a queue).
fn reconstruct_by_dilation(seed: &Array2<f64>, mask: &Array2<f64>) -> Array2<f64> {
    let (h, w) = seed.dim();
    let mut j = Array2::from_shape_fn((h, w), |p| seed[p].min(mask[p]));
    for r in 0..h {
        for c in 0..w {
            let mut v = j[[r, c]];
            if r > 0 {
                v = v.max(j[[r - 1, c]]);
            }
            if c > 0 {
                v = v.max(j[[r, c - 1]]);
            }
            j[[r, c]] = v.min(mask[[r, c]]);
        }
    }
    let mut queue = std::collections::VecDeque::new();
    for r in (0..h).rev() {
        for c in (0..w).rev() {
            let mut v = j[[r, c]];
            if r + 1 < h {
                v = v.max(j[[r + 1, c]]);
            }
            if c + 1 < w {
                v = v.max(j[[r, c + 1]]);
            }
            let v = v.min(mask[[r, c]]);
            j[[r, c]] = v;
            let lower = |q: (usize, usize)| j[q] < v && j[q] < mask[q];
            if (r + 1 < h && lower((r + 1, c))) || (c + 1 < w && lower((r, c + 1))) {
                queue.push_back((r, c));
            }
        }
    }
    while let Some((r, c)) = queue.pop_front() {
        let v = j[[r, c]];
        for q in neighbours4((r, c), (h, w)) {
            if j[q] < v && j[q] != mask[q] {
                j[q] = v.min(mask[q]);
                queue.push_back(q);
            }
        }
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain definition: iterate geodesic dilation until nothing changes.
    fn reconstruct_slowly(seed: &Array2<f64>, mask: &Array2<f64>) -> Array2<f64> {
        let cross = [(-1isize, 0isize), (0, -1), (0, 0), (0, 1), (1, 0)];
        let mut j = seed.clone();
        loop {
            let d = grey_filter(&j, &cross, f64::max, f64::NEG_INFINITY);
            let next = Array2::from_shape_fn(j.dim(), |p| d[p].min(mask[p]));
            if next == j {
                return j;
            }
            j = next;
        }
    }

    #[test]
    fn hybrid_reconstruction_equals_iterated_geodesic_dilation() {
        // A seeded pseudo-random field (xorshift) and its erosion as the seed.
        let mut s = 0x9e3779b97f4a7c15u64;
        let mask = Array2::from_shape_fn((23, 31), |_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 1000) as f64 / 1000.0
        });
        let cross = [(-1isize, 0isize), (0, -1), (0, 0), (0, 1), (1, 0)];
        let mut seed = mask.clone();
        for _ in 0..3 {
            let next = erode_cross(&seed);
            assert_eq!(next, grey_filter(&seed, &cross, f64::min, f64::INFINITY));
            seed = next;
            assert_eq!(
                reconstruct_by_dilation(&seed, &mask),
                reconstruct_slowly(&seed, &mask)
            );
        }
    }

    #[test]
    fn a_small_bright_spot_is_removed_by_the_first_steps_only() {
        // A dark field with one 3×3 spot at full scale (no subsampling, no background step
        // that could reach it: the disk is larger than the spot, so the opening removes it).
        let mut px = Array2::<f64>::from_elem((40, 40), 0.1);
        for r in 18..21 {
            for c in 18..21 {
                px[[r, c]] = 0.9;
            }
        }
        let mut labels = Array2::<u32>::zeros((40, 40));
        for r in 14..25 {
            for c in 14..25 {
                labels[[r, c]] = 1;
            }
        }
        let params = GranularityParams {
            subsample: 1.0,
            background_subsample: 1.0,
            element_radius: 5,
            spectrum_length: 4,
        };
        let g = measure_granularity(&Objects::from_labels(labels), px.view(), &params).unwrap();
        // Start mean (0.1·112 + 0.9·9)/121, on the raw pixels. The flat background is opened
        // away entirely (0.8 of spot left); one erosion leaves the spot's centre, which the
        // reconstruction grows back to the whole spot; the second erosion removes it.
        let start = (0.1 * 112.0 + 0.9 * 9.0) / 121.0;
        let spot_after_1 = 0.8 * 9.0 / 121.0;
        let expected_1 = (start - spot_after_1) * 100.0 / start;
        assert!((g[0][0] - expected_1).abs() < 1e-12, "{:?}", g[0]);
        assert!((g[0][1] - spot_after_1 * 100.0 / start).abs() < 1e-12);
        assert_eq!(&g[0][2..], &[0.0, 0.0]);
    }

    #[test]
    fn a_spectrum_too_large_to_keep_is_refused_before_it_is_computed() {
        let px = Array2::<f64>::zeros((2100, 2100));
        let params = GranularityParams {
            subsample: 1.0,
            spectrum_length: 256,
            ..GranularityParams::default()
        };
        let err = GranularSpectrum::new(px.view(), &params).unwrap_err();
        assert!(err.to_string().contains("2100×2100 pixels"), "{err}");
    }

    #[test]
    fn a_field_too_small_to_subsample_gives_nan_and_bad_settings_are_named() {
        let px = Array2::<f64>::zeros((5, 5));
        let labels = Array2::<u32>::from_elem((5, 5), 1);
        let g = measure_granularity(
            &Objects::from_labels(labels),
            px.view(),
            &GranularityParams::default(),
        )
        .unwrap();
        assert!(g[0].len() == 16 && g[0].iter().all(|v| v.is_nan()));
        let err = GranularityParams {
            subsample: 0.0,
            ..GranularityParams::default()
        }
        .checked()
        .unwrap_err();
        assert!(err.to_string().contains("granularity subsample"), "{err}");
    }
}
