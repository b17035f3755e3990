//! `feature_select`: drop uninformative or redundant features (pycytominer `feature_select`).
//!
//! As in pycytominer, every operation looks at the full feature set independently and the
//! union of what they exclude is dropped.

use std::collections::{BTreeMap, HashSet};

use ndarray::{s, Array2, ArrayView2, CowArray, Ix2};
use rayon::prelude::*;

use crate::error::{ProfileError, Result};
use crate::stats::{self, CorrelationMethod};
use crate::table::{ProfileTable, Selection};

/// One feature-selection operation (pycytominer's names).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FeatureSelectOp {
    /// Low variance: drop when the population variance (NaN ignored) is ≤ `min_variance`
    /// (pycytominer 1.7's `variance_threshold`, scikit-learn's `VarianceThreshold`; with
    /// `min_variance` 0 a feature whose range is 0 is dropped too).
    VarianceThreshold,
    /// Few distinct values: drop when (2nd most common count / most common count) <
    /// `freq_cut` or (distinct values / rows) < `unique_cut`, either test excluding
    /// (pycytominer 1.7's `frequency_threshold`; older pycytominer called this test
    /// `variance_threshold`).
    FrequencyThreshold,
    /// Drop one of each pair with Pearson/Spearman correlation > `corr_threshold`: the member
    /// with the larger sum of |correlation| to all features.
    CorrelationThreshold,
    /// Drop features whose fraction of NaN exceeds `na_cutoff`.
    DropNaColumns,
    /// Drop the named features (pycytominer's default blocklist unless one is given).
    Blocklist,
    /// Drop features with any |value| > `outlier_cutoff`.
    DropOutliers,
}

impl std::str::FromStr for FeatureSelectOp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "variance_threshold" => Ok(Self::VarianceThreshold),
            "frequency_threshold" => Ok(Self::FrequencyThreshold),
            "correlation_threshold" => Ok(Self::CorrelationThreshold),
            "drop_na_columns" => Ok(Self::DropNaColumns),
            "blocklist" => Ok(Self::Blocklist),
            "drop_outliers" => Ok(Self::DropOutliers),
            _ => Err(format!(
                "unknown operation '{s}' (variance_threshold, frequency_threshold, correlation_threshold, drop_na_columns, blocklist, drop_outliers)"
            )),
        }
    }
}

/// Settings for [`feature_select`]; the cut-offs default to pycytominer 1.7's, the operations
/// to the Cell Painting profiling recipe's four (variance, correlation, NaN columns, blocklist;
/// pycytominer's own `feature_select` defaults to `variance_threshold` alone).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FeatureSelectParams {
    /// The operations, applied in this order.
    pub operations: Vec<FeatureSelectOp>,
    /// Rows the statistics are computed on (all rows when empty).
    pub fit_on: Vec<Selection>,
    /// `variance_threshold`: drop a feature whose variance is at most this.
    pub min_variance: f64,
    /// `frequency_threshold`: drop a feature whose second most common value is rarer than
    /// this fraction of its most common one.
    pub freq_cut: f64,
    /// `frequency_threshold`: drop a feature whose distinct values are fewer than this fraction
    /// of the rows.
    pub unique_cut: f64,
    /// `correlation_threshold`: drop one of each pair correlated above this (absolute).
    pub corr_threshold: f64,
    /// `correlation_threshold`: Pearson or Spearman.
    pub corr_method: CorrelationMethod,
    /// `drop_na_columns`: drop a feature missing in more than this fraction of rows.
    pub na_cutoff: f64,
    /// `drop_outliers`: drop a feature with any absolute value above this.
    pub outlier_cutoff: f64,
    /// Feature names to drop for `blocklist`; `None` uses [`default_blocklist`].
    pub blocklist: Option<Vec<String>>,
}

impl Default for FeatureSelectParams {
    fn default() -> Self {
        Self {
            operations: vec![
                FeatureSelectOp::VarianceThreshold,
                FeatureSelectOp::CorrelationThreshold,
                FeatureSelectOp::DropNaColumns,
                FeatureSelectOp::Blocklist,
            ],
            fit_on: Vec::new(),
            min_variance: 1e-6,
            freq_cut: 0.05,
            unique_cut: 0.01,
            corr_threshold: 0.9,
            corr_method: CorrelationMethod::Pearson,
            na_cutoff: 0.05,
            outlier_cutoff: 500.0,
            blocklist: None,
        }
    }
}

impl FeatureSelectParams {
    /// Rejects settings that cannot work, before any data is touched.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(ProfileError::invalid("feature_select parameters", m));
        for (name, v) in [
            ("freq_cut", self.freq_cut),
            ("unique_cut", self.unique_cut),
            ("corr_threshold", self.corr_threshold),
            ("na_cutoff", self.na_cutoff),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(format!("{name} must be between 0 and 1, got {v}"));
            }
        }
        if !(self.min_variance >= 0.0 && self.min_variance.is_finite()) {
            return bad(format!(
                "min_variance must be finite and ≥ 0, got {}",
                self.min_variance
            ));
        }
        if self.outlier_cutoff.is_nan() || self.outlier_cutoff < 0.0 {
            return bad(format!(
                "outlier_cutoff must be ≥ 0, got {}",
                self.outlier_cutoff
            ));
        }
        if self.operations.is_empty() {
            return bad("no operations given".into());
        }
        Ok(())
    }
}

/// What each operation excluded (features may appear under several operations).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FeatureSelectReport {
    /// The features each operation dropped.
    pub excluded: BTreeMap<FeatureSelectOp, Vec<String>>,
    /// Features before selection.
    pub n_before: usize,
    /// Features kept.
    pub n_after: usize,
}

/// pycytominer's default blocklist: nuclear Manders/RWC colocalisation between channel pairs
/// and the coarsest nuclear granularity scales, which are unreliable in Cell Painting.
pub fn default_blocklist() -> Vec<String> {
    const CHANNELS: [&str; 5] = ["AGP", "DNA", "ER", "Mito", "RNA"];
    let mut out = Vec::new();
    for measure in ["Manders", "RWC"] {
        for a in CHANNELS {
            for b in CHANNELS.iter().filter(|&&b| b != a) {
                out.push(format!("Nuclei_Correlation_{measure}_{a}_{b}"));
            }
        }
    }
    for scale in [14, 15, 16] {
        for ch in CHANNELS {
            out.push(format!("Nuclei_Granularity_{scale}_{ch}"));
        }
    }
    out
}

/// Runs the operations and returns the reduced table with a report of what went.
pub fn feature_select(
    table: &ProfileTable,
    params: &FeatureSelectParams,
) -> Result<(ProfileTable, FeatureSelectReport)> {
    params.check()?;
    let rows = if params.fit_on.is_empty() {
        (0..table.n_rows()).collect()
    } else {
        table.rows_matching(&params.fit_on)?
    };
    // One copy of the fit rows, feature by feature: every operation reads features whole.
    let cols = transposed_rows(table.features(), Some(&rows));
    let x = cols.t();
    let names = table.feature_names();
    let mut report = FeatureSelectReport {
        n_before: names.len(),
        ..Default::default()
    };
    let mut all: HashSet<usize> = HashSet::new();
    for &op in &params.operations {
        let cols: Vec<usize> = match op {
            FeatureSelectOp::VarianceThreshold => variance_threshold(x.view(), params.min_variance),
            FeatureSelectOp::FrequencyThreshold => {
                frequency_threshold(x.view(), params.freq_cut, params.unique_cut)
            }
            FeatureSelectOp::CorrelationThreshold => {
                correlation_threshold(x.view(), params.corr_threshold, params.corr_method)
            }
            FeatureSelectOp::DropNaColumns => drop_na_columns(x.view(), params.na_cutoff),
            FeatureSelectOp::DropOutliers => drop_outliers(x.view(), params.outlier_cutoff),
            FeatureSelectOp::Blocklist => {
                let list: HashSet<String> = params
                    .blocklist
                    .clone()
                    .unwrap_or_else(default_blocklist)
                    .into_iter()
                    .collect();
                (0..names.len())
                    .filter(|&c| list.contains(&names[c]))
                    .collect()
            }
        };
        all.extend(cols.iter().copied());
        report
            .excluded
            .insert(op, cols.iter().map(|&c| names[c].clone()).collect());
    }
    let keep: Vec<usize> = (0..names.len()).filter(|c| !all.contains(c)).collect();
    if keep.is_empty() {
        return Err(ProfileError::invalid(
            table.source(),
            "feature selection removed every feature; loosen the cut-offs",
        ));
    }
    report.n_after = keep.len();
    Ok((table.select_features(&keep), report))
}

/// The features of `x` (rows × features) as the rows of a features × rows matrix, so every
/// operation below reads one feature's values contiguously: a view when `x` is already laid
/// out that way (column-major), else one blocked copy on every core.
fn feature_major(x: ArrayView2<'_, f64>) -> CowArray<'_, f64, Ix2> {
    let xt = x.reversed_axes();
    if xt.is_standard_layout() {
        return CowArray::from(xt);
    }
    CowArray::from(transposed_rows(x, None))
}

/// Rows `rows` (all when `None`) of `x`, transposed to features × rows. Blocks of 16 features
/// are copied by one task each, reading 16 neighbouring values of a row at a time.
fn transposed_rows(x: ArrayView2<'_, f64>, rows: Option<&[usize]>) -> Array2<f64> {
    const BLOCK: usize = 16;
    let n = rows.map_or(x.nrows(), <[usize]>::len);
    let p = x.ncols();
    let mut out = Array2::<f64>::zeros((p, n));
    if n == 0 || p == 0 {
        return out;
    }
    out.as_slice_mut()
        .expect("a new array is contiguous")
        .par_chunks_mut(BLOCK * n)
        .enumerate()
        .for_each(|(block, chunk)| {
            let c0 = block * BLOCK;
            let width = chunk.len() / n;
            for r in 0..n {
                let row = x.row(rows.map_or(r, |rows| rows[r]));
                for k in 0..width {
                    chunk[k * n + r] = row[c0 + k];
                }
            }
        });
    out
}

/// Columns whose population variance, NaN ignored, is at most `min_variance` (scikit-learn's
/// `VarianceThreshold` as pycytominer uses it): a column with no value, or with an infinite
/// one (whose variance is not a number), is dropped; at `min_variance` 0 a column whose range
/// is 0 is dropped even when rounding leaves its variance a little above 0.
pub fn variance_threshold(x: ArrayView2<'_, f64>, min_variance: f64) -> Vec<usize> {
    let cols = feature_major(x);
    let fails: Vec<bool> = cols
        .outer_iter()
        .into_par_iter()
        .map(|col| {
            let (mut n, mut sum, mut lo, mut hi) = (0usize, 0.0, f64::INFINITY, f64::NEG_INFINITY);
            for &v in col.iter().filter(|v| !v.is_nan()) {
                n += 1;
                sum += v;
                lo = lo.min(v);
                hi = hi.max(v);
            }
            if n == 0 {
                return true;
            }
            let mean = sum / n as f64;
            let mut var = col
                .iter()
                .filter(|v| !v.is_nan())
                .map(|&v| (v - mean) * (v - mean))
                .sum::<f64>()
                / n as f64;
            if min_variance == 0.0 && hi - lo == 0.0 {
                var = 0.0;
            }
            !(var > min_variance)
        })
        .collect();
    (0..fails.len()).filter(|&c| fails[c]).collect()
}

/// Columns failing the frequency-ratio or unique-fraction test (pycytominer's
/// `frequency_threshold`).
pub fn frequency_threshold(x: ArrayView2<'_, f64>, freq_cut: f64, unique_cut: f64) -> Vec<usize> {
    let n = x.nrows() as f64;
    let cols = feature_major(x);
    let fails: Vec<bool> = cols
        .outer_iter()
        .into_par_iter()
        .map_init(ValueCounts::default, |counts, col| {
            let col = col.as_slice().expect("feature-major rows are contiguous");
            let (distinct, first, second) = counts.count(col);
            let freq_fail = distinct < 2 || (second as f64 / first as f64) < freq_cut;
            let unique_fail = (distinct as f64 / n) < unique_cut;
            freq_fail || unique_fail
        })
        .collect();
    (0..fails.len()).filter(|&c| fails[c]).collect()
}

/// How often each value occurs in a column (pandas `value_counts`: NaN not counted, −0 and +0
/// one value), in an open-addressing table reused from column to column.
#[derive(Default)]
struct ValueCounts {
    keys: Vec<u64>,
    counts: Vec<u32>,
}

impl ValueCounts {
    /// (distinct values, the largest count, the second largest count).
    fn count(&mut self, values: &[f64]) -> (usize, u32, u32) {
        let size = (2 * values.len()).next_power_of_two().max(16);
        let shift = 64 - size.trailing_zeros();
        self.keys.clear();
        self.keys.resize(size, 0);
        self.counts.clear();
        self.counts.resize(size, 0);
        let mask = size - 1;
        let mut distinct = 0;
        for &v in values.iter().filter(|v| !v.is_nan()) {
            let key = if v == 0.0 { 0 } else { v.to_bits() };
            // Fibonacci hashing of the bits, then linear probing.
            let mut slot =
                ((key ^ (key >> 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize;
            loop {
                if self.counts[slot] == 0 {
                    self.keys[slot] = key;
                    self.counts[slot] = 1;
                    distinct += 1;
                    break;
                }
                if self.keys[slot] == key {
                    self.counts[slot] += 1;
                    break;
                }
                slot = (slot + 1) & mask;
            }
        }
        let (mut first, mut second) = (0, 0);
        for &c in &self.counts {
            if c > first {
                second = first;
                first = c;
            } else if c > second {
                second = c;
            }
        }
        (distinct, first, second)
    }
}

/// Columns with more than `cutoff` of their values NaN.
pub fn drop_na_columns(x: ArrayView2<'_, f64>, cutoff: f64) -> Vec<usize> {
    let n = x.nrows() as f64;
    (0..x.ncols())
        .filter(|&c| x.column(c).iter().filter(|v| v.is_nan()).count() as f64 / n > cutoff)
        .collect()
}

/// Columns with any |value| above `cutoff`.
pub fn drop_outliers(x: ArrayView2<'_, f64>, cutoff: f64) -> Vec<usize> {
    (0..x.ncols())
        .filter(|&c| x.column(c).iter().any(|v| v.abs() > cutoff))
        .collect()
}

/// Feature × feature correlation matrix; NaN entries where a column is constant.
pub fn feature_correlations(x: ArrayView2<'_, f64>, method: CorrelationMethod) -> Array2<f64> {
    let cols = feature_major(x);
    let p = cols.nrows();
    let has_nan = cols.iter().any(|v| v.is_nan());
    if has_nan {
        // Pairwise-complete observations, as pandas `DataFrame.corr`; each pair once (the
        // matrix is symmetric).
        let row = |i: usize| {
            cols.row(i)
                .to_slice()
                .expect("feature-major rows are contiguous")
        };
        let upper: Vec<Vec<f64>> = (0..p)
            .into_par_iter()
            .map(|i| {
                (i..p)
                    .map(|j| match method {
                        CorrelationMethod::Pearson => stats::pearson(row(i), row(j)),
                        CorrelationMethod::Spearman => {
                            let (a, b): (Vec<f64>, Vec<f64>) = row(i)
                                .iter()
                                .zip(row(j))
                                .filter(|(a, b)| !a.is_nan() && !b.is_nan())
                                .map(|(a, b)| (*a, *b))
                                .unzip();
                            stats::correlation(&a, &b, method)
                        }
                    })
                    .collect()
            })
            .collect();
        let mut out = Array2::from_elem((p, p), f64::NAN);
        for (i, r) in upper.into_iter().enumerate() {
            for (k, v) in r.into_iter().enumerate() {
                out[[i, i + k]] = v;
                out[[i + k, i]] = v;
            }
        }
        return out;
    }
    // Each feature centred and scaled to unit norm (ranked first for Spearman), one task per
    // feature, written straight into a new matrix (one pass over the input, no copy first).
    let mut z = Array2::<f64>::zeros(cols.raw_dim());
    z.outer_iter_mut()
        .into_par_iter()
        .zip(cols.outer_iter().into_par_iter())
        .for_each(|(mut out, col)| {
            let col = col.to_slice().expect("feature-major rows are contiguous");
            let ranked;
            let col: &[f64] = if method == CorrelationMethod::Spearman {
                ranked = stats::average_ranks(col);
                &ranked
            } else {
                col
            };
            let mean = col.iter().sum::<f64>() / col.len().max(1) as f64;
            let norm = col
                .iter()
                .map(|v| (v - mean) * (v - mean))
                .sum::<f64>()
                .sqrt();
            let scale = if norm > 0.0 { 1.0 / norm } else { f64::NAN };
            for (o, v) in out.iter_mut().zip(col) {
                *o = (v - mean) * scale;
            }
        });
    // z zᵀ, one block of features per task and only on and above the diagonal (the matrix is
    // symmetric): half the products, on every core.
    const BLOCK: usize = 64;
    let starts: Vec<usize> = (0..p).step_by(BLOCK).collect();
    let blocks: Vec<Array2<f64>> = starts
        .par_iter()
        .map(|&b| {
            let e = (b + BLOCK).min(p);
            z.slice(s![b..e, ..]).dot(&z.slice(s![b.., ..]).t())
        })
        .collect();
    let mut c = Array2::<f64>::zeros((p, p));
    for (&b, block) in starts.iter().zip(&blocks) {
        for (i, row) in block.outer_iter().enumerate() {
            for (k, &v) in row.iter().enumerate() {
                c[[b + i, b + k]] = v;
                c[[b + k, b + i]] = v;
            }
        }
    }
    c.mapv_inplace(|v| v.clamp(-1.0, 1.0));
    c
}

/// pycytominer's rule: rank features by Σ|r| (ascending, stable); for every pair
/// (lower triangle) with r > threshold drop the member ranked later.
pub fn correlation_threshold(
    x: ArrayView2<'_, f64>,
    threshold: f64,
    method: CorrelationMethod,
) -> Vec<usize> {
    let c = feature_correlations(x, method);
    let p = c.nrows();
    let abs_sum: Vec<f64> = (0..p)
        .map(|i| {
            c.row(i)
                .iter()
                .filter(|v| !v.is_nan())
                .map(|v| v.abs())
                .sum()
        })
        .collect();
    let mut order: Vec<usize> = (0..p).collect();
    order.sort_by(|&a, &b| abs_sum[a].total_cmp(&abs_sum[b]));
    let mut rank = vec![0; p];
    for (k, &i) in order.iter().enumerate() {
        rank[i] = k;
    }
    let mut drop = std::collections::BTreeSet::new();
    for i in 0..p {
        for j in 0..i {
            if c[[i, j]] > threshold {
                drop.insert(if rank[i] > rank[j] { i } else { j });
            }
        }
    }
    drop.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn frequency_threshold_by_hand() {
        // col 0: 20 rows, values 1 ×19 and 2 ×1 → freq 1/19 = 0.0526 ≥ 0.05 keep (unique 2/20 ≥ 0.01)
        // col 1: 1 ×20 → one distinct value → drop
        // col 2: 0..20 distinct → keep
        // col 3: 1 ×20 except 0.5 → keep at freq_cut 0.05; drop at freq_cut 0.1
        let mut x = Array2::<f64>::ones((20, 4));
        x[[0, 0]] = 2.0;
        for r in 0..20 {
            x[[r, 2]] = r as f64;
        }
        x[[3, 3]] = 0.5;
        assert_eq!(frequency_threshold(x.view(), 0.05, 0.01), vec![1]);
        assert_eq!(frequency_threshold(x.view(), 0.1, 0.01), vec![0, 1, 3]);
        // unique_cut 0.15 → needs ≥ 3 distinct of 20: cols 0, 1, 3 fail
        assert_eq!(frequency_threshold(x.view(), 0.0, 0.15), vec![0, 1, 3]);
        // Variance: col 1 is constant (dropped); col 3 varies by 0.5 in one row of 20
        // (variance 0.0119: dropped at 0.02, kept at 0.01).
        assert_eq!(variance_threshold(x.view(), 1e-6), vec![1]);
        assert_eq!(variance_threshold(x.view(), 0.02), vec![1, 3]);
        assert_eq!(variance_threshold(x.view(), 0.0), vec![1]);
    }

    /// The counting table against counting by sorting, on seeded columns with many ties,
    /// NaN and both zeros, in both memory layouts.
    #[test]
    fn value_counts_equal_counting_by_sorting() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let (n, p) = (500, 40);
        let x = Array2::from_shape_fn((n, p), |(_, c)| {
            let levels = 1 + c * c; // column c takes at most 1 + c² values
            match rng.random_range(0..20) {
                0 => f64::NAN,
                1 => -0.0,
                _ => rng.random_range(0..levels) as f64 * 0.25,
            }
        });
        let mut counts = ValueCounts::default();
        for c in 0..p {
            let col: Vec<f64> = x.column(c).to_vec();
            let mut v: Vec<f64> = col.iter().copied().filter(|v| !v.is_nan()).collect();
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let mut runs: Vec<u32> = Vec::new();
            let mut i = 0;
            while i < v.len() {
                let j = v[i..].iter().take_while(|&&y| y == v[i]).count();
                runs.push(j as u32);
                i += j;
            }
            runs.sort_unstable_by(|a, b| b.cmp(a));
            let expected = (runs.len(), runs[0], runs.get(1).copied().unwrap_or(0));
            assert_eq!(counts.count(&col), expected, "column {c}");
        }
        let column_major = x.t().as_standard_layout().into_owned();
        for (freq, unique) in [(0.05, 0.01), (0.5, 0.01), (0.05, 0.1), (0.9, 0.2)] {
            assert_eq!(
                frequency_threshold(x.view(), freq, unique),
                frequency_threshold(column_major.t(), freq, unique)
            );
        }
        // Some columns fail and some pass, so the comparison above means something.
        let failed = frequency_threshold(x.view(), 0.5, 0.01);
        assert!(!failed.is_empty() && failed.len() < p, "{failed:?}");
    }

    #[test]
    fn correlation_threshold_drops_the_more_connected_feature() {
        // a and b are identical (r = 1); c is independent-ish.
        // |r| sums: a = b = 1 + 1 + |r(a,c)|, c smaller; ties keep order: a ranks before b → drop b
        let x = array![
            [1.0, 1.0, 5.0],
            [2.0, 2.0, 1.0],
            [3.0, 3.0, 4.0],
            [4.0, 4.0, 2.0]
        ];
        assert_eq!(
            correlation_threshold(x.view(), 0.9, CorrelationMethod::Pearson),
            vec![1]
        );
        // a negative correlation is not "above" the threshold (pycytominer uses signed r)
        let y = array![[1.0, -1.0], [2.0, -2.0], [3.0, -3.5]];
        assert!(correlation_threshold(y.view(), 0.9, CorrelationMethod::Pearson).is_empty());
    }

    #[test]
    fn na_outlier_and_blocklist() {
        let x = array![[1.0, f64::NAN, 600.0], [2.0, 1.0, 1.0], [3.0, 2.0, -1.0]];
        assert_eq!(drop_na_columns(x.view(), 0.05), vec![1]);
        assert_eq!(drop_na_columns(x.view(), 0.5), Vec::<usize>::new());
        assert_eq!(drop_outliers(x.view(), 500.0), vec![2]);
        let b = default_blocklist();
        assert_eq!(b.len(), 2 * 20 + 15);
        assert!(b.contains(&"Nuclei_Correlation_RWC_Mito_ER".to_string()));
        assert!(b.contains(&"Nuclei_Granularity_16_DNA".to_string()));
    }

    #[test]
    fn pairwise_nan_correlation_matches_complete_case() {
        let x = array![[1.0, 2.0], [2.0, 4.1], [3.0, 5.9], [f64::NAN, 100.0]];
        let c = feature_correlations(x.view(), CorrelationMethod::Pearson);
        let direct = stats::pearson(&[1.0, 2.0, 3.0], &[2.0, 4.1, 5.9]);
        assert!((c[[0, 1]] - direct).abs() < 1e-15);
    }
}
