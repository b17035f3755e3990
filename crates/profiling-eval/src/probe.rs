//! Linear probe: multinomial logistic regression (L2) trained on one set of embeddings and
//! scored on another — how linearly decodable the labels are. Uses linfa-logistic.

use linfa::prelude::*;
use linfa_logistic::MultiLogisticRegression;
use ndarray::{Array1, ArrayView2};

use crate::error::{EvalError, Result};
use crate::moa_profiler::{weighted_scores, Scores};

/// Probe settings: L2 strength (linfa's `alpha`) and iteration cap.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProbeParams {
    /// L2 penalty (linfa's `alpha`).
    pub l2: f64,
    /// Cap on the optimiser's iterations.
    pub max_iterations: u64,
}

impl Default for ProbeParams {
    fn default() -> Self {
        Self {
            l2: 1.0,
            max_iterations: 100,
        }
    }
}

/// Fits on (`train_x`, `train_y`) and returns weighted scores on (`test_x`, `test_y`).
pub fn logistic_probe(
    train_x: ArrayView2<'_, f64>,
    train_y: &[String],
    test_x: ArrayView2<'_, f64>,
    test_y: &[String],
    params: ProbeParams,
) -> Result<Scores> {
    if test_x.nrows() != test_y.len() {
        return Err(EvalError::invalid(
            "logistic probe",
            "feature matrices and labels do not line up",
        ));
    }
    let predicted = logistic_predictions(train_x, train_y, test_x, params)?;
    Ok(weighted_scores(test_y, &predicted))
}

/// Fits on (`train_x`, `train_y`) and returns the predicted label of every row of `test_x`.
pub fn logistic_predictions(
    train_x: ArrayView2<'_, f64>,
    train_y: &[String],
    test_x: ArrayView2<'_, f64>,
    params: ProbeParams,
) -> Result<Vec<String>> {
    if train_x.nrows() != train_y.len() || train_x.ncols() != test_x.ncols() {
        return Err(EvalError::invalid(
            "logistic probe",
            "feature matrices and labels do not line up",
        ));
    }
    let mut classes: Vec<&String> = train_y.iter().collect();
    classes.sort();
    classes.dedup();
    if classes.len() < 2 {
        return Err(EvalError::invalid(
            "logistic probe",
            "training labels have fewer than 2 classes",
        ));
    }
    let targets: Array1<usize> = train_y
        .iter()
        .map(|y| classes.binary_search(&y).expect("own class"))
        .collect();
    let data = Dataset::new(train_x.to_owned(), targets);
    let model = MultiLogisticRegression::default()
        .alpha(params.l2)
        .max_iterations(params.max_iterations)
        .fit(&data)
        .map_err(|e| EvalError::invalid("logistic probe", format!("fit failed: {e}")))?;
    Ok(model
        .predict(&test_x.to_owned())
        .iter()
        .map(|&c| classes[c].clone())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn separable_classes_are_learnt() {
        let x = array![
            [0.0, 0.1],
            [0.2, 0.0],
            [5.0, 5.1],
            [5.2, 4.9],
            [0.0, 5.0],
            [0.1, 5.2]
        ];
        let y: Vec<String> = ["a", "a", "b", "b", "c", "c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let test = array![[0.1, 0.05], [5.1, 5.0], [0.05, 5.1]];
        let ty: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let s = logistic_probe(
            x.view(),
            &y,
            test.view(),
            &ty,
            ProbeParams {
                l2: 0.01,
                max_iterations: 200,
            },
        )
        .unwrap();
        assert_eq!(s.accuracy, 1.0);
        assert!(
            logistic_probe(x.view(), &y[..5], test.view(), &ty, ProbeParams::default()).is_err()
        );
    }
}
