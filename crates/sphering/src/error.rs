/// What can go wrong fitting or applying a sphering transform.
#[derive(Debug, thiserror::Error)]
pub enum SpheringError {
    /// A regularisation that is negative or not finite, or a saved transform whose parts
    /// disagree in size.
    #[error("invalid sphering parameters: {0}")]
    InvalidParams(String),
    /// Fewer than 2 control rows: no covariance can be estimated.
    #[error("sphering needs at least 2 control rows to estimate a covariance, got {n}")]
    TooFewRows {
        /// Control rows given.
        n: usize,
    },
    /// `row` and `column` index the matrix given (0-based); the CLI checks its tables first and
    /// names the file line.
    #[error("value at matrix row {row}, feature column {column} (0-based) is {value}; sphering needs finite values (drop or impute NaN features first)")]
    NonFinite {
        /// 0-based row of the matrix given.
        row: usize,
        /// 0-based feature column.
        column: usize,
        /// The offending value (NaN or ±∞).
        value: f64,
    },
    #[error("feature column {column} is constant over the {n} control rows, so its standard deviation is 0 and the -cor methods cannot scale it; drop it (feature-select variance_threshold) or use ZCA/PCA")]
    /// A feature with zero standard deviation over the controls (the `-cor` methods divide
    /// by it).
    ConstantFeature {
        /// 0-based feature column.
        column: usize,
        /// Control rows it is constant over.
        n: usize,
    },
    #[error("the control covariance is singular (smallest eigenvalue {smallest:e}, largest {largest:e}; {n} controls for {d} features) and the regularisation is 0; use a positive lambda (e.g. 0.01) or epsilon")]
    /// The control covariance has a zero direction and there is no regularisation to fill it.
    Singular {
        /// Smallest eigenvalue of the control covariance.
        smallest: f64,
        /// Largest eigenvalue.
        largest: f64,
        /// Control rows.
        n: usize,
        /// Features.
        d: usize,
    },
    #[error("the transform was fit on {expected} features but the input has {found}")]
    /// Input with another number of features than the transform was fit on.
    ColumnMismatch {
        /// Features at fit time.
        expected: usize,
        /// Features in the input.
        found: usize,
    },
    /// The eigen-decomposition backend failed.
    #[error("eigen-decomposition failed: {0}")]
    Eigen(String),
    /// A saved transform that is not valid JSON of a [`crate::FittedSphering`].
    #[error("sphering JSON: {}", escaped(.0))]
    Json(#[from] serde_json::Error),
}

impl SpheringError {
    /// The message with feature column numbers replaced by their names.
    pub fn describe(&self, feature_names: &[String]) -> String {
        let name = |c: usize| {
            feature_names
                .get(c)
                .map(|n| format!("'{n}'"))
                .unwrap_or_else(|| c.to_string())
        };
        match self {
            SpheringError::NonFinite { row, column, value } => format!(
                "matrix row {row} (0-based), feature {}: value {value}; sphering needs finite values (drop or impute NaN features first)",
                name(*column)
            ),
            SpheringError::ConstantFeature { column, n } => format!(
                "feature {} is constant over the {n} control rows; drop it (feature-select variance_threshold) or use ZCA/PCA",
                name(*column)
            ),
            other => other.to_string(),
        }
    }
}

/// serde's message with control characters escaped: it quotes unknown keys raw. (The same
/// rule as `profiles::escaped`; sphering stays free of the profiles crate.)
fn escaped(e: &serde_json::Error) -> String {
    let mut out = String::new();
    for c in e.to_string().chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
