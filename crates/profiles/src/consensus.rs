//! `consensus`: collapse replicates into one signature per treatment (pycytominer `consensus`).

use rayon::prelude::*;

use crate::aggregate::{aggregate, AggregateOp};
use crate::error::{ProfileError, Result};
use crate::stats::{self, CorrelationMethod};
use crate::table::ProfileTable;

/// How replicates are combined.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "operation")]
pub enum ConsensusOp {
    /// The median of the replicates.
    Median,
    /// The mean of the replicates.
    Mean,
    /// MODZ (CMap's moderated z-score): a weighted mean, each replicate weighted by its mean
    /// (negative-clipped) correlation to the other replicates, weights floored at
    /// `min_weight` and normalised to sum 1. `weight_decimals` rounds weights as pycytominer
    /// does (4); `None` keeps full precision.
    Modz {
        /// How replicates are correlated.
        method: CorrelationMethod,
        /// The floor of a replicate's weight.
        min_weight: f64,
        /// Decimals the weights are rounded to.
        weight_decimals: Option<u32>,
    },
}

impl ConsensusOp {
    /// MODZ with pycytominer's defaults (Spearman, 0.01, 4 decimals).
    pub fn modz() -> Self {
        ConsensusOp::Modz {
            method: CorrelationMethod::Spearman,
            min_weight: 0.01,
            weight_decimals: Some(4),
        }
    }
}

/// MODZ weights for the replicate rows of `x` (k × p); k = 1 → weight 1.
pub fn modz_weights(
    x: ndarray::ArrayView2<'_, f64>,
    method: CorrelationMethod,
    min_weight: f64,
    weight_decimals: Option<u32>,
) -> Vec<f64> {
    let k = x.nrows();
    if k == 1 {
        return vec![1.0];
    }
    let rows: Vec<Vec<f64>> = x.rows().into_iter().map(|r| r.to_vec()).collect();
    let mut raw = vec![0.0; k];
    for i in 0..k {
        let cors: Vec<f64> = (0..k)
            .filter(|&j| j != i)
            .map(|j| stats::correlation(&rows[i], &rows[j], method))
            .filter(|c| !c.is_nan())
            .map(|c| c.max(0.0))
            .collect();
        let m = if cors.is_empty() {
            0.0
        } else {
            cors.iter().sum::<f64>() / cors.len() as f64
        };
        raw[i] = m.max(min_weight);
    }
    let total: f64 = raw.iter().sum();
    raw.iter()
        .map(|w| {
            let w = w / total;
            match weight_decimals {
                Some(d) => {
                    let f = 10f64.powi(d as i32);
                    (w * f).round() / f
                }
                None => w,
            }
        })
        .collect()
}

/// One row per distinct `replicate_columns` value; metadata = those columns.
pub fn consensus<S: AsRef<str> + Sync>(
    table: &ProfileTable,
    replicate_columns: &[S],
    op: ConsensusOp,
) -> Result<ProfileTable> {
    match op {
        ConsensusOp::Median => aggregate(table, replicate_columns, AggregateOp::Median),
        ConsensusOp::Mean => aggregate(table, replicate_columns, AggregateOp::Mean),
        ConsensusOp::Modz {
            method,
            min_weight,
            weight_decimals,
        } => {
            if replicate_columns.is_empty() {
                return Err(ProfileError::invalid(
                    table.source(),
                    "consensus needs replicate columns (e.g. Metadata_broad_sample)",
                ));
            }
            if table.features().iter().any(|v| v.is_nan()) {
                return Err(ProfileError::invalid(
                    table.source(),
                    "MODZ needs NaN-free features; run `feature-select --operations drop_na_columns` or impute first",
                ));
            }
            let groups = table.group_rows(replicate_columns)?;
            let x = table.features();
            let p = x.ncols();
            let rows: Vec<Vec<f64>> = groups
                .par_iter()
                .map(|(_, rows)| {
                    let sub = x.select(ndarray::Axis(0), rows);
                    let w = modz_weights(sub.view(), method, min_weight, weight_decimals);
                    (0..p)
                        .map(|c| sub.column(c).iter().zip(&w).map(|(v, w)| v * w).sum())
                        .collect()
                })
                .collect();
            crate::aggregate::table_from_groups(table, replicate_columns, &groups, rows)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn modz_weights_by_hand() {
        // r1 = [1,2,3,4], r2 = [1,2,3,5] (same ranks as r1), r3 = [4,3,2,1] (reversed).
        // Spearman: c12 = 1, c13 = -1 → 0, c23 = -1 → 0.
        // raw = [mean(1,0), mean(1,0), mean(0,0)] = [0.5, 0.5, 0 → 0.01]; total 1.01
        // weights = [0.4950, 0.4950, 0.0099]
        let x = array![
            [1.0, 2.0, 3.0, 4.0],
            [1.0, 2.0, 3.0, 5.0],
            [4.0, 3.0, 2.0, 1.0]
        ];
        let w = modz_weights(x.view(), CorrelationMethod::Spearman, 0.01, Some(4));
        assert_eq!(w, vec![0.495, 0.495, 0.0099]);
        let full = modz_weights(x.view(), CorrelationMethod::Spearman, 0.01, None);
        assert!((full[2] - 0.01 / 1.01).abs() < 1e-15);
    }

    #[test]
    fn modz_of_identical_replicates_is_the_replicate() {
        let t = ProfileTable::new(
            "reps",
            vec!["Metadata_cpd".into()],
            vec![vec!["a".into(), "a".into(), "b".into()]],
            vec!["f".into(), "g".into(), "h".into()],
            array![[1.0, 5.0, 2.0], [1.0, 5.0, 2.0], [7.0, 8.0, 9.0]],
        )
        .unwrap();
        let c = consensus(&t, &["Metadata_cpd"], ConsensusOp::modz()).unwrap();
        assert_eq!(c.n_rows(), 2);
        assert_eq!(c.features().row(0).to_vec(), vec![1.0, 5.0, 2.0]);
        assert_eq!(c.features().row(1).to_vec(), vec![7.0, 8.0, 9.0]);
        let m = consensus(&t, &["Metadata_cpd"], ConsensusOp::Median).unwrap();
        assert_eq!(m.features().row(0).to_vec(), vec![1.0, 5.0, 2.0]);
    }
}
