//! Evaluation of image-based profiles, without candle: one fast crate for what copairs,
//! cytominer-eval and the papers' notebooks compute.

pub mod cytominer;
pub mod error;
pub mod map;
pub mod similarity;
pub mod stats;

pub use cytominer::{
    enrichment, grit, hit_at_k, precision_recall, replicate_reproducibility, Enrichment, Grit,
    HitAtK, PrecisionRecall, ReplicateReproducibility, Summary,
};
pub use error::{EvalError, Result};
pub use map::{
    average_precision, benjamini_hochberg, mean_average_precision, GroupMap, MapParams, PairSpec,
    QueryAp,
};
pub use similarity::{Prepared, Similarity};
