#![warn(missing_docs)]
#![doc = include_str!("../README.md")]
//!
//! ## Overview
//!
//! Evaluation of image-based profiles, without candle: one fast crate for what copairs,
//! cytominer-eval and the papers' notebooks compute.

pub mod cytominer;
pub mod deepprofiler;
pub mod error;
pub mod labels;
pub mod map;
pub mod moa_profiler;
pub mod nsc;
pub mod plate_summary;
pub mod probe;
pub mod similarity;
pub mod stats;
pub mod vae;

pub use cytominer::{
    enrichment, grit, hit_at_k, precision_recall, replicate_reproducibility, Enrichment, Grit,
    HitAtK, PrecisionRecall, ReplicateReproducibility, Summary,
};
pub use deepprofiler::{folds_of_enrichment, interpolated_map, FoldsOfEnrichment, InterpolatedMap};
pub use error::{EvalError, Result};
pub use map::{
    activity_map, average_precision, benjamini_hochberg, consistency_map, mean_average_precision,
    GroupMap, MapParams, MapSettings, PairSpec, QueryAp,
};
pub use moa_profiler::{balanced_accuracy, weighted_scores, Scores};
pub use nsc::{nsc, NscResult};
pub use plate_summary::{effective_rank, summarise_plate, PlateSummary, PlateSummaryParams};
pub use probe::{logistic_predictions, logistic_probe, ProbeParams};
pub use similarity::{Prepared, Similarity};
