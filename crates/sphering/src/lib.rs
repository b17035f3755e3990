#![warn(missing_docs)]
#![doc = include_str!("../README.md")]
//!
//! ## Overview
//!
//! Sphering (whitening) of morphological profiles, fit on control wells and applied to all.
//!
//! After sphering, the controls have identity covariance (up to the regularisation), so
//! distances between treatments measure departures from the controls' natural variation
//! rather than its dominant directions. Methods: ZCA, PCA, ZCA-cor and PCA-cor; two
//! regularisations, one from each reference implementation:
//!
//! * [`Regularization::Eigenvalue`] (DeepProfiler): `C = XcᵀXc / n`, `C = U D Uᵀ`,
//!   `W = U (D + λ)^-1/2 Uᵀ`.
//! * [`Regularization::SingularValue`] (pycytominer): singular values `σ` of `Xc`,
//!   `W = U diag(√(n−1) / (σ + ε)) Uᵀ`.
//!
//! `Xc` is the controls centred on their mean (and, for the `-cor` methods, divided by their
//! standard deviation, ddof 0). PCA omits the final `Uᵀ` rotation. Parameters are a plain
//! struct, checked, then fit (the linfa pattern):
//!
//! ```
//! use ndarray::array;
//! use sphering::{SpheringMethod, SpheringParams};
//! let controls = array![[1.0, 2.0], [2.0, 1.0], [3.0, 5.0], [4.0, 3.0]];
//! let fitted = SpheringParams::new(SpheringMethod::Zca).lambda(0.01).fit(controls.view()).unwrap();
//! let white = fitted.transform(controls.view()).unwrap();
//! assert_eq!(white.dim(), (4, 2));
//! let json = fitted.to_json().unwrap();
//! let back = sphering::FittedSphering::from_json(&json).unwrap();
//! assert_eq!(back.transform(controls.view()).unwrap(), white);
//! ```

mod eigen;
mod error;

use ndarray::{Array1, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

pub use eigen::{matmul, symmetric_eigen};
pub use error::SpheringError;

/// Which whitening matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpheringMethod {
    /// Zero-phase (Mahalanobis) whitening: stays closest to the original features.
    #[serde(rename = "ZCA")]
    Zca,
    /// Projection onto principal components, each scaled to unit variance.
    #[serde(rename = "PCA")]
    Pca,
    /// ZCA on standardised features (the correlation matrix).
    #[serde(rename = "ZCA-cor")]
    ZcaCor,
    /// PCA on standardised features.
    #[serde(rename = "PCA-cor")]
    PcaCor,
}

impl SpheringMethod {
    fn standardises(self) -> bool {
        matches!(self, SpheringMethod::ZcaCor | SpheringMethod::PcaCor)
    }
    fn rotates_back(self) -> bool {
        matches!(self, SpheringMethod::Zca | SpheringMethod::ZcaCor)
    }
}

impl std::str::FromStr for SpheringMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "ZCA" => Ok(Self::Zca),
            "PCA" => Ok(Self::Pca),
            "ZCA-COR" => Ok(Self::ZcaCor),
            "PCA-COR" => Ok(Self::PcaCor),
            _ => Err(format!(
                "unknown sphering method '{s}' (ZCA, PCA, ZCA-cor, PCA-cor)"
            )),
        }
    }
}

impl std::fmt::Display for SpheringMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Zca => "ZCA",
            Self::Pca => "PCA",
            Self::ZcaCor => "ZCA-cor",
            Self::PcaCor => "PCA-cor",
        })
    }
}

/// How near-zero directions of the control covariance are kept finite.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Regularization {
    /// DeepProfiler: add `lambda` to the eigenvalues of `XcᵀXc / n`.
    Eigenvalue {
        /// Added to every eigenvalue (≥ 0).
        lambda: f64,
    },
    /// pycytominer: add `epsilon` to the singular values of `Xc`; scale by `√(n−1)`.
    SingularValue {
        /// Added to every singular value (≥ 0).
        epsilon: f64,
    },
}

/// Sphering hyperparameters. Default: ZCA with DeepProfiler's λ = 0.01.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpheringParams {
    /// ZCA or PCA, on covariances or correlations.
    pub method: SpheringMethod,
    /// How near-zero directions are kept finite.
    pub regularization: Regularization,
}

impl Default for SpheringParams {
    fn default() -> Self {
        Self {
            method: SpheringMethod::Zca,
            regularization: Regularization::Eigenvalue { lambda: 0.01 },
        }
    }
}

impl SpheringParams {
    /// `method` with the default regularisation (DeepProfiler's λ = 0.01).
    pub fn new(method: SpheringMethod) -> Self {
        Self {
            method,
            ..Self::default()
        }
    }
    /// DeepProfiler's eigenvalue regularisation.
    pub fn lambda(mut self, lambda: f64) -> Self {
        self.regularization = Regularization::Eigenvalue { lambda };
        self
    }
    /// pycytominer's singular-value regularisation.
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.regularization = Regularization::SingularValue { epsilon };
        self
    }

    /// Rejects values that cannot work before any data is touched.
    pub fn check(&self) -> Result<(), SpheringError> {
        let (name, v) = match self.regularization {
            Regularization::Eigenvalue { lambda } => ("lambda", lambda),
            Regularization::SingularValue { epsilon } => ("epsilon", epsilon),
        };
        if !(v.is_finite() && v >= 0.0) {
            return Err(SpheringError::InvalidParams(format!(
                "{name} must be a finite number ≥ 0, got {v}"
            )));
        }
        Ok(())
    }

    /// Fits the transform on control rows (samples × features).
    pub fn fit(&self, controls: ArrayView2<'_, f64>) -> Result<FittedSphering, SpheringError> {
        self.check()?;
        let (n, d) = controls.dim();
        if n < 2 {
            return Err(SpheringError::TooFewRows { n });
        }
        check_finite(controls)?;
        let mean = controls.mean_axis(Axis(0)).expect("n ≥ 2");
        let mut xc = &controls - &mean;
        let scale = if self.method.standardises() {
            let sd = xc.map_axis(Axis(0), |c| (c.dot(&c) / n as f64).sqrt());
            if let Some(column) = sd.iter().position(|&s| s == 0.0) {
                return Err(SpheringError::ConstantFeature { column, n });
            }
            xc /= &sd;
            Some(sd)
        } else {
            None
        };
        let scatter = eigen::gram(xc.view());
        let (values, vectors) = eigen::symmetric_eigen(scatter.view())?;
        // Descending order, eigenvalues of the covariance C = XcᵀXc / n (round-off negatives → 0).
        let order: Vec<usize> = (0..d).rev().collect();
        let eigenvalues = Array1::from_iter(order.iter().map(|&i| (values[i] / n as f64).max(0.0)));
        let mut u = vectors.select(Axis(1), &order);
        // Fix each eigenvector's sign (largest-magnitude entry positive) so PCA output is
        // the same whatever the eigen backend.
        for mut col in u.columns_mut() {
            let k = col
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
                .map(|(k, _)| k)
                .unwrap_or(0);
            if col[k] < 0.0 {
                col.mapv_inplace(|v| -v);
            }
        }
        let gains: Array1<f64> = match self.regularization {
            Regularization::Eigenvalue { lambda } => {
                eigenvalues.mapv(|s| 1.0 / (s + lambda).sqrt())
            }
            Regularization::SingularValue { epsilon } => {
                let root = ((n - 1) as f64).sqrt();
                eigenvalues.mapv(|s| root / ((s * n as f64).sqrt() + epsilon))
            }
        };
        if gains.iter().any(|g| !g.is_finite()) {
            return Err(SpheringError::Singular {
                smallest: eigenvalues[d - 1],
                largest: eigenvalues[0],
                n,
                d,
            });
        }
        let scaled = &u * &gains; // U · diag(g)
        let whitening = if self.method.rotates_back() {
            eigen::matmul(scaled.view(), u.t())
        } else {
            scaled
        };
        Ok(FittedSphering {
            params: *self,
            n_fit: n,
            mean,
            scale,
            eigenvalues,
            whitening,
        })
    }
}

fn check_finite(x: ArrayView2<'_, f64>) -> Result<(), SpheringError> {
    for ((row, column), &value) in x.indexed_iter() {
        if !value.is_finite() {
            return Err(SpheringError::NonFinite { row, column, value });
        }
    }
    Ok(())
}

/// A fitted sphering transform: `(x − mean) / scale · whitening`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedSphering {
    /// The parameters it was fit with.
    pub params: SpheringParams,
    /// Number of control rows it was fit on.
    pub n_fit: usize,
    /// Control means, subtracted first.
    pub mean: Array1<f64>,
    /// Control standard deviations (the `-cor` methods only).
    pub scale: Option<Array1<f64>>,
    /// Eigenvalues of the control covariance `XcᵀXc / n`, descending.
    pub eigenvalues: Array1<f64>,
    /// The `d × d` whitening matrix `W`.
    pub whitening: Array2<f64>,
}

impl FittedSphering {
    /// Features it was fit on (and accepts).
    pub fn n_features(&self) -> usize {
        self.mean.len()
    }

    /// Spheres rows (samples × features).
    pub fn transform(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>, SpheringError> {
        if x.ncols() != self.n_features() {
            return Err(SpheringError::ColumnMismatch {
                expected: self.n_features(),
                found: x.ncols(),
            });
        }
        check_finite(x)?;
        let mut xc = &x - &self.mean;
        if let Some(sd) = &self.scale {
            xc /= sd;
        }
        Ok(eigen::matmul(xc.view(), self.whitening.view()))
    }

    /// Output column names: the input names for ZCA (each output stays tied to its feature),
    /// `PC1…PCd` for PCA.
    pub fn output_names(&self, input: &[String]) -> Vec<String> {
        if self.params.method.rotates_back() {
            input.to_vec()
        } else {
            (1..=self.n_features()).map(|i| format!("PC{i}")).collect()
        }
    }

    /// The transform as JSON (parameters, means, scales, eigenvalues, whitening matrix).
    pub fn to_json(&self) -> Result<String, SpheringError> {
        Ok(serde_json::to_string(self)?)
    }

    /// A transform saved by [`FittedSphering::to_json`], its parts' sizes checked.
    pub fn from_json(s: &str) -> Result<Self, SpheringError> {
        let f: FittedSphering = serde_json::from_str(s)?;
        let d = f.mean.len();
        if f.whitening.dim() != (d, d)
            || f.eigenvalues.len() != d
            || f.scale.as_ref().is_some_and(|s| s.len() != d)
        {
            return Err(SpheringError::InvalidParams(format!(
                "inconsistent shapes in sphering JSON: mean {d}, whitening {:?}, eigenvalues {}",
                f.whitening.dim(),
                f.eigenvalues.len()
            )));
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn covariance(x: &Array2<f64>) -> Array2<f64> {
        let m = x.mean_axis(Axis(0)).unwrap();
        let c = x - &m;
        c.t().dot(&c) / x.nrows() as f64
    }

    fn controls() -> Array2<f64> {
        array![
            [1.0, 2.0, 0.5],
            [2.0, 1.0, 1.5],
            [3.0, 5.0, 0.0],
            [4.0, 3.0, 2.0],
            [0.0, 1.0, 1.0],
            [2.5, 4.0, 3.0]
        ]
    }

    #[test]
    fn whitened_controls_have_identity_covariance() {
        for method in [
            SpheringMethod::Zca,
            SpheringMethod::Pca,
            SpheringMethod::ZcaCor,
            SpheringMethod::PcaCor,
        ] {
            let f = SpheringParams::new(method)
                .lambda(0.0)
                .fit(controls().view())
                .unwrap();
            let w = f.transform(controls().view()).unwrap();
            let c = covariance(&w);
            for i in 0..3 {
                for j in 0..3 {
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!(
                        (c[[i, j]] - want).abs() < 1e-10,
                        "{method}: C[{i},{j}] = {}",
                        c[[i, j]]
                    );
                }
            }
        }
    }

    #[test]
    fn zca_is_symmetric_and_pycytominer_scaling_is_sample_covariance() {
        let f = SpheringParams::new(SpheringMethod::Zca)
            .lambda(0.0)
            .fit(controls().view())
            .unwrap();
        let w = &f.whitening;
        assert!((w - &w.t()).iter().all(|v| v.abs() < 1e-12));
        // ε = 0: W = U diag(√(n−1)/σ) Uᵀ whitens to the ddof-1 covariance, i.e. C·n/(n−1) = I.
        let g = SpheringParams::new(SpheringMethod::Zca)
            .epsilon(0.0)
            .fit(controls().view())
            .unwrap();
        let c = covariance(&g.transform(controls().view()).unwrap()) * (6.0 / 5.0);
        assert!((c[[0, 0]] - 1.0).abs() < 1e-10 && c[[0, 1]].abs() < 1e-10);
    }

    #[test]
    fn one_dimension_by_hand() {
        // x = {1, 3}: mean 2, C = 1; λ = 0 → W = 1 → outputs −1, 1; λ = 3 → W = 1/2.
        let x = array![[1.0], [3.0]];
        let f = SpheringParams::new(SpheringMethod::Zca)
            .lambda(3.0)
            .fit(x.view())
            .unwrap();
        assert!((f.whitening[[0, 0]] - 0.5).abs() < 1e-15);
        assert_eq!(f.transform(array![[6.0]].view()).unwrap()[[0, 0]], 2.0);
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let p = SpheringParams::new(SpheringMethod::Zca);
        assert!(matches!(
            p.fit(array![[1.0, 2.0]].view()),
            Err(SpheringError::TooFewRows { n: 1 })
        ));
        let nan = array![[1.0, f64::NAN], [2.0, 3.0]];
        assert!(matches!(
            p.fit(nan.view()),
            Err(SpheringError::NonFinite {
                row: 0,
                column: 1,
                ..
            })
        ));
        let constant = array![[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]];
        let e = SpheringParams::new(SpheringMethod::ZcaCor)
            .fit(constant.view())
            .unwrap_err();
        assert!(matches!(
            e,
            SpheringError::ConstantFeature { column: 1, n: 3 }
        ));
        assert!(e
            .describe(&["a".into(), "b".into()])
            .contains("feature 'b'"));
        // Singular covariance with no regularisation: a clear error; with λ > 0 it works.
        let e = SpheringParams::new(SpheringMethod::Zca)
            .lambda(0.0)
            .fit(constant.view())
            .unwrap_err();
        assert!(matches!(e, SpheringError::Singular { .. }), "{e}");
        assert!(SpheringParams::new(SpheringMethod::Zca)
            .lambda(0.1)
            .fit(constant.view())
            .is_ok());
        assert!(SpheringParams::new(SpheringMethod::Zca)
            .lambda(-1.0)
            .fit(controls().view())
            .is_err());
        let f = p.fit(controls().view()).unwrap();
        assert!(matches!(
            f.transform(array![[1.0]].view()),
            Err(SpheringError::ColumnMismatch {
                expected: 3,
                found: 1
            })
        ));
        assert!(FittedSphering::from_json("{\"params\": 1}").is_err());
    }

    #[test]
    fn json_round_trip_is_exact() {
        // serde_json needs `float_roundtrip` for this; without it some f64 come back 1 ulp off.
        let f = SpheringParams::new(SpheringMethod::ZcaCor)
            .fit(controls().view())
            .unwrap();
        let back = FittedSphering::from_json(&f.to_json().unwrap()).unwrap();
        assert_eq!(back, f);
    }
}
