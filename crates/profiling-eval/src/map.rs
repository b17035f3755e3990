//! Average precision and mean average precision with copairs' semantics.
//!
//! For each query row, its *positives* are the other rows equal to it on every `pos_sameby`
//! column and different on every `pos_diffby` column; its *negatives* likewise with
//! `neg_sameby`/`neg_diffby`. Only those candidates are ranked, by similarity (descending,
//! stable, ties putting positives first), and AP = (1/n_pos)·Σ over positive ranks k of
//! (positives up to k)/k — not interpolated. mAP groups queries by `sameby`; its p-value comes
//! from a seeded null of random rank lists with the same (n_pos, n_total) per query, and is
//! corrected for multiple testing by Benjamini–Hochberg.

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use profiles::table::{compare_keys, is_missing};
use profiles::ProfileTable;

use crate::error::{EvalError, Result};
use crate::similarity::{Prepared, Similarity};

/// Which pairs are positives and which negatives (copairs' four lists).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PairSpec {
    /// Positives agree with the query on every one of these columns…
    pub pos_sameby: Vec<String>,
    /// …and differ from it on every one of these.
    pub pos_diffby: Vec<String>,
    /// Negatives agree with the query on every one of these columns…
    pub neg_sameby: Vec<String>,
    /// …and differ from it on every one of these.
    pub neg_diffby: Vec<String>,
}

impl PairSpec {
    fn columns(&self) -> Vec<&String> {
        let mut c: Vec<&String> = self
            .pos_sameby
            .iter()
            .chain(&self.pos_diffby)
            .chain(&self.neg_sameby)
            .chain(&self.neg_diffby)
            .collect();
        c.sort();
        c.dedup();
        c
    }
}

/// Average precision of one query row.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QueryAp {
    /// The query's table row.
    pub row: usize,
    /// Its positive pairs.
    pub n_pos_pairs: usize,
    /// Its positive and negative pairs together (the length of its ranked list).
    pub n_total_pairs: usize,
    /// NaN when the query has no positive pair.
    pub average_precision: f64,
    /// (AP − E\[AP\]) / (1 − E\[AP\]) under random ranking, clipped to [−1, 1].
    pub normalized_average_precision: f64,
}

/// Integer codes of metadata columns, so pair tests are integer comparisons.
struct Codes {
    cols: HashMap<String, Vec<u32>>,
}

impl Codes {
    fn new(table: &ProfileTable, columns: &[&String]) -> Result<Codes> {
        let mut cols = HashMap::new();
        for &c in columns {
            let values = table.metadata(c)?;
            if let Some(r) = values.iter().position(|v| is_missing(v)) {
                return Err(EvalError::invalid(
                    table.source(),
                    format!("column '{c}' is missing at row {r}; drop or fill such rows before pairing, e.g. `--keep '{c}!='` (copairs refuses them too)"),
                ));
            }
            let mut ids: HashMap<&str, u32> = HashMap::new();
            let coded = values
                .iter()
                .map(|v| {
                    let n = ids.len() as u32;
                    *ids.entry(v.as_str()).or_insert(n)
                })
                .collect();
            cols.insert(c.clone(), coded);
        }
        Ok(Codes { cols })
    }
    fn key(&self, cols: &[String], row: usize) -> Vec<u32> {
        cols.iter().map(|c| self.cols[c][row]).collect()
    }
    /// The code vectors of `cols`, looked up once (the pair loop is the hot path).
    fn resolve(&self, cols: &[String]) -> Vec<&[u32]> {
        cols.iter().map(|c| self.cols[c].as_slice()).collect()
    }
    /// Rows sharing each key of `cols` (one group of everything when `cols` is empty).
    fn groups(&self, cols: &[String], n: usize) -> (HashMap<Vec<u32>, Vec<usize>>, Vec<Vec<u32>>) {
        let keys: Vec<Vec<u32>> = (0..n).map(|r| self.key(cols, r)).collect();
        let mut g: HashMap<Vec<u32>, Vec<usize>> = HashMap::new();
        for (r, k) in keys.iter().enumerate() {
            g.entry(k.clone()).or_default().push(r);
        }
        (g, keys)
    }
}

/// Harmonic number H_n.
fn harmonic(n: usize) -> f64 {
    (1..=n).map(|k| 1.0 / k as f64).sum()
}

/// Expected AP of a random ranking with `m` positives among `m + n` (exact finite formula).
pub fn expected_ap(m: usize, n: usize) -> f64 {
    let l = m + n;
    if l == 0 || m == 0 {
        return 0.0;
    }
    if l == 1 || m == l {
        return 1.0;
    }
    let h = harmonic(l);
    let (mf, lf) = (m as f64, l as f64);
    (1.0 / lf) * ((mf - 1.0) / (lf - 1.0) * (lf - h) + h)
}

/// AP of a ranked relevance list (true = positive).
pub fn ap_of_ranking(relevant: impl IntoIterator<Item = bool>) -> f64 {
    let (mut tp, mut sum, mut n_pos) = (0usize, 0.0, 0usize);
    for (k, rel) in relevant.into_iter().enumerate() {
        if rel {
            tp += 1;
            n_pos += 1;
            sum += tp as f64 / (k + 1) as f64;
        }
    }
    if n_pos == 0 {
        f64::NAN
    } else {
        sum / n_pos as f64
    }
}

/// AP of every row of `table` as a query.
pub fn average_precision(
    table: &ProfileTable,
    spec: &PairSpec,
    similarity: Similarity,
) -> Result<Vec<QueryAp>> {
    let columns = spec.columns();
    let codes = Codes::new(table, &columns)?;
    let n = table.n_rows();
    let (pos_groups, pos_keys) = codes.groups(&spec.pos_sameby, n);
    let (neg_groups, neg_keys) = codes.groups(&spec.neg_sameby, n);
    let prepared = Prepared::new(table.features(), similarity);
    let (pos_diff, neg_diff) = (
        codes.resolve(&spec.pos_diffby),
        codes.resolve(&spec.neg_diffby),
    );
    let all_differ = |cols: &[&[u32]], a: usize, b: usize| cols.iter().all(|c| c[a] != c[b]);
    let aps = prepared.map_rows(64, |i, sims| {
        // copairs ranks by key = 1 − similarity (stable, positives first among ties). Only the
        // positives' ranks matter: sort the few positives, then for each negative count the
        // positives it outranks (strictly smaller key) — O(n_neg · log n_pos), no full sort.
        let mut pos: Vec<f64> = pos_groups[&pos_keys[i]]
            .iter()
            .filter(|&&j| j != i && all_differ(&pos_diff, i, j))
            .map(|&j| 1.0 - sims[j])
            .collect();
        pos.sort_by(f64::total_cmp);
        let n_pos = pos.len();
        let mut outranked_from = vec![0usize; n_pos + 1];
        let mut n_neg = 0usize;
        for &j in &neg_groups[&neg_keys[i]] {
            if j != i && all_differ(&neg_diff, i, j) {
                n_neg += 1;
                let key = 1.0 - sims[j];
                let first =
                    pos.partition_point(|p| p.total_cmp(&key) != std::cmp::Ordering::Greater);
                outranked_from[first] += 1;
            }
        }
        let n_total = n_pos + n_neg;
        let ap = if n_pos == 0 {
            f64::NAN
        } else {
            let mut above = 0usize;
            let mut sum = 0.0;
            for (k, &count) in outranked_from.iter().take(n_pos).enumerate() {
                above += count;
                sum += (k + 1) as f64 / (k + 1 + above) as f64;
            }
            sum / n_pos as f64
        };
        let mu = expected_ap(n_pos, n_total - n_pos);
        let nap = ((ap - mu) / (1.0 - mu).max(1e-10)).clamp(-1.0, 1.0);
        QueryAp {
            row: i,
            n_pos_pairs: n_pos,
            n_total_pairs: n_total,
            average_precision: ap,
            normalized_average_precision: if ap.is_nan() { f64::NAN } else { nap },
        }
    });
    if aps.iter().all(|a| a.n_pos_pairs == 0) {
        return Err(EvalError::invalid(
            table.source(),
            format!("no positive pairs: no two rows match pos_sameby {:?} and differ on pos_diffby {:?}", spec.pos_sameby, spec.pos_diffby),
        ));
    }
    if aps.iter().all(|a| a.n_total_pairs == a.n_pos_pairs) {
        return Err(EvalError::invalid(
            table.source(),
            format!(
                "no negative pairs for neg_sameby {:?} and neg_diffby {:?}",
                spec.neg_sameby, spec.neg_diffby
            ),
        ));
    }
    Ok(aps)
}

/// Settings of [`mean_average_precision`] (copairs defaults: threshold 0.05).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MapParams {
    /// Queries are grouped by these columns; one mAP per group.
    pub sameby: Vec<String>,
    /// Random rankings in each null distribution (copairs default 10,000).
    pub null_size: usize,
    /// Significance level for `below_p` and `below_corrected_p` (copairs default 0.05).
    pub threshold: f64,
    /// Seed of the null samples.
    pub seed: u64,
}

/// mAP of one group.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GroupMap {
    /// The group's values of the `sameby` columns.
    pub key: Vec<String>,
    /// Table rows of the group's queries (those with ≥ 1 positive pair).
    pub rows: Vec<usize>,
    /// Mean of the queries' average precisions.
    pub mean_average_precision: f64,
    /// Mean of the queries' normalised average precisions.
    pub mean_normalized_average_precision: f64,
    /// Permutation p-value of the mAP against `null_size` random rankings: (above + 1) /
    /// (null_size + 1).
    pub p_value: f64,
    /// Exact p-value where it can be enumerated: every query of the group has the same
    /// (n_pos, n_total) and at most 2 million rankings exist. copairs' sampled null uses one
    /// shared sample vector per configuration, so for such a group its null *is* the
    /// single-query null, and this is the value its sampled p-value estimates.
    pub exact_p_value: Option<f64>,
    /// Benjamini–Hochberg corrected `p_value` over all groups.
    pub corrected_p_value: f64,
    /// `p_value < threshold`.
    pub below_p: bool,
    /// `corrected_p_value < threshold`.
    pub below_corrected_p: bool,
}

/// `null_size` APs of random rankings with `n_pos` positives among `n_total`.
pub fn null_distribution(n_pos: usize, n_total: usize, null_size: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(
        seed ^ ((n_pos as u64) << 32) ^ (n_total as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    let mut slots: Vec<usize> = (0..n_total).collect();
    (0..null_size)
        .map(|_| {
            // Partial Fisher–Yates: the first n_pos slots are the positives' ranks.
            for k in 0..n_pos {
                let j = rng.random_range(k..n_total);
                slots.swap(k, j);
            }
            let mut ranks: Vec<usize> = slots[..n_pos].to_vec();
            ranks.sort_unstable();
            ranks
                .iter()
                .enumerate()
                .map(|(k, &r)| (k + 1) as f64 / (r + 1) as f64)
                .sum::<f64>()
                / n_pos as f64
        })
        .collect()
}

/// Exact P(AP of a random ranking > `score`) for `n_pos` positives among `n_total`, by
/// enumerating every placement; `None` when there are more than `limit` placements.
pub fn exact_ap_p_value(n_pos: usize, n_total: usize, score: f64, limit: u64) -> Option<f64> {
    if n_pos == 0 || n_pos > n_total {
        return None;
    }
    let mut count: u64 = 1;
    for k in 0..n_pos as u64 {
        count = count.checked_mul(n_total as u64 - k)? / (k + 1);
        if count > limit {
            return None;
        }
    }
    // Walk all n_pos-subsets of 0..n_total in lexicographic order.
    let mut ranks: Vec<usize> = (0..n_pos).collect();
    let (mut above, mut total) = (0u64, 0u64);
    loop {
        let ap = ranks
            .iter()
            .enumerate()
            .map(|(k, &r)| (k + 1) as f64 / (r + 1) as f64)
            .sum::<f64>()
            / n_pos as f64;
        // A small tolerance so that the rankings tied with the observed one are not "above".
        above += (ap > score + 1e-12) as u64;
        total += 1;
        let mut i = n_pos;
        loop {
            if i == 0 {
                return Some(above as f64 / total as f64);
            }
            i -= 1;
            if ranks[i] < n_total - n_pos + i {
                ranks[i] += 1;
                for j in i + 1..n_pos {
                    ranks[j] = ranks[j - 1] + 1;
                }
                break;
            }
        }
    }
}

/// Benjamini–Hochberg adjusted p-values (statsmodels `fdr_bh`), in input order.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![0.0; m];
    let mut running = 1.0f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        running = running.min(p[i] * m as f64 / (rank + 1) as f64);
        out[i] = running.min(1.0);
    }
    out
}

/// mAP per `sameby` group of the queries with ≥ 1 positive pair, with null p-values.
pub fn mean_average_precision(
    table: &ProfileTable,
    aps: &[QueryAp],
    params: &MapParams,
) -> Result<Vec<GroupMap>> {
    if params.null_size == 0 || !(0.0..=1.0).contains(&params.threshold) {
        return Err(EvalError::invalid(
            table.source(),
            "null_size must be ≥ 1 and threshold in [0, 1]",
        ));
    }
    let cols: Vec<&[String]> = params
        .sameby
        .iter()
        .map(|c| table.metadata(c))
        .collect::<profiles::Result<_>>()?;
    let valid: Vec<&QueryAp> = aps
        .iter()
        .filter(|a| a.n_pos_pairs > 0 && !a.average_precision.is_nan())
        .collect();
    let mut groups: Vec<(Vec<String>, Vec<&QueryAp>)> = Vec::new();
    {
        let mut index: HashMap<Vec<String>, usize> = HashMap::new();
        for a in &valid {
            let key: Vec<String> = cols.iter().map(|c| c[a.row].clone()).collect();
            let g = *index.entry(key.clone()).or_insert_with(|| {
                groups.push((key, Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push(a);
        }
    }
    groups.sort_by(|a, b| compare_keys(&a.0, &b.0));
    let mut confs: Vec<(usize, usize)> = valid
        .iter()
        .map(|a| (a.n_pos_pairs, a.n_total_pairs))
        .collect();
    confs.sort_unstable();
    confs.dedup();
    let nulls: HashMap<(usize, usize), Vec<f64>> = confs
        .par_iter()
        .map(|&(p, t)| {
            (
                (p, t),
                null_distribution(p, t, params.null_size, params.seed),
            )
        })
        .collect();
    let mut out: Vec<GroupMap> = groups
        .par_iter()
        .map(|(key, members)| {
            let k = members.len() as f64;
            let map = members.iter().map(|a| a.average_precision).sum::<f64>() / k;
            let nmap = members
                .iter()
                .map(|a| a.normalized_average_precision)
                .sum::<f64>()
                / k;
            let mut null_mean = vec![0.0; params.null_size];
            for a in members {
                for (s, v) in null_mean
                    .iter_mut()
                    .zip(&nulls[&(a.n_pos_pairs, a.n_total_pairs)])
                {
                    *s += v / k;
                }
            }
            let above = null_mean.iter().filter(|&&v| v > map).count();
            let p_value = (above + 1) as f64 / (params.null_size + 1) as f64;
            let first = (members[0].n_pos_pairs, members[0].n_total_pairs);
            let exact_p_value = if members
                .iter()
                .all(|a| (a.n_pos_pairs, a.n_total_pairs) == first)
            {
                exact_ap_p_value(first.0, first.1, map, 2_000_000)
            } else {
                None
            };
            GroupMap {
                key: key.clone(),
                rows: members.iter().map(|a| a.row).collect(),
                mean_average_precision: map,
                mean_normalized_average_precision: nmap,
                p_value,
                exact_p_value,
                corrected_p_value: f64::NAN,
                below_p: p_value < params.threshold,
                below_corrected_p: false,
            }
        })
        .collect();
    let corrected = benjamini_hochberg(&out.iter().map(|g| g.p_value).collect::<Vec<_>>());
    for (g, q) in out.iter_mut().zip(corrected) {
        g.corrected_p_value = q;
        g.below_corrected_p = q < params.threshold;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ap_by_hand() {
        // Ranking + − + −: precision at hits 1/1 and 2/3 → AP = (1 + 2/3)/2 = 5/6.
        assert!((ap_of_ranking([true, false, true, false]) - 5.0 / 6.0).abs() < 1e-15);
        assert!(ap_of_ranking([false, false]).is_nan());
    }

    #[test]
    fn expected_ap_matches_enumeration() {
        // All C(5, 2) = 10 placements of 2 positives among 5: mean AP by enumeration.
        let mut total = 0.0;
        for a in 0..5 {
            for b in a + 1..5 {
                total += ap_of_ranking((0..5).map(|k| k == a || k == b));
            }
        }
        assert!((expected_ap(2, 3) - total / 10.0).abs() < 1e-12);
        let null = null_distribution(2, 5, 20000, 1);
        let mean = null.iter().sum::<f64>() / null.len() as f64;
        assert!((mean - total / 10.0).abs() < 0.01, "{mean}");
    }

    #[test]
    fn exact_p_value_by_hand() {
        // 1 positive among 3: AP ∈ {1, 1/2, 1/3}, each with probability 1/3.
        assert_eq!(exact_ap_p_value(1, 3, 0.5, 10), Some(1.0 / 3.0));
        assert_eq!(exact_ap_p_value(1, 3, 0.4, 10), Some(2.0 / 3.0));
        // 2 of 5 (10 placements): the sampled null estimates the same probability.
        let exact = exact_ap_p_value(2, 5, 0.6, 100).unwrap();
        let null = null_distribution(2, 5, 100_000, 3);
        let sampled = null.iter().filter(|&&v| v > 0.6).count() as f64 / null.len() as f64;
        assert!((exact - sampled).abs() < 0.01, "{exact} vs {sampled}");
        assert_eq!(
            exact_ap_p_value(6, 54, 0.5, 2_000_000),
            None,
            "25 million placements"
        );
    }

    #[test]
    fn bh_matches_statsmodels() {
        // statsmodels multipletests([0.01, 0.04, 0.03, 0.5], method="fdr_bh")
        // → [0.04, 0.05333333, 0.05333333, 0.5]
        let q = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.5]);
        let want = [0.04, 0.16 / 3.0, 0.16 / 3.0, 0.5];
        for (a, b) in q.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{q:?}");
        }
    }
}

/// Settings shared by the two common mAP questions.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MapSettings {
    /// How profiles are compared (cosine by default, as copairs).
    pub similarity: Similarity,
    /// Random rankings in each null distribution.
    pub null_size: usize,
    /// Significance level.
    pub threshold: f64,
    /// Seed of the null samples.
    pub seed: u64,
}

impl Default for MapSettings {
    fn default() -> Self {
        Self {
            similarity: Similarity::Cosine,
            null_size: 10_000,
            threshold: 0.05,
            seed: 0,
        }
    }
}

/// "Is each treatment distinguishable from controls?" (phenotypic activity): positives are
/// the other rows of the same `by` value, negatives the control rows; controls are not queries.
pub fn activity_map(
    table: &ProfileTable,
    by: &str,
    controls: &[profiles::Selection],
    settings: &MapSettings,
) -> Result<(Vec<QueryAp>, Vec<GroupMap>)> {
    let control_rows = table.rows_matching(controls)?;
    let mut is_control = vec![false; table.n_rows()];
    control_rows.iter().for_each(|&r| is_control[r] = true);
    let mut t = table.clone();
    // Each control row gets its own reference index, so controls never pair with each other.
    let column = "Metadata_cellpaint_reference_index".to_string();
    t.set_metadata(
        &column,
        (0..t.n_rows())
            .map(|r| {
                if is_control[r] {
                    r.to_string()
                } else {
                    "-1".into()
                }
            })
            .collect(),
    )?;
    let cols = vec![by.to_string(), column];
    let spec = PairSpec {
        pos_sameby: cols.clone(),
        neg_diffby: cols,
        ..Default::default()
    };
    let aps: Vec<QueryAp> = average_precision(&t, &spec, settings.similarity)?
        .into_iter()
        .filter(|a| !is_control[a.row])
        .collect();
    let params = MapParams {
        sameby: vec![by.into()],
        null_size: settings.null_size,
        threshold: settings.threshold,
        seed: settings.seed,
    };
    let maps = mean_average_precision(table, &aps, &params)?;
    Ok((aps, maps))
}

/// "Do treatments sharing an annotation look alike?" (consistency): positives share `by` and
/// differ on `diff` (e.g. same MOA, other compound); negatives differ on `by`. Rows with a
/// missing `by` are left out. Returns the kept rows (indices into `table`) with the results.
pub fn consistency_map(
    table: &ProfileTable,
    by: &str,
    diff: &str,
    settings: &MapSettings,
) -> Result<(Vec<usize>, Vec<QueryAp>, Vec<GroupMap>)> {
    let values = table.metadata(by)?;
    let keep: Vec<usize> = (0..table.n_rows())
        .filter(|&r| !is_missing(&values[r]))
        .collect();
    let sub = table.select_rows(&keep);
    let spec = PairSpec {
        pos_sameby: vec![by.into()],
        pos_diffby: vec![diff.into()],
        neg_diffby: vec![by.into()],
        ..Default::default()
    };
    let mut aps = average_precision(&sub, &spec, settings.similarity)?;
    aps.retain(|a| a.n_pos_pairs > 0);
    let params = MapParams {
        sameby: vec![by.into()],
        null_size: settings.null_size,
        threshold: settings.threshold,
        seed: settings.seed,
    };
    let maps = mean_average_precision(&sub, &aps, &params)?;
    for a in &mut aps {
        a.row = keep[a.row];
    }
    let maps = maps
        .into_iter()
        .map(|mut g| {
            g.rows = g.rows.iter().map(|&r| keep[r]).collect();
            g
        })
        .collect();
    Ok((keep, aps, maps))
}
