use std::path::PathBuf;

/// Errors of the DeepProfiler crate; each names what was wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum DpError {
    #[error("{path}: {message}")]
    Config { path: String, message: String },
    #[error("{source_name}: {message}")]
    Data {
        source_name: String,
        message: String,
    },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(transparent)]
    Candle(#[from] cellpaint_core::candle::Error),
    #[error(transparent)]
    Core(#[from] cellpaint_core::CoreError),
    #[error(transparent)]
    Images(#[from] cell_images::ImageError),
    #[error(transparent)]
    Profiles(#[from] profiles::ProfileError),
    #[error(transparent)]
    Sphering(#[from] sphering::SpheringError),
    #[error(transparent)]
    Eval(#[from] profiling_eval::EvalError),
}

impl DpError {
    pub(crate) fn data(source_name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Data {
            source_name: source_name.into(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = DpError> = std::result::Result<T, E>;
