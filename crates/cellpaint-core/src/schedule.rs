//! Learning-rate schedules, evaluated per epoch.

use crate::error::{CoreError, Result};

/// How the warm-up of [`LrSchedule::Cosine`] ramps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Warmup {
    /// `lr·(t+1)/w`, then cosine over the remaining epochs.
    #[default]
    Linear,
    /// DeepProfiler's: `lr/(w−t)` for `t < w`, then `0.5·(1 + cos(π·t/E))·lr` over all epochs.
    Reciprocal,
}

/// A learning-rate schedule; `lr_at(epoch, base_lr)` gives the rate for a 0-based epoch.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LrSchedule {
    #[default]
    /// The base rate throughout.
    Constant,
    /// Multiply by `gamma` at each milestone epoch (PyTorch `MultiStepLR`).
    MultiStep {
        /// 0-based epochs at which the rate is multiplied.
        milestones: Vec<usize>,
        /// The factor.
        gamma: f64,
    },
    /// DeepProfiler's explicit steps `{epoch: lr}`: from each listed epoch on, its rate (the
    /// base rate before the first).
    Steps {
        /// `(epoch, rate)` pairs, epochs increasing.
        points: Vec<(usize, f64)>,
    },
    /// Cosine decay to `min_lr` over `total_epochs`, after `warmup_epochs` of warm-up.
    Cosine {
        /// Epochs of the whole schedule, warm-up included.
        total_epochs: usize,
        /// Epochs of warm-up.
        warmup_epochs: usize,
        /// How the rate rises during warm-up.
        #[serde(default)]
        warmup: Warmup,
        /// The rate at the end.
        #[serde(default)]
        min_lr: f64,
    },
}

impl LrSchedule {
    /// γ > 0, a warm-up shorter than the total, step epochs increasing with rates > 0.
    pub fn check(&self) -> Result<()> {
        match self {
            LrSchedule::MultiStep { gamma, .. } if !(*gamma > 0.0) => Err(CoreError::Config(format!(
                "multi-step gamma must be > 0, got {gamma}"
            ))),
            LrSchedule::Cosine { total_epochs, warmup_epochs, .. } if warmup_epochs >= total_epochs => {
                Err(CoreError::Config(format!(
                    "cosine schedule: warm-up ({warmup_epochs}) must be shorter than total ({total_epochs})"
                )))
            }
            LrSchedule::Steps { points }
                if points.is_empty()
                    || points.windows(2).any(|w| w[0].0 >= w[1].0)
                    || points.iter().any(|p| !(p.1 > 0.0)) =>
            {
                Err(CoreError::Config(format!(
                    "step schedule needs increasing epochs and rates > 0, got {points:?}"
                )))
            }
            _ => Ok(()),
        }
    }

    /// The rate of 0-based `epoch` for a base rate `base_lr`.
    pub fn lr_at(&self, epoch: usize, base_lr: f64) -> f64 {
        match self {
            LrSchedule::Constant => base_lr,
            LrSchedule::Steps { points } => points
                .iter()
                .rev()
                .find(|p| epoch >= p.0)
                .map_or(base_lr, |p| p.1),
            LrSchedule::MultiStep { milestones, gamma } => {
                let passed = milestones.iter().filter(|&&m| epoch >= m).count();
                base_lr * gamma.powi(passed as i32)
            }
            LrSchedule::Cosine {
                total_epochs,
                warmup_epochs,
                warmup,
                min_lr,
            } => {
                let (t, w, e) = (epoch as f64, *warmup_epochs as f64, *total_epochs as f64);
                match warmup {
                    Warmup::Reciprocal if epoch < *warmup_epochs => base_lr / (w - t),
                    Warmup::Reciprocal => {
                        min_lr
                            + (base_lr - min_lr)
                                * 0.5
                                * (1.0 + (std::f64::consts::PI * t / e).cos())
                    }
                    Warmup::Linear if epoch < *warmup_epochs => base_lr * (t + 1.0) / w,
                    Warmup::Linear => {
                        let progress = ((t - w) / (e - w)).min(1.0);
                        min_lr
                            + (base_lr - min_lr)
                                * 0.5
                                * (1.0 + (std::f64::consts::PI * progress).cos())
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multistep_like_moa_profiler() {
        // lr 0.1, ×0.1 at 50 and 75 of 100 epochs.
        let s = LrSchedule::MultiStep {
            milestones: vec![50, 75],
            gamma: 0.1,
        };
        assert_eq!(s.lr_at(49, 0.1), 0.1);
        assert!((s.lr_at(50, 0.1) - 0.01).abs() < 1e-15);
        assert!((s.lr_at(99, 0.1) - 0.001).abs() < 1e-15);
    }

    #[test]
    fn explicit_steps_like_deepprofiler() {
        let s = LrSchedule::Steps {
            points: vec![(2, 0.01), (8, 0.001)],
        };
        s.check().unwrap();
        assert_eq!(s.lr_at(0, 0.5), 0.5);
        assert_eq!(s.lr_at(2, 0.5), 0.01);
        assert_eq!(s.lr_at(7, 0.5), 0.01);
        assert_eq!(s.lr_at(30, 0.5), 0.001);
        let unsorted = LrSchedule::Steps {
            points: vec![(8, 0.1), (2, 0.1)],
        };
        assert!(unsorted.check().is_err());
        assert!(LrSchedule::Steps { points: vec![] }.check().is_err());
    }

    #[test]
    fn deepprofiler_cosine_with_reciprocal_warmup() {
        // lr 0.005, 30 epochs, 5 warm-up: t=0 → 0.001, t=4 → 0.005, t=5 → 0.5(1+cos(π/6))·0.005.
        let s = LrSchedule::Cosine {
            total_epochs: 30,
            warmup_epochs: 5,
            warmup: Warmup::Reciprocal,
            min_lr: 0.0,
        };
        assert!((s.lr_at(0, 0.005) - 0.001).abs() < 1e-15);
        assert!((s.lr_at(4, 0.005) - 0.005).abs() < 1e-15);
        let want = 0.5 * (1.0 + (std::f64::consts::PI / 6.0).cos()) * 0.005;
        assert!((s.lr_at(5, 0.005) - want).abs() < 1e-15);
        let lin = LrSchedule::Cosine {
            total_epochs: 10,
            warmup_epochs: 2,
            warmup: Warmup::Linear,
            min_lr: 0.0,
        };
        assert_eq!(lin.lr_at(0, 1.0), 0.5);
        assert_eq!(lin.lr_at(2, 1.0), 1.0);
        assert!(lin.lr_at(10, 1.0).abs() < 1e-15);
        assert!(LrSchedule::Cosine {
            total_epochs: 3,
            warmup_epochs: 3,
            warmup: Warmup::Linear,
            min_lr: 0.0
        }
        .check()
        .is_err());
    }
}
