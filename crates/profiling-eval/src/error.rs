//! The error of every evaluation function.

/// Errors of the evaluation functions; each says what was expected.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A table could not be read or lacks a column.
    #[error(transparent)]
    Profiles(#[from] profiles::ProfileError),
    /// Input an evaluation cannot score.
    #[error("{source_label}: {message}")]
    Invalid {
        /// The table or step the input came from.
        source_label: String,
        /// What was wrong and what was expected.
        message: String,
    },
}

/// `Result` with [`EvalError`].
pub type Result<T, E = EvalError> = std::result::Result<T, E>;

impl EvalError {
    pub(crate) fn invalid(source_label: &str, message: impl Into<String>) -> Self {
        EvalError::Invalid {
            source_label: source_label.to_string(),
            message: message.into(),
        }
    }
}
