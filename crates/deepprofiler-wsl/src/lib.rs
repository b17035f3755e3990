#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
//!
//! ## Overview
//!
//! * [`DeepProfilerConfig`] — DeepProfiler-style JSON sections with the paper's defaults; an
//!   existing DeepProfiler config is read and its unsupported keys named
//! * [`sampler::balanced_epoch`] — the median class count from every class, every epoch
//! * [`split::partition`] — leave-cells-out, leave-plates-out, or a split column
//! * [`train_classifier`] / [`FittedClassifier`] — EfficientNet-B0 on single-cell crops, SGD
//!   with Nesterov momentum, label smoothing, L2, cosine or step schedule, augmentation,
//!   validation accuracy and macro F1, checkpoints and resume; features from any tap
//! * [`features::extract_to_disk`] — features site by site, written as each site finishes
//! * [`aggregate`] — cell → site median → well mean → sphering on control wells → treatment mean
//! * [`effect::treatment_effects`] — the paper's treatment-effect ranking

pub mod aggregate;
pub mod config;
pub mod crops;
pub mod effect;
pub mod error;
pub mod features;
pub mod npz;
pub mod sampler;
pub mod split;
pub mod train;

pub use config::{DeepProfilerConfig, Partition};
pub use crops::CellCrops;
pub use error::{DpError, Result};
pub use npz::{read_deepprofiler_npz, NpzParams};
pub use train::{train_classifier, FittedClassifier};
