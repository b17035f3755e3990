//! The two dense kernels sphering needs — symmetric eigen-decomposition and matrix product —
//! behind one interface: faer (pure Rust, default) or LAPACK via ndarray-linalg (`lapack`).

use ndarray::{Array1, Array2, ArrayView2};

use crate::SpheringError;

/// Eigenvalues in ascending order and the matching unit eigenvectors as columns.
#[cfg(not(feature = "lapack"))]
pub fn symmetric_eigen(
    c: ArrayView2<'_, f64>,
) -> Result<(Array1<f64>, Array2<f64>), SpheringError> {
    let d = c.nrows();
    let m = faer::Mat::<f64>::from_fn(d, d, |i, j| c[[i, j]]);
    let evd = m
        .self_adjoint_eigen(faer::Side::Lower)
        .map_err(|e| SpheringError::Eigen(format!("{e:?}")))?;
    let s = evd.S().column_vector();
    let u = evd.U();
    let values = Array1::from_shape_fn(d, |i| s[i]);
    let vectors = Array2::from_shape_fn((d, d), |(i, j)| u[(i, j)]);
    Ok((values, vectors))
}

/// Eigenvalues in ascending order and the matching unit eigenvectors as columns (LAPACK's
/// `dsyev` through ndarray-linalg).
#[cfg(feature = "lapack")]
pub fn symmetric_eigen(
    c: ArrayView2<'_, f64>,
) -> Result<(Array1<f64>, Array2<f64>), SpheringError> {
    use ndarray_linalg::{Eigh, UPLO};
    c.to_owned()
        .eigh(UPLO::Lower)
        .map_err(|e| SpheringError::Eigen(e.to_string()))
}

/// `a · b`, multithreaded through faer for the large products of fit and transform.
pub fn matmul(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> Array2<f64> {
    let fa = faer::Mat::<f64>::from_fn(a.nrows(), a.ncols(), |i, j| a[[i, j]]);
    let fb = faer::Mat::<f64>::from_fn(b.nrows(), b.ncols(), |i, j| b[[i, j]]);
    let prod = &fa * &fb;
    Array2::from_shape_fn((a.nrows(), b.ncols()), |(i, j)| prod[(i, j)])
}

/// `aᵀ · a` (the scatter matrix of centred rows).
pub fn gram(a: ArrayView2<'_, f64>) -> Array2<f64> {
    matmul(a.t(), a)
}
