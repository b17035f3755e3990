//! profile-vae: hand-checked losses, gradients, training on real (or seeded) profiles, the
//! shuffled baseline, save/load, resume, bad input.

use cellpaint_core::candle::{DType, Device, Tensor};
use cellpaint_core::{LrSchedule, SeededVarMap, TrainConfig};
use ndarray::Array2;
use profile_vae::*;

fn t(v: &[f64], shape: (usize, usize)) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape, &Device::Cpu).unwrap()
}

#[test]
fn losses_by_hand() {
    // KL of μ = [1, 0], log σ² = [0, 0]: ½·Σ(σ² + μ² − log σ² − 1) = ½·(1 + 0) = 0.5; β = 2 → 1.
    let mu = t(&[1.0, 0.0], (1, 2));
    let lv = t(&[0.0, 0.0], (1, 2));
    let kl = Kl { beta: 2.0 }
        .loss(&mu, &lv, &mu, &mu)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert!((kl - 1.0).abs() < 1e-12);
    // MMD of {0} vs {2} in 1-D: k = exp(−d²/1): 1 + 1 − 2·e^−4.
    let m = mmd(&t(&[0.0], (1, 1)), &t(&[2.0], (1, 1)))
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert!((m - (2.0 - 2.0 * (-4f64).exp())).abs() < 1e-12, "{m}");
    let same = t(&[0.3, 1.0, -2.0, 0.5], (2, 2));
    assert!(mmd(&same, &same).unwrap().to_scalar::<f64>().unwrap().abs() < 1e-12);
    // Reconstruction: x = [1, 2], x̂ = [0, 0] → 5 (sum over features, mean over the batch).
    let r = Vae::reconstruction_loss(&t(&[1.0, 2.0], (1, 2)), &t(&[0.0, 0.0], (1, 2)))
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert_eq!(r, 5.0);
}

#[test]
fn gradients_match_finite_differences() {
    let cfg = VaeConfig {
        hidden: vec![6],
        latent: 3,
        mmd_lambda: 2.0,
        ..VaeConfig::vanilla(5)
    };
    let map = SeededVarMap::new(1);
    let vae = Vae::new(cfg.clone(), map.var_builder(DType::F64, &Device::Cpu)).unwrap();
    let eps = t(&[0.1, -0.3, 0.7, 0.2, 0.0, -1.0], (2, 3));
    let prior = t(&[0.5, 0.1, -0.2, -0.4, 0.3, 0.9], (2, 3));
    let x = t(&[0.1, 0.5, 0.9, 0.3, 0.7, 0.2, 0.4, 0.6, 0.8, 0.0], (2, 5));
    let loss = |x: &Tensor| {
        let out = vae.forward(x, false, &eps)?;
        let mut l = Vae::reconstruction_loss(x, &out.reconstruction)?;
        for r in cfg.regularisers() {
            l = (l + r.loss(&out.mu, &out.logvar, &out.z, &prior)?)?;
        }
        Ok(l)
    };
    let report = cellpaint_core::gradcheck::check_gradients(loss, &x, 1e-6).unwrap();
    assert!(report.max_rel_error < 1e-6, "{report:?}");
}

/// The real LINCS plate (384 × 454) when the data directory exists, else the seeded plate.
fn profiles() -> Array2<f64> {
    match profiles::data::data_dir_for_tests() {
        Some(dir) => profiles::read_table(
            dir.join(profiles::data::known::LINCS_PLATE),
            &Default::default(),
        )
        .unwrap()
        .into_features(),
        None => profiles::SyntheticPlate::default()
            .generate()
            .into_features(),
    }
}

fn train_cfg(epochs: usize, seed: u64) -> TrainConfig {
    TrainConfig {
        epochs,
        seed,
        base_lr: 1e-3,
        schedule: LrSchedule::Constant,
        early_stopping: None,
        checkpoint_every: 1,
        quiet: true,
    }
}

fn small(d: usize) -> VaeConfig {
    VaeConfig {
        hidden: vec![64],
        latent: 8,
        ..VaeConfig::beta_vae(d, 0.3)
    }
}

#[test]
fn learns_real_profiles_better_than_their_shuffled_twin() {
    let x = profiles();
    let (n, d) = x.dim();
    let (train, val) = (
        x.slice(ndarray::s![..n * 4 / 5, ..]),
        x.slice(ndarray::s![n * 4 / 5.., ..]),
    );
    let dir = tempfile::tempdir().unwrap();
    let (real, s) = fit(
        small(d),
        train,
        Some(val),
        32,
        train_cfg(30, 0),
        &dir.path().join("real"),
        false,
    )
    .unwrap();
    let shuffled_train = shuffle_columns(train, 1);
    let shuffled_val = shuffle_columns(val, 2);
    let (shuf, s2) = fit(
        small(d),
        shuffled_train.view(),
        Some(shuffled_val.view()),
        32,
        train_cfg(30, 0),
        &dir.path().join("shuffled"),
        false,
    )
    .unwrap();
    let history = |run: &str| -> Vec<f64> {
        std::fs::read_to_string(dir.path().join(run).join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["metrics"]["val_recon"]
                    .as_f64()
                    .unwrap()
            })
            .collect()
    };
    let h = history("real");
    let mse = |m: &FittedVae, x: ndarray::ArrayView2<f64>| {
        let xs = m.scaler.transform(x).unwrap();
        let r = m
            .scaler
            .transform(m.reconstruct(x).unwrap().view())
            .unwrap();
        (&xs - &r).mapv(|v| v * v).mean().unwrap()
    };
    let (real_mse, shuf_mse) = (mse(&real, val), mse(&shuf, shuffled_val.view()));
    eprintln!("{n}×{d} profiles: val recon {:.2} → {:.2}; scaled MSE real {real_mse:.5} vs shuffled {shuf_mse:.5}", h[0], h[h.len() - 1]);
    assert!(
        h[h.len() - 1] < 0.7 * h[0],
        "validation reconstruction falls"
    );
    assert!(
        real_mse < shuf_mse,
        "structure in real profiles is learnt; shuffled has none"
    );
    assert_eq!((s.epochs_done, s2.epochs_done), (30, 30));
    // Embedding is deterministic (μ), simulation is seeded.
    assert_eq!(real.embed(val).unwrap(), real.embed(val).unwrap());
    assert_eq!(real.simulate(5, 3).unwrap(), real.simulate(5, 3).unwrap());
    assert_eq!(real.embed(val).unwrap().ncols(), 8);
}

#[test]
fn save_load_round_trip_and_resume() {
    let x = profiles::SyntheticPlate::default()
        .generate()
        .into_features();
    let d = x.ncols();
    let dir = tempfile::tempdir().unwrap();
    let (m, _) = fit(
        small(d),
        x.view(),
        None,
        16,
        train_cfg(4, 5),
        &dir.path().join("a"),
        false,
    )
    .unwrap();
    m.save(&dir.path().join("saved")).unwrap();
    let back = FittedVae::load(&dir.path().join("saved")).unwrap();
    assert_eq!(back.embed(x.view()).unwrap(), m.embed(x.view()).unwrap());
    assert_eq!(back.config, m.config);
    // Interrupted after 2 epochs (a 2-epoch run in the same directory), then resumed to 4:
    // the same weights as the uninterrupted run.
    let b = dir.path().join("b");
    fit(small(d), x.view(), None, 16, train_cfg(2, 5), &b, false).unwrap();
    let (resumed, s) = fit(small(d), x.view(), None, 16, train_cfg(4, 5), &b, false).unwrap();
    assert_eq!(s.resumed_from_epoch, Some(2));
    assert_eq!(resumed.embed(x.view()).unwrap(), m.embed(x.view()).unwrap());
}

#[test]
fn bad_input_is_an_error() {
    let x = profiles::SyntheticPlate::default()
        .generate()
        .into_features();
    let dir = tempfile::tempdir().unwrap();
    let fit_err = |cfg: VaeConfig, data: ndarray::ArrayView2<f64>| {
        fit(cfg, data, None, 16, train_cfg(1, 0), dir.path(), false)
            .err()
            .unwrap()
            .to_string()
    };
    let e = fit_err(small(x.ncols() + 1), x.view());
    assert!(e.contains("features"), "{e}");
    let mut bad = x.clone();
    bad[[3, 2]] = f64::NAN;
    let e = fit_err(small(x.ncols()), bad.view());
    assert!(e.contains("row 3, feature 2"), "{e}");
    let e = fit_err(
        VaeConfig {
            latent: 0,
            ..small(x.ncols())
        },
        x.view(),
    );
    assert!(e.contains("latent"), "{e}");
    assert!(FittedVae::load(&dir.path().join("nothing")).is_err());
}

#[test]
fn beta_selection_scores_every_beta() {
    let x = profiles::SyntheticPlate::default()
        .generate()
        .into_features();
    let dir = tempfile::tempdir().unwrap();
    let betas = [0.1, 1.0, 10.0];
    let (scores, best) = select_beta(
        &small(x.ncols()),
        x.view(),
        &betas,
        16,
        &train_cfg(15, 0),
        dir.path(),
    )
    .unwrap();
    eprintln!("β → Hausdorff: {scores:?}, best β = {}", scores[best].0);
    assert_eq!(
        scores.iter().map(|s| s.0).collect::<Vec<_>>(),
        betas.to_vec()
    );
    assert!(scores.iter().all(|s| s.1.is_finite() && s.1 > 0.0));
    assert!(scores.iter().all(|s| s.1 >= scores[best].1));
    assert!(dir.path().join("beta_selection.json").exists());
    assert!(select_beta(
        &small(x.ncols()),
        x.view(),
        &[],
        16,
        &train_cfg(1, 0),
        dir.path()
    )
    .is_err());
}
