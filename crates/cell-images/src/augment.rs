//! Augmentations as pure functions of (crop, seed): the same seed gives the same output, and
//! nothing is drawn from a global generator. DeepProfiler's set: with p = 0.5 a random crop of
//! 80–100 % of the side resized back; a horizontal flip and a rotation by k·90°; per channel a
//! brightness shift in ±0.1 and a contrast factor in [0.8, 1.2].

use ndarray::{s, Array3, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::resize::resize;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
/// DeepProfiler's augmentation settings; the defaults are its values.
pub struct AugmentParams {
    /// Probability of a random square crop resized back to the input size.
    pub crop_probability: f64,
    /// Smallest side of that crop, as a fraction of the input side (the largest is 1).
    pub min_crop_fraction: f64,
    /// Mirror left–right with probability 0.5.
    pub flip: bool,
    /// Rotate by a uniformly drawn multiple of 90°.
    pub rotate: bool,
    /// Per channel, a shift drawn uniformly in ±`brightness` is added.
    pub brightness: f32,
    /// Per channel, the contrast factor is drawn uniformly in [`contrast_low`, `contrast_high`].
    pub contrast_low: f32,
    /// Upper end of the contrast factor's range.
    pub contrast_high: f32,
}

impl Default for AugmentParams {
    fn default() -> Self {
        Self {
            crop_probability: 0.5,
            min_crop_fraction: 0.8,
            flip: true,
            rotate: true,
            brightness: 0.1,
            contrast_low: 0.8,
            contrast_high: 1.2,
        }
    }
}

/// A random square crop of `fraction` of the side, resized back to the input size.
pub fn crop_and_resize(x: &Array3<f32>, fraction: f64, rng: &mut impl Rng) -> Array3<f32> {
    let (c, h, w) = x.dim();
    let (ch, cw) = (
        ((h as f64 * fraction).round() as usize).clamp(1, h),
        ((w as f64 * fraction).round() as usize).clamp(1, w),
    );
    let (y0, x0) = (rng.random_range(0..=h - ch), rng.random_range(0..=w - cw));
    let mut out = Array3::zeros((c, h, w));
    for k in 0..c {
        let part = x.slice(s![k, y0..y0 + ch, x0..x0 + cw]);
        out.index_axis_mut(Axis(0), k).assign(&resize(part, h, w));
    }
    out
}

/// Mirror left–right.
pub fn flip_horizontal(x: &Array3<f32>) -> Array3<f32> {
    x.slice(s![.., .., ..;-1]).to_owned()
}

/// Rotate by k·90° counter-clockwise (numpy's `rot90` on the spatial axes).
pub fn rot90(x: &Array3<f32>, k: usize) -> Array3<f32> {
    match k % 4 {
        0 => x.clone(),
        // rot90 once: transpose then flip rows top-to-bottom.
        1 => x
            .view()
            .permuted_axes([0, 2, 1])
            .slice(s![.., ..;-1, ..])
            .to_owned(),
        2 => x.slice(s![.., ..;-1, ..;-1]).to_owned(),
        _ => x
            .view()
            .permuted_axes([0, 2, 1])
            .slice(s![.., .., ..;-1])
            .to_owned(),
    }
}

/// Per channel: `(v − mean)·contrast + mean + brightness`.
pub fn brightness_contrast(x: &Array3<f32>, brightness: &[f32], contrast: &[f32]) -> Array3<f32> {
    let mut out = x.clone();
    for (k, mut ch) in out.axis_iter_mut(Axis(0)).enumerate() {
        let mean = ch.mean().unwrap_or(0.0);
        let (b, c) = (brightness[k], contrast[k]);
        ch.mapv_inplace(|v| (v - mean) * c + mean + b);
    }
    out
}

/// The full augmentation, deterministic in `seed`.
pub fn augment(x: &Array3<f32>, params: &AugmentParams, seed: u64) -> Array3<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut y = if rng.random::<f64>() < params.crop_probability {
        let f = rng.random_range(params.min_crop_fraction.min(1.0)..=1.0);
        crop_and_resize(x, f, &mut rng)
    } else {
        x.clone()
    };
    if params.flip && rng.random::<bool>() {
        y = flip_horizontal(&y);
    }
    if params.rotate {
        y = rot90(&y, rng.random_range(0..4));
    }
    let c = y.shape()[0];
    let b: Vec<f32> = (0..c)
        .map(|_| rng.random_range(-params.brightness..=params.brightness))
        .collect();
    let k: Vec<f32> = (0..c)
        .map(|_| rng.random_range(params.contrast_low..=params.contrast_high))
        .collect();
    brightness_contrast(&y, &b, &k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp() -> Array3<f32> {
        Array3::from_shape_fn((2, 4, 6), |(c, y, x)| (c * 100 + y * 10 + x) as f32)
    }

    #[test]
    fn rot90_matches_numpy() {
        let x = ramp();
        // numpy.rot90(a[0]) [0] is the last column read top to bottom.
        let r = rot90(&x, 1);
        assert_eq!(r.dim(), (2, 6, 4));
        assert_eq!(r[[0, 0, 0]], 5.0);
        assert_eq!(r[[0, 0, 3]], 35.0);
        assert_eq!(rot90(&rot90(&x, 1), 3), x);
        assert_eq!(rot90(&rot90(&x, 2), 2), x);
        assert_eq!(rot90(&x, 3), rot90(&rot90(&rot90(&x, 1), 1), 1));
        assert_eq!(flip_horizontal(&x)[[1, 2, 0]], 125.0);
    }

    #[test]
    fn augment_is_a_function_of_the_seed() {
        let x = Array3::from_shape_fn((3, 16, 16), |(c, y, x)| {
            ((c + 1) * (y * 16 + x)) as f32 / 800.0
        });
        let p = AugmentParams::default();
        assert_eq!(augment(&x, &p, 7), augment(&x, &p, 7));
        assert_ne!(augment(&x, &p, 7), augment(&x, &p, 8));
        assert_eq!(augment(&x, &p, 7).dim(), x.dim());
        // Brightness/contrast keep the per-channel mean up to the shift.
        let y = brightness_contrast(&x, &[0.1, 0.0, -0.1], &[1.2, 0.8, 1.0]);
        for k in 0..3 {
            let d =
                y.index_axis(Axis(0), k).mean().unwrap() - x.index_axis(Axis(0), k).mean().unwrap();
            assert!((d - [0.1, 0.0, -0.1][k]).abs() < 1e-5);
        }
    }
}
