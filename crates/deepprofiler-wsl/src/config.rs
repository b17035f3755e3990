//! Settings in the spirit of DeepProfiler's JSON (sections `dataset`, `prepare`, `train`,
//! `profile`, `paths`), with the Cell Painting CNN paper's values as defaults. Our own files
//! are strict (unknown keys are errors); an existing DeepProfiler config is read with
//! [`DeepProfilerConfig::from_deepprofiler_json`], which takes the keys we support and names
//! the rest.

use cell_images::AugmentParams;
use cellpaint_core::backbone::{backbone_tap_names, check_backbone_name};
use cellpaint_core::{LrSchedule, Warmup};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{DpError, Result};

/// Which metadata columns mean what (DeepProfiler's `dataset.metadata`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetadataConfig {
    /// The column whose values the network classifies (the treatment).
    pub label_field: String,
    /// The label of control wells (kept as a class, as DeepProfiler does).
    pub control_value: String,
    /// Plate column.
    pub plate_field: String,
    /// Well column.
    pub well_field: String,
    /// Site (field) column.
    pub site_field: String,
    /// MOA annotations for evaluation (several joined with `|`).
    pub moa_field: String,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        Self {
            label_field: "Metadata_broad_sample".into(),
            control_value: "DMSO".into(),
            plate_field: "Metadata_Plate".into(),
            well_field: "Metadata_Well".into(),
            site_field: "Metadata_Site".into(),
            moa_field: "Metadata_moa".into(),
        }
    }
}

/// The images' channels and bit depth (DeepProfiler's `dataset.images`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImagesConfig {
    /// Channel names, in the order of the crops' channel axis.
    pub channels: Vec<String>,
    /// Bit depth of the source images (8 or 16).
    pub bits: u8,
}

impl Default for ImagesConfig {
    fn default() -> Self {
        Self {
            channels: cell_images::CELL_PAINTING_CHANNELS
                .iter()
                .map(|c| c.to_string())
                .collect(),
            bits: 16,
        }
    }
}

/// Where cells are cut (DeepProfiler's `dataset.locations`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocationsConfig {
    /// Side of the square crop around each nucleus (paper 128).
    pub box_size: usize,
}

impl Default for LocationsConfig {
    fn default() -> Self {
        Self { box_size: 128 }
    }
}

/// DeepProfiler's `dataset` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatasetConfig {
    /// Metadata columns.
    pub metadata: MetadataConfig,
    /// Channels and depth.
    pub images: ImagesConfig,
    /// Crop geometry.
    pub locations: LocationsConfig,
}

/// How cells are split into training and validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Partition {
    /// Within every well, `train_fraction` of the cells train and the rest validate.
    LeaveCellsOut {
        /// Fraction of each well's cells that train, in (0, 1).
        train_fraction: f64,
    },
    /// Whole plates validate.
    LeavePlatesOut {
        /// The plates that validate.
        validation_plates: Vec<String>,
    },
    /// DeepProfiler's `split_field`: a metadata column whose values say train or validate.
    ByField {
        /// The metadata column.
        field: String,
        /// Its values whose cells train.
        training: Vec<String>,
        /// Its values whose cells validate.
        validation: Vec<String>,
    },
}

impl Default for Partition {
    fn default() -> Self {
        Partition::LeaveCellsOut {
            train_fraction: 0.6,
        }
    }
}

/// The network and its training (DeepProfiler's `train.model`); the defaults are the paper's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Training epochs.
    pub epochs: usize,
    /// SGD's base rate (the schedule scales it).
    pub learning_rate: f64,
    /// Crops per step.
    pub batch_size: usize,
    /// ε of label smoothing (0: plain cross-entropy).
    pub label_smoothing: f64,
    /// L2 on convolution and dense kernels (wd·½Σw² in the loss, as Keras' regulariser).
    pub l2: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// The rate over epochs (the paper: cosine with 5 warm-up epochs).
    pub lr_schedule: LrSchedule,
    /// Side the crops are resized to before the network (128 in the paper; smaller on a CPU).
    pub input_size: usize,
    /// The network, by registered name (`efficientnet-b0`, the paper's; `resnet18`, …; see
    /// `cellpaint_core::BACKBONES`). DeepProfiler's key: `train.model.backbone`.
    pub backbone: String,
    /// Channel multiplier of the backbone (1.0 = the published network).
    pub width_mult: f64,
    /// Augmentation of training crops (none: no augmentation).
    pub augment: Option<AugmentParams>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            epochs: 30,
            learning_rate: 0.005,
            batch_size: 32,
            label_smoothing: 0.0,
            l2: 1e-5,
            momentum: 0.9,
            nesterov: true,
            lr_schedule: LrSchedule::Cosine {
                total_epochs: 30,
                warmup_epochs: 5,
                warmup: Warmup::Reciprocal,
                min_lr: 0.0,
            },
            input_size: 128,
            backbone: "efficientnet-b0".into(),
            width_mult: 1.0,
            augment: Some(AugmentParams::default()),
        }
    }
}

/// How each training epoch draws cells (DeepProfiler's class-balanced sampler).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingConfig {
    /// Cells drawn per class and epoch = factor × the median class size.
    pub factor: f64,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        Self { factor: 1.0 }
    }
}

/// DeepProfiler's `train` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSection {
    /// Training and validation cells.
    pub partition: Partition,
    /// Network and optimiser.
    pub model: ModelConfig,
    /// Epoch sampling.
    pub sampling: SamplingConfig,
}

/// DeepProfiler's `profile` section: how features are extracted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProfileSection {
    /// The tap whose spatial average is the cell's feature vector.
    pub feature_layer: String,
    /// Crops per forward pass.
    pub batch_size: usize,
    /// Eigenvalue regularisation of the sphering fit on control wells.
    pub sphering_lambda: f64,
}

impl Default for ProfileSection {
    fn default() -> Self {
        Self {
            feature_layer: "block6a_activation".into(),
            batch_size: 32,
            sphering_lambda: 0.01,
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeepProfilerConfig {
    /// Data columns, channels and crops.
    pub dataset: DatasetConfig,
    /// Partition, network and sampling.
    pub train: TrainSection,
    /// Feature extraction.
    pub profile: ProfileSection,
}

/// The largest crop side a config may ask for: batches of crops are allocated from it.
pub const MAX_CROP_SIZE: usize = 4096;

fn bad(path: &str, message: impl Into<String>) -> DpError {
    DpError::Config {
        path: path.into(),
        message: message.into(),
    }
}

impl DeepProfilerConfig {
    /// Reads our own JSON (strict: an unknown or misspelt key is an error naming it).
    pub fn from_json(text: &str, source: &str) -> Result<Self> {
        let c: Self = profiles::io::parse_json_object(text, source)?;
        c.check(source)?;
        Ok(c)
    }

    /// Sizes, rates, fractions and schedule within their ranges; errors name `source` and the
    /// key path.
    pub fn check(&self, source: &str) -> Result<()> {
        let m = &self.train.model;
        if m.input_size > MAX_CROP_SIZE || self.dataset.locations.box_size > MAX_CROP_SIZE {
            return Err(bad(
                source,
                format!(
                    "train.model.input_size and dataset.locations.box_size must be ≤ {MAX_CROP_SIZE} \
                     (single-cell crops; got {} and {})",
                    m.input_size, self.dataset.locations.box_size
                ),
            ));
        }
        if m.epochs == 0 || m.batch_size < 2 || m.input_size < 32 {
            return Err(bad(
                source,
                format!(
                    "train.model needs epochs ≥ 1, batch_size ≥ 2 and input_size ≥ 32 (got {}, {}, {})",
                    m.epochs, m.batch_size, m.input_size
                ),
            ));
        }
        if !(m.learning_rate > 0.0) || !(0.0..1.0).contains(&m.label_smoothing) || !(m.l2 >= 0.0) {
            return Err(bad(
                source,
                "train.model needs learning_rate > 0, label_smoothing in [0, 1) and l2 ≥ 0",
            ));
        }
        check_backbone_name(&m.backbone)
            .map_err(|e| bad(source, format!("train.model.backbone: {e}")))?;
        let taps = backbone_tap_names(&m.backbone)?;
        if !taps.iter().any(|t| *t == self.profile.feature_layer) {
            return Err(bad(
                source,
                format!(
                    "profile.feature_layer '{}' is not a layer of {} (e.g. {})",
                    self.profile.feature_layer,
                    m.backbone,
                    taps.iter()
                        .rev()
                        .take(4)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        m.lr_schedule
            .check()
            .map_err(|e| bad(source, format!("train.model.lr_schedule: {e}")))?;
        if self.dataset.images.channels.is_empty() || self.dataset.locations.box_size < 8 {
            return Err(bad(source, "dataset needs channels and a box_size ≥ 8"));
        }
        if let Partition::LeaveCellsOut { train_fraction } = self.train.partition {
            if !(train_fraction > 0.0 && train_fraction < 1.0) {
                return Err(bad(
                    source,
                    format!(
                        "train.partition.train_fraction must be in (0, 1), got {train_fraction}"
                    ),
                ));
            }
        }
        if !(self.train.sampling.factor > 0.0) || !(self.profile.sphering_lambda >= 0.0) {
            return Err(bad(
                source,
                "sampling.factor > 0 and profile.sphering_lambda ≥ 0 needed",
            ));
        }
        Ok(())
    }

    /// Reads a DeepProfiler config: the keys we support set our fields, every other key is
    /// returned by its dotted path (e.g. `train.comet_ml.api_key`) so the caller can report it.
    pub fn from_deepprofiler_json(text: &str, source: &str) -> Result<(Self, Vec<String>)> {
        let root: Value = profiles::io::parse_json_object(text, source)?;
        let mut c = Self::default();
        let mut unsupported = Vec::new();
        let mut used = Vec::new();
        let get =
            |path: &str| -> Option<&Value> { path.split('.').try_fold(&root, |v, k| v.get(k)) };
        let string = |path: &str| -> Result<Option<String>> {
            match get(path) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(other) => Err(bad(source, format!("{path}: expected text, got {other}"))),
            }
        };
        let number = |path: &str| -> Result<Option<f64>> {
            match get(path) {
                None => Ok(None),
                Some(v) => v
                    .as_f64()
                    .map(Some)
                    .ok_or_else(|| bad(source, format!("{path}: expected a number, got {v}"))),
            }
        };
        let strings = |path: &str| -> Result<Option<Vec<String>>> {
            match get(path) {
                None => Ok(None),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s.clone()),
                        Value::Number(n) => Ok(n.to_string()),
                        other => Err(bad(
                            source,
                            format!("{path}: expected text items, got {other}"),
                        )),
                    })
                    .collect::<Result<Vec<_>>>()
                    .map(Some),
                Some(other) => Err(bad(source, format!("{path}: expected a list, got {other}"))),
            }
        };
        macro_rules! take {
            ($path:expr, $conv:expr, $set:expr) => {{
                if let Some(v) = $conv($path)? {
                    #[allow(clippy::redundant_closure_call)]
                    ($set)(&mut c, v);
                    used.push($path.to_string());
                }
            }};
        }
        take!("dataset.metadata.label_field", string, |c: &mut Self, v| {
            c.dataset.metadata.label_field = v
        });
        take!(
            "dataset.metadata.control_value",
            string,
            |c: &mut Self, v| c.dataset.metadata.control_value = v
        );
        take!("dataset.metadata.control_id", string, |c: &mut Self, v| c
            .dataset
            .metadata
            .control_value =
            v);
        take!("dataset.images.channels", strings, |c: &mut Self, v| c
            .dataset
            .images
            .channels =
            v);
        take!("dataset.images.bits", number, |c: &mut Self, v: f64| c
            .dataset
            .images
            .bits =
            v as u8);
        take!(
            "dataset.locations.box_size",
            number,
            |c: &mut Self, v: f64| c.dataset.locations.box_size = v as usize
        );
        take!("train.model.epochs", number, |c: &mut Self, v: f64| c
            .train
            .model
            .epochs =
            v as usize);
        take!(
            "train.model.params.learning_rate",
            number,
            |c: &mut Self, v| c.train.model.learning_rate = v
        );
        take!(
            "train.model.params.batch_size",
            number,
            |c: &mut Self, v: f64| c.train.model.batch_size = v as usize
        );
        take!(
            "train.model.params.label_smoothing",
            number,
            |c: &mut Self, v| c.train.model.label_smoothing = v
        );
        take!("train.sampling.factor", number, |c: &mut Self, v| c
            .train
            .sampling
            .factor =
            v);
        take!("profile.feature_layer", string, |c: &mut Self, v| c
            .profile
            .feature_layer =
            v);
        take!("profile.batch_size", number, |c: &mut Self, v: f64| c
            .profile
            .batch_size =
            v as usize);
        // DeepProfiler's model family (`train.model.name`) and our exact network
        // (`train.model.backbone`) must agree; a ResNet needs its depth named.
        let family = string("train.model.name")?.map(|n| n.to_ascii_lowercase());
        if let Some(name) = &family {
            if !name.starts_with("efficientnet") && !name.starts_with("resnet") {
                return Err(bad(
                    source,
                    format!(
                        "train.model.name '{name}': only the EfficientNet and ResNet families \
                         are implemented"
                    ),
                ));
            }
            used.push("train.model.name".into());
        }
        match (string("train.model.backbone")?, &family) {
            (Some(b), family) => {
                check_backbone_name(&b)
                    .map_err(|e| bad(source, format!("train.model.backbone: {e}")))?;
                if let Some(f) = family {
                    let prefix = if f.starts_with("resnet") {
                        "resnet"
                    } else {
                        "efficientnet"
                    };
                    if !b.starts_with(prefix) {
                        return Err(bad(
                            source,
                            format!("train.model.backbone '{b}' is not of train.model.name '{f}'"),
                        ));
                    }
                }
                c.train.model.backbone = b;
                used.push("train.model.backbone".into());
            }
            (None, Some(f)) if f.starts_with("resnet") => {
                return Err(bad(
                    source,
                    format!(
                        "train.model.name '{f}' needs train.model.backbone (resnet18, resnet34 or resnet50)"
                    ),
                ));
            }
            _ => {}
        }
        // Explicit steps ({"epoch": lr, …}) or "cosine".
        match get("train.model.lr_schedule") {
            None => {}
            Some(Value::String(s)) if s == "cosine" => {
                used.push("train.model.lr_schedule".into());
            }
            Some(Value::Object(steps)) => {
                let mut points: Vec<(usize, f64)> = Vec::new();
                for (k, v) in steps {
                    let e = k.parse::<usize>().map_err(|_| {
                        bad(
                            source,
                            format!("train.model.lr_schedule: epoch '{k}' is not a number"),
                        )
                    })?;
                    let lr = v.as_f64().ok_or_else(|| {
                        bad(
                            source,
                            format!("train.model.lr_schedule.{k}: expected a number"),
                        )
                    })?;
                    points.push((e, lr));
                }
                points.sort_by_key(|p| p.0);
                c.train.model.lr_schedule = LrSchedule::Steps { points };
                used.push("train.model.lr_schedule".into());
            }
            Some(other) => {
                return Err(bad(
                    source,
                    format!(
                    "train.model.lr_schedule: expected \"cosine\" or {{epoch: lr}}, got {other}"
                ),
                ))
            }
        }
        // Partition: DeepProfiler's split_field with training/validation values.
        let field = string("train.partition.split_field")?;
        let training = strings("train.partition.training")?;
        let validation = strings("train.partition.validation")?;
        if let (Some(field), Some(training), Some(validation)) = (field, training, validation) {
            c.train.partition = Partition::ByField {
                field,
                training,
                validation,
            };
            used.extend(
                ["split_field", "training", "validation"].map(|k| format!("train.partition.{k}")),
            );
        }
        if let Some(t) = strings("train.partition.targets")? {
            if let Some(first) = t.first() {
                c.dataset.metadata.label_field = first.clone();
            }
            used.push("train.partition.targets".into());
        }
        c.train.model.lr_schedule = match c.train.model.lr_schedule {
            LrSchedule::Cosine {
                warmup_epochs,
                warmup,
                min_lr,
                ..
            } => LrSchedule::Cosine {
                total_epochs: c.train.model.epochs,
                warmup_epochs: warmup_epochs.min(c.train.model.epochs.saturating_sub(1)),
                warmup,
                min_lr,
            },
            other => other,
        };
        leaves(&root, String::new(), &mut |p| {
            // A key we read covers its whole subtree (e.g. the steps of lr_schedule).
            if !used
                .iter()
                .any(|u| p == u || p.starts_with(&format!("{u}.")))
            {
                unsupported.push(p.to_string());
            }
        });
        c.check(source)?;
        Ok((c, unsupported))
    }
}

/// Calls `f` with the dotted path of every leaf (non-object value) of `v`.
fn leaves(v: &Value, prefix: String, f: &mut impl FnMut(&str)) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(x, p, f);
            }
        }
        _ => f(&prefix),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_papers() {
        let c = DeepProfilerConfig::default();
        c.check("default").unwrap();
        assert_eq!(c.train.model.epochs, 30);
        assert_eq!(c.train.model.learning_rate, 0.005);
        assert_eq!(c.train.model.batch_size, 32);
        assert_eq!(c.train.model.l2, 1e-5);
        assert!(c.train.model.nesterov);
        assert_eq!(c.dataset.locations.box_size, 128);
        assert_eq!(c.profile.feature_layer, "block6a_activation");
        assert_eq!(c.profile.sphering_lambda, 0.01);
        assert_eq!(c.dataset.images.channels.len(), 5);
        // Round trip through our own strict JSON.
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(DeepProfilerConfig::from_json(&text, "x").unwrap(), c);
    }

    #[test]
    fn our_json_rejects_unknown_keys_and_bad_values() {
        let e = DeepProfilerConfig::from_json(r#"{"train": {"model": {"epoch": 3}}}"#, "cfg.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cfg.json") && e.contains("epoch"), "{e}");
        let e = DeepProfilerConfig::from_json("[32, 0.25]", "cfg.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cfg.json, line 1: column 1: a config must be a JSON object"),
            "{e}"
        );
        let e = DeepProfilerConfig::from_json(r#"{"train": {"model": {"batch_size": 1}}}"#, "c")
            .unwrap_err()
            .to_string();
        assert!(e.contains("batch_size ≥ 2"), "{e}");
        let e =
            DeepProfilerConfig::from_json(r#"{"train": {"model": {"input_size": 100000}}}"#, "c")
                .unwrap_err()
                .to_string();
        assert!(e.contains("≤ 4096") && e.contains("100000"), "{e}");
    }

    #[test]
    fn a_deepprofiler_config_is_read_and_the_rest_named() {
        let text = r#"{
          "dataset": {"metadata": {"label_field": "Treatment", "control_value": "DMSO@0"},
                      "images": {"channels": ["DNA","ER","RNA","AGP","Mito"], "bits": 16,
                                 "file_format": "tif"},
                      "locations": {"box_size": 96, "mask_objects": false}},
          "train": {"partition": {"targets": ["Compound"], "split_field": "Split",
                                  "training": ["Training"], "validation": ["Validation"]},
                    "model": {"name": "efficientnet", "epochs": 12, "lr_schedule": {"0": 0.01, "8": 0.001},
                              "params": {"learning_rate": 0.01, "batch_size": 16, "label_smoothing": 0.1}},
                    "sampling": {"factor": 1.5, "workers": 8},
                    "comet_ml": {"track": false}},
          "profile": {"feature_layer": "block6a_activation", "checkpoint": "checkpoint_0012.hdf5"},
          "paths": {"images": "/inputs/images"}
        }"#;
        let (c, unsupported) = DeepProfilerConfig::from_deepprofiler_json(text, "dp.json").unwrap();
        assert_eq!(c.dataset.metadata.label_field, "Compound");
        assert_eq!(c.dataset.metadata.control_value, "DMSO@0");
        assert_eq!(c.dataset.locations.box_size, 96);
        assert_eq!((c.train.model.epochs, c.train.model.batch_size), (12, 16));
        assert_eq!(c.train.model.label_smoothing, 0.1);
        assert_eq!(
            c.train.model.lr_schedule,
            LrSchedule::Steps {
                points: vec![(0, 0.01), (8, 0.001)]
            }
        );
        assert_eq!(c.train.sampling.factor, 1.5);
        assert!(
            matches!(c.train.partition, Partition::ByField { ref field, .. } if field == "Split")
        );
        let mut u = unsupported.clone();
        u.sort();
        assert_eq!(
            u,
            vec![
                "dataset.images.file_format",
                "dataset.locations.mask_objects",
                "paths.images",
                "profile.checkpoint",
                "train.comet_ml.track",
                "train.sampling.workers",
            ]
        );
        let err = |text: &str| {
            DeepProfilerConfig::from_deepprofiler_json(text, "dp.json")
                .unwrap_err()
                .to_string()
        };
        let e = err(r#"{"train": {"model": {"name": "vgg"}}}"#);
        assert!(e.contains("only the EfficientNet and ResNet"), "{e}");
        let e = err(r#"{"train": {"model": {"name": "resnet"}}}"#);
        assert!(e.contains("needs train.model.backbone"), "{e}");
        let e = err(r#"{"train": {"model": {"name": "efficientnet", "backbone": "resnet18"}}}"#);
        assert!(e.contains("is not of train.model.name"), "{e}");
        let e = err(r#"{"train": {"model": {"backbone": "resnet9"}}}"#);
        assert!(e.contains("unknown backbone 'resnet9'"), "{e}");
    }

    #[test]
    fn a_resnet_is_picked_by_name_and_its_feature_layer_checked() {
        let (c, _) = DeepProfilerConfig::from_deepprofiler_json(
            r#"{"train": {"model": {"name": "resnet", "backbone": "resnet18"}},
                "profile": {"feature_layer": "layer4"}}"#,
            "dp.json",
        )
        .unwrap();
        assert_eq!(c.train.model.backbone, "resnet18");
        c.check("dp.json").unwrap();
        // The paper's EfficientNet layer does not exist in a ResNet: refused before any run.
        let e = DeepProfilerConfig::from_deepprofiler_json(
            r#"{"train": {"model": {"name": "resnet", "backbone": "resnet18"}}}"#,
            "dp.json",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("profile.feature_layer 'block6a_activation' is not a layer of resnet18"),
            "{e}"
        );
        let e = DeepProfilerConfig::from_deepprofiler_json(
            r#"{"train": {"model": {"params": {"batch_size": "big"}}}}"#,
            "dp.json",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("train.model.params.batch_size: expected a number"),
            "{e}"
        );
    }
}
