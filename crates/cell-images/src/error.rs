//! Errors of this crate: each names the file (or index row) and what was expected.

use std::path::PathBuf;

/// Everything that can go wrong reading, preparing or writing images.
///
/// Every variant names the file (or the index row) and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A file could not be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        cause: std::io::Error,
    },
    /// A file is not a valid image of its format.
    #[error("{path}: cannot decode {format}: {message}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// The format it was read as (PNG, TIFF, NPZ…).
        format: &'static str,
        /// What the decoder said.
        message: String,
    },
    /// A readable input with content that does not fit (sizes, channels, metadata).
    #[error("{path}: {message}")]
    Invalid {
        /// The file, or the file and 1-based line of an index row.
        path: String,
        /// What was expected.
        message: String,
    },
    /// Settings that fail their check.
    #[error("{0}")]
    Params(String),
    /// A table error from `profiles` (metadata, locations CSVs).
    #[error(transparent)]
    Profile(#[from] profiles::ProfileError),
}

impl ImageError {
    pub(crate) fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            cause,
        }
    }
    pub(crate) fn invalid(path: impl std::fmt::Display, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.to_string(),
            message: message.into(),
        }
    }
}

/// `Result` with [`ImageError`].
pub type Result<T, E = ImageError> = std::result::Result<T, E>;
