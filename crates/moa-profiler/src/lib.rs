#![doc = include_str!("../README.md")]
//!
//! ## Overview
//!
//! MOAProfiler (Pfizer): EfficientNet-B0 classifying the MOA of whole 5-channel fields; its
//! pooled embeddings, aggregated per well and standardised by each plate's DMSO wells, are
//! evaluated with `profiling_eval::moa_profiler`.
//!
//! This first part holds the data rules and preprocessing:
//! * [`split`] — single-MOA wells, the 60/10/30 well hold-out per MOA spread over plates, the
//!   compound hold-out, class balancing by duplication
//! * [`preprocess`] — per-field (x − min)/(max + ε) and dataset channel standardisation
//! * [`embed`] — field → well median → per-plate DMSO standardisation

pub mod embed;
pub mod error;
pub mod preprocess;
pub mod split;

pub use error::{MoaError, Result};
