//! The one error type of the crate: every variant names the file (or table) and, where there
//! is one, the 1-based line and the column.

use std::path::PathBuf;

/// Everything that can go wrong reading or transforming a profile table.
///
/// Every variant names where the problem is: the file (or the table's source label),
/// and the line or column when there is one, plus what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// A file could not be opened, read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        // Shown in the message, not chained as a source, so it is printed once.
        cause: std::io::Error,
    },
    /// A line of a delimited or GCT file is malformed.
    #[error("{path}, line {line}: {message}")]
    Parse {
        /// The file or the table's source label.
        path: String,
        /// 1-based line.
        line: usize,
        /// What was wrong and what was expected.
        message: String,
    },
    #[error("{path}, line {line}: expected {expected} fields as in the header, found {found}")]
    /// A row has a different number of fields than the header.
    Ragged {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// Fields in the header.
        expected: usize,
        /// Fields on this line.
        found: usize,
    },
    #[error("{path}, line {line}, column '{column}': '{value}' is not a number (feature columns must be numeric; mark metadata columns with the metadata prefix)")]
    /// A feature column holds text that is not a number.
    NotNumeric {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// The column's name.
        column: String,
        /// The text found.
        value: String,
    },
    #[error(
        "{path}: column '{column}' appears twice in the header (columns {first} and {second})"
    )]
    /// Two header columns have the same name.
    DuplicateColumn {
        /// The file.
        path: String,
        /// The repeated name.
        column: String,
        /// 1-based position of its first occurrence.
        first: usize,
        /// 1-based position of its second occurrence.
        second: usize,
    },
    #[error("{path}: no column '{column}'; {available}")]
    /// A column the operation needs is not in the table.
    MissingColumn {
        /// The file or the table's source label.
        path: String,
        /// The column asked for.
        column: String,
        /// The columns that are there (or the nearest names).
        available: String,
    },
    #[error("{path}: selection `{selection}` matched no rows{context}")]
    /// A row selection (e.g. the control wells) matched nothing.
    EmptySelection {
        /// The table's source label.
        path: String,
        /// The selection as written.
        selection: String,
        /// Where it was used (e.g. ", per plate P1").
        context: String,
    },
    #[error("{path}, column '{column}': {message}")]
    /// A feature column cannot be used as the operation needs (e.g. constant where a scale
    /// is fit).
    BadFeature {
        /// The table's source label.
        path: String,
        /// The column's name.
        column: String,
        /// What was wrong.
        message: String,
    },
    #[error("{path}, {place}, column '{column}': {value} is not a finite number; {advice}")]
    /// A feature value is NaN or infinite where the documented rule refuses it.
    NonFinite {
        /// The file or the table's source label.
        path: String,
        /// `line N` (1-based, of a delimited file as read) or `sample ID` (GCT).
        place: String,
        /// The column's name.
        column: String,
        /// The value found.
        value: f64,
        /// What to do about it.
        advice: String,
    },
    /// Anything else about the input or the parameters that is not valid.
    #[error("{path}: {message}")]
    Invalid {
        /// The file, the table's source label, or the parameter.
        path: String,
        /// What was wrong and what was expected.
        message: String,
    },
}

/// `Result` with [`ProfileError`].
pub type Result<T, E = ProfileError> = std::result::Result<T, E>;

impl ProfileError {
    /// The same error with its line moved down by `lines` (an error found in a piece of a
    /// file, whose lines were counted from the piece's start).
    pub(crate) fn at_line_offset(mut self, lines: usize) -> Self {
        match &mut self {
            ProfileError::Parse { line, .. }
            | ProfileError::Ragged { line, .. }
            | ProfileError::NotNumeric { line, .. } => *line += lines,
            _ => {}
        }
        self
    }

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
