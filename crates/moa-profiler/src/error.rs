//! Errors of the MOAProfiler crate.

/// Errors of the MOAProfiler crate; each names what was wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum MoaError {
    /// Input that does not fit (shapes, channels, labels, metadata).
    #[error("{source_name}: {message}")]
    Data {
        /// The file or data set.
        source_name: String,
        /// What was expected.
        message: String,
    },
    /// Settings that fail their check.
    #[error("invalid settings: {0}")]
    Config(String),
    /// A table error (reading an index or a profile).
    #[error(transparent)]
    Profiles(#[from] profiles::ProfileError),
    /// An evaluation error (enrichment, kNN, probes).
    #[error(transparent)]
    Eval(#[from] profiling_eval::EvalError),
    /// A training-loop, checkpoint or run-directory error.
    #[error(transparent)]
    Core(#[from] cellpaint_core::CoreError),
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] cellpaint_core::candle::Error),
}

impl MoaError {
    pub(crate) fn data(source_name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Data {
            source_name: source_name.into(),
            message: message.into(),
        }
    }
}

/// `Result` with [`MoaError`].
pub type Result<T, E = MoaError> = std::result::Result<T, E>;
