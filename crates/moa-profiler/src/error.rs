/// Errors of the MOAProfiler crate; each names what was wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum MoaError {
    #[error("{source_name}: {message}")]
    Data {
        source_name: String,
        message: String,
    },
    #[error("invalid settings: {0}")]
    Config(String),
    #[error(transparent)]
    Profiles(#[from] profiles::ProfileError),
    #[error(transparent)]
    Eval(#[from] profiling_eval::EvalError),
    #[error(transparent)]
    Core(#[from] cellpaint_core::CoreError),
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

pub type Result<T, E = MoaError> = std::result::Result<T, E>;
