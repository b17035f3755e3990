//! `aggregate`: collapse rows to one per group (pycytominer `aggregate`).

use ndarray::Array2;
use rayon::prelude::*;

use crate::error::{ProfileError, Result};
use crate::stats;
use crate::table::ProfileTable;

/// How rows of a group are combined, feature by feature (NaN values are skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AggregateOp {
    /// The median of the group's rows.
    Median,
    /// The mean of the group's rows.
    Mean,
}

impl AggregateOp {
    /// The operation on one feature's values (NaN skipped, as pandas).
    pub(crate) fn apply(self, values: impl Iterator<Item = f64>) -> f64 {
        match self {
            AggregateOp::Median => stats::median(values),
            AggregateOp::Mean => stats::mean(values),
        }
    }
}

impl std::str::FromStr for AggregateOp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "median" => Ok(Self::Median),
            "mean" => Ok(Self::Mean),
            _ => Err(format!("unknown aggregation '{s}' (median or mean)")),
        }
    }
}

/// One row per distinct value of `strata` (groups in sorted order, as pandas `groupby`), with
/// the strata as the only metadata columns and each feature combined by `op`.
///
/// Example: single cells → wells with `strata = ["Metadata_Plate", "Metadata_Well"]`.
pub fn aggregate<S: AsRef<str>>(
    table: &ProfileTable,
    strata: &[S],
    op: AggregateOp,
) -> Result<ProfileTable> {
    if strata.is_empty() {
        return Err(ProfileError::invalid(
            table.source(),
            "aggregate needs at least one strata column (e.g. Metadata_Plate, Metadata_Well)",
        ));
    }
    let groups = table.group_rows(strata)?;
    let x = table.features();
    let p = table.n_features();
    let rows: Vec<Vec<f64>> = groups
        .par_iter()
        .map(|(_, rows)| {
            (0..p)
                .map(|c| op.apply(rows.iter().map(|&r| x[[r, c]])))
                .collect()
        })
        .collect();
    table_from_groups(table, strata, &groups, rows)
}

/// One row per group: the group keys as the only metadata, `rows` (one feature vector per
/// group, in group order) as features.
pub(crate) fn table_from_groups<S: AsRef<str>>(
    table: &ProfileTable,
    strata: &[S],
    groups: &[(Vec<String>, Vec<usize>)],
    rows: Vec<Vec<f64>>,
) -> Result<ProfileTable> {
    let values = Array2::from_shape_vec((groups.len(), table.n_features()), rows.concat())
        .expect("one value per group and feature");
    let meta = (0..strata.len())
        .map(|k| groups.iter().map(|(key, _)| key[k].clone()).collect())
        .collect();
    ProfileTable::new(
        table.source(),
        strata.iter().map(|s| s.as_ref().to_string()).collect(),
        meta,
        table.feature_names().to_vec(),
        values,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn median_and_mean_by_hand() {
        // Well A01 has cells with f = 1, 2, 9 → median 2, mean 4; A02 has 5, NaN → 5 either way.
        let t = ProfileTable::new(
            "cells",
            vec!["Metadata_Well".into(), "Metadata_Cell".into()],
            vec![
                vec![
                    "A02".into(),
                    "A01".into(),
                    "A01".into(),
                    "A01".into(),
                    "A02".into(),
                ],
                vec!["1".into(), "2".into(), "3".into(), "4".into(), "5".into()],
            ],
            vec!["f".into()],
            array![[5.0], [1.0], [2.0], [9.0], [f64::NAN]],
        )
        .unwrap();
        let med = aggregate(&t, &["Metadata_Well"], AggregateOp::Median).unwrap();
        assert_eq!(med.metadata_names(), &["Metadata_Well"]);
        assert_eq!(med.metadata("Metadata_Well").unwrap(), &["A01", "A02"]);
        assert_eq!(med.features().column(0).to_vec(), vec![2.0, 5.0]);
        let mean = aggregate(&t, &["Metadata_Well"], AggregateOp::Mean).unwrap();
        assert_eq!(mean.features().column(0).to_vec(), vec![4.0, 5.0]);
        assert!(aggregate(&t, &["Metadata_Nope"], AggregateOp::Mean).is_err());
    }
}
