#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
//!
//! ## Overview
//!
//! Variational autoencoders for image-based (Cell Painting) and gene-expression (L1000)
//! profiles, after Way et al., *Morphology and gene expression profiling provide complementary
//! information for mapping cell state* / the cell-painting-vae polypharmacology paper.
//!
//! Vanilla, β- and MMD-VAEs differ only in their [`Regulariser`]s; the model embeds profiles
//! with the latent mean μ (deterministic), decodes, and simulates from the prior.

pub mod arithmetic;
pub mod error;
pub mod interpret;
pub mod model;
pub mod pca;
pub mod scaler;
pub mod search;
pub mod select;
pub mod train;

pub use arithmetic::{
    latent_arithmetic, moa_labels, shuffled_null, valid_targets, z_scores, ArithmeticResult,
    Embedding, RawFeatures,
};
pub use error::{Result, VaeError};
pub use interpret::{
    feature_group, latent_correlation, latent_traversal, summarise_by_group, GroupSummary,
};
pub use model::{mmd, Activation, Kl, Mmd, Output, Regulariser, Vae, VaeConfig};
pub use pca::Pca;
pub use scaler::MinMaxScaler;
pub use search::{random_search, SearchParams, SearchSpace, Trial};
pub use select::{select_beta, simulation_hausdorff};
pub use train::{fit, fit_on, shuffle_columns, FitSettings, FittedVae, VaeTask};
