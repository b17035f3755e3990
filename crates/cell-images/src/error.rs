use std::path::PathBuf;

/// Everything that can go wrong reading, preparing or writing images.
///
/// Every variant names the file (or the index row) and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: cannot decode {format}: {message}")]
    Decode {
        path: PathBuf,
        format: &'static str,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("{0}")]
    Params(String),
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

pub type Result<T, E = ImageError> = std::result::Result<T, E>;
