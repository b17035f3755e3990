//! A regulariser defined outside the crate, with only the public API, trains a VAE: passed to
//! `VaeTask::with_regularisers`, it replaces the config's β·KL, is logged under its name, and
//! does what it says (here: pulls the posterior means towards 0).

use cellpaint_core::candle::{Result as CResult, Tensor, D};
use cellpaint_core::{LrSchedule, TrainConfig, Trainer};
use ndarray::Array2;
use profile_vae::*;

/// λ · mean over the batch of ‖μ‖²: a toy stand-in for a VampPrior or InfoVAE term.
struct MeanPull {
    lambda: f64,
}

impl Regulariser for MeanPull {
    fn name(&self) -> &'static str {
        "mean_pull"
    }
    fn loss(&self, mu: &Tensor, _logvar: &Tensor, _z: &Tensor, _prior: &Tensor) -> CResult<Tensor> {
        mu.sqr()?.sum(D::Minus1)?.mean_all()? * self.lambda
    }
}

/// The seeded plate's features, min–max scaled to [0, 1] per feature (what `VaeTask` expects).
fn scaled_plate() -> Array2<f64> {
    let mut x = profiles::SyntheticPlate::default()
        .generate()
        .into_features();
    for mut col in x.columns_mut() {
        let (lo, hi) = col
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        col.mapv_inplace(|v| (v - lo) / (hi - lo).max(1e-12));
    }
    x
}

/// Trains 100 epochs with `regularisers` (None: the config's) and returns the last epoch's
/// metrics and the mean ‖μ‖² of the training rows.
fn train(regularisers: Option<Vec<Box<dyn Regulariser>>>) -> (cellpaint_core::Metrics, f64) {
    let x = scaled_plate();
    let config = VaeConfig {
        hidden: vec![32],
        latent: 4,
        ..VaeConfig::beta_vae(x.ncols(), 0.3)
    };
    let mut task = VaeTask::new(config, x.view(), None, 32, 1e-3, 0).unwrap();
    if let Some(r) = regularisers {
        task = task.with_regularisers(r);
    }
    let dir = tempfile::tempdir().unwrap();
    let summary = Trainer::new(
        TrainConfig {
            epochs: 100,
            seed: 0,
            base_lr: 1e-3,
            schedule: LrSchedule::Constant,
            early_stopping: None,
            checkpoint_every: 100,
            quiet: true,
        },
        dir.path(),
    )
    .unwrap()
    .run(&mut task)
    .unwrap();
    let xt = Tensor::from_vec(
        x.iter().map(|&v| v as f32).collect::<Vec<_>>(),
        x.dim(),
        &cellpaint_core::candle::Device::Cpu,
    )
    .unwrap();
    let (mu, _) = task.model.encode(&xt, false).unwrap();
    let norm = mu
        .sqr()
        .unwrap()
        .sum(D::Minus1)
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap() as f64;
    (summary.last.unwrap().metrics, norm)
}

#[test]
fn a_users_regulariser_replaces_the_configs_and_is_logged() {
    let (plain, plain_norm) = train(Some(Vec::new()));
    let (pulled, pulled_norm) = train(Some(vec![Box::new(MeanPull { lambda: 10.0 })]));
    let (configured, _) = train(None);
    assert!(configured.contains_key("kl") && !configured.contains_key("mean_pull"));
    assert!(
        pulled.contains_key("mean_pull") && !pulled.contains_key("kl"),
        "{pulled:?}"
    );
    assert!(!plain.contains_key("kl") && !plain.contains_key("mean_pull"));
    eprintln!("mean ‖μ‖²: no regulariser {plain_norm:.4}, mean_pull {pulled_norm:.4}");
    assert!(
        pulled_norm < 0.5 * plain_norm,
        "mean_pull should shrink ‖μ‖²: {pulled_norm} vs {plain_norm}"
    );
}
