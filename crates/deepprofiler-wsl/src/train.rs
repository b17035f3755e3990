//! Weakly supervised training (the Cell Painting CNN): EfficientNet-B0 classifies each cell's
//! treatment. Every epoch draws a class-balanced sample (DeepProfiler's sampler), augments each
//! crop as DeepProfiler does, and steps SGD with Nesterov momentum; the loss, validation and
//! checkpointed state are the shared `cellpaint_core::classify::ClassifierTask`'s.

use std::collections::HashMap;
use std::path::Path;

use cell_images::AugmentParams;
use cellpaint_core::candle::{DType, Device, Tensor};
use cellpaint_core::classify::{pooled_features, ClassifierSettings, ImageSet};
use cellpaint_core::efficientnet::weights::{load_pretrained, read_keras_h5, LoadReport};
use cellpaint_core::rng::Rng;
use cellpaint_core::{
    load_checkpoint, save_checkpoint, Backbone, BackboneSpec, BuildBackbone, DataHasher,
    Fingerprint, OptimizerConfig, RunOptions, SeededVarMap, SgdParams, TrainConfig, TrainSummary,
    Trainer,
};
use ndarray::{Array2, Array3};
use serde::{Deserialize, Serialize};

use crate::config::{DeepProfilerConfig, ModelConfig};
use crate::crops::{batch_tensor, CellCrops};
use crate::error::{DpError, Result};
use crate::sampler::balanced_epoch;

pub use cellpaint_core::classify::{
    accuracy_and_macro_f1, encode_labels, smoothed_cross_entropy, ClassifierTask,
};

fn network_config(c: &ModelConfig, channels: usize, classes: usize) -> BackboneSpec {
    BackboneSpec {
        width_mult: c.width_mult,
        ..BackboneSpec::new(&c.backbone, channels, classes)
    }
}

/// Crops resized to the network's input size and, when training, augmented as DeepProfiler.
pub struct CropImages<'a> {
    /// The crops.
    pub crops: &'a CellCrops,
    /// Side of the network's input.
    pub input_size: usize,
    /// Augmentation of training batches.
    pub augment: Option<AugmentParams>,
}

impl ImageSet for CropImages<'_> {
    fn len(&self) -> usize {
        self.crops.len()
    }

    fn batch(
        &self,
        rows: &[usize],
        augment_seeds: Option<&[u64]>,
        device: &Device,
    ) -> cellpaint_core::Result<Tensor> {
        let crops: Vec<Array3<f32>> = rows
            .iter()
            .enumerate()
            .map(|(k, &i)| {
                let x = self.crops.crop(i);
                match (&self.augment, augment_seeds) {
                    (Some(p), Some(seeds)) => cell_images::augment(&x, p, seeds[k]),
                    _ => x,
                }
            })
            .collect();
        batch_tensor(&crops, self.input_size, device)
            .map_err(|e| cellpaint_core::CoreError::method("a batch of crops", e))
    }
}

/// Each crop's class index among `classes` (its label in `label_col`).
fn class_indices(crops: &CellCrops, label_col: &str, classes: &[String]) -> Result<Vec<usize>> {
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
}

/// What a trained model saves beside its weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelMeta {
    /// The configuration it was trained with.
    pub config: DeepProfilerConfig,
    /// The classes (treatments), in output order.
    pub classes: Vec<String>,
    /// Input channels.
    pub channels: usize,
    /// Seed of initialisation and training.
    pub seed: u64,
}

/// A trained (or randomly initialised) network and what it was trained for.
pub struct FittedClassifier {
    /// What it was trained with and on.
    pub meta: ModelMeta,
    /// Its variables.
    pub map: SeededVarMap,
    /// The network.
    pub net: Box<dyn Backbone>,
    /// Where it runs.
    pub device: Device,
    /// How training ended (none for a loaded or untrained model).
    pub summary: Option<TrainSummary>,
}

/// Identity of a crop set: its metadata table, its shape and each crop's pixel sum (cheap,
/// and it changes with the images).
fn crops_hash(crops: &CellCrops) -> String {
    let mut h = DataHasher::new();
    h.table(&crops.cells);
    h.images(crops.pixels.shape(), crops.pixels.iter().copied());
    h.hex()
}

/// What defines a DeepProfiler training run besides the loop settings: the config and the
/// training and validation crops (metadata, labels, shape, pixel sums).
pub fn run_fingerprint(
    config: &DeepProfilerConfig,
    train: &CellCrops,
    val: Option<&CellCrops>,
) -> Result<Fingerprint> {
    Ok(Fingerprint::new()
        .with("model", &"deepprofiler-wsl/efficientnet")?
        .with("config", config)?
        .without("config.train.model.epochs")
        .with("data.train", &crops_hash(train))?
        .with("data.validation", &val.map(crops_hash))?)
}

/// Trains on `train` (validating on `val`) in `run_dir`. A run found there resumes if it is
/// this same run (config, seed, crops) and is refused otherwise, unless `run.restart`.
pub fn train_classifier(
    config: &DeepProfilerConfig,
    train: &CellCrops,
    val: Option<&CellCrops>,
    run_dir: &Path,
    seed: u64,
    run: impl Into<RunOptions>,
    device: &Device,
) -> Result<FittedClassifier> {
    let run = run.into();
    let quiet = run.quiet;
    config.check("configuration")?;
    let label_col = &config.dataset.metadata.label_field;
    let (classes, _) = encode_labels(train.cells.metadata(label_col)?);
    if classes.len() < 2 {
        return Err(DpError::data(
            train.cells.source(),
            format!(
                "training needs at least 2 classes in the label column '{label_col}', but all \
                 {} training crops are '{}': export the crops with the treatment as their target \
                 (`cellpaint prepare crops … --target Metadata_broad_sample`) or point \
                 dataset.metadata.label_field at a column with the treatments",
                train.len(),
                classes.first().map_or("", String::as_str)
            ),
        ));
    }
    let m = &config.train.model;
    let images = |crops| CropImages {
        crops,
        input_size: m.input_size,
        augment: m.augment.clone(),
    };
    let (train_images, val_images) = (images(train), val.map(images));
    let factor = config.train.sampling.factor;
    let mut task = ClassifierTask::new(
        &network_config(m, train.channels(), classes.len()),
        OptimizerConfig::Sgd(SgdParams {
            lr: m.learning_rate,
            momentum: m.momentum,
            nesterov: m.nesterov,
            ..SgdParams::default()
        }),
        ClassifierSettings::default()
            .with_batch_size(m.batch_size)
            .with_label_smoothing(m.label_smoothing)
            .with_l2_kernels(m.l2)
            .with_augment(m.augment.is_some()),
        (&train_images, class_indices(train, label_col, &classes)?),
        match (&val_images, val) {
            (Some(v), Some(crops)) => Some((
                v as &dyn ImageSet,
                class_indices(crops, label_col, &classes)?,
            )),
            _ => None,
        },
        Box::new(move |labels: &[usize], rng: &mut Rng| balanced_epoch(labels, factor, rng)),
        seed,
        device,
    )?;
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
    )?
    .with_fingerprint(run_fingerprint(config, train, val)?)
    .restart(run.restart);
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
        let net = network_config(&config.train.model, channels, classes.len())
            .build(map.var_builder(DType::F32, device))?;
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

    /// A Keras EfficientNet-B0 saved as HDF5 (DeepProfiler's published Cell Painting CNN,
    /// `Cell_Painting_CNN_v1.hdf5`, see docs/deepprofiler.md) as a fitted classifier, for
    /// profiling without training. `config` gives the metadata columns, crop size, feature
    /// layer and `train.model.width_mult` (1.0 for the published model); the backbone becomes
    /// `efficientnet-b0-keras` (Keras's padding and batch-norm ε). Channels and classes come
    /// from the file (the stem's inputs, the classifier's outputs); a file without a
    /// classifier gets one output left at its initial value, which profiling never uses.
    pub fn from_keras_h5(
        path: &Path,
        config: &DeepProfilerConfig,
        device: &Device,
    ) -> Result<(Self, LoadReport)> {
        let (weights, unused) = read_keras_h5(path)?;
        let stem = weights
            .get("features.0.0.weight")
            .ok_or_else(|| DpError::File {
                path: path.to_path_buf(),
                message: "no stem_conv kernel: not a Keras EfficientNet-B0".into(),
            })?;
        let channels = stem.dim(1).map_err(cellpaint_core::CoreError::from)?;
        let classes = match weights.get("classifier.1.weight") {
            Some(w) => w.dim(0).map_err(cellpaint_core::CoreError::from)?,
            None => 1,
        };
        let mut config = config.clone();
        config.train.model.backbone = "efficientnet-b0-keras".into();
        let names = (0..classes).map(|i| format!("class_{i}")).collect();
        let model = Self::random(&config, names, channels, 0, device)?;
        let mut report = load_pretrained(&model.map, weights).map_err(|e| DpError::File {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        report.unused.extend(unused);
        Ok((model, report))
    }

    /// Writes weights and metadata as one checkpoint in `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        save_checkpoint(dir, "model", &self.map.tensors(), &self.meta)?;
        Ok(())
    }

    /// Loads what [`FittedClassifier::save`] wrote; a missing or mismatched file is an error
    /// naming it.
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
        let images = CropImages {
            crops,
            input_size: self.meta.config.train.model.input_size,
            augment: None,
        };
        let rows = pooled_features(
            self.net.as_ref(),
            &images,
            tap,
            self.meta.config.profile.batch_size,
            &self.device,
        )?;
        let d = rows.first().map_or(0, Vec::len);
        Ok(Array2::from_shape_fn((rows.len(), d), |(i, j)| rows[i][j]))
    }
}
