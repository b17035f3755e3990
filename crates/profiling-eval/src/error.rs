/// Errors of the evaluation functions; each says what was expected.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Profiles(#[from] profiles::ProfileError),
    #[error("{source_label}: {message}")]
    Invalid {
        source_label: String,
        message: String,
    },
}

pub type Result<T, E = EvalError> = std::result::Result<T, E>;

impl EvalError {
    pub(crate) fn invalid(source_label: &str, message: impl Into<String>) -> Self {
        EvalError::Invalid {
            source_label: source_label.to_string(),
            message: message.into(),
        }
    }
}
