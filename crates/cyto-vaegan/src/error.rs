//! Errors of the VAE+ crate.

use std::path::PathBuf;

/// Errors of the VAE+ crate; each names what was wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum CytoError {
    /// Settings that fail their check.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Input data that does not fit (shapes, metadata, crops).
    #[error("{source_name}: {message}")]
    Data {
        /// The file or data set.
        source_name: String,
        /// What was expected.
        message: String,
    },
    /// A file that cannot be used.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] cellpaint_core::candle::Error),
    /// A training-loop, checkpoint or run-directory error.
    #[error(transparent)]
    Core(#[from] cellpaint_core::CoreError),
    /// An image could not be read or prepared.
    #[error(transparent)]
    Images(#[from] cell_images::ImageError),
    /// A table error.
    #[error(transparent)]
    Profiles(#[from] profiles::ProfileError),
    /// Whitening failed.
    #[error(transparent)]
    Sphering(#[from] sphering::SpheringError),
    /// An evaluation error (NSC/NSCB).
    #[error(transparent)]
    Eval(#[from] profiling_eval::EvalError),
}

impl CytoError {
    pub(crate) fn data(source_name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Data {
            source_name: source_name.into(),
            message: message.into(),
        }
    }
}

/// `Result` with [`CytoError`].
pub type Result<T, E = CytoError> = std::result::Result<T, E>;
