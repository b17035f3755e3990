//! Exact Euclidean distance transform of a small boolean grid (an object's box), shared by
//! AreaShape's radii and RadialDistribution's distance to the edge.

use ndarray::Array2;

/// Squared Euclidean distance from each pixel of `inside` to the nearest pixel of the grid
/// that is not inside (pixels beyond the grid do not count; infinite when the grid has no
/// outside pixel). Felzenszwalb and Huttenlocher's separable transform; exact on the integer
/// grid, as scipy's `distance_transform_edt`.
pub(crate) fn squared_distance_to_outside(inside: &Array2<bool>) -> Array2<f64> {
    let (h, w) = inside.dim();
    let mut d = Array2::from_shape_fn((h, w), |p| if inside[p] { f64::INFINITY } else { 0.0 });
    let mut f = Vec::new();
    for c in 0..w {
        f.clear();
        f.extend((0..h).map(|r| d[[r, c]]));
        let out = lower_envelope(&f);
        for r in 0..h {
            d[[r, c]] = out[r];
        }
    }
    for r in 0..h {
        f.clear();
        f.extend((0..w).map(|c| d[[r, c]]));
        let out = lower_envelope(&f);
        for c in 0..w {
            d[[r, c]] = out[c];
        }
    }
    d
}

/// min over q of (p − q)² + f(q), for every p (infinite f(q) take no part).
fn lower_envelope(f: &[f64]) -> Vec<f64> {
    let n = f.len();
    let finite: Vec<usize> = (0..n).filter(|&q| f[q].is_finite()).collect();
    if finite.is_empty() {
        return vec![f64::INFINITY; n];
    }
    let mut v: Vec<usize> = Vec::with_capacity(finite.len());
    let mut z: Vec<f64> = Vec::with_capacity(finite.len() + 1);
    let cross = |q: usize, p: usize| {
        let (q2, p2) = ((q * q) as f64, (p * p) as f64);
        ((f[q] + q2) - (f[p] + p2)) / (2.0 * q as f64 - 2.0 * p as f64)
    };
    for &q in &finite {
        while let Some(&p) = v.last() {
            let s = cross(q, p);
            if v.len() > 1 && s <= z[z.len() - 1] {
                v.pop();
                z.pop();
            } else {
                z.push(s);
                v.push(q);
                break;
            }
        }
        if v.is_empty() {
            v.push(q);
        }
    }
    let mut out = vec![0.0; n];
    let mut k = 0;
    for (p, slot) in out.iter_mut().enumerate() {
        while k < z.len() && z[k] < p as f64 {
            k += 1;
        }
        let q = v[k];
        let dp = p as f64 - q as f64;
        *slot = dp * dp + f[q];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_separable_transform_equals_brute_force() {
        let mut s = 12345u64;
        let inside = Array2::from_shape_fn((17, 23), |_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) % 5 != 0
        });
        let d = squared_distance_to_outside(&inside);
        for ((r, c), &v) in d.indexed_iter() {
            let mut best = f64::INFINITY;
            for ((y, x), &i) in inside.indexed_iter() {
                if !i {
                    let (dy, dx) = (y as f64 - r as f64, x as f64 - c as f64);
                    best = best.min(dy * dy + dx * dx);
                }
            }
            assert_eq!(v, best, "at {r},{c}");
        }
    }
}
