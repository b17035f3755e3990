//! Errors of the measurement crate.

use thiserror::Error;

/// What can go wrong measuring objects.
#[derive(Debug, Error)]
pub enum MeasureError {
    /// The label image and the pixels differ in size.
    #[error("the label image is {labels:?} (height, width) but the pixels are {pixels:?}")]
    ShapeMismatch {
        /// `(height, width)` of the labels.
        labels: (usize, usize),
        /// `(height, width)` of the pixels.
        pixels: (usize, usize),
    },
    /// A pixel inside an object is NaN or infinite.
    #[error(
        "pixel at row {row}, column {column} (1-based) is {value}: expected a finite intensity"
    )]
    NonFinite {
        /// 1-based row.
        row: usize,
        /// 1-based column.
        column: usize,
        /// The value found.
        value: f64,
    },
    /// A setting outside its range.
    #[error("{what} is {value}")]
    Setting {
        /// The setting and its range.
        what: String,
        /// The value given.
        value: String,
    },
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, MeasureError>;

/// `v` at 0-based `(r, c)`, or the error naming the pixel when it is not finite.
pub(crate) fn finite(v: f64, r: usize, c: usize) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(MeasureError::NonFinite {
            row: r + 1,
            column: c + 1,
            value: v,
        })
    }
}
