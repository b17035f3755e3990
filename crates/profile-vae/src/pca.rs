//! PCA baseline with the same latent size as the VAEs (fit, project, reconstruct).

use ndarray::{s, Array1, Array2, ArrayView2, Axis};

use crate::error::{Result, VaeError};

/// Principal components of the training profiles.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Pca {
    /// Feature means of the fitted data.
    pub mean: Array1<f64>,
    /// k × d, rows are unit principal directions, largest variance first.
    pub components: Array2<f64>,
    /// Variance along each component (ddof 1).
    pub explained_variance: Array1<f64>,
}

impl Pca {
    /// The first `k` principal directions of `x` (rows are samples); needs 1 ≤ k ≤ d, n ≥ 2.
    pub fn fit(x: ArrayView2<'_, f64>, k: usize) -> Result<Self> {
        let (n, d) = x.dim();
        if k == 0 || k > d || n < 2 {
            return Err(VaeError::Config(format!(
                "PCA needs 1 ≤ k ≤ {d} features and ≥ 2 rows (k = {k}, rows = {n})"
            )));
        }
        let mean = x.mean_axis(Axis(0)).expect("n ≥ 2");
        let xc = &x - &mean;
        let cov = sphering::matmul(xc.t(), xc.view()) / (n - 1) as f64;
        let (values, vectors) =
            sphering::symmetric_eigen(cov.view()).map_err(|e| VaeError::Data(e.to_string()))?;
        // Ascending → take the last k, largest first; sign: largest-magnitude entry positive.
        let mut components = Array2::zeros((k, d));
        let mut explained = Array1::zeros(k);
        for i in 0..k {
            let col = d - 1 - i;
            let mut v = vectors.column(col).to_owned();
            let big = v
                .iter()
                .copied()
                .fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
            if big < 0.0 {
                v.mapv_inplace(|x| -x);
            }
            components.row_mut(i).assign(&v);
            explained[i] = values[col].max(0.0);
        }
        Ok(Self {
            mean,
            components,
            explained_variance: explained,
        })
    }

    /// Coordinates of `x` on the components.
    pub fn transform(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        self.check(x.ncols(), self.mean.len())?;
        Ok((&x - &self.mean).dot(&self.components.t()))
    }

    /// Profiles from component coordinates.
    pub fn inverse(&self, z: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        self.check(z.ncols(), self.components.nrows())?;
        Ok(z.dot(&self.components) + &self.mean)
    }

    /// The first `k` components only.
    pub fn truncate(&self, k: usize) -> Pca {
        Pca {
            mean: self.mean.clone(),
            components: self.components.slice(s![..k, ..]).to_owned(),
            explained_variance: self.explained_variance.slice(s![..k]).to_owned(),
        }
    }

    fn check(&self, got: usize, want: usize) -> Result<()> {
        if got != want {
            return Err(VaeError::Data(format!(
                "expected {want} columns, got {got}"
            )));
        }
        Ok(())
    }
}
