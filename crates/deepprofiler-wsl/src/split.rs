//! Training/validation partitions of cells: leave-cells-out (a fraction of every well's cells
//! trains), leave-plates-out, or a metadata column's values.

use std::collections::BTreeMap;

use cellpaint_core::rng::{derive_seed, permutation, seeded_rng};
use profiles::ProfileTable;

use crate::config::{MetadataConfig, Partition};
use crate::error::{DpError, Result};

/// Row indices of `cells` for training and for validation; disjoint, and together every row.
pub fn partition(
    cells: &ProfileTable,
    meta: &MetadataConfig,
    partition: &Partition,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let plates = cells.metadata(&meta.plate_field)?;
    let (mut train, mut val) = (Vec::new(), Vec::new());
    match partition {
        Partition::LeaveCellsOut { train_fraction } => {
            let wells = cells.metadata(&meta.well_field)?;
            let mut groups: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
            for i in 0..cells.n_rows() {
                groups.entry((&plates[i], &wells[i])).or_default().push(i);
            }
            for ((p, w), rows) in groups {
                let mut rng = seeded_rng(derive_seed(seed, &format!("split/{p}/{w}")));
                let order = permutation(rows.len(), &mut rng);
                let k = (rows.len() as f64 * train_fraction).round() as usize;
                for (j, &o) in order.iter().enumerate() {
                    if j < k {
                        train.push(rows[o]);
                    } else {
                        val.push(rows[o]);
                    }
                }
            }
        }
        Partition::LeavePlatesOut { validation_plates } => {
            for p in validation_plates {
                if !plates.iter().any(|x| x == p) {
                    return Err(DpError::data(
                        cells.source(),
                        format!("validation plate '{p}' has no cells"),
                    ));
                }
            }
            for (i, p) in plates.iter().enumerate() {
                if validation_plates.contains(p) {
                    val.push(i);
                } else {
                    train.push(i);
                }
            }
        }
        Partition::ByField {
            field,
            training,
            validation,
        } => {
            let values = cells.metadata(field)?;
            for (i, v) in values.iter().enumerate() {
                if training.contains(v) {
                    train.push(i);
                } else if validation.contains(v) {
                    val.push(i);
                } else {
                    return Err(DpError::data(
                        cells.source(),
                        format!(
                            "row {i}: {field} = '{v}' is neither a training nor a validation value"
                        ),
                    ));
                }
            }
        }
    }
    train.sort_unstable();
    val.sort_unstable();
    if train.is_empty() || val.is_empty() {
        return Err(DpError::data(
            cells.source(),
            format!(
                "the partition leaves {} training and {} validation cells",
                train.len(),
                val.len()
            ),
        ));
    }
    Ok((train, val))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn cells() -> ProfileTable {
        // 2 plates × 2 wells × 5 cells.
        let (mut p, mut w, mut s) = (Vec::new(), Vec::new(), Vec::new());
        for plate in ["P1", "P2"] {
            for well in ["A01", "A02"] {
                for k in 0..5 {
                    p.push(plate.to_string());
                    w.push(well.to_string());
                    s.push(if k < 3 { "train" } else { "val" }.to_string());
                }
            }
        }
        ProfileTable::new(
            "cells",
            vec![
                "Metadata_Plate".into(),
                "Metadata_Well".into(),
                "Split".into(),
            ],
            vec![p, w, s],
            vec!["f".into()],
            Array2::zeros((20, 1)),
        )
        .unwrap()
    }

    #[test]
    fn partitions_are_disjoint_and_complete() {
        let t = cells();
        let m = MetadataConfig::default();
        let check = |(a, b): (Vec<usize>, Vec<usize>)| {
            let mut all: Vec<usize> = a.iter().chain(&b).copied().collect();
            all.sort_unstable();
            assert_eq!(all, (0..20).collect::<Vec<_>>());
            (a, b)
        };
        let (tr, va) = check(
            partition(
                &t,
                &m,
                &Partition::LeaveCellsOut {
                    train_fraction: 0.6,
                },
                3,
            )
            .unwrap(),
        );
        // 3 of every well's 5 cells train.
        assert_eq!((tr.len(), va.len()), (12, 8));
        for well in 0..4 {
            assert_eq!(tr.iter().filter(|&&i| i / 5 == well).count(), 3);
        }
        let again = partition(
            &t,
            &m,
            &Partition::LeaveCellsOut {
                train_fraction: 0.6,
            },
            3,
        )
        .unwrap();
        assert_eq!(again.0, tr, "seeded");
        let (tr, va) = check(
            partition(
                &t,
                &m,
                &Partition::LeavePlatesOut {
                    validation_plates: vec!["P2".into()],
                },
                0,
            )
            .unwrap(),
        );
        assert_eq!(tr, (0..10).collect::<Vec<_>>());
        assert_eq!(va, (10..20).collect::<Vec<_>>());
        let by = Partition::ByField {
            field: "Split".into(),
            training: vec!["train".into()],
            validation: vec!["val".into()],
        };
        let (tr, _) = check(partition(&t, &m, &by, 0).unwrap());
        assert_eq!(tr.len(), 12);
    }

    #[test]
    fn impossible_partitions_are_named() {
        let t = cells();
        let m = MetadataConfig::default();
        let e = partition(
            &t,
            &m,
            &Partition::LeavePlatesOut {
                validation_plates: vec!["P9".into()],
            },
            0,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("'P9' has no cells"), "{e}");
        let all = Partition::LeavePlatesOut {
            validation_plates: vec!["P1".into(), "P2".into()],
        };
        assert!(partition(&t, &m, &all, 0)
            .unwrap_err()
            .to_string()
            .contains("0 training"));
        let odd = Partition::ByField {
            field: "Split".into(),
            training: vec!["train".into()],
            validation: vec![],
        };
        assert!(partition(&t, &m, &odd, 0)
            .unwrap_err()
            .to_string()
            .contains("row 3"));
    }
}
