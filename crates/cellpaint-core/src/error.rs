//! Errors of the shared layer.

use std::path::PathBuf;

/// Errors of the shared layer. Each names what it was doing and where.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error(transparent)]
    /// A tensor operation failed.
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    /// Reading or writing a table or JSON file failed.
    Profiles(#[from] profiles::ProfileError),
    /// A file could not be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        // Shown in the message, not chained as a source, so it is printed once.
        /// What the operating system said.
        cause: std::io::Error,
    },
    /// A checkpoint that cannot be read or does not fit the model.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Settings that fail their check.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A run directory that belongs to another run, or a request it cannot meet.
    #[error("run directory {0}")]
    Run(String),
    /// Training produced non-finite values.
    #[error("training diverged: {0}")]
    Diverged(String),
    /// A device that cannot be used (e.g. CUDA in a build without the feature).
    #[error("device: {0}")]
    Device(String),
    /// An error met at a place in a shared loop (`epoch 3, step 7`): the cause keeps its own
    /// kind (an IO error stays an IO error), reachable through `source()`.
    #[error("{at}: {cause}")]
    At {
        /// Where it happened.
        at: String,
        /// What happened.
        #[source]
        cause: Box<CoreError>,
    },
    /// A method crate's own error raised inside a shared loop (a training step, a batch),
    /// kept as it is so callers can still tell a data error from a bad setting.
    #[error("{at}: {cause}")]
    Method {
        /// Where it happened.
        at: String,
        /// The method crate's error.
        #[source]
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl CoreError {
    /// `cause`, located at `at`.
    pub fn at(at: impl Into<String>, cause: CoreError) -> Self {
        CoreError::At {
            at: at.into(),
            cause: Box::new(cause),
        }
    }

    /// A method crate's error `cause`, located at `at`.
    pub fn method(
        at: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        CoreError::Method {
            at: at.into(),
            cause: Box::new(cause),
        }
    }
}

/// `Result` with [`CoreError`].
pub type Result<T, E = CoreError> = std::result::Result<T, E>;
