use std::path::PathBuf;

/// Errors of the shared layer. Each names what it was doing and where.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Profiles(#[from] profiles::ProfileError),
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        // Shown in the message, not chained as a source, so it is printed once.
        cause: std::io::Error,
    },
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A run directory that belongs to another run, or a request it cannot meet.
    #[error("run directory {0}")]
    Run(String),
    /// Training produced non-finite values.
    #[error("training diverged: {0}")]
    Diverged(String),
    #[error("device: {0}")]
    Device(String),
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
