//! Training MOAProfiler's field classifier: EfficientNet-B0 (5 channels, from scratch) on the
//! training wells' fields, classes balanced by duplication and reshuffled every epoch; SGD with
//! Nesterov momentum and weight decay, multi-step rate; the weights of the epoch with the best
//! validation accuracy are kept. Checkpoints and resume through the shared `Trainer`.

use std::collections::HashMap;
use std::path::Path;

use cellpaint_core::candle::{DType, Device, Tensor};
use cellpaint_core::classify::{
    argmax, encode_labels, pooled_features, predict_probabilities, ClassifierSettings,
    ClassifierTask, ImageSet,
};
use cellpaint_core::rng::{permutation, Rng};
use cellpaint_core::{
    load_checkpoint, save_checkpoint, Backbone, BuildBackbone, DataHasher, EarlyStopping,
    Fingerprint, Mode, RunOptions, SeededVarMap, TrainConfig, TrainSummary, Trainer,
};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::config::MoaProfilerConfig;
use crate::error::{MoaError, Result};
use crate::fields::{FieldAugment, FieldImages, FieldSet};
use crate::preprocess::ChannelStats;
use crate::split::{balance_by_duplication, Split};

/// What a trained model saves beside its weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelMeta {
    /// The configuration it was trained with.
    pub config: MoaProfilerConfig,
    /// MOA classes (sorted), the control among them.
    pub classes: Vec<String>,
    /// Input channels.
    pub channels: usize,
    /// Channel statistics of the training fields.
    pub stats: ChannelStats,
    /// Seed of the initialisation and training.
    pub seed: u64,
    /// Epoch whose weights these are (best validation accuracy), when trained.
    pub best_epoch: Option<usize>,
}

/// A trained (or randomly initialised) MOAProfiler network.
pub struct FittedMoaProfiler {
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

/// Each field's class index (its well's MOA) among `classes`.
fn field_labels(set: &FieldSet, rows: &[usize], classes: &[String]) -> Result<Vec<usize>> {
    rows.iter()
        .map(|&i| {
            let w = &set.wells[set.field_well[i]];
            classes.binary_search(&w.moa).map_err(|_| {
                MoaError::data(
                    &set.source,
                    format!(
                        "well {} {}: MOA '{}' is not one of the training classes",
                        w.plate, w.well, w.moa
                    ),
                )
            })
        })
        .collect()
}

/// What defines a MOAProfiler run besides the loop settings: the config, the wells (plate,
/// well, compound, MOA) and their fields (count, shape, each field's pixel sum: cheap, and it
/// changes with the images), and the split.
pub fn run_fingerprint(
    config: &MoaProfilerConfig,
    data: &FieldSet,
    split: &Split,
) -> Result<Fingerprint> {
    let mut wells = DataHasher::new();
    for w in &data.wells {
        wells
            .str(&w.plate)
            .str(&w.well)
            .str(&w.compound)
            .str(&w.moa);
    }
    let mut fields = DataHasher::new();
    fields.u64(data.len() as u64);
    for (f, &w) in data.fields.iter().zip(&data.field_well) {
        let (c, h, wd) = f.dim();
        fields
            .u64(w as u64)
            .u64(c as u64)
            .u64(h as u64)
            .u64(wd as u64);
        fields.f64s([f.iter().map(|&v| v as f64).sum::<f64>()]);
    }
    let mut sets = DataHasher::new();
    for set in [&split.train, &split.valid, &split.test] {
        sets.u64(set.len() as u64);
        for &w in set {
            sets.u64(w as u64);
        }
    }
    Ok(Fingerprint::new()
        .with("model", &"moa-profiler/efficientnet-b0")?
        .with("config", config)?
        .without("config.epochs")
        .with("data.wells", &wells.hex())?
        .with("data.fields", &fields.hex())?
        .with("data.split", &sets.hex())?)
}

/// Trains on the fields of `split.train`, choosing the epoch by accuracy on `split.valid`, in
/// `run_dir`. A run found there resumes if it is this same run (config, seed, data, split) and
/// is refused otherwise, unless `run.restart`. Writes the chosen model to `run_dir`.
pub fn train_moa_profiler(
    config: &MoaProfilerConfig,
    data: &FieldSet,
    split: &Split,
    run_dir: &Path,
    seed: u64,
    run: impl Into<RunOptions>,
    device: &Device,
) -> Result<FittedMoaProfiler> {
    let run = run.into();
    let quiet = run.quiet;
    config.check()?;
    let train_rows = data.fields_of(&split.train);
    let val_rows = data.fields_of(&split.valid);
    if train_rows.is_empty() {
        return Err(MoaError::data(&data.source, "no training fields"));
    }
    let moas: Vec<String> = train_rows
        .iter()
        .map(|&i| data.wells[data.field_well[i]].moa.clone())
        .collect();
    let (classes, _) = encode_labels(&moas);
    if classes.len() < 2 {
        return Err(MoaError::data(
            &data.source,
            format!("training needs ≥ 2 classes, found {classes:?}"),
        ));
    }
    let stats = ChannelStats::fit(train_rows.iter().map(|&i| &data.fields[i]))?;
    let train_labels = field_labels(data, &train_rows, &classes)?;
    let val_labels = field_labels(data, &val_rows, &classes)?;
    let train_images = FieldImages {
        set: data,
        rows: train_rows,
        stats: &stats,
        augment: FieldAugment::of(config),
    };
    let val_images = FieldImages {
        set: data,
        rows: val_rows,
        stats: &stats,
        augment: FieldAugment::of(config),
    };
    let has_val = !val_images.rows.is_empty();
    let mut task = ClassifierTask::new(
        &config.network(data.channels(), classes.len()),
        config.optimizer(),
        ClassifierSettings::default().with_batch_size(config.batch_size),
        (&train_images, train_labels),
        has_val.then_some((&val_images as &dyn ImageSet, val_labels)),
        // Duplication balancing fixes the epoch's multiset; each epoch shuffles it.
        Box::new(|labels: &[usize], rng: &mut Rng| {
            let all: Vec<usize> = (0..labels.len()).collect();
            let balanced = balance_by_duplication(&all, labels);
            permutation(balanced.len(), rng)
                .into_iter()
                .map(|k| balanced[k])
                .collect()
        }),
        seed,
        device,
    )?;
    let trainer = Trainer::new(
        TrainConfig {
            epochs: config.epochs,
            seed,
            base_lr: config.learning_rate,
            schedule: config.schedule(),
            early_stopping: has_val.then(|| EarlyStopping {
                monitor: "val_accuracy".into(),
                mode: Mode::Max,
                // Never stops: the monitor only picks the best epoch.
                patience: usize::MAX,
                min_delta: 0.0,
            }),
            checkpoint_every: 1,
            quiet,
        },
        run_dir,
    )?
    .with_fingerprint(run_fingerprint(config, data, split)?)
    .restart(run.restart);
    let summary = trainer.run(&mut task)?;
    if has_val {
        let best: Option<(HashMap<String, Tensor>, serde_json::Value)> =
            load_checkpoint(&run_dir.join("checkpoints"), "best", device)?;
        let (tensors, _) = best.ok_or_else(|| {
            MoaError::data(
                run_dir.display().to_string(),
                "the run has no best checkpoint",
            )
        })?;
        task.map.load_tensors(&tensors)?;
    }
    let fitted = FittedMoaProfiler {
        meta: ModelMeta {
            config: config.clone(),
            classes,
            channels: data.channels(),
            stats: stats.clone(),
            seed,
            best_epoch: summary.best_epoch.or(summary.epochs_done.checked_sub(1)),
        },
        map: task.map,
        net: task.net,
        device: device.clone(),
        summary: Some(summary),
    };
    fitted.save(run_dir)?;
    Ok(fitted)
}

impl FittedMoaProfiler {
    /// An untrained network of the same architecture (seeded).
    pub fn random(meta: ModelMeta, device: &Device) -> Result<Self> {
        let map = SeededVarMap::new(meta.seed);
        let net = meta
            .config
            .network(meta.channels, meta.classes.len())
            .build(map.var_builder(DType::F32, device))?;
        Ok(Self {
            meta,
            map,
            net,
            device: device.clone(),
            summary: None,
        })
    }

    /// Writes weights and metadata as one checkpoint (`model`) in `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        save_checkpoint(dir, "model", &self.map.tensors(), &self.meta)?;
        Ok(())
    }

    /// Loads a model saved by [`FittedMoaProfiler::save`]; a missing, truncated or mismatched
    /// file is an error naming it.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let (tensors, meta): (HashMap<String, Tensor>, ModelMeta) =
            load_checkpoint(dir, "model", device)?.ok_or_else(|| {
                MoaError::data(
                    dir.join("model.json").display().to_string(),
                    "no saved model here",
                )
            })?;
        let m = Self::random(meta, device)?;
        m.map.load_tensors(&tensors).map_err(|e| {
            MoaError::data(
                dir.join("model.safetensors").display().to_string(),
                e.to_string(),
            )
        })?;
        Ok(m)
    }

    fn images<'a>(&'a self, set: &'a FieldSet) -> Result<FieldImages<'a>> {
        if set.channels() != self.meta.channels {
            return Err(MoaError::data(
                &set.source,
                format!(
                    "fields have {} channels, the model was trained on {}",
                    set.channels(),
                    self.meta.channels
                ),
            ));
        }
        Ok(FieldImages {
            set,
            rows: (0..set.len()).collect(),
            stats: &self.meta.stats,
            augment: FieldAugment::of(&self.meta.config),
        })
    }

    /// The pooled embedding of every field (global average pool of the last convolution,
    /// 1280-d for B0), `(fields, d)`.
    pub fn embed(&self, set: &FieldSet) -> Result<Array2<f64>> {
        let rows = pooled_features(
            self.net.as_ref(),
            &self.images(set)?,
            cellpaint_core::EMBEDDING_TAP,
            self.meta.config.batch_size,
            &self.device,
        )?;
        let d = rows.first().map_or(0, Vec::len);
        Ok(Array2::from_shape_fn((rows.len(), d), |(i, j)| {
            rows[i][j] as f64
        }))
    }

    /// Well profiles of `set`: field embeddings → well median → per-plate control
    /// standardisation (features `mp_0…`).
    pub fn well_profiles(&self, set: &FieldSet) -> Result<profiles::ProfileTable> {
        let x = self.embed(set)?;
        crate::embed::well_profiles(
            x.view(),
            &set.field_well,
            &set.wells,
            &self.meta.config.control,
            "mp_",
        )
    }

    /// Class probabilities of every field, one row each (columns in `meta.classes` order).
    pub fn predict_probabilities(&self, set: &FieldSet) -> Result<Vec<Vec<f32>>> {
        Ok(predict_probabilities(
            self.net.as_ref(),
            &self.images(set)?,
            self.meta.config.batch_size,
            &self.device,
        )?)
    }

    /// The most probable class of every field.
    pub fn predict(&self, set: &FieldSet) -> Result<Vec<String>> {
        Ok(self
            .predict_probabilities(set)?
            .iter()
            .map(|p| self.meta.classes[argmax(p)].clone())
            .collect())
    }
}
