//! Resampling as scikit-image's `resize(order=1, anti_aliasing=True)` does it: a Gaussian
//! pre-filter with σ = (scale − 1)/2 along each axis that shrinks, then bilinear sampling at
//! pixel centres. DeepProfiler builds its illumination functions with this.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

/// Separable Gaussian blur with mirror ("reflect") boundaries; σ ≤ 0 along an axis is a copy.
pub fn gaussian_blur(plane: ArrayView2<'_, f32>, sigma_y: f32, sigma_x: f32) -> Array2<f32> {
    let rows = blur_axis(plane, sigma_x, Axis(1));
    blur_axis(rows.view(), sigma_y, Axis(0))
}

fn kernel(sigma: f32) -> Vec<f32> {
    let radius = (4.0 * sigma).ceil() as isize;
    let mut k: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let s: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    k
}

/// Index into `0..n` with half-sample symmetric reflection (scipy's "reflect").
fn reflect(i: isize, n: isize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * n;
    let mut j = i.rem_euclid(period);
    if j >= n {
        j = period - 1 - j;
    }
    j as usize
}

fn blur_axis(plane: ArrayView2<'_, f32>, sigma: f32, axis: Axis) -> Array2<f32> {
    if sigma <= 0.0 {
        return plane.to_owned();
    }
    let k = kernel(sigma);
    let r = (k.len() / 2) as isize;
    // Work on rows: transpose views for the column pass.
    let src = if axis == Axis(1) {
        plane
    } else {
        plane.reversed_axes()
    };
    let (nr, n) = src.dim();
    let mut out = Array2::<f32>::zeros((nr, n));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(row, mut o)| {
            let line: Vec<f32> = src.row(row).to_vec();
            for (x, ov) in o.iter_mut().enumerate() {
                let mut acc = 0.0f32;
                for (t, &w) in k.iter().enumerate() {
                    acc += w * line[reflect(x as isize + t as isize - r, n as isize)];
                }
                *ov = acc;
            }
        });
    if axis == Axis(1) {
        out
    } else {
        out.reversed_axes().as_standard_layout().into_owned()
    }
}

/// Resizes to `height × width` (bilinear, anti-aliased when shrinking).
pub fn resize(plane: ArrayView2<'_, f32>, height: usize, width: usize) -> Array2<f32> {
    let (h, w) = plane.dim();
    if (h, w) == (height, width) {
        return plane.to_owned();
    }
    let (sy, sx) = (h as f32 / height as f32, w as f32 / width as f32);
    let blurred = gaussian_blur(
        plane,
        ((sy - 1.0) / 2.0).max(0.0),
        ((sx - 1.0) / 2.0).max(0.0),
    );
    let src = blurred.view();
    let coords = |out: usize, scale: f32, n: usize| {
        let c = ((out as f32 + 0.5) * scale - 0.5).clamp(0.0, (n - 1) as f32);
        let i0 = c.floor() as usize;
        let i1 = (i0 + 1).min(n - 1);
        (i0, i1, c - i0 as f32)
    };
    let xs: Vec<_> = (0..width).map(|x| coords(x, sx, w)).collect();
    let mut out = Array2::<f32>::zeros((height, width));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(y, mut row)| {
            let (y0, y1, fy) = coords(y, sy, h);
            for (x, v) in row.iter_mut().enumerate() {
                let (x0, x1, fx) = xs[x];
                let top = src[[y0, x0]] * (1.0 - fx) + src[[y0, x1]] * fx;
                let bottom = src[[y1, x0]] * (1.0 - fx) + src[[y1, x1]] * fx;
                *v = top * (1.0 - fy) + bottom * fy;
            }
        });
    out
}

/// Median over a disk of `radius` pixels (scikit-image `filters.median` with `disk(radius)`,
/// nearest-pixel boundary).
pub fn median_disk(plane: ArrayView2<'_, f32>, radius: usize) -> Array2<f32> {
    let r = radius as isize;
    let offsets: Vec<(isize, isize)> = (-r..=r)
        .flat_map(|dy| (-r..=r).map(move |dx| (dy, dx)))
        .filter(|(dy, dx)| dy * dy + dx * dx <= r * r)
        .collect();
    let (h, w) = plane.dim();
    let mut out = Array2::<f32>::zeros((h, w));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(y, mut row)| {
            let mut buf = Vec::with_capacity(offsets.len());
            for (x, v) in row.iter_mut().enumerate() {
                buf.clear();
                for &(dy, dx) in &offsets {
                    let yy = (y as isize + dy).clamp(0, h as isize - 1) as usize;
                    let xx = (x as isize + dx).clamp(0, w as isize - 1) as usize;
                    buf.push(plane[[yy, xx]]);
                }
                let mid = buf.len() / 2;
                let (_, m, _) = buf.select_nth_unstable_by(mid, f32::total_cmp);
                *v = *m;
            }
        });
    out
}

/// The value at percentile `p` (0–100) with linear interpolation, as numpy's default.
/// Non-finite values are ignored; an all-NaN input gives NaN.
pub fn percentile(values: impl Iterator<Item = f32>, p: f64) -> f32 {
    let mut v: Vec<f32> = values.filter(|x| x.is_finite()).collect();
    percentiles_of(&mut v, &[p])[0]
}

/// Several percentiles of one sample (sorted once).
pub fn percentiles_of(values: &mut [f32], ps: &[f64]) -> Vec<f32> {
    if values.is_empty() {
        return vec![f32::NAN; ps.len()];
    }
    values.par_sort_unstable_by(f32::total_cmp);
    ps.iter()
        .map(|&p| {
            let pos = (p / 100.0).clamp(0.0, 1.0) * (values.len() - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(values.len() - 1);
            let f = (pos - lo as f64) as f32;
            values[lo] * (1.0 - f) + values[hi] * f
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn resize_keeps_a_constant_and_averages_blocks() {
        let c = Array2::from_elem((40, 40), 7.0f32);
        let r = resize(c.view(), 10, 10);
        assert!(r.iter().all(|&v| (v - 7.0).abs() < 1e-5));
        // Upscaling a 2×2 ramp: the centre lies between the samples.
        let up = resize(array![[0.0f32, 1.0], [0.0, 1.0]].view(), 2, 4);
        assert_eq!(up.row(0).to_vec(), vec![0.0, 0.25, 0.75, 1.0]);
    }

    #[test]
    fn median_disk_removes_a_speck_and_keeps_an_edge() {
        let mut a = Array2::<f32>::zeros((15, 15));
        a[[7, 7]] = 100.0;
        for y in 0..15 {
            for x in 8..15 {
                a[[y, x]] += 10.0;
            }
        }
        let m = median_disk(a.view(), 2);
        assert_eq!(m[[7, 7]], 0.0);
        assert_eq!(m[[3, 12]], 10.0);
        assert_eq!(m[[3, 2]], 0.0);
    }

    #[test]
    fn percentile_matches_numpy_linear() {
        // numpy.percentile([1, 2, 3, 4], [0, 25, 50, 90]) = [1, 1.75, 2.5, 3.7]
        let mut v = vec![4.0f32, 1.0, 3.0, 2.0];
        let p = percentiles_of(&mut v, &[0.0, 25.0, 50.0, 90.0]);
        for (a, b) in p.iter().zip([1.0, 1.75, 2.5, 3.7]) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }
}
