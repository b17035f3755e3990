//! DeepProfiler's profiles: cell features → site median → well mean → sphering fit on the
//! control wells → treatment mean of wells.

use profiles::aggregate::{aggregate, AggregateOp};
use profiles::table::Selection;
use profiles::ProfileTable;
use sphering::{SpheringMethod, SpheringParams};

use crate::config::MetadataConfig;
use crate::error::{DpError, Result};

/// Well profiles: median over each site's cells, then mean over the well's sites. Metadata:
/// plate, well, label and MOA (constant within a well; an error otherwise).
pub fn well_profiles(cells: &ProfileTable, meta: &MetadataConfig) -> Result<ProfileTable> {
    let keep = [
        meta.plate_field.as_str(),
        meta.well_field.as_str(),
        meta.label_field.as_str(),
        meta.moa_field.as_str(),
    ];
    let sites = aggregate(
        cells,
        &[keep[0], keep[1], meta.site_field.as_str(), keep[2], keep[3]],
        AggregateOp::Median,
    )?;
    let wells = aggregate(&sites, &keep, AggregateOp::Mean)?;
    let plate_well = aggregate(&sites, &keep[..2], AggregateOp::Mean)?;
    if plate_well.n_rows() != wells.n_rows() {
        return Err(DpError::data(
            cells.source(),
            format!(
                "some wells carry more than one {} or {} value",
                meta.label_field, meta.moa_field
            ),
        ));
    }
    Ok(wells)
}

/// Sphering (ZCA, eigenvalue regularisation `lambda`) fit on the control wells, applied to
/// every well.
pub fn sphere_wells(
    wells: &ProfileTable,
    meta: &MetadataConfig,
    lambda: f64,
) -> Result<ProfileTable> {
    let controls =
        wells.rows_matching(&[Selection::equals(&meta.label_field, &meta.control_value)])?;
    if controls.len() < 2 {
        return Err(DpError::data(
            wells.source(),
            format!(
                "{} control wells ({} = '{}'); sphering needs at least 2",
                controls.len(),
                meta.label_field,
                meta.control_value
            ),
        ));
    }
    let fitted = SpheringParams::new(SpheringMethod::Zca)
        .lambda(lambda)
        .fit(wells.select_rows(&controls).features())?;
    let x = fitted.transform(wells.features())?;
    Ok(wells.with_features(wells.feature_names().to_vec(), x)?)
}

/// Treatment profiles: the mean of a treatment's wells; metadata label and MOA.
pub fn treatment_profiles(wells: &ProfileTable, meta: &MetadataConfig) -> Result<ProfileTable> {
    Ok(aggregate(
        wells,
        &[meta.label_field.as_str(), meta.moa_field.as_str()],
        AggregateOp::Mean,
    )?)
}

/// The whole chain, with or without sphering (`lambda = None`).
pub fn profiles_from_cells(
    cells: &ProfileTable,
    meta: &MetadataConfig,
    lambda: Option<f64>,
) -> Result<ProfileTable> {
    let wells = well_profiles(cells, meta)?;
    let wells = match lambda {
        Some(l) => sphere_wells(&wells, meta, l)?,
        None => wells,
    };
    treatment_profiles(&wells, meta)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ndarray::Array2;

    /// Cells as (plate, well, site, label, moa, feature values).
    pub(crate) fn cells(rows: &[(&str, &str, &str, &str, &str, Vec<f64>)]) -> ProfileTable {
        let m = MetadataConfig::default();
        let cols: Vec<Vec<String>> = (0..5)
            .map(|k| {
                rows.iter()
                    .map(|r| [r.0, r.1, r.2, r.3, r.4][k].to_string())
                    .collect()
            })
            .collect();
        let d = rows[0].5.len();
        let x = Array2::from_shape_fn((rows.len(), d), |(i, j)| rows[i].5[j]);
        ProfileTable::new(
            "cells",
            vec![
                m.plate_field,
                m.well_field,
                m.site_field,
                m.label_field,
                m.moa_field,
            ],
            cols,
            (0..d).map(|j| format!("f{j}")).collect(),
            x,
        )
        .unwrap()
    }

    #[test]
    fn site_median_then_well_mean_by_hand() {
        // Well A01: site 1 cells 1, 2, 9 → median 2; site 2 cells 4, 6 → median 5; well mean 3.5.
        // Well A02 (same treatment): one cell 7.5 → treatment mean (3.5 + 7.5) / 2 = 5.5.
        let t = cells(&[
            ("P", "A01", "1", "x", "m", vec![1.0]),
            ("P", "A01", "1", "x", "m", vec![2.0]),
            ("P", "A01", "1", "x", "m", vec![9.0]),
            ("P", "A01", "2", "x", "m", vec![4.0]),
            ("P", "A01", "2", "x", "m", vec![6.0]),
            ("P", "A02", "1", "x", "m", vec![7.5]),
        ]);
        let m = MetadataConfig::default();
        let w = well_profiles(&t, &m).unwrap();
        assert_eq!(w.features().column(0).to_vec(), vec![3.5, 7.5]);
        let tr = treatment_profiles(&w, &m).unwrap();
        assert_eq!(tr.features()[[0, 0]], 5.5);
        assert_eq!(tr.metadata(&m.moa_field).unwrap(), &["m"]);
    }

    #[test]
    fn sphering_uses_control_wells_and_needs_them() {
        let mut rows = Vec::new();
        for (k, v) in [[0.0, 1.0], [2.0, 1.0], [1.0, 3.0], [1.0, -1.0]]
            .iter()
            .enumerate()
        {
            rows.push((
                "P",
                ["A1", "A2", "A3", "A4"][k],
                "1",
                "DMSO",
                "",
                v.to_vec(),
            ));
        }
        rows.push(("P", "B1", "1", "cpd", "m", vec![5.0, 5.0]));
        let t = cells(&rows);
        let m = MetadataConfig::default();
        let w = well_profiles(&t, &m).unwrap();
        let s = sphere_wells(&w, &m, 0.0).unwrap();
        let ctl = s
            .rows_matching(&[Selection::equals(&m.label_field, "DMSO")])
            .unwrap();
        let c = s.select_rows(&ctl).into_features();
        let mean = c.mean_axis(ndarray::Axis(0)).unwrap();
        assert!(mean.iter().all(|v| v.abs() < 1e-12), "{mean}");
        // Identity covariance (population) on the controls.
        let cov = c.t().dot(&c) / 4.0;
        assert!(
            (cov[[0, 0]] - 1.0).abs() < 1e-9 && cov[[0, 1]].abs() < 1e-9,
            "{cov}"
        );
        let few = cells(&[
            ("P", "A1", "1", "DMSO", "", vec![1.0]),
            ("P", "B1", "1", "cpd", "m", vec![2.0]),
        ]);
        let w = well_profiles(&few, &m).unwrap();
        let e = sphere_wells(&w, &m, 0.01).unwrap_err().to_string();
        assert!(e.contains("1 control wells"), "{e}");
    }

    #[test]
    fn a_well_with_two_labels_is_an_error() {
        let t = cells(&[
            ("P", "A01", "1", "x", "m", vec![1.0]),
            ("P", "A01", "1", "y", "m", vec![2.0]),
        ]);
        let e = well_profiles(&t, &MetadataConfig::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than one"), "{e}");
    }
}
