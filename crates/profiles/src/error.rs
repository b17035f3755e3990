use std::path::PathBuf;

/// Everything that can go wrong reading or transforming a profile table.
///
/// Every variant names where the problem is: the file (or the table's source label),
/// and the line or column when there is one, plus what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        // Shown in the message, not chained as a source, so it is printed once.
        cause: std::io::Error,
    },
    #[error("{path}, line {line}: {message}")]
    Parse {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}, line {line}: expected {expected} fields as in the header, found {found}")]
    Ragged {
        path: String,
        line: usize,
        expected: usize,
        found: usize,
    },
    #[error("{path}, line {line}, column '{column}': '{value}' is not a number (feature columns must be numeric; mark metadata columns with the metadata prefix)")]
    NotNumeric {
        path: String,
        line: usize,
        column: String,
        value: String,
    },
    #[error(
        "{path}: column '{column}' appears twice in the header (columns {first} and {second})"
    )]
    DuplicateColumn {
        path: String,
        column: String,
        first: usize,
        second: usize,
    },
    #[error("{path}: no column '{column}'; {available}")]
    MissingColumn {
        path: String,
        column: String,
        available: String,
    },
    #[error("{path}: selection `{selection}` matched no rows{context}")]
    EmptySelection {
        path: String,
        selection: String,
        context: String,
    },
    #[error("{path}, column '{column}': {message}")]
    BadFeature {
        path: String,
        column: String,
        message: String,
    },
    #[error("{path}, {place}, column '{column}': {value} is not a finite number; {advice}")]
    NonFinite {
        path: String,
        /// `line N` (1-based, of a delimited file as read) or `sample ID` (GCT).
        place: String,
        column: String,
        value: f64,
        advice: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

pub type Result<T, E = ProfileError> = std::result::Result<T, E>;

impl ProfileError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ProfileError::Io {
            path: path.into(),
            cause: source,
        }
    }
    pub(crate) fn invalid(path: &str, message: impl Into<String>) -> Self {
        ProfileError::Invalid {
            path: path.to_string(),
            message: message.into(),
        }
    }
}
