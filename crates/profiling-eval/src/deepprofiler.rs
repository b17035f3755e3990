//! DeepProfiler's evaluation (Moshkov et al.): folds of enrichment and interpolated mAP over
//! treatment profiles, where two treatments match when their MOA sets (split on `|`) overlap.
//!
//! Queries are treatments with at least one other treatment sharing an MOA; every other row
//! (annotated or not) is a candidate; the query itself is excluded.

use crate::error::{EvalError, Result};
use crate::labels::{label_sets, share};
use crate::similarity::{Prepared, Similarity};
use crate::stats::fisher_exact_greater;

/// Folds of enrichment of one evaluation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FoldsOfEnrichment {
    /// Mean odds ratio over queries with a finite odds ratio.
    pub mean: f64,
    /// (row, odds ratio) of every query with at least one match.
    pub per_query: Vec<(usize, f64)>,
    /// Queries whose odds ratio is infinite (no non-matching treatment above the threshold),
    /// left out of the mean.
    pub n_infinite: usize,
}

/// Per query: threshold = `percentile` (e.g. 99) of its similarities to the others;
/// one-sided Fisher odds ratio of (above threshold × shares an MOA); mean over queries.
pub fn folds_of_enrichment(
    table: &profiles::ProfileTable,
    similarity: Similarity,
    label_col: &str,
    sep: Option<char>,
    percentile: f64,
) -> Result<FoldsOfEnrichment> {
    if !(0.0..100.0).contains(&percentile) {
        return Err(EvalError::invalid(
            table.source(),
            format!("percentile must be in [0, 100), got {percentile}"),
        ));
    }
    let labels = label_sets(table, label_col, sep)?;
    let p = Prepared::new(table.features(), similarity);
    let per_row = p.map_rows(64, |i, sims| {
        let others: Vec<usize> = (0..sims.len()).filter(|&j| j != i).collect();
        if labels[i].is_empty() || !others.iter().any(|&j| share(&labels[i], &labels[j])) {
            return None;
        }
        let mut v: Vec<f64> = others.iter().map(|&j| sims[j]).collect();
        v.sort_by(f64::total_cmp);
        let threshold = profiles::stats::quantile_sorted(&v, percentile / 100.0);
        let (mut a, mut b, mut c, mut d) = (0, 0, 0, 0);
        for &j in &others {
            match (sims[j] > threshold, share(&labels[i], &labels[j])) {
                (true, true) => a += 1,
                (true, false) => b += 1,
                (false, true) => c += 1,
                (false, false) => d += 1,
            }
        }
        Some((i, fisher_exact_greater(a, b, c, d).0))
    });
    let per_query: Vec<(usize, f64)> = per_row.into_iter().flatten().collect();
    if per_query.is_empty() {
        return Err(EvalError::invalid(
            table.source(),
            format!("no treatment shares a '{label_col}' label with another"),
        ));
    }
    let finite: Vec<f64> = per_query
        .iter()
        .map(|q| q.1)
        .filter(|v| v.is_finite())
        .collect();
    Ok(FoldsOfEnrichment {
        mean: finite.iter().sum::<f64>() / finite.len().max(1) as f64,
        n_infinite: per_query.len() - finite.len(),
        per_query,
    })
}

/// Interpolated average precision of one ranked relevance list at `points` recall levels
/// 0, 1/(points−1), …, 1: p(r) = max precision at recall ≥ r.
pub fn interpolated_ap(relevant: &[bool], points: usize) -> f64 {
    let n_pos = relevant.iter().filter(|&&r| r).count();
    if n_pos == 0 || points < 2 {
        return f64::NAN;
    }
    let mut pr: Vec<(f64, f64)> = Vec::with_capacity(relevant.len());
    let mut tp = 0;
    for (k, &rel) in relevant.iter().enumerate() {
        tp += rel as usize;
        pr.push((tp as f64 / (k + 1) as f64, tp as f64 / n_pos as f64));
    }
    // Running max of precision from the end: best precision at recall ≥ the current one.
    let mut best = vec![0.0; pr.len()];
    let mut m = 0.0f64;
    for k in (0..pr.len()).rev() {
        m = m.max(pr[k].0);
        best[k] = m;
    }
    (0..points)
        .map(|s| {
            let r = s as f64 / (points - 1) as f64;
            pr.iter()
                .position(|&(_, rec)| rec >= r - 1e-12)
                .map(|k| best[k])
                .unwrap_or(0.0)
        })
        .sum::<f64>()
        / points as f64
}

/// Interpolated mAP over queries.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InterpolatedMap {
    /// Mean over queries of the interpolated average precision.
    pub map: f64,
    /// (row, interpolated average precision) of every query with at least one match.
    pub per_query: Vec<(usize, f64)>,
    /// Recall levels the precision is interpolated at (e.g. 11: 0, 0.1, …, 1).
    pub recall_points: usize,
}

/// DeepProfiler's mAP: rank all other treatments by similarity, interpolated AP per query.
pub fn interpolated_map(
    table: &profiles::ProfileTable,
    similarity: Similarity,
    label_col: &str,
    sep: Option<char>,
    recall_points: usize,
) -> Result<InterpolatedMap> {
    let labels = label_sets(table, label_col, sep)?;
    let p = Prepared::new(table.features(), similarity);
    let per_row = p.map_rows(64, |i, sims| {
        if labels[i].is_empty() {
            return None;
        }
        let mut others: Vec<(f64, bool)> = (0..sims.len())
            .filter(|&j| j != i)
            .map(|j| (sims[j], share(&labels[i], &labels[j])))
            .collect();
        if !others.iter().any(|o| o.1) {
            return None;
        }
        others.sort_by(|a, b| b.0.total_cmp(&a.0));
        let rel: Vec<bool> = others.iter().map(|o| o.1).collect();
        Some((i, interpolated_ap(&rel, recall_points)))
    });
    let per_query: Vec<(usize, f64)> = per_row.into_iter().flatten().collect();
    if per_query.is_empty() {
        return Err(EvalError::invalid(
            table.source(),
            format!("no treatment shares a '{label_col}' label with another"),
        ));
    }
    Ok(InterpolatedMap {
        map: per_query.iter().map(|q| q.1).sum::<f64>() / per_query.len() as f64,
        per_query,
        recall_points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolated_ap_by_hand() {
        // + − + : (precision, recall) = (1, .5), (.5, .5), (2/3, 1).
        // 3 recall points r = 0, .5, 1: p(0) = 1, p(.5) = 1, p(1) = 2/3 → AP = 8/9.
        let ap = interpolated_ap(&[true, false, true], 3);
        assert!((ap - 8.0 / 9.0).abs() < 1e-12, "{ap}");
        assert_eq!(interpolated_ap(&[true, false], 11), 1.0);
        assert!(interpolated_ap(&[false], 11).is_nan());
    }
}
