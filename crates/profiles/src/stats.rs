//! Small column statistics with pandas/numpy semantics (NaN skipped, linear quantiles).

/// Non-NaN values of an iterator, collected.
pub fn finite_values(values: impl Iterator<Item = f64>) -> Vec<f64> {
    values.filter(|v| !v.is_nan()).collect()
}

/// Median ignoring NaN (pandas `median`); NaN when nothing is left.
pub fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v = finite_values(values);
    quantile_in_place(&mut v, 0.5)
}

/// Linear-interpolation quantile (numpy's default) of `v`, reordering it; NaN if empty.
pub fn quantile_in_place(v: &mut [f64], q: f64) -> f64 {
    v.sort_unstable_by(|a, b| a.total_cmp(b));
    quantile_sorted(v, q)
}

/// Linear-interpolation quantile (numpy/pandas default) of an ascending slice; NaN if empty.
pub fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// Mean ignoring NaN; NaN when nothing is left.
pub fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for v in values.filter(|v| !v.is_nan()) {
        s += v;
        n += 1;
    }
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

/// Mean and population standard deviation (ddof 0, as sklearn's StandardScaler), NaN skipped.
pub fn mean_std(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let m = mean(values.clone());
    let (mut ss, mut n) = (0.0, 0usize);
    for v in values.filter(|v| !v.is_nan()) {
        ss += (v - m) * (v - m);
        n += 1;
    }
    (
        m,
        if n == 0 {
            f64::NAN
        } else {
            (ss / n as f64).sqrt()
        },
    )
}

/// Ranks with ties given their average rank (1-based), as scipy's `rankdata`.
pub fn average_ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut ranks = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            ranks[k] = r;
        }
        i = j + 1;
    }
    ranks
}

/// Pearson correlation of two equal-length slices over positions where both are finite;
/// NaN when fewer than two such positions or a side is constant.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    // Two passes over the pairs where both are present, without collecting them (feature
    // selection calls this for every pair of features).
    let pairs = || {
        a.iter()
            .zip(b)
            .filter(|(x, y)| !x.is_nan() && !y.is_nan())
            .map(|(&x, &y)| (x, y))
    };
    let (mut count, mut sa, mut sb) = (0usize, 0.0, 0.0);
    for (x, y) in pairs() {
        count += 1;
        sa += x;
        sb += y;
    }
    if count < 2 {
        return f64::NAN;
    }
    let n = count as f64;
    let (ma, mb) = (sa / n, sb / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in pairs() {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    if saa == 0.0 || sbb == 0.0 {
        return f64::NAN;
    }
    (sab / (saa * sbb).sqrt()).clamp(-1.0, 1.0)
}

/// Correlation method for feature selection and MODZ weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CorrelationMethod {
    /// Linear correlation of the values.
    Pearson,
    /// Pearson correlation of the ranks (ties get their mean rank).
    Spearman,
}

impl std::str::FromStr for CorrelationMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "pearson" => Ok(Self::Pearson),
            "spearman" => Ok(Self::Spearman),
            _ => Err(format!(
                "unknown correlation method '{s}' (pearson or spearman)"
            )),
        }
    }
}

/// Correlation of two slices by `method` (Spearman = Pearson on average ranks; NaN-free input).
pub fn correlation(a: &[f64], b: &[f64], method: CorrelationMethod) -> f64 {
    match method {
        CorrelationMethod::Pearson => pearson(a, b),
        CorrelationMethod::Spearman => pearson(&average_ranks(a), &average_ranks(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_numpy_linear() {
        // numpy.percentile([1, 2, 3, 4], 25) = 1.75; median of [3, 1, 2] = 2; even median 2.5
        assert_eq!(quantile_in_place(&mut [4.0, 1.0, 3.0, 2.0], 0.25), 1.75);
        assert_eq!(median([3.0, f64::NAN, 1.0, 2.0].into_iter()), 2.0);
        assert_eq!(median([1.0, 2.0, 3.0, 4.0].into_iter()), 2.5);
        assert!(median([f64::NAN].into_iter()).is_nan());
    }

    #[test]
    fn ranks_average_ties() {
        assert_eq!(
            average_ranks(&[10.0, 20.0, 10.0, 30.0]),
            vec![1.5, 3.0, 1.5, 4.0]
        );
    }

    #[test]
    fn spearman_averages_tied_ranks() {
        // Ranks [1, 2.5, 2.5, 4, 5] and [1, 3, 2, 4.5, 4.5]; Pearson of them by hand (and
        // scipy.stats.spearmanr): 18/19. Ranking ties by position instead gives 0.9.
        let r = correlation(
            &[1.0, 2.0, 2.0, 3.0, 5.0],
            &[1.0, 3.0, 2.0, 4.0, 4.0],
            CorrelationMethod::Spearman,
        );
        assert!((r - 18.0 / 19.0).abs() < 1e-12, "{r}");
    }

    #[test]
    fn pearson_by_hand() {
        // x = [1,2,3], y = [2,4,7]: mean 2 and 13/3; sxy = 5, sxx = 2, syy = 12.6667
        // r = 5 / sqrt(2 * 12.6667) = 0.99339927
        let r = pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 7.0]);
        assert!((r - 0.993_399_27).abs() < 1e-8, "{r}");
        assert!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_nan());
        assert_eq!(
            correlation(
                &[1.0, 2.0, 3.0],
                &[1.0, 4.0, 9.0],
                CorrelationMethod::Spearman
            ),
            1.0
        );
    }

    #[test]
    fn std_is_population() {
        let (m, s) = mean_std([1.0, 3.0].iter().copied());
        assert_eq!((m, s), (2.0, 1.0));
    }
}
