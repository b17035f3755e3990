//! Exact Euclidean distance transform of a small boolean grid (an object's box), shared by
//! AreaShape's radii and RadialDistribution's distance to the edge.

use ndarray::Array2;

/// Squared Euclidean distance from each pixel of `inside` to the nearest pixel of the grid
/// that is not inside (pixels beyond the grid do not count; infinite when the grid has no
/// outside pixel). Felzenszwalb and Huttenlocher's separable transform; exact on the integer
/// grid, as scipy's `distance_transform_edt`. The column pass is two scans (the input is
/// binary); the row pass is the lower envelope of parabolas.
pub(crate) fn squared_distance_to_outside(inside: &Array2<bool>) -> Array2<f64> {
    let (h, w) = inside.dim();
    let mut d = Array2::from_elem((h, w), f64::INFINITY);
    // Columns: distance to the nearest outside pixel above or below.
    let mut last = vec![None::<usize>; w];
    for r in 0..h {
        for c in 0..w {
            if !inside[[r, c]] {
                last[c] = Some(r);
            }
            if let Some(q) = last[c] {
                d[[r, c]] = (r - q) as f64;
            }
        }
    }
    last.iter_mut().for_each(|l| *l = None);
    for r in (0..h).rev() {
        for c in 0..w {
            if !inside[[r, c]] {
                last[c] = Some(r);
            }
            if let Some(q) = last[c] {
                d[[r, c]] = d[[r, c]].min((q - r) as f64);
            }
        }
    }
    d.mapv_inplace(|v| v * v);
    // Rows: the lower envelope of the parabolas (c − q)² + d(q).
    let (mut f, mut out) = (vec![0.0; w], vec![0.0; w]);
    let (mut v, mut z) = (Vec::with_capacity(w), Vec::with_capacity(w));
    for r in 0..h {
        for c in 0..w {
            f[c] = d[[r, c]];
        }
        lower_envelope(&f, &mut out, &mut v, &mut z);
        for c in 0..w {
            d[[r, c]] = out[c];
        }
    }
    d
}

/// `out[p]` = min over q of (p − q)² + f(q) (infinite f(q) take no part); `v` and `z` are
/// scratch space (the parabolas kept and the boundaries between them).
fn lower_envelope(f: &[f64], out: &mut [f64], v: &mut Vec<usize>, z: &mut Vec<f64>) {
    v.clear();
    z.clear();
    let cross = |q: usize, p: usize| {
        let (q2, p2) = ((q * q) as f64, (p * p) as f64);
        ((f[q] + q2) - (f[p] + p2)) / (2.0 * q as f64 - 2.0 * p as f64)
    };
    for q in (0..f.len()).filter(|&q| f[q].is_finite()) {
        loop {
            match v.last() {
                None => {
                    v.push(q);
                    break;
                }
                Some(&p) => {
                    let s = cross(q, p);
                    if !z.is_empty() && s <= z[z.len() - 1] {
                        v.pop();
                        z.pop();
                    } else {
                        z.push(s);
                        v.push(q);
                        break;
                    }
                }
            }
        }
    }
    if v.is_empty() {
        out.iter_mut().for_each(|o| *o = f64::INFINITY);
        return;
    }
    let mut k = 0;
    for (p, slot) in out.iter_mut().enumerate() {
        while k < z.len() && z[k] < p as f64 {
            k += 1;
        }
        let q = v[k];
        let dp = p as f64 - q as f64;
        *slot = dp * dp + f[q];
    }
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
