//! Hyperparameter search on validation loss over the paper's space (latent size, learning rate,
//! batch size, encoder batch norm). The reference used Bayesian optimisation (keras-tuner);
//! no maintained Rust crate fits, so this is seeded random search with early stopping, which
//! matches Bayesian optimisation at small budgets in low-dimensional spaces (Bergstra & Bengio
//! 2012) and is reproducible trial by trial.

use std::path::Path;

use cellpaint_core::rng::seeded_rng;
use cellpaint_core::{EarlyStopping, LrSchedule, Mode, TrainConfig};
use ndarray::ArrayView2;
use rand::seq::IndexedRandom;
use serde::{Deserialize, Serialize};

use crate::error::{Result, VaeError};
use crate::model::VaeConfig;
use crate::train::fit;

/// The values each hyperparameter may take. Defaults are the paper's search space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchSpace {
    /// Latent dimensions to try.
    pub latent: Vec<usize>,
    /// Adam rates to try.
    pub learning_rate: Vec<f64>,
    /// Batch sizes to try.
    pub batch_size: Vec<usize>,
    /// Encoder batch norm on or off.
    pub batch_norm: Vec<bool>,
}

impl Default for SearchSpace {
    fn default() -> Self {
        Self {
            latent: (5..=150).step_by(5).collect(),
            learning_rate: vec![1e-2, 1e-3, 1e-4, 1e-5],
            batch_size: (32..=512).step_by(32).collect(),
            batch_norm: vec![true, false],
        }
    }
}

/// Random-search settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchParams {
    /// The values drawn from.
    pub space: SearchSpace,
    /// Combinations drawn.
    pub trials: usize,
    /// Epochs per trial at most.
    pub max_epochs: usize,
    /// Early-stopping patience on the validation loss.
    pub patience: usize,
    /// Seed of the draws and of every trial.
    pub seed: u64,
}

impl Default for SearchParams {
    fn default() -> Self {
        Self {
            space: SearchSpace::default(),
            trials: 30,
            max_epochs: 100,
            patience: 10,
            seed: 0,
        }
    }
}

impl SearchParams {
    /// Non-empty value lists of positive values, and trials, epochs and patience ≥ 1.
    pub fn check(&self) -> Result<()> {
        let s = &self.space;
        if s.latent.is_empty()
            || s.learning_rate.is_empty()
            || s.batch_size.is_empty()
            || s.batch_norm.is_empty()
        {
            return Err(VaeError::Config(
                "every hyperparameter needs at least one value to search".into(),
            ));
        }
        if self.trials == 0 || self.max_epochs == 0 || self.patience == 0 {
            return Err(VaeError::Config(
                "trials, max_epochs and patience must be ≥ 1".into(),
            ));
        }
        if s.latent.contains(&0)
            || s.batch_size.contains(&0)
            || s.learning_rate.iter().any(|&l| !(l > 0.0))
        {
            return Err(VaeError::Config(
                "latent sizes, batch sizes and learning rates must be > 0".into(),
            ));
        }
        Ok(())
    }
}

/// One evaluated combination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Latent dimensions.
    pub latent: usize,
    /// Adam's rate.
    pub learning_rate: f64,
    /// Batch size.
    pub batch_size: usize,
    /// Encoder batch norm.
    pub batch_norm: bool,
    /// Best validation loss reached (the ranking criterion).
    pub val_loss: f64,
    /// Epochs trained (early stopping may end a trial first).
    pub epochs: usize,
}

/// Trains `params.trials` seeded random combinations on top of `base` (β, λ, widths kept) and
/// returns them best first; each trial runs in `run_dir/trial_<i>` and the ranking is written
/// to `run_dir/search.json`. Combinations drawn twice are trained once.
pub fn random_search(
    base: &VaeConfig,
    train: ArrayView2<'_, f64>,
    val: ArrayView2<'_, f64>,
    params: &SearchParams,
    run_dir: &Path,
) -> Result<Vec<Trial>> {
    params.check()?;
    base.check()?;
    let mut rng = seeded_rng(params.seed);
    let s = &params.space;
    let mut trials: Vec<Trial> = Vec::new();
    for i in 0..params.trials {
        let latent = *s.latent.choose(&mut rng).expect("checked");
        let learning_rate = *s.learning_rate.choose(&mut rng).expect("checked");
        let batch_size = *s.batch_size.choose(&mut rng).expect("checked");
        let batch_norm = *s.batch_norm.choose(&mut rng).expect("checked");
        if trials.iter().any(|t| {
            (t.latent, t.batch_size, t.batch_norm) == (latent, batch_size, batch_norm)
                && t.learning_rate == learning_rate
        }) {
            continue;
        }
        let cfg = VaeConfig {
            latent,
            encoder_batch_norm: batch_norm,
            ..base.clone()
        };
        let train_cfg = TrainConfig {
            epochs: params.max_epochs,
            seed: params.seed.wrapping_add(i as u64),
            base_lr: learning_rate,
            schedule: LrSchedule::Constant,
            early_stopping: Some(EarlyStopping {
                monitor: "val_loss".into(),
                mode: Mode::Min,
                patience: params.patience,
                min_delta: 0.0,
            }),
            checkpoint_every: params.max_epochs,
            quiet: true,
        };
        // A diverged run (non-finite loss: training stops with an error) ranks last rather
        // than aborting the search.
        let (val_loss, epochs) = match fit(
            cfg,
            train,
            Some(val),
            batch_size,
            train_cfg,
            &run_dir.join(format!("trial_{i}")),
            false,
        ) {
            Ok((_, summary)) => (
                summary
                    .best
                    .filter(|v| v.is_finite())
                    .unwrap_or(f64::INFINITY),
                summary.epochs_done,
            ),
            Err(crate::error::VaeError::Core(cellpaint_core::CoreError::Diverged(_))) => {
                (f64::INFINITY, 0)
            }
            Err(e) => return Err(e),
        };
        trials.push(Trial {
            latent,
            learning_rate,
            batch_size,
            batch_norm,
            val_loss,
            epochs,
        });
    }
    trials.sort_by(|a, b| a.val_loss.total_cmp(&b.val_loss));
    profiles::write_json(&run_dir.join("search.json"), &trials)?;
    Ok(trials)
}
