//! MOAProfiler's embedding evaluation (Wong et al.): pairwise enrichment, intra- vs inter-MOA
//! similarity, kNN for every k, class latent assignment, three-group similarity with z-tests,
//! and compound hold-out votes. The paper uses Pearson similarity; every function takes any.

use std::collections::HashMap;

use profiles::table::is_missing;
use profiles::ProfileTable;

use crate::error::{EvalError, Result};
use crate::similarity::{Prepared, Similarity};
use crate::stats::normal_sf;

/// Upper-triangle pair similarities with their label relation, rows with a label only.
fn labelled_pairs(
    table: &ProfileTable,
    similarity: Similarity,
    label_col: &str,
) -> Result<Vec<(f64, bool)>> {
    let label = table.metadata(label_col)?;
    let p = Prepared::new(table.features(), similarity);
    let rows = p.map_rows(64, |i, sims| {
        if is_missing(&label[i]) {
            return Vec::new();
        }
        (i + 1..sims.len())
            .filter(|&j| !is_missing(&label[j]))
            .map(|j| (sims[j], label[i] == label[j]))
            .collect::<Vec<_>>()
    });
    Ok(rows.into_iter().flatten().collect())
}

/// (a/b)/(c/d) at each percentile p (e.g. 98.0…99.8): a/b = same-/different-label pairs with
/// similarity ≥ the p-th percentile of all pairs, c/d those below.
pub fn pairwise_enrichment(
    table: &ProfileTable,
    similarity: Similarity,
    label_col: &str,
    percentiles: &[f64],
) -> Result<Vec<(f64, f64)>> {
    let pairs = labelled_pairs(table, similarity, label_col)?;
    let mut all: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    all.sort_by(f64::total_cmp);
    if all.is_empty() {
        return Err(EvalError::invalid(table.source(), "no labelled pairs"));
    }
    Ok(percentiles
        .iter()
        .map(|&pc| {
            let thr = profiles::stats::quantile_sorted(&all, pc / 100.0);
            let (mut a, mut b, mut c, mut d) = (0f64, 0f64, 0f64, 0f64);
            for &(s, same) in &pairs {
                match (s >= thr, same) {
                    (true, true) => a += 1.0,
                    (true, false) => b += 1.0,
                    (false, true) => c += 1.0,
                    (false, false) => d += 1.0,
                }
            }
            (pc, (a / b) / (c / d))
        })
        .collect())
}

/// The paper's percentiles 98.0, 98.2, …, 99.8.
pub fn moa_profiler_percentiles() -> Vec<f64> {
    (0..10).map(|i| 98.0 + 0.2 * i as f64).collect()
}

/// Mean similarity of same-label pairs, of different-label pairs, and their difference.
pub fn intra_inter_delta(
    table: &ProfileTable,
    similarity: Similarity,
    label_col: &str,
) -> Result<(f64, f64, f64)> {
    let pairs = labelled_pairs(table, similarity, label_col)?;
    let mean = |same: bool| {
        let v: Vec<f64> = pairs.iter().filter(|p| p.1 == same).map(|p| p.0).collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let (intra, inter) = (mean(true), mean(false));
    Ok((intra, inter, intra - inter))
}

/// The mean over the classes of `truth` of the fraction of each class predicted right:
/// accuracy that predicting the commonest class cannot inflate (chance = 1 / classes).
pub fn balanced_accuracy(truth: &[String], predicted: &[String]) -> f64 {
    let mut per_class: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    for (t, p) in truth.iter().zip(predicted) {
        let e = per_class.entry(t.as_str()).or_default();
        e.0 += usize::from(t == p);
        e.1 += 1;
    }
    per_class
        .values()
        .map(|&(right, n)| right as f64 / n as f64)
        .sum::<f64>()
        / per_class.len().max(1) as f64
}

/// Support-weighted precision, recall and F1 (sklearn `average="weighted"`, zero_division 0).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scores {
    /// Fraction predicted right.
    pub accuracy: f64,
    /// Per-class precision weighted by class support.
    pub precision: f64,
    /// Per-class recall weighted by class support.
    pub recall: f64,
    /// Per-class F1 weighted by class support.
    pub f1: f64,
}

/// [`Scores`] of `predicted` against `truth` (same length; classes are the labels seen in
/// either).
pub fn weighted_scores(truth: &[String], predicted: &[String]) -> Scores {
    let mut classes: Vec<&String> = truth.iter().chain(predicted).collect();
    classes.sort();
    classes.dedup();
    let n = truth.len() as f64;
    let (mut p, mut r, mut f) = (0.0, 0.0, 0.0);
    for c in classes {
        let tp = truth
            .iter()
            .zip(predicted)
            .filter(|(t, q)| *t == c && *q == c)
            .count() as f64;
        let support = truth.iter().filter(|t| *t == c).count() as f64;
        let pred = predicted.iter().filter(|q| *q == c).count() as f64;
        let prec = if pred > 0.0 { tp / pred } else { 0.0 };
        let rec = if support > 0.0 { tp / support } else { 0.0 };
        let f1 = if prec + rec > 0.0 {
            2.0 * prec * rec / (prec + rec)
        } else {
            0.0
        };
        p += support * prec;
        r += support * rec;
        f += support * f1;
    }
    let acc = truth.iter().zip(predicted).filter(|(t, q)| t == q).count() as f64 / n;
    Scores {
        accuracy: acc,
        precision: p / n,
        recall: r / n,
        f1: f / n,
    }
}

/// Majority vote of the first `k` labels (ranked nearest first); ties go to the label whose
/// nearest occurrence ranks first.
fn vote(ranked: &[&String], k: usize) -> String {
    let mut counts: HashMap<&String, (usize, usize)> = HashMap::new();
    for (rank, l) in ranked.iter().take(k).enumerate() {
        let e = counts.entry(l).or_insert((0, rank));
        e.0 += 1;
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(b.1 .1.cmp(&a.1 .1)))
        .map(|(l, _)| (*l).clone())
        .unwrap_or_default()
}

/// kNN majority-vote classification, leave-one-out, for every k in 1..=k_max (default n − 2):
/// one score set per k.
pub fn knn_all_k(
    table: &ProfileTable,
    similarity: Similarity,
    label_col: &str,
    k_max: Option<usize>,
) -> Result<Vec<(usize, Scores)>> {
    let label = table.metadata(label_col)?;
    let keep: Vec<usize> = (0..table.n_rows())
        .filter(|&r| !is_missing(&label[r]))
        .collect();
    let sub = table.select_rows(&keep);
    let label = sub.metadata(label_col)?;
    let n = sub.n_rows();
    if n < 3 {
        return Err(EvalError::invalid(
            table.source(),
            "kNN needs at least 3 labelled rows",
        ));
    }
    // An asked-for k outside 1..n−1 is an error, not silently clamped.
    let k_max = match k_max {
        None => n - 2,
        Some(k) if (1..n).contains(&k) => k,
        Some(k) => {
            return Err(EvalError::invalid(
                table.source(),
                format!(
                    "k_max must be between 1 and {} (labelled rows − 1), got {k}",
                    n - 1
                ),
            ))
        }
    };
    let p = Prepared::new(sub.features(), similarity);
    let predictions: Vec<Vec<String>> = p.map_rows(32, |i, sims| {
        let mut order: Vec<usize> = (0..n).filter(|&j| j != i).collect();
        order.sort_by(|&a, &b| sims[b].total_cmp(&sims[a]).then(a.cmp(&b)));
        let ranked: Vec<&String> = order.iter().map(|&j| &label[j]).collect();
        (1..=k_max).map(|k| vote(&ranked, k)).collect()
    });
    Ok((1..=k_max)
        .map(|k| {
            let pred: Vec<String> = predictions.iter().map(|p| p[k - 1].clone()).collect();
            (k, weighted_scores(label, &pred))
        })
        .collect())
}

/// Class latent assignment: each labelled row is assigned the label whose centroid (median of
/// that label's rows, the row itself excluded) is most similar. The reference implementation
/// starts its running maximum at 0, so rows anti-correlated with every centroid keep a wrong
/// default; we start at −∞.
pub fn class_latent_assignment(
    table: &ProfileTable,
    similarity: Similarity,
    label_col: &str,
) -> Result<Scores> {
    let label = table.metadata(label_col)?;
    let x = table.features();
    let mut classes: Vec<&String> = label.iter().filter(|l| !is_missing(l)).collect();
    classes.sort();
    classes.dedup();
    let members: Vec<Vec<usize>> = classes
        .iter()
        .map(|c| (0..table.n_rows()).filter(|&r| &label[r] == *c).collect())
        .collect();
    let centroid = |rows: &[usize]| -> Vec<f64> {
        (0..x.ncols())
            .map(|f| profiles::stats::median(rows.iter().map(|&r| x[[r, f]])))
            .collect()
    };
    let full: Vec<Vec<f64>> = members.iter().map(|m| centroid(m)).collect();
    let (mut truth, mut pred) = (Vec::new(), Vec::new());
    for r in 0..table.n_rows() {
        if is_missing(&label[r]) {
            continue;
        }
        let row = x.row(r).to_vec();
        let mut best = (f64::NEG_INFINITY, String::new());
        for (ci, c) in classes.iter().enumerate() {
            let cen = if **c == label[r] {
                let others: Vec<usize> = members[ci].iter().copied().filter(|&m| m != r).collect();
                if others.is_empty() {
                    continue;
                }
                centroid(&others)
            } else {
                full[ci].clone()
            };
            let s = crate::similarity::similarity(&row, &cen, similarity);
            if s > best.0 {
                best = (s, (*c).clone());
            }
        }
        truth.push(label[r].clone());
        pred.push(best.1);
    }
    Ok(weighted_scores(&truth, &pred))
}

/// Similarity summary of one pair group.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GroupStats {
    /// Mean pair similarity.
    pub mean: f64,
    /// Standard deviation of the pair similarities.
    pub sd: f64,
    /// Pairs in the group.
    pub n: usize,
}

/// Two-sample z-test of means: (z, two-sided p).
pub fn two_sample_z(a: GroupStats, b: GroupStats) -> (f64, f64) {
    let z = (a.mean - b.mean) / (a.sd * a.sd / a.n as f64 + b.sd * b.sd / b.n as f64).sqrt();
    (z, (2.0 * normal_sf(z.abs())).min(1.0))
}

/// Same compound / same MOA, other compound / different MOA: pair similarity statistics and
/// z-tests of the first against the second and the second against the third.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ThreeGroups {
    /// Pairs of rows (wells) of one compound.
    pub same_compound: GroupStats,
    /// Pairs of rows of two compounds of one MOA.
    pub same_moa_other_compound: GroupStats,
    /// Pairs of rows of different MOAs.
    pub different_moa: GroupStats,
    /// (z, two-sided p) of same compound against same MOA, other compound.
    pub z_compound_vs_moa: (f64, f64),
    /// (z, two-sided p) of same MOA, other compound against different MOA.
    pub z_moa_vs_different: (f64, f64),
}

/// The pairs of `table`'s rows in the three groups of [`ThreeGroups`], by `compound_col` and
/// `label_col` (the MOA), their similarity statistics and the two z-tests.
pub fn three_group_similarity(
    table: &ProfileTable,
    similarity: Similarity,
    compound_col: &str,
    label_col: &str,
) -> Result<ThreeGroups> {
    let cpd = table.metadata(compound_col)?;
    let label = table.metadata(label_col)?;
    let p = Prepared::new(table.features(), similarity);
    let rows = p.map_rows(64, |i, sims| {
        let mut g: [Vec<f64>; 3] = Default::default();
        if is_missing(&label[i]) {
            return g;
        }
        for j in i + 1..sims.len() {
            if is_missing(&label[j]) {
                continue;
            }
            let k = if cpd[i] == cpd[j] {
                0
            } else if label[i] == label[j] {
                1
            } else {
                2
            };
            g[k].push(sims[j]);
        }
        g
    });
    let mut g: [Vec<f64>; 3] = Default::default();
    for r in rows {
        for k in 0..3 {
            g[k].extend(&r[k]);
        }
    }
    let stats = |v: &Vec<f64>| {
        let (mean, sd) = profiles::stats::mean_std(v.iter().copied());
        GroupStats {
            mean,
            sd,
            n: v.len(),
        }
    };
    let (a, b, c) = (stats(&g[0]), stats(&g[1]), stats(&g[2]));
    if a.n < 2 || b.n < 2 || c.n < 2 {
        return Err(EvalError::invalid(
            table.source(),
            "each of the three pair groups needs ≥ 2 pairs",
        ));
    }
    Ok(ThreeGroups {
        same_compound: a,
        same_moa_other_compound: b,
        different_moa: c,
        z_compound_vs_moa: two_sample_z(a, b),
        z_moa_vs_different: two_sample_z(b, c),
    })
}

/// Compound hold-out: fraction of held-out wells predicted right, and fraction of held-out
/// compounds whose wells' majority vote is right (ties → the label predicted first).
pub fn holdout_votes(compound: &[String], truth: &[String], predicted: &[String]) -> (f64, f64) {
    let individual =
        truth.iter().zip(predicted).filter(|(t, p)| t == p).count() as f64 / truth.len() as f64;
    let mut per: Vec<(&String, Vec<&String>, &String)> = Vec::new();
    for ((c, t), p) in compound.iter().zip(truth).zip(predicted) {
        match per.iter_mut().find(|e| e.0 == c) {
            Some(e) => e.1.push(p),
            None => per.push((c, vec![p], t)),
        }
    }
    let right = per
        .iter()
        .filter(|(_, preds, t)| vote(preds, preds.len()) == **t)
        .count();
    (individual, right as f64 / per.len() as f64)
}

fn median_of(t: &ProfileTable, rows: &[usize]) -> Vec<f64> {
    (0..t.n_features())
        .map(|f| profiles::stats::median(rows.iter().map(|&r| t.features()[[r, f]])))
        .collect()
}

/// Each label's centroid (median of its rows), labels sorted; unlabelled rows are skipped.
fn class_centroids(train: &ProfileTable, label_col: &str) -> Result<Vec<(String, Vec<f64>)>> {
    let centroids: Vec<(String, Vec<f64>)> = train
        .group_rows(&[label_col])?
        .into_iter()
        .filter(|(k, _)| !is_missing(&k[0]))
        .map(|(k, rows)| (k[0].clone(), median_of(train, &rows)))
        .collect();
    if centroids.is_empty() {
        return Err(EvalError::invalid(
            train.source(),
            "no labelled training rows",
        ));
    }
    Ok(centroids)
}

/// The label of the centroid most similar to `x` (the first on ties).
fn most_similar<'a>(x: &[f64], centroids: &'a [(String, Vec<f64>)], sim: Similarity) -> &'a str {
    let mut best = (f64::NEG_INFINITY, centroids[0].0.as_str());
    for (l, c) in centroids {
        let s = crate::similarity::similarity(x, c, sim);
        if s > best.0 {
            best = (s, l.as_str());
        }
    }
    best.1
}

/// Each row of `query` gets the label of the most similar training-class centroid (median of
/// the class's rows in `train`): the individual-vote step of the compound hold-out.
pub fn nearest_centroid(
    train: &ProfileTable,
    label_col: &str,
    query: &ProfileTable,
    similarity: Similarity,
) -> Result<Vec<String>> {
    if train.feature_names() != query.feature_names() {
        return Err(EvalError::invalid(
            query.source(),
            "query and training profiles have different features",
        ));
    }
    let centroids = class_centroids(train, label_col)?;
    Ok((0..query.n_rows())
        .map(|r| {
            most_similar(&query.features().row(r).to_vec(), &centroids, similarity).to_string()
        })
        .collect())
}

/// Compound hold-out by aggregated embedding: each held-out compound's median profile gets the
/// label of the most similar training-class centroid (median of the class's training rows).
/// Returns the accuracy over compounds and (compound, predicted, truth) for each.
pub fn holdout_aggregated(
    train: &ProfileTable,
    label_col: &str,
    heldout: &ProfileTable,
    compound_col: &str,
    similarity: Similarity,
) -> Result<(f64, Vec<(String, String, String)>)> {
    if train.feature_names() != heldout.feature_names() {
        return Err(EvalError::invalid(
            heldout.source(),
            "held-out and training profiles have different features",
        ));
    }
    let centroids = class_centroids(train, label_col)?;
    let truth = heldout.metadata(label_col)?;
    let mut out = Vec::new();
    for (key, rows) in heldout.group_rows(&[compound_col])? {
        let labels: Vec<&String> = rows.iter().map(|&r| &truth[r]).collect();
        if labels.iter().any(|l| *l != labels[0]) {
            return Err(EvalError::invalid(
                heldout.source(),
                format!("compound '{}' has more than one {label_col}", key[0]),
            ));
        }
        let emb = median_of(heldout, &rows);
        let best = most_similar(&emb, &centroids, similarity);
        out.push((key[0].clone(), best.to_string(), labels[0].clone()));
    }
    let acc = out.iter().filter(|o| o.1 == o.2).count() as f64 / out.len() as f64;
    Ok((acc, out))
}

/// Micro-averaged precision–recall of a classifier (sklearn `label_binarize` then
/// `precision_recall_curve` / `average_precision_score` on the flattened matrix).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PrCurve {
    /// Σ (Rₙ − Rₙ₋₁)·Pₙ over the distinct score thresholds, highest first.
    pub average_precision: f64,
    /// Positives among all (sample, class) entries: the random classifier's AUPRC.
    pub prevalence: f64,
    /// (recall, precision) at each threshold, highest threshold first.
    pub points: Vec<(f64, f64)>,
}

/// [`PrCurve`] of `scores` (one row per sample, one column per class) against `truth` (class
/// indices), binarised over the classes in `classes` only (e.g. every class but the control);
/// samples whose true class is not among them are left out.
pub fn micro_precision_recall(
    scores: &[Vec<f32>],
    truth: &[usize],
    classes: &[usize],
) -> Result<PrCurve> {
    if scores.len() != truth.len() {
        return Err(EvalError::invalid(
            "classifier scores",
            format!("{} score rows for {} labels", scores.len(), truth.len()),
        ));
    }
    let mut entries: Vec<(f32, bool)> = Vec::new();
    for (i, (row, &t)) in scores.iter().zip(truth).enumerate() {
        if !classes.contains(&t) {
            continue;
        }
        for &c in classes {
            let s = *row.get(c).ok_or_else(|| {
                EvalError::invalid(
                    "classifier scores",
                    format!("row {i} has {} scores, class {c} asked for", row.len()),
                )
            })?;
            if !s.is_finite() {
                return Err(EvalError::invalid(
                    "classifier scores",
                    format!("row {i}, class {c}: score {s} is not finite"),
                ));
            }
            entries.push((s, c == t));
        }
    }
    let positives = entries.iter().filter(|e| e.1).count();
    if positives == 0 {
        return Err(EvalError::invalid(
            "classifier scores",
            "no sample of the chosen classes",
        ));
    }
    entries.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut fp, mut ap, mut last_recall) = (0f64, 0f64, 0f64, 0f64);
    let mut points = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        // Entries tied on score share one threshold.
        let s = entries[i].0;
        while i < entries.len() && entries[i].0 == s {
            if entries[i].1 {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        let (precision, recall) = (tp / (tp + fp), tp / positives as f64);
        ap += (recall - last_recall) * precision;
        last_recall = recall;
        points.push((recall, precision));
    }
    Ok(PrCurve {
        average_precision: ap,
        prevalence: positives as f64 / entries.len() as f64,
        points,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn balanced_accuracy_is_not_inflated_by_the_commonest_class() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        // 6 DMSO, 1 a, 1 b; predicting DMSO everywhere: plain accuracy 0.75, balanced 1/3.
        let truth = s(&["d", "d", "d", "d", "d", "d", "a", "b"]);
        let all_d = s(&["d"; 8]);
        assert!((super::balanced_accuracy(&truth, &all_d) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(super::weighted_scores(&truth, &all_d).accuracy, 0.75);
        // a right, b wrong, DMSO half right: (0.5 + 1 + 0) / 3.
        let pred = s(&["d", "d", "d", "a", "a", "a", "a", "a"]);
        assert!((super::balanced_accuracy(&truth, &pred) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn micro_average_precision_by_hand() {
        let scores = vec![vec![0.9, 0.1], vec![0.2, 0.8], vec![0.3, 0.7]];
        let pr = super::micro_precision_recall(&scores, &[0, 0, 1], &[0, 1]).unwrap();
        // Flattened (score, positive), and AP recomputed from the ranks one entry at a time.
        let mut e = [
            (0.9, true),
            (0.1, false),
            (0.2, true),
            (0.8, false),
            (0.3, false),
            (0.7, true),
        ];
        e.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
        let (mut tp, mut ap, mut r0) = (0.0, 0.0, 0.0);
        for (k, x) in e.iter().enumerate() {
            if x.1 {
                tp += 1.0;
            }
            let (p, r) = (tp / (k + 1) as f64, tp / 3.0);
            ap += (r - r0) * p;
            r0 = r;
        }
        assert!((pr.average_precision - ap).abs() < 1e-12, "{pr:?} vs {ap}");
        // 0.9 T, 0.8 F, 0.7 T, 0.3 F, 0.2 T, 0.1 F: ⅓·1 + ⅓·⅔ + ⅓·⅗.
        assert!((ap - (1.0 + 2.0 / 3.0 + 0.6) / 3.0).abs() < 1e-12);
        assert!((pr.prevalence - 0.5).abs() < 1e-12);
        // The control (class 1) left out: samples of class 0 only, one column.
        let only0 = super::micro_precision_recall(&scores, &[0, 0, 1], &[0]).unwrap();
        assert_eq!(only0.prevalence, 1.0);
        assert!(super::micro_precision_recall(&scores, &[0, 0], &[0]).is_err());
        assert!(super::micro_precision_recall(&[vec![f32::NAN]], &[0], &[0]).is_err());
    }

    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn weighted_scores_by_hand() {
        // truth a a b, predicted a b b. Class a: P 1, R 1/2, F1 2/3 (support 2);
        // class b: P 1/2, R 1, F1 2/3 (support 1). Weighted P = (2 + 1/2)/3 = 5/6,
        // R = (1 + 1)/3 = 2/3, F1 = 2/3; accuracy 2/3.
        let sc = weighted_scores(&s(&["a", "a", "b"]), &s(&["a", "b", "b"]));
        assert!((sc.precision - 5.0 / 6.0).abs() < 1e-12);
        assert!((sc.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((sc.f1 - 2.0 / 3.0).abs() < 1e-12);
        assert!((sc.accuracy - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn vote_ties_go_to_the_nearest() {
        let l = s(&["b", "a", "a", "b"]);
        let r: Vec<&String> = l.iter().collect();
        assert_eq!(vote(&r, 1), "b");
        assert_eq!(vote(&r, 2), "b", "1–1 tie: b is nearer");
        assert_eq!(vote(&r, 3), "a");
        assert_eq!(vote(&r, 4), "b");
    }

    #[test]
    fn holdout_by_hand() {
        // compound x: 3 wells, 2 right → individual 2/4 overall with y's 0 of 1; x's vote right.
        let (ind, agg) = holdout_votes(
            &s(&["x", "x", "x", "y"]),
            &s(&["A", "A", "A", "B"]),
            &s(&["A", "A", "C", "A"]),
        );
        assert_eq!(ind, 0.5);
        assert_eq!(agg, 0.5);
    }

    #[test]
    fn holdout_aggregated_by_hand() {
        use ndarray::array;
        let train = ProfileTable::new(
            "train",
            vec!["Metadata_moa".into()],
            vec![vec!["A".into(), "A".into(), "B".into()]],
            vec!["f".into(), "g".into(), "h".into()],
            array![[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.0, 0.0, 1.0]],
        )
        .unwrap();
        // Compound x: wells near A (median [0.8, 0.1, 0.1]) → A, right; y labelled A but near B → B.
        let held = ProfileTable::new(
            "held",
            vec!["Metadata_cpd".into(), "Metadata_moa".into()],
            vec![
                vec!["x".into(), "x".into(), "y".into()],
                vec!["A".into(), "A".into(), "A".into()],
            ],
            vec!["f".into(), "g".into(), "h".into()],
            array![[0.8, 0.1, 0.1], [0.8, 0.1, 0.1], [0.1, 0.0, 0.9]],
        )
        .unwrap();
        let (acc, out) = holdout_aggregated(
            &train,
            "Metadata_moa",
            &held,
            "Metadata_cpd",
            Similarity::Cosine,
        )
        .unwrap();
        assert_eq!(acc, 0.5);
        assert_eq!(out[1], ("y".into(), "B".into(), "A".into()));
    }

    #[test]
    fn z_test_by_hand() {
        // means 1 and 0, sd 1 each, n 100 each → z = 1/√0.02 = 7.071
        let (z, p) = two_sample_z(
            GroupStats {
                mean: 1.0,
                sd: 1.0,
                n: 100,
            },
            GroupStats {
                mean: 0.0,
                sd: 1.0,
                n: 100,
            },
        );
        assert!((z - 7.0710678).abs() < 1e-6 && p < 1e-11);
    }
}
