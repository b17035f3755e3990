#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
//!
//! ## Overview
//!
//! MOAProfiler (Pfizer): EfficientNet-B0 classifying the MOA of whole 5-channel fields; its
//! pooled embeddings, aggregated per well and standardised by each plate's DMSO wells, are
//! evaluated with `profiling_eval::moa_profiler`.
//!
//! * [`config`] — the paper's settings as a checked serde struct
//! * [`split`] — single-MOA wells, the 60/10/30 well hold-out per MOA spread over plates, the
//!   compound hold-out, class balancing by duplication
//! * [`preprocess`] — per-field (x − min)/(max + ε) and dataset channel standardisation
//! * [`fields`] — fields read from an image index, resized, augmented and batched
//! * [`train`] — the field classifier (shared `ClassifierTask`), best epoch by validation
//!   accuracy, embeddings and predictions
//! * [`embed`] — field → well median → per-plate DMSO standardisation
//! * [`evaluate`] — field classification, Figure 3b–f and the compound hold-out (Figure 4)

pub mod config;
pub mod embed;
pub mod error;
pub mod evaluate;
pub mod fields;
pub mod preprocess;
pub mod split;
pub mod train;

pub use config::MoaProfilerConfig;
pub use error::{MoaError, Result};
pub use fields::FieldSet;
pub use train::{train_moa_profiler, FittedMoaProfiler};
