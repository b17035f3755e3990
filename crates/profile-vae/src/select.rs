//! The paper's choice of β: train one model per β, decode as many prior draws as there are
//! training rows, and keep the β whose simulated set is closest to the training set by the
//! symmetric Hausdorff distance (in the scaled [0, 1] feature space).

use std::path::Path;

use cellpaint_core::TrainConfig;
use ndarray::ArrayView2;

use crate::error::{Result, VaeError};
use crate::model::VaeConfig;
use crate::train::{fit, FittedVae};

/// Symmetric Hausdorff distance between `n_train` simulated profiles and the training set.
pub fn simulation_hausdorff(vae: &FittedVae, train: ArrayView2<'_, f64>, seed: u64) -> Result<f64> {
    let sim = vae.simulate(train.nrows(), seed)?;
    let (a, b) = (
        vae.scaler.transform(sim.view())?,
        vae.scaler.transform(train)?,
    );
    Ok(profiling_eval::vae::hausdorff(a.view(), b.view()))
}

/// One trained model per β (in `run_dir/beta_<β>`); returns (β, Hausdorff) for each, in the
/// given order, and the index of the best (lowest distance).
pub fn select_beta(
    config: &VaeConfig,
    train: ArrayView2<'_, f64>,
    betas: &[f64],
    batch_size: usize,
    train_cfg: &TrainConfig,
    run_dir: &Path,
) -> Result<(Vec<(f64, f64)>, usize)> {
    if betas.is_empty() {
        return Err(VaeError::Config("no β values to compare".into()));
    }
    let mut scores = Vec::with_capacity(betas.len());
    for &beta in betas {
        let cfg = VaeConfig {
            beta,
            ..config.clone()
        };
        let (vae, _) = fit(
            cfg,
            train,
            None,
            batch_size,
            train_cfg.clone(),
            &run_dir.join(format!("beta_{beta}")),
            false,
        )?;
        scores.push((beta, simulation_hausdorff(&vae, train, train_cfg.seed)?));
    }
    let best = (0..scores.len())
        .min_by(|&a, &b| scores[a].1.total_cmp(&scores[b].1))
        .expect("non-empty");
    profiles::write_json(
        &run_dir.join("beta_selection.json"),
        &serde_json::json!({"scores": scores, "best_beta": scores[best].0}),
    )?;
    Ok((scores, best))
}
