#![warn(missing_docs)]
#![doc = include_str!("../README.md")]
//!
//! ## Overview
//!
//! Tabular profiles for image-based profiling: a [`ProfileTable`] of text metadata beside
//! `f64` features, read from CSV/TSV (optionally gzipped), Parquet or CMap GCT/GCTX, and the pycytominer
//! operations on it — [`aggregate()`], [`normalize()`], [`feature_select()`], [`consensus()`].
//!
//! No candle here: a user who only needs tables pulls only ndarray.
//!
//! ```
//! use cellpaint_profiles::{normalize, NormalizeMethod, NormalizeParams, SyntheticPlate};
//! let plate = SyntheticPlate::default().generate();
//! let params = NormalizeParams::new(NormalizeMethod::Standardize)
//!     .fit_on("Metadata_broad_sample=DMSO".parse().unwrap());
//! let normalized = normalize(&plate, &params).unwrap();
//! assert_eq!(normalized.n_rows(), plate.n_rows());
//! ```

pub mod aggregate;
pub mod annotate;
pub mod consensus;
pub mod data;
mod delimited;
pub mod error;
pub mod feature_select;
pub mod gct;
pub mod gctx;
pub mod hdf5;
pub mod io;
pub mod normalize;
pub mod parquet_aggregate;
pub mod parquet_io;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod stats;
pub mod synthetic;
pub mod table;

pub use aggregate::{aggregate, AggregateOp};
pub use annotate::{
    annotate, join_metadata, AnnotateParams, AnnotateReport, Join, JoinCounts, KeyPair,
    MetadataTable, Unmatched,
};
pub use consensus::{consensus, ConsensusOp};
pub use data::{data_file, resolve_data_dir, DATA_ENV};
pub use error::{ProfileError, Result};
pub use feature_select::{
    default_blocklist, feature_select, FeatureSelectOp, FeatureSelectParams, FeatureSelectReport,
};
pub use io::{
    escaped, format_f64, one_line, parse_json_object, read_table, shown, write_atomic, write_json,
    write_table, MetadataColumns, ReadOptions,
};
pub use normalize::{normalize, NormalizeMethod, NormalizeParams, Scaler};
pub use parquet_aggregate::aggregate_parquet;
pub use parquet_io::python_repr;
pub use stats::CorrelationMethod;
pub use synthetic::SyntheticPlate;
pub use table::{ProfileTable, Selection};
