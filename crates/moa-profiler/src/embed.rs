//! From field embeddings to well profiles: the median over a well's fields, then each plate
//! standardised by its control wells, (x − mean_DMSO) / s.d._DMSO.

use std::collections::BTreeMap;

use ndarray::{Array2, ArrayView2};
use profiles::stats::{mean_std, median};

use crate::error::{MoaError, Result};
use crate::split::WellInfo;

/// Well embeddings `(wells, d)` from field embeddings, grouped by `field_well[i]` (an index
/// into the wells). Every well needs at least one field.
pub fn well_medians(
    fields: ArrayView2<'_, f64>,
    field_well: &[usize],
    n_wells: usize,
) -> Result<Array2<f64>> {
    if fields.nrows() != field_well.len() {
        return Err(MoaError::data(
            "embeddings",
            format!("{} rows for {} fields", fields.nrows(), field_well.len()),
        ));
    }
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); n_wells];
    for (i, &w) in field_well.iter().enumerate() {
        groups
            .get_mut(w)
            .ok_or_else(|| {
                MoaError::data(
                    "embeddings",
                    format!("field {i} names well {w} of {n_wells}"),
                )
            })?
            .push(i);
    }
    let mut out = Array2::zeros((n_wells, fields.ncols()));
    for (w, rows) in groups.iter().enumerate() {
        if rows.is_empty() {
            return Err(MoaError::data(
                "embeddings",
                format!("well {w} has no field"),
            ));
        }
        for j in 0..fields.ncols() {
            out[[w, j]] = median(rows.iter().map(|&i| fields[[i, j]]));
        }
    }
    Ok(out)
}

/// Control-standardised well features and which input columns they are.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardised {
    /// `(wells, kept columns)`.
    pub values: Array2<f64>,
    /// Input column of each output column.
    pub kept: Vec<usize>,
    /// Input columns left out: constant (or not finite) over some plate's control wells, so
    /// that plate's division is undefined.
    pub dropped: Vec<usize>,
}

/// Standardises each plate's wells by that plate's control wells, (x − mean)/s.d. (population
/// s.d.). A feature whose control s.d. is 0 or not finite on any plate is left out on all
/// plates (reported in `dropped`) rather than turned into ±∞.
pub fn standardise_by_control(
    x: ArrayView2<'_, f64>,
    wells: &[WellInfo],
    control: &str,
) -> Result<Standardised> {
    let mut by_plate: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, w) in wells.iter().enumerate() {
        by_plate.entry(&w.plate).or_default().push(i);
    }
    let mut plates = Vec::new();
    let mut usable = vec![true; x.ncols()];
    for (plate, rows) in by_plate {
        let ctl: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|&i| wells[i].compound == control)
            .collect();
        if ctl.len() < 2 {
            return Err(MoaError::data(
                format!("plate {plate}"),
                format!(
                    "{} '{control}' wells; standardisation needs at least 2",
                    ctl.len()
                ),
            ));
        }
        let stats: Vec<(f64, f64)> = (0..x.ncols())
            .map(|j| mean_std(ctl.iter().map(|&i| x[[i, j]])))
            .collect();
        for (j, (m, s)) in stats.iter().enumerate() {
            if !(*s > 0.0) || !s.is_finite() || !m.is_finite() {
                usable[j] = false;
            }
        }
        plates.push((rows, stats));
    }
    let kept: Vec<usize> = (0..x.ncols()).filter(|&j| usable[j]).collect();
    let dropped: Vec<usize> = (0..x.ncols()).filter(|&j| !usable[j]).collect();
    if kept.is_empty() {
        return Err(MoaError::data(
            "well features",
            format!("every feature is constant over some plate's '{control}' wells"),
        ));
    }
    let mut values = Array2::zeros((x.nrows(), kept.len()));
    for (rows, stats) in plates {
        for (k, &j) in kept.iter().enumerate() {
            let (m, s) = stats[j];
            for &i in &rows {
                values[[i, k]] = (x[[i, j]] - m) / s;
            }
        }
    }
    Ok(Standardised {
        values,
        kept,
        dropped,
    })
}

/// Field embeddings → well medians → per-plate control standardisation, as a well table
/// (metadata of [`crate::evaluate::well_table`], features `<prefix><input column>`; columns
/// constant over a plate's controls are left out).
pub fn well_profiles(
    fields: ArrayView2<'_, f64>,
    field_well: &[usize],
    wells: &[WellInfo],
    control: &str,
    prefix: &str,
) -> Result<profiles::ProfileTable> {
    let medians = well_medians(fields, field_well, wells.len())?;
    let z = standardise_by_control(medians.view(), wells, control)?;
    let names = z.kept.iter().map(|j| format!("{prefix}{j}")).collect();
    crate::evaluate::well_table("well embeddings", wells, z.values, names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn well(plate: &str, compound: &str) -> WellInfo {
        WellInfo {
            plate: plate.into(),
            well: String::new(),
            compound: compound.into(),
            moa: compound.into(),
        }
    }

    #[test]
    fn medians_then_control_standardisation_by_hand() {
        // Well 0: fields 1, 3, 10 → 3; well 1: 5; well 2: 7.
        let f = array![[1.0], [3.0], [10.0], [5.0], [7.0]];
        let w = well_medians(f.view(), &[0, 0, 0, 1, 2], 3).unwrap();
        assert_eq!(w.column(0).to_vec(), vec![3.0, 5.0, 7.0]);
        // Controls 3 and 5: mean 4, population s.d. 1 → (7 − 4)/1 = 3.
        let wells = [well("P", "DMSO"), well("P", "DMSO"), well("P", "x")];
        let z = standardise_by_control(w.view(), &wells, "DMSO").unwrap();
        assert_eq!(z.values.column(0).to_vec(), vec![-1.0, 1.0, 3.0]);
        let one = [well("P", "DMSO"), well("P", "x"), well("P", "x")];
        assert!(standardise_by_control(w.view(), &one, "DMSO")
            .unwrap_err()
            .to_string()
            .contains("1 'DMSO' wells"));
        // Feature 0 constant over the controls: left out, feature 1 kept; alone, an error.
        let flat = array![[2.0, 3.0], [2.0, 5.0], [1.0, 7.0]];
        let z = standardise_by_control(flat.view(), &wells, "DMSO").unwrap();
        assert_eq!((z.kept.clone(), z.dropped.clone()), (vec![1], vec![0]));
        assert_eq!(z.values.column(0).to_vec(), vec![-1.0, 1.0, 3.0]);
        assert!(standardise_by_control(
            flat.column(0).insert_axis(ndarray::Axis(1)),
            &wells,
            "DMSO"
        )
        .unwrap_err()
        .to_string()
        .contains("every feature is constant"));
        assert!(well_medians(f.view(), &[0, 0, 0, 1, 1], 3)
            .unwrap_err()
            .to_string()
            .contains("well 2 has no field"));
    }
}
