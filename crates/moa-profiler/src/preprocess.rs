//! MOAProfiler's field normalisation: each channel of each field as (x − min)/(max + ε), then
//! standardised with the dataset's per-channel mean and s.d. (fit on training fields).

use ndarray::{Array3, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{MoaError, Result};

/// ε of the per-field scaling, as the reference.
pub const EPSILON: f32 = 1e-6;

/// (x − min)/(max + ε) per channel, as the reference writes it (the divisor is the maximum,
/// not the range: a channel with a high floor keeps values below 1).
pub fn scale_field(field: &mut Array3<f32>) -> Result<()> {
    for (c, mut ch) in field.axis_iter_mut(Axis(0)).enumerate() {
        if ch.iter().any(|v| !v.is_finite()) {
            return Err(MoaError::data(
                "field",
                format!("channel {c} has a non-finite value"),
            ));
        }
        let (lo, hi) = ch
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        ch.mapv_inplace(|v| (v - lo) / (hi + EPSILON));
    }
    Ok(())
}

/// Per-channel mean and s.d. of scaled fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelStats {
    /// Mean of each channel.
    pub mean: Vec<f64>,
    /// Standard deviation of each channel (> 0).
    pub sd: Vec<f64>,
}

impl ChannelStats {
    /// Fits on fields `(C, H, W)` of one channel count; a channel without variance is an error.
    pub fn fit<'a>(fields: impl IntoIterator<Item = &'a Array3<f32>>) -> Result<Self> {
        let (mut sum, mut sq, mut n): (Vec<f64>, Vec<f64>, f64) = (Vec::new(), Vec::new(), 0.0);
        for f in fields {
            let c = f.dim().0;
            if sum.is_empty() {
                sum = vec![0.0; c];
                sq = vec![0.0; c];
            } else if sum.len() != c {
                return Err(MoaError::data(
                    "fields",
                    format!("{c} channels, the first field had {}", sum.len()),
                ));
            }
            for (k, ch) in f.axis_iter(Axis(0)).enumerate() {
                for &v in ch.iter() {
                    sum[k] += v as f64;
                    sq[k] += (v as f64) * (v as f64);
                }
            }
            n += (f.dim().1 * f.dim().2) as f64;
        }
        if n == 0.0 {
            return Err(MoaError::data(
                "fields",
                "no fields to fit channel statistics on",
            ));
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let sd: Vec<f64> = sq
            .iter()
            .zip(&mean)
            .map(|(q, m)| (q / n - m * m).max(0.0).sqrt())
            .collect();
        if let Some(c) = sd.iter().position(|s| !(*s > 0.0)) {
            return Err(MoaError::data(
                "fields",
                format!("channel {c} is constant over the dataset"),
            ));
        }
        Ok(Self { mean, sd })
    }

    /// Standardises `field` in place, channel by channel; its channel count must match.
    pub fn apply(&self, field: &mut Array3<f32>) -> Result<()> {
        if field.dim().0 != self.mean.len() {
            return Err(MoaError::data(
                "field",
                format!(
                    "{} channels, the statistics have {}",
                    field.dim().0,
                    self.mean.len()
                ),
            ));
        }
        for (k, mut ch) in field.axis_iter_mut(Axis(0)).enumerate() {
            let (m, s) = (self.mean[k] as f32, self.sd[k] as f32);
            ch.mapv_inplace(|v| (v - m) / s);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_and_standardisation_by_hand() {
        // Channel 0: 2, 4, 6, 10 → (x − 2)/(10 + ε) = 0, 0.2, 0.4, 0.8.
        let mut f =
            Array3::from_shape_vec((2, 2, 2), vec![2., 4., 6., 10., 1., 1., 3., 3.]).unwrap();
        scale_field(&mut f).unwrap();
        let c0: Vec<f32> = f.index_axis(Axis(0), 0).iter().copied().collect();
        for (a, b) in c0.iter().zip([0.0, 0.2, 0.4, 0.8]) {
            assert!((a - b).abs() < 1e-6, "{c0:?}");
        }
        let stats = ChannelStats::fit([&f]).unwrap();
        assert!((stats.mean[0] - 0.35).abs() < 1e-6);
        let mut g = f.clone();
        stats.apply(&mut g).unwrap();
        let m: f32 = g.index_axis(Axis(0), 0).mean().unwrap();
        assert!(m.abs() < 1e-6);
        let flat = Array3::<f32>::ones((1, 2, 2));
        assert!(ChannelStats::fit([&flat])
            .unwrap_err()
            .to_string()
            .contains("channel 0 is constant"));
        let mut bad = f.clone();
        bad[[1, 0, 0]] = f32::NAN;
        assert!(scale_field(&mut bad)
            .unwrap_err()
            .to_string()
            .contains("channel 1"));
        let mut three = Array3::<f32>::zeros((3, 2, 2));
        assert!(stats.apply(&mut three).is_err());
    }
}
