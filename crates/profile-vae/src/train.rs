//! Training (Adam, mini-batches, validation, early stopping, checkpoints, resume — all through
//! the shared `Trainer`) and the fitted model's uses: embed, reconstruct, simulate.

use std::collections::HashMap;
use std::path::Path;

use cellpaint_core::candle::{DType, Device, Tensor};
use cellpaint_core::rng::{permutation, seeded_rng, Rng};
use cellpaint_core::{
    AdamWParams, AnyOptimizer, DataHasher, Fingerprint, Metrics, OptimizerConfig, SeededVarMap,
    TrainConfig, TrainSummary, TrainTask, Trainer,
};
use ndarray::{Array2, ArrayView2};
use rand::seq::SliceRandom;

use crate::error::{Result, VaeError};
use crate::model::{Regulariser, Vae, VaeConfig};
use crate::scaler::MinMaxScaler;

fn to_tensor(x: ArrayView2<'_, f64>, device: &Device) -> Result<Tensor> {
    let v: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    Ok(Tensor::from_vec(v, x.dim(), device)?)
}

fn from_tensor(t: &Tensor) -> Result<Array2<f64>> {
    let (n, d) = t.dims2()?;
    let v: Vec<f32> = t.flatten_all()?.to_vec1()?;
    Ok(
        Array2::from_shape_vec((n, d), v.into_iter().map(f64::from).collect())
            .expect("n × d values"),
    )
}

/// Standard-normal draws from a seeded generator (candle's CPU randn cannot be seeded).
pub fn normal(rng: &mut Rng, shape: (usize, usize), device: &Device) -> Result<Tensor> {
    let v: Vec<f32> = (0..shape.0 * shape.1)
        .map(|_| profiles::synthetic::standard_normal(rng) as f32)
        .collect();
    Ok(Tensor::from_vec(v, shape, device)?)
}

/// The shuffled-data baseline: every column permuted independently (seeded), which keeps each
/// feature's distribution and destroys the structure between features.
pub fn shuffle_columns(x: ArrayView2<'_, f64>, seed: u64) -> Array2<f64> {
    let mut rng = seeded_rng(seed);
    let mut out = x.to_owned();
    for mut col in out.columns_mut() {
        let mut v = col.to_vec();
        v.shuffle(&mut rng);
        col.assign(&ndarray::Array1::from(v));
    }
    out
}

/// One VAE training run, as a [`TrainTask`].
pub struct VaeTask {
    /// The model's variables.
    pub map: SeededVarMap,
    /// The model.
    pub model: Vae,
    opt: AnyOptimizer,
    regularisers: Vec<Box<dyn Regulariser>>,
    train: Tensor,
    val: Option<Tensor>,
    batch_size: usize,
    order: Vec<usize>,
    seed: u64,
    device: Device,
}

impl VaeTask {
    /// `train`/`val` already scaled to [0, 1]; on the CPU.
    pub fn new(
        config: VaeConfig,
        train: ArrayView2<'_, f64>,
        val: Option<ArrayView2<'_, f64>>,
        batch_size: usize,
        lr: f64,
        seed: u64,
    ) -> Result<Self> {
        Self::on_device(config, train, val, batch_size, lr, seed, &Device::Cpu)
    }

    /// As [`VaeTask::new`], with the model, data and noise on `device`. The noise is drawn on
    /// the CPU from the seeded stream and copied, so every device sees the same draws.
    pub fn on_device(
        config: VaeConfig,
        train: ArrayView2<'_, f64>,
        val: Option<ArrayView2<'_, f64>>,
        batch_size: usize,
        lr: f64,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        if train.ncols() != config.input_dim || val.is_some_and(|v| v.ncols() != config.input_dim) {
            return Err(VaeError::Data(format!(
                "data has {} features, the model expects {}",
                train.ncols(),
                config.input_dim
            )));
        }
        if batch_size == 0 || train.nrows() == 0 {
            return Err(VaeError::Config(
                "batch size and training rows must be ≥ 1".into(),
            ));
        }
        let device = device.clone();
        let map = SeededVarMap::new(seed);
        let model = Vae::new(config.clone(), map.var_builder(DType::F32, &device))?;
        let params = map
            .named_vars()
            .into_iter()
            .filter(|(n, _)| !n.contains("running_"))
            .map(|(_, v)| v)
            .collect();
        // Adam = AdamW without weight decay (Keras Adam defaults otherwise).
        let opt = OptimizerConfig::AdamW(AdamWParams {
            lr,
            weight_decay: 0.0,
            eps: 1e-7,
            ..Default::default()
        })
        .build(params)?;
        Ok(Self {
            regularisers: config.regularisers(),
            map,
            model,
            opt,
            train: to_tensor(train, &device)?,
            val: val.map(|v| to_tensor(v, &device)).transpose()?,
            batch_size,
            order: Vec::new(),
            seed,
            device,
        })
    }

    /// Replaces the regularisers the config chose (β·KL and/or λ·MMD) with `regularisers`: a
    /// method developer's own [`Regulariser`] (a VampPrior, an InfoVAE term) trains without
    /// touching this crate. Each is logged under its `name()` in metrics.jsonl.
    pub fn with_regularisers(mut self, regularisers: Vec<Box<dyn Regulariser>>) -> Self {
        self.regularisers = regularisers;
        self
    }

    /// Names of the regularisers in the loss, in order.
    pub fn regulariser_names(&self) -> Vec<&'static str> {
        self.regularisers.iter().map(|r| r.name()).collect()
    }

    /// Loss terms for `x` with noise `eps` and prior draws `prior`.
    fn losses(
        &self,
        x: &Tensor,
        train: bool,
        eps: &Tensor,
        prior: &Tensor,
    ) -> Result<(Tensor, Metrics)> {
        let out = self.model.forward(x, train, eps)?;
        let recon = Vae::reconstruction_loss(x, &out.reconstruction)?;
        let mut total = recon.clone();
        let mut metrics = Metrics::from([("recon".to_string(), recon.to_scalar::<f32>()? as f64)]);
        for r in &self.regularisers {
            let l = r.loss(&out.mu, &out.logvar, &out.z, prior)?;
            metrics.insert(r.name().to_string(), l.to_scalar::<f32>()? as f64);
            total = (total + l)?;
        }
        metrics.insert("loss".into(), total.to_scalar::<f32>()? as f64);
        Ok((total, metrics))
    }
}

impl TrainTask for VaeTask {
    fn steps_per_epoch(&self) -> usize {
        self.train.dim(0).unwrap_or(0).div_ceil(self.batch_size)
    }

    fn train_step(
        &mut self,
        _epoch: usize,
        step: usize,
        rng: &mut Rng,
    ) -> cellpaint_core::Result<Metrics> {
        let n = self.train.dim(0)?;
        if step == 0 {
            self.order = permutation(n, rng);
        }
        let idx: Vec<u32> = self.order
            [step * self.batch_size..((step + 1) * self.batch_size).min(n)]
            .iter()
            .map(|&i| i as u32)
            .collect();
        let x = self
            .train
            .index_select(&Tensor::new(idx.as_slice(), &self.device)?, 0)?;
        let shape = (idx.len(), self.model.config.latent);
        let eps = normal(rng, shape, &self.device).map_err(core_err)?;
        let prior = normal(rng, shape, &self.device).map_err(core_err)?;
        let (loss, metrics) = self.losses(&x, true, &eps, &prior).map_err(core_err)?;
        self.opt.backward_step(&loss)?;
        Ok(metrics)
    }

    fn validate(&mut self, epoch: usize) -> cellpaint_core::Result<Metrics> {
        let Some(val) = &self.val else {
            return Ok(Metrics::new());
        };
        let val = val.clone();
        let shape = (val.dim(0)?, self.model.config.latent);
        // Validation noise from its own stream, so that it does not depend on training steps.
        let mut rng = seeded_rng(cellpaint_core::rng::derive_seed(
            self.seed,
            &format!("validation/{epoch}"),
        ));
        let eps = normal(&mut rng, shape, &self.device).map_err(core_err)?;
        let prior = normal(&mut rng, shape, &self.device).map_err(core_err)?;
        let (_, m) = self.losses(&val, false, &eps, &prior).map_err(core_err)?;
        Ok(m.into_iter()
            .map(|(k, v)| (format!("val_{k}"), v))
            .collect())
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.opt.set_learning_rate(lr);
    }

    fn state(&self) -> cellpaint_core::Result<HashMap<String, Tensor>> {
        let mut s = self.map.tensors();
        s.extend(self.opt.state()?);
        Ok(s)
    }

    fn load_state(&mut self, state: HashMap<String, Tensor>) -> cellpaint_core::Result<()> {
        self.map.load_tensors(&state)?;
        self.opt.load_state(&state)
    }

    fn device(&self) -> Device {
        self.device.clone()
    }
}

/// A step's error for the shared loop, keeping its kind: a data or configuration error of this
/// crate stays one (reachable through `source()`), not "invalid configuration".
fn core_err(e: VaeError) -> cellpaint_core::CoreError {
    match e {
        VaeError::Core(c) => c,
        VaeError::Candle(c) => c.into(),
        other => cellpaint_core::CoreError::method("profile VAE", other),
    }
}

/// A trained VAE with its input scaler.
pub struct FittedVae {
    /// The architecture.
    pub config: VaeConfig,
    /// Fitted on the training profiles; inputs go through it, outputs back.
    pub scaler: MinMaxScaler,
    /// Its variables.
    pub map: SeededVarMap,
    /// The model.
    pub model: Vae,
    /// Where the model's variables live (inputs go there, outputs come back to the host).
    pub device: Device,
}

/// Where and how [`fit_on`] trains, beyond the model and data: the batch, the training loop,
/// the run directory and its resume rule, the device.
#[derive(Debug, Clone)]
pub struct FitSettings<'a> {
    /// Profiles per Adam step.
    pub batch_size: usize,
    /// Epochs, Adam's rate (`base_lr`), schedule, early stopping, seed.
    pub train: TrainConfig,
    /// The run directory (metrics.jsonl, checkpoints, the fingerprint).
    pub run_dir: &'a Path,
    /// Discard a different run found in `run_dir` instead of refusing it.
    pub restart: bool,
    /// Where the model trains and later embeds/decodes.
    pub device: Device,
}

/// Fits the scaler on `train` (raw features), trains in `run_dir` and returns the model and the
/// run summary. `train_cfg.base_lr` is Adam's rate. A run found in `run_dir` resumes if it is
/// this same run (config, loop settings, data) and is refused otherwise, unless `restart`.
/// On the CPU; [`fit_on`] takes a device.
pub fn fit(
    config: VaeConfig,
    train: ArrayView2<'_, f64>,
    val: Option<ArrayView2<'_, f64>>,
    batch_size: usize,
    train_cfg: TrainConfig,
    run_dir: &Path,
    restart: bool,
) -> Result<(FittedVae, TrainSummary)> {
    fit_on(
        config,
        train,
        val,
        FitSettings {
            batch_size,
            train: train_cfg,
            run_dir,
            restart,
            device: Device::Cpu,
        },
    )
}

/// As [`fit`], on `settings.device` (the returned model stays there).
pub fn fit_on(
    config: VaeConfig,
    train: ArrayView2<'_, f64>,
    val: Option<ArrayView2<'_, f64>>,
    settings: FitSettings<'_>,
) -> Result<(FittedVae, TrainSummary)> {
    let FitSettings {
        batch_size,
        train: train_cfg,
        run_dir,
        restart,
        device,
    } = settings;
    let scaler = MinMaxScaler::fit(train)?;
    let xs = scaler.transform(train)?;
    let vs = val.map(|v| scaler.transform(v)).transpose()?;
    let mut task = VaeTask::on_device(
        config.clone(),
        xs.view(),
        vs.as_ref().map(|v| v.view()),
        batch_size,
        train_cfg.base_lr,
        train_cfg.seed,
        &device,
    )?;
    let mut data = DataHasher::new();
    data.f64s(train.iter().copied()).u64(train.ncols() as u64);
    if let Some(v) = val {
        data.f64s(v.iter().copied()).u64(v.ncols() as u64);
    }
    let fingerprint = Fingerprint::new()
        .with("model", &"profile-vae")?
        .with("config", &config)?
        .with("batch_size", &batch_size)?
        .with("data", &data.hex())?;
    let summary = Trainer::new(train_cfg, run_dir)?
        .with_fingerprint(fingerprint)
        .restart(restart)
        .run(&mut task)?;
    profiles::write_json(&run_dir.join("vae_config.json"), &config)?;
    profiles::write_json(&run_dir.join("scaler.json"), &scaler)?;
    Ok((
        FittedVae {
            config,
            scaler,
            map: task.map,
            model: task.model,
            device,
        },
        summary,
    ))
}

impl FittedVae {
    /// Saves weights (safetensors), configuration and scaler (JSON) into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        cellpaint_core::save_checkpoint(
            dir,
            "vae",
            &self.map.tensors(),
            &(self.config.clone(), self.scaler.clone()),
        )?;
        Ok(())
    }

    /// Loads what [`FittedVae::save`] wrote onto the CPU; a missing file is an error naming
    /// the directory.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_on(dir, &Device::Cpu)
    }

    /// As [`FittedVae::load`], onto `device`.
    pub fn load_on(dir: &Path, device: &Device) -> Result<Self> {
        let (tensors, (config, scaler)): (_, (VaeConfig, MinMaxScaler)) =
            cellpaint_core::load_checkpoint(dir, "vae", device)?.ok_or_else(|| {
                VaeError::Data(format!("{}: no saved VAE (vae.json)", dir.display()))
            })?;
        let map = SeededVarMap::new(0);
        let model = Vae::new(config.clone(), map.var_builder(DType::F32, device))?;
        map.load_tensors(&tensors)?;
        Ok(Self {
            config,
            scaler,
            map,
            model,
            device: device.clone(),
        })
    }

    /// Latent means μ (deterministic embedding) of raw profiles.
    pub fn embed(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        let xs = self.scaler.transform(x)?;
        let (mu, _) = self
            .model
            .encode(&to_tensor(xs.view(), &self.device)?, false)?;
        from_tensor(&mu)
    }

    /// Decodes latent vectors back to raw feature units.
    pub fn decode(&self, z: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        let y = from_tensor(&self.model.decode(&to_tensor(z, &self.device)?)?)?;
        self.scaler.inverse(y.view())
    }

    /// Reconstruction through μ, in raw units.
    pub fn reconstruct(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        let mu = self.embed(x)?;
        self.decode(mu.view())
    }

    /// `n` profiles decoded from N(0, I) prior draws.
    pub fn simulate(&self, n: usize, seed: u64) -> Result<Array2<f64>> {
        let z = normal(&mut seeded_rng(seed), (n, self.config.latent), &self.device)?;
        let y = from_tensor(&self.model.decode(&z)?)?;
        self.scaler.inverse(y.view())
    }
}
