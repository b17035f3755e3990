//! Min-max scaling to [0, 1], fitted once and saved beside the model (the VAEs' input scale).

use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::error::{Result, VaeError};

/// Per-feature minimum and range.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MinMaxScaler {
    /// Minimum of each feature.
    pub min: Array1<f64>,
    /// max − min of each feature (1 for a constant one).
    pub range: Array1<f64>,
}

impl MinMaxScaler {
    /// Fits on `x`; a constant feature keeps range 1 (it maps to 0), like scikit-learn.
    pub fn fit(x: ArrayView2<'_, f64>) -> Result<Self> {
        if x.nrows() == 0 {
            return Err(VaeError::Data("cannot fit a scaler on zero rows".into()));
        }
        if let Some(((r, c), v)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(VaeError::Data(format!(
                "value {v} at row {r}, feature {c}: features must be finite"
            )));
        }
        let min = x.fold_axis(Axis(0), f64::INFINITY, |a, &b| a.min(b));
        let max = x.fold_axis(Axis(0), f64::NEG_INFINITY, |a, &b| a.max(b));
        let range = (&max - &min).mapv(|r| if r > 0.0 { r } else { 1.0 });
        Ok(Self { min, range })
    }

    /// (x − min) / range, feature by feature.
    pub fn transform(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        self.check(x)?;
        Ok((&x - &self.min) / &self.range)
    }

    /// x · range + min: back to raw units.
    pub fn inverse(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        self.check(x)?;
        Ok(&x * &self.range + &self.min)
    }

    fn check(&self, x: ArrayView2<'_, f64>) -> Result<()> {
        if x.ncols() != self.min.len() {
            return Err(VaeError::Data(format!(
                "scaler was fit on {} features, got {}",
                self.min.len(),
                x.ncols()
            )));
        }
        Ok(())
    }
}
