//! cytominer-eval's metrics: replicate reproducibility, enrichment, precision@k/recall@k,
//! grit and hit@k. Two rows are *replicates* when they agree on every replicate column
//! (missing values compare equal to each other, as cytominer-eval's string cast makes them).

use std::collections::HashMap;

use profiles::stats::quantile_sorted;
use profiles::table::{compare_keys, compare_values};
use profiles::ProfileTable;

use crate::error::{EvalError, Result};
use crate::similarity::{Prepared, Similarity};
use crate::stats::fisher_exact_greater;

/// One id per distinct combination of `cols`, and the combinations in sorted order.
pub(crate) fn key_ids(
    table: &ProfileTable,
    cols: &[String],
) -> Result<(Vec<usize>, Vec<Vec<String>>)> {
    if cols.is_empty() {
        return Err(EvalError::invalid(
            table.source(),
            "at least one grouping column is needed",
        ));
    }
    let columns: Vec<&[String]> = cols
        .iter()
        .map(|c| table.metadata(c))
        .collect::<profiles::Result<_>>()?;
    let mut keys: Vec<Vec<String>> = (0..table.n_rows())
        .map(|r| columns.iter().map(|c| c[r].clone()).collect())
        .collect();
    let per_row = keys.clone();
    keys.sort_by(|a, b| compare_keys(a, b));
    keys.dedup();
    let index: HashMap<&Vec<String>, usize> =
        keys.iter().enumerate().map(|(i, k)| (k, i)).collect();
    let ids = per_row.iter().map(|k| index[k]).collect();
    Ok((ids, keys))
}

/// Upper-triangle similarities and whether each pair is a replicate pair.
fn upper_pairs(
    table: &ProfileTable,
    similarity: Similarity,
    replicate_groups: &[String],
) -> Result<Vec<(f64, bool, usize)>> {
    let (ids, _) = key_ids(table, replicate_groups)?;
    let p = Prepared::new(table.features(), similarity);
    let rows = p.map_rows(64, |i, sims| {
        (i + 1..sims.len())
            .map(|j| (sims[j], ids[i] == ids[j], i))
            .collect::<Vec<_>>()
    });
    Ok(rows.into_iter().flatten().collect())
}

/// Result of [`replicate_reproducibility`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReplicateReproducibility {
    /// Fraction of replicate pairs more similar than the `quantile` of non-replicate pairs.
    pub fraction: f64,
    /// The `quantile` of the non-replicate pair similarities.
    pub threshold: f64,
    /// Replicate pairs scored.
    pub n_replicate_pairs: usize,
    /// Median replicate-pair similarity per replicate group (groups with ≥ 2 members).
    pub median_per_group: Vec<(Vec<String>, f64)>,
}

/// cytominer-eval `replicate_reproducibility` (percent replicating).
pub fn replicate_reproducibility(
    table: &ProfileTable,
    similarity: Similarity,
    replicate_groups: &[String],
    quantile: f64,
) -> Result<ReplicateReproducibility> {
    if !(quantile > 0.0 && quantile <= 1.0) {
        return Err(EvalError::invalid(
            table.source(),
            format!("quantile must be in (0, 1], got {quantile}"),
        ));
    }
    let (ids, keys) = key_ids(table, replicate_groups)?;
    let pairs = upper_pairs(table, similarity, replicate_groups)?;
    let mut null: Vec<f64> = pairs.iter().filter(|p| !p.1).map(|p| p.0).collect();
    null.sort_by(f64::total_cmp);
    let threshold = quantile_sorted(&null, quantile);
    let reps: Vec<&(f64, bool, usize)> = pairs.iter().filter(|p| p.1).collect();
    if reps.is_empty() {
        return Err(EvalError::invalid(
            table.source(),
            format!("no replicate pairs in columns {replicate_groups:?}"),
        ));
    }
    let fraction = reps.iter().filter(|p| p.0 > threshold).count() as f64 / reps.len() as f64;
    let mut by_group: HashMap<usize, Vec<f64>> = HashMap::new();
    for p in &reps {
        by_group.entry(ids[p.2]).or_default().push(p.0);
    }
    let mut median_per_group: Vec<(Vec<String>, f64)> = by_group
        .into_iter()
        .map(|(g, v)| (keys[g].clone(), profiles::stats::median(v.into_iter())))
        .collect();
    median_per_group.sort_by(|a, b| compare_keys(&a.0, &b.0));
    Ok(ReplicateReproducibility {
        fraction,
        threshold,
        n_replicate_pairs: reps.len(),
        median_per_group,
    })
}

/// One row of [`enrichment`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Enrichment {
    /// The percentile asked for, in [0, 1].
    pub percentile: f64,
    /// The similarity at that percentile of all pairs; pairs above it count as hits.
    pub threshold: f64,
    /// Odds ratio of (replicate pair × above the threshold).
    pub odds_ratio: f64,
    /// One-sided Fisher exact p-value (odds ratio greater than 1).
    pub p_value: f64,
}

/// cytominer-eval `enrichment`: at each percentile p of all pair similarities, the one-sided
/// Fisher exact odds ratio of (replicate × above threshold). As in cytominer-eval, every
/// unordered pair counts in both directions (the full matrix without its diagonal), which
/// changes the interpolated threshold slightly and doubles the table (not the odds ratio).
pub fn enrichment(
    table: &ProfileTable,
    similarity: Similarity,
    replicate_groups: &[String],
    percentiles: &[f64],
) -> Result<Vec<Enrichment>> {
    let pairs: Vec<(f64, bool, usize)> = upper_pairs(table, similarity, replicate_groups)?
        .into_iter()
        .flat_map(|p| [p, p])
        .collect();
    let mut all: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    all.sort_by(f64::total_cmp);
    percentiles
        .iter()
        .map(|&p| {
            if !(0.0..=1.0).contains(&p) {
                return Err(EvalError::invalid(
                    table.source(),
                    format!("percentile must be in [0, 1], got {p}"),
                ));
            }
            let threshold = quantile_sorted(&all, p);
            let (mut a, mut b, mut c, mut d) = (0u64, 0u64, 0u64, 0u64);
            for &(s, rep, _) in &pairs {
                match (rep, s > threshold) {
                    (true, true) => a += 1,
                    (false, true) => b += 1,
                    (true, false) => c += 1,
                    (false, false) => d += 1,
                }
            }
            let (odds_ratio, p_value) = fisher_exact_greater(a, b, c, d);
            Ok(Enrichment {
                percentile: p,
                threshold,
                odds_ratio,
                p_value,
            })
        })
        .collect()
}

/// Precision and recall at k for one query group.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PrecisionRecall {
    /// The query group's values of the `groupby` columns.
    pub key: Vec<String>,
    /// How many of the group's most similar pairs are looked at.
    pub k: usize,
    /// Replicate pairs among the top k, over k.
    pub precision: f64,
    /// Replicate pairs among the top k, over all the group's replicate pairs.
    pub recall: f64,
}

/// cytominer-eval `precision_recall`: for each group of query rows (`groupby`), rank all their
/// pairs with other rows by similarity; precision@k = replicate pairs in the top k / k,
/// recall@k = replicate pairs in the top k / all its replicate pairs.
pub fn precision_recall(
    table: &ProfileTable,
    similarity: Similarity,
    replicate_groups: &[String],
    groupby: &[String],
    ks: &[usize],
) -> Result<Vec<PrecisionRecall>> {
    let (rep, _) = key_ids(table, replicate_groups)?;
    let (grp, keys) = key_ids(table, groupby)?;
    let kmax = ks.iter().copied().max().unwrap_or(0);
    if kmax == 0 {
        return Err(EvalError::invalid(table.source(), "k must be ≥ 1"));
    }
    let p = Prepared::new(table.features(), similarity);
    // Per query row, its kmax most similar pairs and its number of replicate pairs.
    let per_row = p.map_rows(64, |i, sims| {
        let mut v: Vec<(f64, bool)> = (0..sims.len())
            .filter(|&j| j != i)
            .map(|j| (sims[j], rep[i] == rep[j]))
            .collect();
        let n_rep = v.iter().filter(|x| x.1).count();
        v.sort_by(|a, b| b.0.total_cmp(&a.0));
        v.truncate(kmax);
        (v, n_rep)
    });
    let mut merged: Vec<(Vec<(f64, bool)>, usize)> = vec![(Vec::new(), 0); keys.len()];
    for (i, (top, n_rep)) in per_row.into_iter().enumerate() {
        merged[grp[i]].0.extend(top);
        merged[grp[i]].1 += n_rep;
    }
    for m in &mut merged {
        m.0.sort_by(|a, b| b.0.total_cmp(&a.0));
    }
    let mut out = Vec::new();
    for &k in ks {
        for (g, (top, n_rep)) in merged.iter().enumerate() {
            let hits = top.iter().take(k).filter(|x| x.1).count() as f64;
            out.push(PrecisionRecall {
                key: keys[g].clone(),
                k,
                precision: hits / k as f64,
                recall: hits / *n_rep as f64,
            });
        }
    }
    Ok(out)
}

/// How replicate z-scores are summarised in [`grit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Summary {
    /// The mean z-score.
    Mean,
    /// The median z-score.
    Median,
}

/// Grit of one perturbation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Grit {
    /// The perturbation's value of the profile column.
    pub perturbation: String,
    /// Its group (e.g. the gene of a guide, the MOA of a compound).
    pub group: String,
    /// NaN when no other perturbation shares the group.
    pub grit: f64,
}

/// cytominer-eval `grit`: similarities of a perturbation's rows to other perturbations of its
/// group, z-scored against its similarities to control rows, summarised by mean or median.
pub fn grit(
    table: &ProfileTable,
    similarity: Similarity,
    profile_col: &str,
    group_col: &str,
    control_perts: &[String],
    summary: Summary,
) -> Result<Vec<Grit>> {
    let pert = table.metadata(profile_col)?.to_vec();
    let group = table.metadata(group_col)?.to_vec();
    let is_control: Vec<bool> = pert.iter().map(|p| control_perts.contains(p)).collect();
    let p = Prepared::new(table.features(), similarity);
    let per_row = p.map_rows(64, |i, sims| {
        let (mut control, mut target) = (Vec::new(), Vec::new());
        for (j, &s) in sims.iter().enumerate() {
            if j == i {
                continue;
            }
            if is_control[j] {
                control.push(s);
            }
            if group[j] == group[i] && pert[j] != pert[i] {
                target.push(s);
            }
        }
        (control, target)
    });
    let mut by_pert: Vec<(String, String, Vec<f64>, Vec<f64>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, (control, target)) in per_row.into_iter().enumerate() {
        let k = *index.entry(pert[i].as_str()).or_insert_with(|| {
            by_pert.push((pert[i].clone(), group[i].clone(), Vec::new(), Vec::new()));
            by_pert.len() - 1
        });
        if by_pert[k].1 != group[i] {
            return Err(EvalError::invalid(
                table.source(),
                format!("perturbation '{}' has two {group_col} values ('{}' and '{}'); grit needs one group per perturbation", pert[i], by_pert[k].1, group[i]),
            ));
        }
        by_pert[k].2.extend(control);
        by_pert[k].3.extend(target);
    }
    by_pert.sort_by(|a, b| compare_values(&a.0, &b.0));
    by_pert
        .into_iter()
        .map(|(perturbation, group, control, target)| {
            if control.len() < 2 {
                return Err(EvalError::invalid(
                    table.source(),
                    format!("perturbation '{perturbation}': fewer than 2 similarities to controls {control_perts:?}"),
                ));
            }
            let (m, sd) = profiles::stats::mean_std(control.iter().copied());
            let sd = if sd == 0.0 { 1.0 } else { sd };
            let z: Vec<f64> = target.iter().map(|t| (t - m) / sd).collect();
            let grit = if z.is_empty() {
                f64::NAN
            } else {
                match summary {
                    Summary::Mean => z.iter().sum::<f64>() / z.len() as f64,
                    Summary::Median => profiles::stats::median(z.into_iter()),
                }
            };
            Ok(Grit { perturbation, group, grit })
        })
        .collect()
}

/// Result of [`hit_at_k`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HitAtK {
    /// Rank (0 = most similar) of every replicate partner in its query group's list.
    pub hits: Vec<usize>,
    /// For each percentage p: hits ranked ≤ p% of the groups, minus the number expected at random.
    pub scores: Vec<(u32, i64)>,
    /// Query groups ranked.
    pub n_groups: usize,
}

/// cytominer-eval `hitk`.
pub fn hit_at_k(
    table: &ProfileTable,
    similarity: Similarity,
    replicate_groups: &[String],
    groupby: &[String],
    percents: &[u32],
) -> Result<HitAtK> {
    if percents.iter().any(|&p| p > 100) {
        return Err(EvalError::invalid(
            table.source(),
            "percentages must be ≤ 100",
        ));
    }
    let (rep, _) = key_ids(table, replicate_groups)?;
    let (grp, keys) = key_ids(table, groupby)?;
    let p = Prepared::new(table.features(), similarity);
    let per_row = p.map_rows(64, |i, sims| {
        (0..sims.len())
            .filter(|&j| j != i)
            .map(|j| (sims[j], rep[i] == rep[j]))
            .collect::<Vec<_>>()
    });
    let mut groups: Vec<Vec<(f64, bool)>> = vec![Vec::new(); keys.len()];
    for (i, v) in per_row.into_iter().enumerate() {
        groups[grp[i]].extend(v);
    }
    let mut hits = Vec::new();
    for mut g in groups {
        g.sort_by(|a, b| b.0.total_cmp(&a.0));
        hits.extend(g.iter().enumerate().filter(|(_, x)| x.1).map(|(r, _)| r));
    }
    let n_groups = keys.len();
    let total = hits.len();
    let scores = percents
        .iter()
        .map(|&pc| {
            let expected = (pc as usize * total / 100) as i64;
            let limit = pc as f64 * n_groups as f64 / 100.0;
            let got = hits.iter().filter(|&&h| h as f64 <= limit).count() as i64;
            (pc, got - expected)
        })
        .collect();
    Ok(HitAtK {
        hits,
        scores,
        n_groups,
    })
}
