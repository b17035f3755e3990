//! `Correlation`: CellProfiler's `MeasureColocalization` between two channels, per object
//! (Costes is not here yet).

use ndarray::ArrayView2;

use crate::error::{finite, Result};
use crate::objects::Objects;

/// Colocalization of channels A and B within one object. CellProfiler names them
/// `Correlation_<Name>_<A>_<B>`; the `_2` values are its `<Name>_<B>_<A>` columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Correlation {
    /// Pearson's correlation of the object's pixels (NaN when a channel is constant).
    pub correlation: f64,
    /// Least-squares slope of B on A, cov(A, B) / var(A) (NaN when A is constant).
    pub slope: f64,
    /// Overlap coefficient over the pixels above both thresholds: Σab / √(Σa² Σb²).
    pub overlap: f64,
    /// Σab / Σa² over those pixels (`K_<A>_<B>`).
    pub k_1: f64,
    /// Σab / Σb² over those pixels (`K_<B>_<A>`).
    pub k_2: f64,
    /// Manders M1: A's intensity in pixels above both thresholds / A's above its own.
    pub manders_1: f64,
    /// Manders M2, the same for B.
    pub manders_2: f64,
    /// Rank-weighted colocalization of A (Manders M1 with each pixel weighted by how close its
    /// ranks in A and B are).
    pub rwc_1: f64,
    /// The same for B.
    pub rwc_2: f64,
}

impl Correlation {
    /// Names for channels `a` and `b`, in the order of [`Self::values`], as CellProfiler
    /// names the columns (without the compartment prefix).
    pub fn names(a: &str, b: &str) -> [String; 9] {
        [
            format!("Correlation_Correlation_{a}_{b}"),
            format!("Correlation_Slope_{a}_{b}"),
            format!("Correlation_Overlap_{a}_{b}"),
            format!("Correlation_K_{a}_{b}"),
            format!("Correlation_K_{b}_{a}"),
            format!("Correlation_Manders_{a}_{b}"),
            format!("Correlation_Manders_{b}_{a}"),
            format!("Correlation_RWC_{a}_{b}"),
            format!("Correlation_RWC_{b}_{a}"),
        ]
    }

    /// The values, in the order of [`Self::names`].
    pub fn values(&self) -> [f64; 9] {
        [
            self.correlation,
            self.slope,
            self.overlap,
            self.k_1,
            self.k_2,
            self.manders_1,
            self.manders_2,
            self.rwc_1,
            self.rwc_2,
        ]
    }
}

/// CellProfiler's default threshold for Overlap, Manders and RWC: 15 % of each channel's
/// maximum within the object.
pub const THRESHOLD_PERCENT: f64 = 15.0;

/// [`Correlation`] of channels `a` and `b` in every object, in the objects' order.
pub fn measure_correlation(
    objects: &Objects,
    a: ArrayView2<'_, f64>,
    b: ArrayView2<'_, f64>,
) -> Result<Vec<Correlation>> {
    objects.check_size(a.dim())?;
    objects.check_size(b.dim())?;
    objects
        .objects()
        .iter()
        .map(|o| {
            let mut x = Vec::with_capacity(o.pixels.len());
            let mut y = Vec::with_capacity(o.pixels.len());
            for &(r, c) in &o.pixels {
                x.push(finite(a[[r, c]], r, c)?);
                y.push(finite(b[[r, c]], r, c)?);
            }
            Ok(pair(&x, &y, THRESHOLD_PERCENT))
        })
        .collect()
}

/// Dense ranks (0 for the smallest value, ties share a rank).
fn dense_ranks(v: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut ranks = vec![0; v.len()];
    let mut rank = 0;
    for k in 1..order.len() {
        if v[order[k]] != v[order[k - 1]] {
            rank += 1;
        }
        ranks[order[k]] = rank;
    }
    ranks
}

fn pair(x: &[f64], y: &[f64], threshold_percent: f64) -> Correlation {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    let undefined = |v: f64| if v.is_finite() { v } else { f64::NAN };
    let correlation = undefined(sxy / (sxx * syy).sqrt());
    let slope = undefined(sxy / sxx);
    let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (tx, ty) = (
        threshold_percent / 100.0 * max(x),
        threshold_percent / 100.0 * max(y),
    );
    let both: Vec<bool> = x.iter().zip(y).map(|(a, b)| *a >= tx && *b >= ty).collect();
    let mut c = Correlation {
        correlation,
        slope,
        overlap: 0.0,
        k_1: 0.0,
        k_2: 0.0,
        manders_1: 0.0,
        manders_2: 0.0,
        rwc_1: 0.0,
        rwc_2: 0.0,
    };
    // No pixel above both thresholds: CellProfiler reports 0 for all of these.
    if !both.iter().any(|&v| v) {
        return c;
    }
    let total_x: f64 = x.iter().filter(|&&a| a >= tx).sum();
    let total_y: f64 = y.iter().filter(|&&b| b >= ty).sum();
    let (rx, ry) = (dense_ranks(x), dense_ranks(y));
    let r = (rx.iter().chain(&ry).copied().max().unwrap_or(0) + 1) as f64;
    let (mut xx, mut yy, mut xy, mut mx1, mut my1, mut wx, mut wy) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for i in (0..x.len()).filter(|&i| both[i]) {
        let (a, b) = (x[i], y[i]);
        xx += a * a;
        yy += b * b;
        xy += a * b;
        mx1 += a;
        my1 += b;
        let w = (r - rx[i].abs_diff(ry[i]) as f64) / r;
        wx += a * w;
        wy += b * w;
    }
    c.overlap = xy / (xx * yy).sqrt();
    c.k_1 = xy / xx;
    c.k_2 = xy / yy;
    c.manders_1 = mx1 / total_x;
    c.manders_2 = my1 / total_y;
    c.rwc_1 = wx / total_x;
    c.rwc_2 = wy / total_y;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_channels_colocalise_completely() {
        let x = [0.1, 0.5, 0.9, 0.3];
        let c = pair(&x, &x, 15.0);
        for v in [
            c.correlation,
            c.slope,
            c.overlap,
            c.k_1,
            c.manders_1,
            c.rwc_2,
        ] {
            assert!((v - 1.0).abs() < 1e-12, "{c:?}");
        }
    }

    #[test]
    fn a_constant_channel_has_no_correlation_and_ranks_are_dense() {
        let c = pair(&[0.5, 0.5, 0.5], &[0.1, 0.4, 0.9], 15.0);
        assert!(c.correlation.is_nan() && c.slope.is_nan());
        assert_eq!(dense_ranks(&[0.5, 0.1, 0.5, 0.3]), vec![2, 0, 2, 1]);
    }
}
