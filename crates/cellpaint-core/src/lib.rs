#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
//!
//! ## Overview
//!
//! The shared candle layer of cellpaint: every method crate builds on it.
//!
//! * [`DeviceChoice`] — the one device setting (`cpu`, `cuda[:N]`; CUDA behind feature `cuda`)
//! * [`SeededVarMap`] — seeded, order-independent parameter initialisation
//! * [`optim`] — SGD (momentum, Nesterov, weight decay) and AdamW with checkpointable state
//! * [`LrSchedule`] — constant, multi-step, cosine with warm-up
//! * [`Backbone`] — the image network behind a small trait, picked by name from [`BACKBONES`]:
//!   EfficientNet-B0 ([`EfficientNet`]) and ResNet-18/34/50 ([`ResNet`]), torchvision-named
//! * [`classify`] — an image classifier task on any backbone (batches, augmentation seeds, loss)
//! * [`Trainer`] / [`TrainTask`] — epoch loop, progress, JSON-lines metrics, early stopping,
//!   atomic checksummed checkpoints, resume only of the same run ([`Fingerprint`]), and a
//!   stop with an error when training diverges
//! * [`conv::conv2d`] — a stride-1 convolution: per-image matrix products, no batch-sized im2col
//! * [`pool::max_pool2d`] — a max-pool whose gradient is right (candle 0.11's is not)
//! * [`Allocator`] — the global allocator of every cellpaint binary (mimalloc, freed memory kept)
//! * [`gradcheck::check_gradients`] — finite-difference checks for model crates
//!
//! Data tables come from the [`profiles`] crate, re-exported here.

pub mod allocator;
pub mod backbone;
pub mod checkpoint;
pub mod classify;
pub mod conv;
pub mod device;
pub mod efficientnet;
pub mod error;
pub mod fingerprint;
pub mod gradcheck;
pub mod init;
pub mod optim;
pub mod pool;
pub mod resnet;
pub mod rng;
pub mod schedule;
pub mod testing;
pub mod threads;
pub mod train;

pub use candle_core as candle;
pub use candle_nn;
pub use profiles;

pub use allocator::Allocator;
pub use backbone::{
    backbone_names, Backbone, BackboneSpec, BuildBackbone, Forward, BACKBONES, EMBEDDING_TAP,
};
pub use checkpoint::{load_checkpoint, save_checkpoint};
pub use device::{cuda_compiled, DeviceChoice};
pub use efficientnet::batchnorm::BatchNorm2d;
pub use efficientnet::{ConvPadding, EfficientNet, EfficientNetConfig};
pub use error::{CoreError, Result};
pub use fingerprint::{DataHasher, Fingerprint};
pub use init::SeededVarMap;
pub use optim::{AdamW, AdamWParams, AnyOptimizer, OptimizerConfig, Sgd, SgdParams};
pub use resnet::{ResNet, ResNetConfig, ResNetDepth};
pub use schedule::{LrSchedule, Warmup};
pub use train::{
    read_history, Claim, EarlyStopping, EpochRecord, Metrics, Mode, RunOptions, TrainConfig,
    TrainSummary, TrainTask, Trainer,
};
