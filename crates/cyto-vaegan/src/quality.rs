//! Reconstruction quality: pixel MSE, SSIM and sharpness (high-frequency energy kept).

use ndarray::{ArrayView2, ArrayView3, Axis};
use serde::{Deserialize, Serialize};

/// Quality of reconstructions against their originals, averaged over crops and channels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// Mean squared pixel error.
    pub mse: f64,
    /// Mean structural similarity.
    pub ssim: f64,
    /// Laplacian energy of the reconstruction over that of the original (1 = as sharp;
    /// blur drives it toward 0).
    pub sharpness: f64,
}

/// SSIM of two single-channel images in [0, 1] (Wang et al. 2004): 7×7 uniform windows,
/// K1 = 0.01, K2 = 0.03, dynamic range 1, mean over the valid windows.
pub fn ssim(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> f64 {
    const W: usize = 7;
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    let (h, w) = a.dim();
    if h < W || w < W {
        return f64::NAN;
    }
    let n = (W * W) as f64;
    let mut total = 0.0;
    let mut count = 0usize;
    for y in 0..=h - W {
        for x in 0..=w - W {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for dy in 0..W {
                for dx in 0..W {
                    let (p, q) = (a[[y + dy, x + dx]] as f64, b[[y + dy, x + dx]] as f64);
                    sa += p;
                    sb += q;
                    saa += p * p;
                    sbb += q * q;
                    sab += p * q;
                }
            }
            let (ma, mb) = (sa / n, sb / n);
            // Sample (co)variances, as scikit-image's default.
            let k = n / (n - 1.0);
            let va = (saa / n - ma * ma) * k;
            let vb = (sbb / n - mb * mb) * k;
            let cov = (sab / n - ma * mb) * k;
            total += ((2.0 * ma * mb + c1) * (2.0 * cov + c2))
                / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            count += 1;
        }
    }
    total / count as f64
}

/// Sum of the squared 4-neighbour Laplacian over the interior.
pub fn laplacian_energy(a: ArrayView2<'_, f32>) -> f64 {
    let (h, w) = a.dim();
    let mut e = 0.0;
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let l = 4.0 * a[[y, x]] as f64
                - a[[y - 1, x]] as f64
                - a[[y + 1, x]] as f64
                - a[[y, x - 1]] as f64
                - a[[y, x + 1]] as f64;
            e += l * l;
        }
    }
    e
}

/// Mean quality over crops `(C, H, W)` paired with their reconstructions.
pub fn reconstruction_quality<'a>(
    pairs: impl IntoIterator<Item = (ArrayView3<'a, f32>, ArrayView3<'a, f32>)>,
) -> Quality {
    let (mut mse, mut ssim_sum, mut sharp, mut n) = (0.0, 0.0, 0.0, 0usize);
    for (orig, rec) in pairs {
        for (o, r) in orig.axis_iter(Axis(0)).zip(rec.axis_iter(Axis(0))) {
            let d: f64 = o
                .iter()
                .zip(r.iter())
                .map(|(p, q)| ((p - q) as f64).powi(2))
                .sum();
            mse += d / o.len() as f64;
            ssim_sum += ssim(o, r);
            let eo = laplacian_energy(o);
            sharp += if eo > 0.0 {
                laplacian_energy(r) / eo
            } else {
                1.0
            };
            n += 1;
        }
    }
    let n = n.max(1) as f64;
    Quality {
        mse: mse / n,
        ssim: ssim_sum / n,
        sharpness: sharp / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3};

    fn pattern() -> Array2<f32> {
        Array2::from_shape_fn(
            (20, 20),
            |(y, x)| if (x / 2 + y / 2) % 2 == 0 { 1.0 } else { 0.0 },
        )
    }

    fn blur(a: &Array2<f32>) -> Array2<f32> {
        let (h, w) = a.dim();
        Array2::from_shape_fn((h, w), |(y, x)| {
            let mut s = 0.0;
            let mut k = 0.0;
            for dy in -1i32..=1 {
                for dx in -1i32..=1 {
                    let (yy, xx) = (y as i32 + dy, x as i32 + dx);
                    if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < w {
                        s += a[[yy as usize, xx as usize]];
                        k += 1.0;
                    }
                }
            }
            s / k
        })
    }

    #[test]
    fn identical_images_are_perfect_and_blur_is_penalised() {
        let a = pattern();
        assert!((ssim(a.view(), a.view()) - 1.0).abs() < 1e-12);
        let b = blur(&a);
        let s = ssim(a.view(), b.view());
        assert!(s < 0.9 && s > 0.0, "{s}");
        let sharp = laplacian_energy(b.view()) / laplacian_energy(a.view());
        assert!(sharp < 0.5, "{sharp}");
        // Constant images: SSIM of two equal constants is 1.
        let c = Array2::from_elem((8, 8), 0.5f32);
        assert!((ssim(c.view(), c.view()) - 1.0).abs() < 1e-12);
        let o = a.clone().insert_axis(Axis(0));
        let r: Array3<f32> = b.insert_axis(Axis(0));
        let q = reconstruction_quality([(o.view(), o.view()), (o.view(), r.view())]);
        assert!((q.ssim - (1.0 + s) / 2.0).abs() < 1e-12);
        assert!(q.mse > 0.0 && q.sharpness < 1.0);
    }
}
