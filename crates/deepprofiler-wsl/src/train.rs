//! Weakly supervised training (the Cell Painting CNN): EfficientNet-B0 classifies each cell's
//! treatment. Every epoch draws a class-balanced sample, augments each crop from a seed of
//! (run, epoch, cell position), and steps SGD with Nesterov momentum; cross-entropy with
//! optional label smoothing plus L2 on kernels; validation accuracy and macro F1 per epoch;
//! checkpoints and resume through the shared `Trainer`.

use std::collections::HashMap;
use std::path::Path;

use cellpaint_core::candle::{DType, Device, Tensor, D};
use cellpaint_core::rng::{derive_seed, Rng};
use cellpaint_core::{
    load_checkpoint, save_checkpoint, AnyOptimizer, EfficientNet, EfficientNetConfig, Metrics,
    OptimizerConfig, SeededVarMap, SgdParams, TrainConfig, TrainSummary, TrainTask, Trainer,
};
use ndarray::{Array2, Array3};
use serde::{Deserialize, Serialize};

use crate::config::{DeepProfilerConfig, ModelConfig};
use crate::crops::{batch_tensor, CellCrops};
use crate::error::{DpError, Result};
use crate::sampler::balanced_epoch;

/// Class names (sorted) and each cell's class index.
pub fn encode_labels(labels: &[String]) -> (Vec<String>, Vec<usize>) {
    let mut classes: Vec<String> = labels.to_vec();
    classes.sort();
    classes.dedup();
    let idx = labels
        .iter()
        .map(|l| classes.binary_search(l).expect("present"))
        .collect();
    (classes, idx)
}

/// Cross-entropy against labels smoothed by `eps` (q = (1 − ε)·one-hot + ε/K), batch mean.
pub fn smoothed_cross_entropy(logits: &Tensor, labels: &[usize], eps: f64) -> Result<Tensor> {
    let (n, k) = logits.dims2()?;
    let mut q = vec![eps / k as f64; n * k];
    for (i, &l) in labels.iter().enumerate() {
        q[i * k + l] += 1.0 - eps;
    }
    let q = Tensor::from_vec(q, (n, k), logits.device())?.to_dtype(logits.dtype())?;
    let logp = cellpaint_core::candle_nn::ops::log_softmax(logits, D::Minus1)?;
    Ok(((q * logp)?.sum_all()? * (-1.0 / n as f64))?)
}

/// Accuracy and macro-averaged F1 of predictions.
pub fn accuracy_and_macro_f1(pred: &[usize], truth: &[usize], n_classes: usize) -> (f64, f64) {
    if truth.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let correct = pred.iter().zip(truth).filter(|(p, t)| p == t).count();
    let mut f1s = Vec::new();
    for c in 0..n_classes {
        let tp = pred
            .iter()
            .zip(truth)
            .filter(|(p, t)| **p == c && **t == c)
            .count() as f64;
        let fp = pred
            .iter()
            .zip(truth)
            .filter(|(p, t)| **p == c && **t != c)
            .count() as f64;
        let fn_ = pred
            .iter()
            .zip(truth)
            .filter(|(p, t)| **p != c && **t == c)
            .count() as f64;
        if tp + fp + fn_ > 0.0 {
            f1s.push(2.0 * tp / (2.0 * tp + fp + fn_));
        }
    }
    (
        correct as f64 / truth.len() as f64,
        f1s.iter().sum::<f64>() / f1s.len().max(1) as f64,
    )
}

fn network_config(c: &ModelConfig, channels: usize, classes: usize) -> EfficientNetConfig {
    EfficientNetConfig {
        width_mult: c.width_mult,
        ..EfficientNetConfig::b0(channels, classes)
    }
}

/// The classifier's training run, as a [`TrainTask`].
pub struct ClassifierTask<'a> {
    pub map: SeededVarMap,
    pub net: EfficientNet,
    opt: AnyOptimizer,
    config: ModelConfig,
    factor: f64,
    train: &'a CellCrops,
    train_labels: Vec<usize>,
    val: Option<(&'a CellCrops, Vec<usize>)>,
    n_classes: usize,
    order: Vec<usize>,
    epoch_len: usize,
    seed: u64,
    device: Device,
}

impl<'a> ClassifierTask<'a> {
    pub fn new(
        config: &DeepProfilerConfig,
        classes: &[String],
        train: &'a CellCrops,
        val: Option<&'a CellCrops>,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let m = &config.train.model;
        let label_col = &config.dataset.metadata.label_field;
        let index = |crops: &CellCrops| -> Result<Vec<usize>> {
            crops
                .cells
                .metadata(label_col)?
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    classes.binary_search(l).map_err(|_| {
                        DpError::data(
                            crops.cells.source(),
                            format!("row {i}: label '{l}' is not one of the training classes"),
                        )
                    })
                })
                .collect()
        };
        let train_labels = index(train)?;
        let val = val.map(|v| Ok::<_, DpError>((v, index(v)?))).transpose()?;
        let map = SeededVarMap::new(seed);
        let net = EfficientNet::new(
            network_config(m, train.channels(), classes.len()),
            map.var_builder(DType::F32, device),
        )?;
        let opt = OptimizerConfig::Sgd(SgdParams {
            lr: m.learning_rate,
            momentum: m.momentum,
            nesterov: m.nesterov,
            ..SgdParams::default()
        })
        .build(map.named_vars().into_iter().map(|(_, v)| v).collect())?;
        let epoch_len = balanced_epoch(
            &train_labels,
            config.train.sampling.factor,
            &mut cellpaint_core::rng::seeded_rng(0),
        )
        .len();
        Ok(Self {
            map,
            net,
            opt,
            config: m.clone(),
            factor: config.train.sampling.factor,
            train,
            train_labels,
            val,
            n_classes: classes.len(),
            order: Vec::new(),
            epoch_len,
            seed,
            device: device.clone(),
        })
    }

    /// Kernels (convolutions and the classifier; not batch-norm scales) for the L2 term.
    fn kernels(&self) -> Vec<Tensor> {
        self.map
            .named_vars()
            .into_iter()
            .filter(|(k, v)| k.ends_with("weight") && v.rank() >= 2)
            .map(|(_, v)| v.as_tensor().clone())
            .collect()
    }

    fn predict(&self, crops: &CellCrops) -> Result<Vec<usize>> {
        let mut out = Vec::with_capacity(crops.len());
        let b = self.config.batch_size.max(1);
        for start in (0..crops.len()).step_by(b) {
            let batch: Vec<Array3<f32>> = (start..(start + b).min(crops.len()))
                .map(|i| crops.crop(i))
                .collect();
            let x = batch_tensor(&batch, self.config.input_size, &self.device)?;
            let logits = self.net.forward_taps(&x, false, None, &[])?.logits;
            out.extend(
                logits
                    .argmax(D::Minus1)?
                    .to_dtype(DType::U32)?
                    .to_vec1::<u32>()?
                    .into_iter()
                    .map(|v| v as usize),
            );
        }
        Ok(out)
    }
}

impl TrainTask for ClassifierTask<'_> {
    fn steps_per_epoch(&self) -> usize {
        self.epoch_len.div_ceil(self.config.batch_size)
    }

    fn train_step(
        &mut self,
        epoch: usize,
        step: usize,
        rng: &mut Rng,
    ) -> cellpaint_core::Result<Metrics> {
        let err = |e: DpError| {
            cellpaint_core::CoreError::Config(format!("epoch {epoch}, step {step}: {e}"))
        };
        if step == 0 {
            self.order = balanced_epoch(&self.train_labels, self.factor, rng);
        }
        let b = self.config.batch_size;
        let rows: Vec<usize> =
            self.order[step * b..((step + 1) * b).min(self.order.len())].to_vec();
        let crops: Vec<Array3<f32>> = rows
            .iter()
            .enumerate()
            .map(|(k, &i)| {
                let x = self.train.crop(i);
                match &self.config.augment {
                    Some(p) => cell_images::augment(
                        &x,
                        p,
                        derive_seed(self.seed, &format!("augment/{epoch}/{step}/{k}")),
                    ),
                    None => x,
                }
            })
            .collect();
        let labels: Vec<usize> = rows.iter().map(|&i| self.train_labels[i]).collect();
        let x = batch_tensor(&crops, self.config.input_size, &self.device).map_err(err)?;
        let logits = self.net.forward_taps(&x, true, Some(rng), &[])?.logits;
        let ce =
            smoothed_cross_entropy(&logits, &labels, self.config.label_smoothing).map_err(err)?;
        let mut loss = ce.clone();
        if self.config.l2 > 0.0 {
            let mut total: Option<Tensor> = None;
            for k in self.kernels() {
                let s = k.sqr()?.sum_all()?;
                total = Some(match total {
                    None => s,
                    Some(t) => (t + s)?,
                });
            }
            if let Some(t) = total {
                loss = (loss + (t * (0.5 * self.config.l2))?)?;
            }
        }
        self.opt.backward_step(&loss)?;
        let pred: Vec<u32> = logits.argmax(D::Minus1)?.to_dtype(DType::U32)?.to_vec1()?;
        let correct = pred
            .iter()
            .zip(&labels)
            .filter(|(p, l)| **p as usize == **l)
            .count();
        let mut m = Metrics::new();
        m.insert("loss".into(), ce.to_scalar::<f32>()? as f64);
        m.insert("accuracy".into(), correct as f64 / labels.len() as f64);
        Ok(m)
    }

    fn validate(&mut self, _epoch: usize) -> cellpaint_core::Result<Metrics> {
        let mut m = Metrics::new();
        if let Some((val, truth)) = &self.val {
            let pred = self
                .predict(val)
                .map_err(|e| cellpaint_core::CoreError::Config(e.to_string()))?;
            let (acc, f1) = accuracy_and_macro_f1(&pred, truth, self.n_classes);
            m.insert("val_accuracy".into(), acc);
            m.insert("val_macro_f1".into(), f1);
        }
        Ok(m)
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

/// What a trained model saves beside its weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelMeta {
    pub config: DeepProfilerConfig,
    pub classes: Vec<String>,
    pub channels: usize,
    pub seed: u64,
}

/// A trained (or randomly initialised) network and what it was trained for.
pub struct FittedClassifier {
    pub meta: ModelMeta,
    pub map: SeededVarMap,
    pub net: EfficientNet,
    pub device: Device,
    pub summary: Option<TrainSummary>,
}

/// Trains on `train` (validating on `val`) in `run_dir`, resuming a run found there.
pub fn train_classifier(
    config: &DeepProfilerConfig,
    train: &CellCrops,
    val: Option<&CellCrops>,
    run_dir: &Path,
    seed: u64,
    quiet: bool,
    device: &Device,
) -> Result<FittedClassifier> {
    config.check("configuration")?;
    let (classes, _) = encode_labels(train.cells.metadata(&config.dataset.metadata.label_field)?);
    let mut task = ClassifierTask::new(config, &classes, train, val, seed, device)?;
    let m = &config.train.model;
    let trainer = Trainer::new(
        TrainConfig {
            epochs: m.epochs,
            seed,
            base_lr: m.learning_rate,
            schedule: m.lr_schedule.clone(),
            early_stopping: None,
            checkpoint_every: 1,
            quiet,
        },
        run_dir,
    )?;
    let summary = trainer.run(&mut task)?;
    let fitted = FittedClassifier {
        meta: ModelMeta {
            config: config.clone(),
            classes,
            channels: train.channels(),
            seed,
        },
        map: task.map,
        net: task.net,
        device: device.clone(),
        summary: Some(summary),
    };
    fitted.save(run_dir)?;
    Ok(fitted)
}

impl FittedClassifier {
    /// An untrained network with the same architecture: the paper's random-weights baseline.
    pub fn random(
        config: &DeepProfilerConfig,
        classes: Vec<String>,
        channels: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let map = SeededVarMap::new(seed);
        let net = EfficientNet::new(
            network_config(&config.train.model, channels, classes.len()),
            map.var_builder(DType::F32, device),
        )?;
        Ok(Self {
            meta: ModelMeta {
                config: config.clone(),
                classes,
                channels,
                seed,
            },
            map,
            net,
            device: device.clone(),
            summary: None,
        })
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        save_checkpoint(dir, "model", &self.map.tensors(), &self.meta)?;
        Ok(())
    }

    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let (tensors, meta): (HashMap<String, Tensor>, ModelMeta) =
            load_checkpoint(dir, "model", device)?.ok_or_else(|| DpError::File {
                path: dir.join("model.json"),
                message: "no saved model here".into(),
            })?;
        let mut m = Self::random(
            &meta.config,
            meta.classes.clone(),
            meta.channels,
            meta.seed,
            device,
        )?;
        m.map.load_tensors(&tensors)?;
        m.meta = meta;
        Ok(m)
    }

    /// Spatially averaged `tap` for every crop (inference mode), `(N, width)`.
    pub fn features(&self, crops: &CellCrops, tap: &str) -> Result<Array2<f32>> {
        let b = self.meta.config.profile.batch_size.max(1);
        let size = self.meta.config.train.model.input_size;
        let mut rows: Vec<Vec<f32>> = Vec::with_capacity(crops.len());
        for start in (0..crops.len()).step_by(b) {
            let batch: Vec<Array3<f32>> = (start..(start + b).min(crops.len()))
                .map(|i| crops.crop(i))
                .collect();
            let x = batch_tensor(&batch, size, &self.device)?;
            let f = self.net.pooled_features(&x, tap)?;
            rows.extend(f.to_dtype(DType::F32)?.to_vec2::<f32>()?);
        }
        let d = rows.first().map_or(0, Vec::len);
        Ok(Array2::from_shape_fn((rows.len(), d), |(i, j)| rows[i][j]))
    }
}
