#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
//!
//! ## Overview
//!
//! * [`VaeGanConfig`] — AE, VAE and VAE+ as presets with the paper's hyperparameters
//! * [`model`] — encoder, decoder and discriminator (candle modules behind small traits)
//! * [`loss`] — pixel, KL, discriminator-feature and BCE losses of the reference code
//! * [`fit`] / [`FittedVaeGan`] — training with two batches per iteration, checkpoints, resume;
//!   embeddings, reconstructions, decoding
//! * [`CropSet`] — crops, the reference's max scaling, BBBC021 packs, the per-treatment sampler
//! * [`profile`] — cell embeddings → well → treatment profiles, whitening, NSC/NSCB
//! * [`quality`] — MSE, SSIM and sharpness of reconstructions
//! * [`interpolate`] — the paper's control → treated latent walk

pub mod config;
pub mod data;
pub mod error;
pub mod interpolate;
pub mod loss;
pub mod model;
pub mod profile;
pub mod quality;
pub mod train;

pub use config::{feature_weight, ArchConfig, VaeGanConfig, Variant};
pub use data::{read_bbbc021, CropMeta, CropSet, TreatmentSampler};
pub use error::{CytoError, Result};
pub use model::{
    CellDecoder, CellEncoder, ConvDecoder, ConvDiscriminator, ConvEncoder, Discrimination,
    FeatureDiscriminator, VaeGan,
};
pub use train::{fit, FittedVaeGan, VaeGanTask};
