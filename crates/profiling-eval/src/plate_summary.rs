//! Summary statistics of one processed plate (normalized, feature-selected well profiles):
//! what a simulator is calibrated against, computed the same way for a real plate and a
//! simulated one. Each number is a standard one of the field:
//!
//! * replicate correlation: Pearson correlation of wells of the same treatment (`replicate_by`,
//!   controls left out), the median over treatments of each one's median; the 90th percentile
//!   of the correlations of wells of different treatments; the fraction of replicate pairs
//!   above it (cytominer-eval's percent replicating);
//! * phenotypic activity: copairs-style mAP of each treatment's wells against the controls,
//!   raw and after ZCA sphering fit on the controls (λ = 0.01), and the fraction of treatments
//!   whose mAP is significant (Benjamini–Hochberg corrected p < 0.05);
//! * MOA consistency: mAP of treated wells sharing an MOA, with wells of other treatments of
//!   that MOA as positives and wells of other MOAs as negatives (copairs' consistency question;
//!   wells without an MOA left out);
//! * the effective rank of the features' correlation matrix (exp of the entropy of its
//!   normalised eigenvalues: how many independent directions the features span);
//! * the median over features of the skewness and of the excess kurtosis (biased moments, as
//!   scipy.stats' defaults);
//! * cells per well, when the table has a cell-count column.

use ndarray::{Array2, Axis};
use profiles::{ProfileTable, Selection};

use crate::error::{EvalError, Result};
use crate::map::{activity_map, consistency_map, MapSettings};
use crate::similarity::Similarity;

/// Which columns say what. `Default` is the LINCS Cell Painting layout (which the simulator
/// also writes): treatments in `Metadata_broad_sample`, controls `DMSO`, MOAs in `Metadata_moa`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlateSummaryParams {
    /// Wells with the same value are replicates of one treatment.
    pub replicate_by: String,
    /// The control wells.
    pub controls: Vec<Selection>,
    /// MOA annotation of each treatment (rows without one are left out of consistency).
    pub moa_by: String,
    /// Columns holding cells per well, the first present is used (metadata or feature).
    pub cell_count_columns: Vec<String>,
    /// mAP settings (null size, seed, significance level).
    pub map: MapSettings,
    /// Regularisation of the ZCA fit on the controls.
    pub sphering_lambda: f64,
}

impl Default for PlateSummaryParams {
    fn default() -> Self {
        Self {
            replicate_by: "Metadata_broad_sample".into(),
            controls: vec![Selection::equals("Metadata_broad_sample", "DMSO")],
            moa_by: "Metadata_moa".into(),
            cell_count_columns: vec![
                "Metadata_Count_Cells".into(),
                "Metadata_cell_count".into(),
                "Cells_Number_Object_Number".into(),
                "Metadata_Object_Count".into(),
            ],
            map: MapSettings {
                null_size: 10_000,
                ..MapSettings::default()
            },
            sphering_lambda: 0.01,
        }
    }
}

/// The statistics of one plate ([module docs](self)).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlateSummary {
    /// Wells (rows).
    pub wells: usize,
    /// Control wells.
    pub control_wells: usize,
    /// Features (columns).
    pub features: usize,
    /// Median over treatments of the median replicate-pair Pearson correlation.
    pub replicate_correlation: f64,
    /// 90th percentile of the correlations of wells of different treatments.
    pub null_correlation_p90: f64,
    /// Fraction of replicate pairs above that percentile.
    pub percent_replicating: f64,
    /// Mean over treatments of the activity mAP (treatment wells against controls).
    pub activity_map: f64,
    /// Fraction of treatments with a significant activity mAP.
    pub activity_significant: f64,
    /// The same after ZCA sphering on the controls.
    pub activity_map_sphered: f64,
    /// Fraction significant after sphering.
    pub activity_significant_sphered: f64,
    /// Mean over MOAs of the consistency mAP of treated wells; `None` when no two treatments
    /// share an MOA.
    pub moa_consistency_map: Option<f64>,
    /// Effective rank of the feature correlation matrix.
    pub effective_rank: f64,
    /// Median skewness over features.
    pub median_skewness: f64,
    /// Median excess kurtosis over features.
    pub median_excess_kurtosis: f64,
    /// Median cells per well, when a cell-count column exists.
    pub cells_per_well: Option<f64>,
}

/// The [`PlateSummary`] of `table`.
pub fn summarise_plate(table: &ProfileTable, params: &PlateSummaryParams) -> Result<PlateSummary> {
    let x = table.features();
    if let Some(((r, c), v)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(EvalError::invalid(
            table.source(),
            format!(
                "row {}, feature {}: {v}; a plate summary needs finite features (drop or impute \
                 missing values first)",
                r + 1,
                table.feature_names()[c]
            ),
        ));
    }
    let control_rows = table.rows_matching(&params.controls)?;
    let mut is_control = vec![false; table.n_rows()];
    control_rows.iter().for_each(|&r| is_control[r] = true);
    let treated: Vec<usize> = (0..table.n_rows()).filter(|&r| !is_control[r]).collect();
    if control_rows.len() < 2 || treated.len() < 2 {
        return Err(EvalError::invalid(
            table.source(),
            format!(
                "{} control and {} treated wells: a plate summary needs at least two of each",
                control_rows.len(),
                treated.len()
            ),
        ));
    }

    let treatments = table.select_rows(&treated);
    let rep = crate::replicate_reproducibility(
        &treatments,
        Similarity::Pearson,
        std::slice::from_ref(&params.replicate_by),
        0.9,
    )?;
    let replicate_correlation =
        profiles::stats::median(rep.median_per_group.iter().map(|(_, m)| *m));

    let activity = |t: &ProfileTable| -> Result<(f64, f64)> {
        let (_, maps) = activity_map(t, &params.replicate_by, &params.controls, &params.map)?;
        if maps.is_empty() {
            return Err(EvalError::invalid(
                t.source(),
                format!("no treatment of {} has two wells", params.replicate_by),
            ));
        }
        let n = maps.len() as f64;
        Ok((
            maps.iter().map(|m| m.mean_average_precision).sum::<f64>() / n,
            maps.iter().filter(|m| m.below_corrected_p).count() as f64 / n,
        ))
    };
    let (activity_map_raw, activity_significant) = activity(table)?;
    let sphering = sphering::SpheringParams::default()
        .lambda(params.sphering_lambda)
        .fit(x.select(Axis(0), &control_rows).view())
        .map_err(|e| {
            EvalError::invalid(table.source(), format!("sphering on the controls: {e}"))
        })?;
    let sphered = table.with_features(
        table.feature_names().to_vec(),
        sphering
            .transform(x)
            .map_err(|e| EvalError::invalid(table.source(), format!("sphering: {e}")))?,
    )?;
    let (activity_map_sphered, activity_significant_sphered) = activity(&sphered)?;

    let moa_consistency_map = match consistency_map(
        &treatments,
        &params.moa_by,
        &params.replicate_by,
        &params.map,
    ) {
        Ok((_, _, maps)) if !maps.is_empty() => {
            Some(maps.iter().map(|m| m.mean_average_precision).sum::<f64>() / maps.len() as f64)
        }
        _ => None,
    };

    let (median_skewness, median_excess_kurtosis) = moments(x);
    let cells_per_well = params.cell_count_columns.iter().find_map(|c| {
        let values: Vec<f64> = match table.metadata(c) {
            Ok(m) => m.iter().filter_map(|v| v.parse::<f64>().ok()).collect(),
            Err(_) => table.feature_index(c).ok().map(|j| x.column(j).to_vec())?,
        };
        (!values.is_empty()).then(|| profiles::stats::median(values.into_iter()))
    });
    Ok(PlateSummary {
        wells: table.n_rows(),
        control_wells: control_rows.len(),
        features: x.ncols(),
        replicate_correlation,
        null_correlation_p90: rep.threshold,
        percent_replicating: rep.fraction,
        activity_map: activity_map_raw,
        activity_significant,
        activity_map_sphered,
        activity_significant_sphered,
        moa_consistency_map,
        effective_rank: effective_rank(x)?,
        median_skewness,
        median_excess_kurtosis,
        cells_per_well,
    })
}

/// exp(entropy) of the normalised eigenvalues of the correlation matrix of the columns of `x`
/// (constant columns left out); between 1 (one direction) and the number of columns.
pub fn effective_rank(x: ndarray::ArrayView2<'_, f64>) -> Result<f64> {
    let n = x.nrows() as f64;
    let keep: Vec<usize> = (0..x.ncols())
        .filter(|&j| {
            let c = x.column(j);
            let m = c.sum() / n;
            c.iter().map(|v| (v - m) * (v - m)).sum::<f64>() > 0.0
        })
        .collect();
    if keep.is_empty() {
        return Ok(f64::NAN);
    }
    let mut z = Array2::<f64>::zeros((x.nrows(), keep.len()));
    for (k, &j) in keep.iter().enumerate() {
        let c = x.column(j);
        let m = c.sum() / n;
        let sd = (c.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n).sqrt();
        z.column_mut(k).assign(&c.mapv(|v| (v - m) / sd));
    }
    let corr = sphering::matmul(z.t(), z.view()) / n;
    let (values, _) = sphering::symmetric_eigen(corr.view())
        .map_err(|e| EvalError::invalid("effective rank", e.to_string()))?;
    let total: f64 = values.iter().map(|v| v.max(0.0)).sum();
    let entropy: f64 = values
        .iter()
        .map(|v| v.max(0.0) / total)
        .filter(|&p| p > 0.0)
        .map(|p| -p * p.ln())
        .sum();
    Ok(entropy.exp())
}

/// Medians over columns of the skewness and the excess kurtosis (biased moments); constant
/// columns left out.
fn moments(x: ndarray::ArrayView2<'_, f64>) -> (f64, f64) {
    let n = x.nrows() as f64;
    let mut skew = Vec::new();
    let mut kurt = Vec::new();
    for c in x.columns() {
        let m = c.sum() / n;
        let m2 = c.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n;
        if m2 <= 0.0 {
            continue;
        }
        let m3 = c.iter().map(|v| (v - m).powi(3)).sum::<f64>() / n;
        let m4 = c.iter().map(|v| (v - m).powi(4)).sum::<f64>() / n;
        skew.push(m3 / m2.powf(1.5));
        kurt.push(m4 / (m2 * m2) - 3.0);
    }
    (
        profiles::stats::median(skew.into_iter()),
        profiles::stats::median(kurt.into_iter()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_rank_counts_independent_directions() {
        // Four columns: two independent patterns, each copied twice (with a scale).
        let x = Array2::from_shape_fn((8, 4), |(i, j)| {
            let a = [1.0, -1.0, 2.0, 0.5, -2.0, 0.0, 1.5, -2.0][i];
            let b = [0.3, 1.0, -1.0, 0.0, 2.0, -1.5, 0.2, -1.0][i];
            match j {
                0 => a,
                1 => 3.0 * a,
                2 => b,
                _ => -b,
            }
        });
        let r = effective_rank(x.view()).unwrap();
        // Two equal eigenvalues at most (a and b are not exactly orthogonal): between 1 and 2.
        assert!(r > 1.5 && r <= 2.0 + 1e-9, "{r}");
        // Three centred, mutually orthogonal columns: the correlation matrix is the identity.
        let h = Array2::from_shape_vec(
            (4, 3),
            vec![1., 1., 1., 1., -1., -1., -1., 1., -1., -1., -1., 1.],
        )
        .unwrap();
        assert!((effective_rank(h.view()).unwrap() - 3.0).abs() < 1e-9);
    }

    #[test]
    fn moments_of_a_symmetric_and_a_skewed_column() {
        let x = Array2::from_shape_vec((4, 1), vec![-1.0, -1.0, 1.0, 1.0]).unwrap();
        let (s, k) = moments(x.view());
        assert!(s.abs() < 1e-12 && (k + 2.0).abs() < 1e-12);
        let y = Array2::from_shape_vec((4, 1), vec![0.0, 0.0, 0.0, 4.0]).unwrap();
        let (s, _) = moments(y.view());
        // m = 1, m2 = 3, m3 = (−1 − 1 − 1 + 27)/4 = 6 → 6 / 3^1.5.
        assert!((s - 6.0 / 3f64.powf(1.5)).abs() < 1e-12);
    }
}
