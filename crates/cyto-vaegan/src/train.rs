//! Training as the paper: each iteration draws two independent batches, B1 through the
//! autoencoder and B2 of real images for the discriminator; Adam for encoder and decoder, SGD
//! with momentum for the discriminator. Runs through the shared `Trainer` (metrics.jsonl,
//! atomic checkpoints, resume), and the fitted model embeds, reconstructs and decodes.

use std::collections::HashMap;
use std::path::Path;

use cellpaint_core::candle::{DType, Device, Tensor, Var};
use cellpaint_core::rng::Rng;
use cellpaint_core::{
    load_checkpoint, save_checkpoint, AdamWParams, AnyOptimizer, DataHasher, Fingerprint, Metrics,
    OptimizerConfig, RunOptions, SeededVarMap, SgdParams, TrainConfig, TrainSummary, TrainTask,
    Trainer,
};
use ndarray::{Array2, Array4, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::config::{feature_weight, VaeGanConfig};
use crate::data::{CropSet, TreatmentSampler};
use crate::error::{CytoError, Result};
use crate::loss::{bce_with_logits, carried_gradient, feature_loss, kl_loss, l2_penalty, rgb_loss};
use crate::model::{VaeGan, DECODER, DISCRIMINATOR, ENCODER};

/// Standard-normal noise from the run's seeded generator (candle's CPU randn cannot be seeded).
fn noise(rng: &mut Rng, shape: (usize, usize), device: &Device) -> Result<Tensor> {
    let v: Vec<f32> = (0..shape.0 * shape.1)
        .map(|_| profiles::synthetic::standard_normal(rng) as f32)
        .collect();
    Ok(Tensor::from_vec(v, shape, device)?)
}

fn vars_under(map: &SeededVarMap, prefixes: &[&str]) -> Vec<cellpaint_core::candle::Var> {
    map.named_vars()
        .into_iter()
        .filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(&format!("{p}."))))
        .map(|(_, v)| v)
        .collect()
}

fn with_prefix(state: HashMap<String, Tensor>, from: &str, to: &str) -> HashMap<String, Tensor> {
    state
        .into_iter()
        .map(|(k, v)| (k.replacen(from, to, 1), v))
        .collect()
}

/// One VAE / AE / VAE+ training run, as a [`TrainTask`].
pub struct VaeGanTask {
    /// The networks' variables.
    pub map: SeededVarMap,
    /// The networks.
    pub model: VaeGan,
    config: VaeGanConfig,
    opt_ae: AnyOptimizer,
    opt_d: Option<AnyOptimizer>,
    data: Tensor,
    sampler: TreatmentSampler,
    device: Device,
}

impl VaeGanTask {
    /// Checks `config` against `crops`, builds the reference networks from `seed` and their
    /// optimisers.
    pub fn new(config: &VaeGanConfig, crops: &CropSet, seed: u64, device: &Device) -> Result<Self> {
        let with_discriminator = config.feature_loss;
        Self::with_networks(config, crops, seed, device, |arch, vb| {
            VaeGan::reference(arch, with_discriminator, vb)
        })
    }

    /// As [`VaeGanTask::new`] with networks of the caller's making: `build` gets the
    /// architecture settings and the root `VarBuilder`, and must create the encoder's,
    /// decoder's and discriminator's variables under [`ENCODER`], [`DECODER`] and
    /// [`DISCRIMINATOR`] (the optimiser groups and checkpoints go by these prefixes). Any
    /// [`crate::FeatureDiscriminator`] works, of any depth; mix it with the reference
    /// [`crate::ConvEncoder`] and [`crate::ConvDecoder`] to try only a new discriminator.
    pub fn with_networks(
        config: &VaeGanConfig,
        crops: &CropSet,
        seed: u64,
        device: &Device,
        build: impl FnOnce(
            &crate::ArchConfig,
            cellpaint_core::candle_nn::VarBuilder,
        ) -> cellpaint_core::candle::Result<VaeGan>,
    ) -> Result<Self> {
        config.check()?;
        let (_, c, h, w) = crops.pixels.dim();
        if c != config.arch.in_channels || h != config.arch.image_size || w != h {
            return Err(CytoError::data(
                &crops.source,
                format!(
                    "crops are {c}×{h}×{w}, the configuration expects {}×68×68",
                    config.arch.in_channels
                ),
            ));
        }
        let map = SeededVarMap::new(seed);
        let model = build(&config.arch, map.var_builder(DType::F32, device))?;
        if config.feature_loss != model.discriminator.is_some() {
            return Err(CytoError::Config(format!(
                "the feature loss is {} but the networks {} a discriminator",
                if config.feature_loss { "on" } else { "off" },
                if model.discriminator.is_some() {
                    "have"
                } else {
                    "lack"
                }
            )));
        }
        if let Some(d) = &model.discriminator {
            if d.feature_layers() == 0 {
                return Err(CytoError::Config(
                    "the discriminator has no hidden layers for the feature loss".into(),
                ));
            }
        }
        let adam = OptimizerConfig::AdamW(AdamWParams {
            lr: config.lr_autoencoder,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            // Weight decay is the L2 loss term on kernels, as the reference adds it.
            weight_decay: 0.0,
        });
        let opt_ae = adam.build(vars_under(&map, &[ENCODER, DECODER]))?;
        let opt_d = if config.feature_loss {
            let sgd = OptimizerConfig::Sgd(SgdParams {
                lr: config.lr_discriminator,
                momentum: config.momentum_discriminator,
                ..SgdParams::default()
            });
            Some(sgd.build(vars_under(&map, &[DISCRIMINATOR]))?)
        } else {
            None
        };
        let all: Vec<usize> = (0..crops.len()).collect();
        Ok(Self {
            map,
            model,
            config: config.clone(),
            opt_ae,
            opt_d,
            data: crops.tensor(&all, device)?,
            sampler: TreatmentSampler::new(&crops.meta),
            device: device.clone(),
        })
    }

    fn batch(&self, rng: &mut Rng) -> Result<Tensor> {
        let rows: Vec<u32> = self
            .sampler
            .batch(self.config.batch_size, rng)
            .into_iter()
            .map(|i| i as u32)
            .collect();
        let idx = Tensor::from_vec(rows, self.config.batch_size, &self.device)?;
        Ok(self.data.index_select(&idx, 0)?)
    }

    fn step(&mut self, t: usize, rng: &mut Rng) -> Result<Metrics> {
        let cfg = &self.config;
        let b = cfg.batch_size;
        let x1 = self.batch(rng)?;
        let (mu, logvar) = self.model.encoder.encode(&x1, true)?;
        let z = if cfg.samples_latent() {
            let eps = noise(rng, mu.dims2()?, &self.device)?;
            (&mu + (logvar.affine(0.5, 0.0)?.exp()? * eps)?)?
        } else {
            mu.clone()
        };
        let recon = self.model.decoder.decode(&z, true)?;
        let rgb = rgb_loss(&x1, &recon)?;
        let mut metrics = Metrics::new();
        let mut loss = rgb.clone();
        if cfg.beta > 0.0 {
            let kl = kl_loss(&mu, &logvar)?;
            metrics.insert("kl".into(), kl.to_scalar::<f32>()? as f64);
            loss = (loss + (kl * cfg.beta)?)?;
        }
        let mut kernels = self.model.encoder.kernels();
        kernels.extend(self.model.decoder.kernels());
        if let Some(l2) = l2_penalty(&kernels, cfg.weight_decay)? {
            loss = (loss + l2)?;
        }
        metrics.insert("rgb".into(), rgb.to_scalar::<f32>()? as f64);
        // The reported loss: the surrogate term added for the feature loss has its gradient,
        // not its value.
        let loss_value = loss.clone();
        let mut feature_value = 0.0;
        let mut disc_grads = None;
        if let (Some(disc), Some(_)) = (&self.model.discriminator, &self.opt_d) {
            let x2 = self.batch(rng)?;
            let gammas: Vec<f64> = (1..=disc.feature_layers())
                .map(|i| feature_weight(i, t, cfg.feature_period))
                .collect();
            let image_size = x1.elem_count() / b;
            let with_features = gammas.iter().any(|&g| g > 0.0);
            // D sees [B2 real | reconstructions of B1 | B1 originals]; batch-norm moments come
            // from the real + reconstruction half only. Before any γ is on, the originals and
            // the gradient into the autoencoder are not needed.
            // The discriminator's input is a leaf of its own (a `Var` when the feature loss is
            // on): the discriminator loss's backward then stops there instead of running the
            // whole autoencoder backward for gradients its optimiser never reads, and the
            // feature loss reaches the autoencoder through `carried_gradient` below, one
            // autoencoder backward in all (as PyTorch's `autograd.grad` prunes it).
            let input = if with_features {
                Some(Var::from_tensor(&Tensor::cat(
                    &[&x2, &recon.detach(), &x1],
                    0,
                )?)?)
            } else {
                None
            };
            let d = match &input {
                Some(v) => disc.discriminate(v.as_tensor(), 2 * b)?,
                None => disc.discriminate(&Tensor::cat(&[&x2, &recon.detach()], 0)?, 2 * b)?,
            };
            if d.hidden.len() != gammas.len() {
                return Err(CytoError::Config(format!(
                    "the discriminator said it has {} hidden layers and returned {}",
                    gammas.len(),
                    d.hidden.len()
                )));
            }
            let real = d.logits.narrow(0, 0, b)?;
            let fake = d.logits.narrow(0, b, b)?;
            let mut d_loss =
                ((bce_with_logits(&real, 1.0)? + bce_with_logits(&fake, 0.0)?)? * 0.5)?;
            let correct = (real.gt(0f32)?.to_dtype(DType::F32)?.sum_all()?
                + fake.le(0f32)?.to_dtype(DType::F32)?.sum_all()?)?;
            metrics.insert(
                "d_accuracy".into(),
                correct.to_scalar::<f32>()? as f64 / (2 * b) as f64,
            );
            metrics.insert("d_loss".into(), d_loss.to_scalar::<f32>()? as f64);
            if let Some(l2) = l2_penalty(&disc.kernels(), cfg.weight_decay)? {
                d_loss = (d_loss + l2)?;
            }
            if with_features {
                let mut feat: Option<Tensor> = None;
                for (i, &g) in gammas.iter().enumerate() {
                    if g == 0.0 {
                        continue;
                    }
                    let h = &d.hidden[i];
                    let li =
                        feature_loss(&h.narrow(0, 2 * b, b)?, &h.narrow(0, b, b)?, image_size)?;
                    metrics.insert(format!("feature_{}", i + 1), li.to_scalar::<f32>()? as f64);
                    let li = (li * g)?;
                    feat = Some(match feat {
                        None => li,
                        Some(f) => (f + li)?,
                    });
                }
                if let (Some(f), Some(input)) = (feat, &input) {
                    let value = f.to_scalar::<f32>()? as f64;
                    metrics.insert("feature".into(), value);
                    feature_value = value;
                    let at_input = f.backward()?;
                    let g = at_input.get(input.as_tensor()).ok_or_else(|| {
                        CytoError::Config("the feature loss does not depend on its input".into())
                    })?;
                    loss = (loss + carried_gradient(&recon, &g.narrow(0, b, b)?)?)?;
                }
            }
            // Both gradients before either update: an update writes the variables in place.
            disc_grads = Some(d_loss.backward()?);
        }
        metrics.insert(
            "loss".into(),
            loss_value.to_scalar::<f32>()? as f64 + feature_value,
        );
        let ae_grads = loss.backward()?;
        if let (Some(g), Some(opt)) = (disc_grads, self.opt_d.as_mut()) {
            opt.step(&g)?;
        }
        self.opt_ae.step(&ae_grads)?;
        Ok(metrics)
    }
}

impl TrainTask for VaeGanTask {
    fn steps_per_epoch(&self) -> usize {
        self.config.iterations_per_record
    }

    fn train_step(
        &mut self,
        epoch: usize,
        step: usize,
        rng: &mut Rng,
    ) -> cellpaint_core::Result<Metrics> {
        let t = epoch * self.config.iterations_per_record + step;
        self.step(t, rng)
            .map_err(|e| cellpaint_core::CoreError::method(format!("iteration {t}"), e))
    }

    /// The trainer's one learning rate drives the autoencoder's; the discriminator's keeps its
    /// ratio to it.
    fn set_learning_rate(&mut self, lr: f64) {
        self.opt_ae.set_learning_rate(lr);
        if let Some(o) = self.opt_d.as_mut() {
            o.set_learning_rate(lr * self.config.lr_discriminator / self.config.lr_autoencoder);
        }
    }

    fn state(&self) -> cellpaint_core::Result<HashMap<String, Tensor>> {
        let mut s = self.map.tensors();
        s.extend(with_prefix(self.opt_ae.state()?, "optim.", "optim_ae."));
        if let Some(o) = &self.opt_d {
            s.extend(with_prefix(o.state()?, "optim.", "optim_d."));
        }
        Ok(s)
    }

    fn load_state(&mut self, state: HashMap<String, Tensor>) -> cellpaint_core::Result<()> {
        let (mut ae, mut d, mut vars) = (HashMap::new(), HashMap::new(), HashMap::new());
        for (k, v) in state {
            if let Some(r) = k.strip_prefix("optim_ae.") {
                ae.insert(format!("optim.{r}"), v);
            } else if let Some(r) = k.strip_prefix("optim_d.") {
                d.insert(format!("optim.{r}"), v);
            } else {
                vars.insert(k, v);
            }
        }
        self.map.load_tensors(&vars)?;
        self.opt_ae.load_state(&ae)?;
        if let Some(o) = self.opt_d.as_mut() {
            o.load_state(&d)?;
        }
        Ok(())
    }

    fn device(&self) -> Device {
        self.device.clone()
    }
}

/// What a run saves beside its weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelMeta {
    /// The configuration it was trained with.
    pub config: VaeGanConfig,
    /// Seed of initialisation and training.
    pub seed: u64,
}

/// A trained model: embeddings (μ with batch norm in inference mode), reconstructions, decoding.
pub struct FittedVaeGan {
    /// The configuration it was trained with.
    pub config: VaeGanConfig,
    /// Seed of initialisation and training.
    pub seed: u64,
    /// Its variables.
    pub map: SeededVarMap,
    /// The networks.
    pub model: VaeGan,
    /// Where it runs.
    pub device: Device,
    /// How training ended (none for a model loaded from disk).
    pub summary: Option<TrainSummary>,
}

/// What defines a VAE+ run besides the loop settings: the config and the crops (their
/// metadata, shape and each crop's pixel sum: cheap, and it changes with the images).
pub fn run_fingerprint(config: &VaeGanConfig, crops: &CropSet) -> Result<Fingerprint> {
    let mut h = DataHasher::new();
    for m in &crops.meta {
        for f in [
            &m.plate,
            &m.well,
            &m.site,
            &m.compound,
            &m.concentration,
            &m.moa,
            &m.batch,
        ] {
            h.str(f);
        }
    }
    h.images(crops.pixels.shape(), crops.pixels.iter().copied());
    Ok(Fingerprint::new()
        .with("model", &"cyto-vaegan")?
        .with("config", config)?
        .without("config.iterations")
        .with("data.crops", &h.hex())?)
}

/// Trains `config` on `crops` in `run_dir` and returns the model. A run found there resumes if
/// it is this same run (config, seed, crops) and is refused otherwise, unless `run.restart`.
/// Writes `config.json` (training loop), `model_config.json`, `metrics.jsonl`, `summary.json`,
/// checkpoints, and the final `model.{safetensors,json}`.
pub fn fit(
    config: &VaeGanConfig,
    crops: &CropSet,
    run_dir: &Path,
    seed: u64,
    run: impl Into<RunOptions>,
    device: &Device,
) -> Result<FittedVaeGan> {
    let run = run.into();
    let mut task = VaeGanTask::new(config, crops, seed, device)?;
    let trainer = Trainer::new(
        TrainConfig {
            epochs: config.iterations / config.iterations_per_record,
            seed,
            base_lr: config.lr_autoencoder,
            schedule: Default::default(),
            early_stopping: None,
            checkpoint_every: 1,
            quiet: run.quiet,
        },
        run_dir,
    )?
    .with_fingerprint(run_fingerprint(config, crops)?)
    .restart(run.restart);
    // Nothing is written before the directory is known to hold this run (or none).
    trainer.claim()?;
    let meta = ModelMeta {
        config: config.clone(),
        seed,
    };
    profiles::write_json(&run_dir.join("model_config.json"), &meta)?;
    let summary = trainer.run(&mut task)?;
    let fitted = FittedVaeGan {
        config: config.clone(),
        seed,
        map: task.map,
        model: task.model,
        device: device.clone(),
        summary: Some(summary),
    };
    fitted.save(run_dir)?;
    Ok(fitted)
}

const CHUNK: usize = 128;

fn to_array4(t: &Tensor) -> Result<Array4<f32>> {
    let dims = t.dims4()?;
    let v: Vec<f32> = t.flatten_all()?.to_vec1()?;
    Ok(Array4::from_shape_vec(dims, v).expect("dims match"))
}

impl FittedVaeGan {
    /// The network `fit` would start from (same seed, same initialisation), untrained: the
    /// baseline that shows whether training taught the decoder anything.
    pub fn untrained(
        config: &VaeGanConfig,
        crops: &CropSet,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let task = VaeGanTask::new(config, crops, seed, device)?;
        Ok(Self {
            config: config.clone(),
            seed,
            map: task.map,
            model: task.model,
            device: device.clone(),
            summary: None,
        })
    }

    /// Saves the weights (and batch-norm statistics) as `model.safetensors` + `model.json`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let meta = ModelMeta {
            config: self.config.clone(),
            seed: self.seed,
        };
        save_checkpoint(dir, "model", &self.map.tensors(), &meta)?;
        Ok(())
    }

    /// Loads what [`FittedVaeGan::save`] wrote; a truncated or mismatched file is an error.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let (tensors, meta): (HashMap<String, Tensor>, ModelMeta) =
            load_checkpoint(dir, "model", device)?.ok_or_else(|| CytoError::File {
                path: dir.join("model.json"),
                message: "no saved model here".into(),
            })?;
        meta.config.check()?;
        let map = SeededVarMap::new(meta.seed);
        let model = VaeGan::reference(
            &meta.config.arch,
            meta.config.feature_loss,
            map.var_builder(DType::F32, device),
        )?;
        map.load_tensors(&tensors)?;
        Ok(Self {
            config: meta.config,
            seed: meta.seed,
            map,
            model,
            device: device.clone(),
            summary: None,
        })
    }

    /// μ of every crop (inference mode), `(N, latent)`.
    pub fn embed(&self, crops: &CropSet) -> Result<Array2<f32>> {
        self.embed_pixels(&crops.pixels)
    }

    /// μ of images already scaled as the model expects, `(N, C, 68, 68)`.
    pub fn embed_pixels(&self, images: &Array4<f32>) -> Result<Array2<f32>> {
        let (n, c, h, w) = images.dim();
        let l = self.config.arch.latent;
        let mut out = Array2::<f32>::zeros((n, l));
        for start in (0..n).step_by(CHUNK) {
            let end = (start + CHUNK).min(n);
            let v: Vec<f32> = images
                .slice(ndarray::s![start..end, .., .., ..])
                .iter()
                .copied()
                .collect();
            let x = Tensor::from_vec(v, (end - start, c, h, w), &self.device)?;
            let (mu, _) = self.model.encoder.encode(&x, false)?;
            let v: Vec<f32> = mu.flatten_all()?.to_vec1()?;
            out.slice_mut(ndarray::s![start..end, ..])
                .assign(&ArrayView2::from_shape((end - start, l), &v).expect("rows × latent"));
        }
        Ok(out)
    }

    /// Images decoded from latents `(N, latent)` (inference mode).
    pub fn decode(&self, z: ArrayView2<'_, f32>) -> Result<Array4<f32>> {
        let l = self.config.arch.latent;
        if z.ncols() != l {
            return Err(CytoError::data(
                "latents",
                format!("{} columns, the model's latent has {l}", z.ncols()),
            ));
        }
        let mut parts = Vec::new();
        for start in (0..z.nrows()).step_by(CHUNK) {
            let end = (start + CHUNK).min(z.nrows());
            let v: Vec<f32> = z
                .slice(ndarray::s![start..end, ..])
                .iter()
                .copied()
                .collect();
            let t = Tensor::from_vec(v, (end - start, l), &self.device)?;
            parts.push(to_array4(&self.model.decoder.decode(&t, false)?)?);
        }
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        Ok(ndarray::concatenate(ndarray::Axis(0), &views).expect("same shapes"))
    }

    /// Reconstructions (decoded μ) of the crops at `rows`.
    pub fn reconstruct(&self, crops: &CropSet, rows: &[usize]) -> Result<Array4<f32>> {
        let z = self.embed(&crops.subset(rows))?;
        self.decode(z.view())
    }
}
