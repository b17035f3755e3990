//! Distribution comparisons used by the profile-VAE paper: 1-D earth mover's distance,
//! symmetric Hausdorff distance between point sets, z-scores and one-sample z-tests.

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::stats::normal_sf;

/// Wasserstein-1 distance between two 1-D samples (scipy `wasserstein_distance`):
/// ∫ |F_a(x) − F_b(x)| dx over the empirical CDFs.
pub fn emd_1d(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return f64::NAN;
    }
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let mut all: Vec<f64> = a.iter().chain(&b).copied().collect();
    all.sort_by(f64::total_cmp);
    let (mut i, mut j, mut total) = (0usize, 0usize, 0.0);
    for w in all.windows(2) {
        while i < a.len() && a[i] <= w[0] {
            i += 1;
        }
        while j < b.len() && b[j] <= w[0] {
            j += 1;
        }
        let fa = i as f64 / a.len() as f64;
        let fb = j as f64 / b.len() as f64;
        total += (fa - fb).abs() * (w[1] - w[0]);
    }
    total
}

/// EMD between matching rows of two matrices (e.g. each profile and its reconstruction).
pub fn per_row_emd(x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> Vec<f64> {
    (0..x.nrows().min(y.nrows()))
        .into_par_iter()
        .map(|r| emd_1d(&x.row(r).to_vec(), &y.row(r).to_vec()))
        .collect()
}

/// Symmetric Hausdorff distance (Euclidean) between the row sets of `a` and `b`:
/// max(max_a min_b d, max_b min_a d).
pub fn hausdorff(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> f64 {
    let directed = |x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>| {
        (0..x.nrows())
            .into_par_iter()
            .map(|i| {
                let xi = x.row(i);
                y.rows()
                    .into_iter()
                    .map(|yj| {
                        xi.iter()
                            .zip(yj.iter())
                            .map(|(p, q)| (p - q) * (p - q))
                            .sum::<f64>()
                    })
                    .fold(f64::INFINITY, f64::min)
            })
            .reduce(|| 0.0, f64::max)
            .sqrt()
    };
    directed(a, b).max(directed(b, a))
}

/// z-score of `value` against a null sample (mean and population sd of `null`).
pub fn z_score(value: f64, null: &[f64]) -> f64 {
    let (m, sd) = profiles::stats::mean_std(null.iter().copied());
    (value - m) / sd
}

/// One-sample z-test of the mean of `sample` against `mu` with known `sigma`:
/// (z, two-sided p).
pub fn one_sample_z_test(sample: &[f64], mu: f64, sigma: f64) -> (f64, f64) {
    let n = sample.len() as f64;
    let mean = sample.iter().sum::<f64>() / n;
    let z = (mean - mu) / (sigma / n.sqrt());
    (z, (2.0 * normal_sf(z.abs())).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn emd_by_hand() {
        // scipy.stats.wasserstein_distance([0, 1, 3], [5, 6, 8]) = 5 (a shift by 5).
        assert!((emd_1d(&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0]) - 5.0).abs() < 1e-12);
        // [0, 1] vs [0]: half the mass moves by 1 → 0.5.
        assert!((emd_1d(&[0.0, 1.0], &[0.0]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn hausdorff_by_hand() {
        // A = {(0,0), (1,0)}, B = {(0,0), (0,3)}: sup_A inf_B = 1, sup_B inf_A = 3 → 3.
        let a = array![[0.0, 0.0], [1.0, 0.0]];
        let b = array![[0.0, 0.0], [0.0, 3.0]];
        assert!((hausdorff(a.view(), b.view()) - 3.0).abs() < 1e-12);
    }

    #[test]
    fn z_by_hand() {
        assert!((z_score(3.0, &[1.0, 3.0]) - 1.0).abs() < 1e-12);
        // mean 1 of n = 4 with σ = 2 → z = 1, p = 2·(1 − Φ(1)) = 0.3173
        let (z, p) = one_sample_z_test(&[0.0, 1.0, 1.0, 2.0], 0.0, 2.0);
        assert!(
            (z - 1.0).abs() < 1e-12 && (p - 0.317_310_5).abs() < 1e-6,
            "{p}"
        );
    }
}
