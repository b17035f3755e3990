//! Errors of the profile-VAE crate.

/// Errors of the profile-VAE crate.
#[derive(Debug, thiserror::Error)]
pub enum VaeError {
    /// A training-loop, checkpoint or run-directory error.
    #[error(transparent)]
    Core(#[from] cellpaint_core::CoreError),
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] cellpaint_core::candle::Error),
    /// A table error (reading profiles).
    #[error(transparent)]
    Profiles(#[from] profiles::ProfileError),
    /// Settings that fail their check.
    #[error("invalid VAE configuration: {0}")]
    Config(String),
    /// Input data that does not fit (shapes, non-finite values, labels).
    #[error("{0}")]
    Data(String),
}

/// `Result` with [`VaeError`].
pub type Result<T, E = VaeError> = std::result::Result<T, E>;
