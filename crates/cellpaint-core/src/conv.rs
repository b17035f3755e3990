//! A stride-1 2-D convolution whose backward pass is fast on the CPU.
//!
//! candle 0.11 computes a convolution's input gradient with `conv_transpose2d`, a direct loop
//! on the CPU, and its kernel gradient as a convolution with an image-sized kernel: for the
//! 5×5 layers of VAE+ the backward pass took 4–5× the forward. Here the convolution is
//! `W · im2col(x)`: a custom op unfolds the (zero-padded) input, candle's matmul does the
//! arithmetic, and the unfold's backward is the matching fold (col2im), so both gradients are
//! matrix products. Other devices use candle's own `conv2d`.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// `x (N, C_in, H, W) ⋆ w (C_out, C_in, K_h, K_w)` with stride 1 and `padding` zeros on every
/// side; output `(N, C_out, H + 2p − K_h + 1, W + 2p − K_w + 1)`.
pub fn conv2d(x: &Tensor, w: &Tensor, padding: usize) -> Result<Tensor> {
    let (n, c, h, wd) = x.dims4()?;
    let (co, ci, kh, kw) = w.dims4()?;
    if ci != c {
        candle_core::bail!("conv2d: input has {c} channels, kernel expects {ci}");
    }
    let (hp, wp) = (h + 2 * padding, wd + 2 * padding);
    if hp < kh || wp < kw {
        candle_core::bail!(
            "conv2d: input {h}×{wd} (padding {padding}) smaller than kernel {kh}×{kw}"
        );
    }
    if !x.device().is_cpu() {
        return x.conv2d(w, padding, 1, 1, 1);
    }
    let (oh, ow) = (hp - kh + 1, wp - kw + 1);
    let unfold = Unfold {
        geometry: Geometry {
            c,
            h,
            w: wd,
            kh,
            kw,
            pad: padding,
        },
    };
    let cols = x.contiguous()?.apply_op1(unfold)?;
    w.reshape((co, ci * kh * kw))?
        .broadcast_matmul(&cols)?
        .reshape((n, co, oh, ow))
}

#[derive(Debug, Clone, Copy)]
struct Geometry {
    c: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    pad: usize,
}

impl Geometry {
    fn out(&self) -> (usize, usize) {
        (
            self.h + 2 * self.pad - self.kh + 1,
            self.w + 2 * self.pad - self.kw + 1,
        )
    }
    fn rows(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// For column row (c, ky, kx) and output row oy: the input row and the valid ox range.
    fn span(&self, ky: usize, kx: usize, oy: usize) -> Option<(usize, usize, usize, usize)> {
        let iy = (oy + ky).checked_sub(self.pad)?;
        if iy >= self.h {
            return None;
        }
        let (_, ow) = self.out();
        // ix = ox + kx − pad must lie in [0, w).
        let lo = self.pad.saturating_sub(kx);
        let hi = (self.w + self.pad).saturating_sub(kx).min(ow);
        (lo < hi).then_some((iy, lo, hi, lo + kx - self.pad))
    }
}

/// im2col of one sample: `(C, H, W)` → `(C·K_h·K_w, OH·OW)`.
fn unfold_sample<T: Copy + Default>(x: &[T], g: Geometry, out: &mut [T]) {
    let (oh, ow) = g.out();
    let l = oh * ow;
    out.fill(T::default());
    for (r, row) in out.chunks_mut(l).enumerate() {
        let (ch, ky, kx) = (r / (g.kh * g.kw), (r / g.kw) % g.kh, r % g.kw);
        let plane = &x[ch * g.h * g.w..(ch + 1) * g.h * g.w];
        for oy in 0..oh {
            if let Some((iy, lo, hi, ix0)) = g.span(ky, kx, oy) {
                row[oy * ow + lo..oy * ow + hi]
                    .copy_from_slice(&plane[iy * g.w + ix0..iy * g.w + ix0 + (hi - lo)]);
            }
        }
    }
}

/// col2im of one sample: sums `(C·K_h·K_w, OH·OW)` back onto `(C, H, W)`.
fn fold_sample<T: Copy + Default + std::ops::AddAssign>(cols: &[T], g: Geometry, out: &mut [T]) {
    let (oh, ow) = g.out();
    let l = oh * ow;
    out.fill(T::default());
    // One channel at a time so the rows that write a plane are together.
    for (ch, plane) in out.chunks_mut(g.h * g.w).enumerate() {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let r = (ch * g.kh + ky) * g.kw + kx;
                let row = &cols[r * l..(r + 1) * l];
                for oy in 0..oh {
                    if let Some((iy, lo, hi, ix0)) = g.span(ky, kx, oy) {
                        let dst = &mut plane[iy * g.w + ix0..iy * g.w + ix0 + (hi - lo)];
                        for (d, &s) in dst.iter_mut().zip(&row[oy * ow + lo..oy * ow + hi]) {
                            *d += s;
                        }
                    }
                }
            }
        }
    }
}

fn contiguous_slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a CpuStorage> {
    if l.contiguous_offsets() != Some((0, l.shape().elem_count())) {
        candle_core::bail!("im2col needs contiguous, offset-free input");
    }
    Ok(s)
}

/// `(N, C, H, W)` → `(N, C·K_h·K_w, OH·OW)`; backward: [`Fold`].
struct Unfold {
    geometry: Geometry,
}

impl CustomOp1 for Unfold {
    fn name(&self) -> &'static str {
        "im2col"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = self.geometry;
        let n = l.shape().dims()[0];
        let (oh, ow) = g.out();
        let per_in = g.c * g.h * g.w;
        let per_out = g.rows() * oh * ow;
        let shape = Shape::from((n, g.rows(), oh * ow));
        macro_rules! run {
            ($x:expr, $v:ident) => {{
                let mut out = vec![Default::default(); n * per_out];
                out.par_chunks_mut(per_out)
                    .zip($x.par_chunks(per_in))
                    .for_each(|(o, xi)| unfold_sample(xi, g, o));
                Ok((CpuStorage::$v(out), shape))
            }};
        }
        match contiguous_slice(s, l)? {
            CpuStorage::F32(x) => run!(x, F32),
            CpuStorage::F64(x) => run!(x, F64),
            _ => candle_core::bail!("im2col: f32 or f64 only"),
        }
    }
    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1(Fold {
            geometry: self.geometry,
        })?))
    }
}

/// `(N, C·K_h·K_w, OH·OW)` → `(N, C, H, W)`, summing overlaps; backward: [`Unfold`].
struct Fold {
    geometry: Geometry,
}

impl CustomOp1 for Fold {
    fn name(&self) -> &'static str {
        "col2im"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = self.geometry;
        let n = l.shape().dims()[0];
        let (oh, ow) = g.out();
        let per_in = g.rows() * oh * ow;
        let per_out = g.c * g.h * g.w;
        let shape = Shape::from((n, g.c, g.h, g.w));
        macro_rules! run {
            ($x:expr, $v:ident) => {{
                let mut out = vec![Default::default(); n * per_out];
                out.par_chunks_mut(per_out)
                    .zip($x.par_chunks(per_in))
                    .for_each(|(o, xi)| fold_sample(xi, g, o));
                Ok((CpuStorage::$v(out), shape))
            }};
        }
        match contiguous_slice(s, l)? {
            CpuStorage::F32(x) => run!(x, F32),
            CpuStorage::F64(x) => run!(x, F64),
            _ => candle_core::bail!("col2im: f32 or f64 only"),
        }
    }
    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1(Unfold {
            geometry: self.geometry,
        })?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradients, max_abs_diff};
    use candle_core::{DType, Device};

    fn values(dims: (usize, usize, usize, usize), salt: usize) -> Tensor {
        let n = dims.0 * dims.1 * dims.2 * dims.3;
        let v: Vec<f64> = (0..n)
            .map(|i| (((i + salt) * 7919) % 113) as f64 / 50.0 - 1.1)
            .collect();
        Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
    }

    #[test]
    fn equals_candles_conv2d_with_and_without_padding() {
        for (pad, k) in [(0, 5), (4, 5), (1, 3), (0, 1)] {
            let x = values((2, 3, 9, 7), 0);
            let w = values((4, 3, k, k), 5);
            let ours = conv2d(&x, &w, pad).unwrap();
            let theirs = x.conv2d(&w, pad, 1, 1, 1).unwrap();
            assert_eq!(ours.dims(), theirs.dims());
            assert!(
                max_abs_diff(&ours, &theirs).unwrap() < 1e-12,
                "pad {pad} k {k}"
            );
        }
        let x32 = values((1, 2, 6, 6), 1).to_dtype(DType::F32).unwrap();
        let w32 = values((3, 2, 5, 5), 2).to_dtype(DType::F32).unwrap();
        let d = max_abs_diff(
            &conv2d(&x32, &w32, 4).unwrap(),
            &x32.conv2d(&w32, 4, 1, 1, 1).unwrap(),
        )
        .unwrap();
        assert!(d < 1e-5, "{d}");
    }

    #[test]
    fn gradients_match_finite_differences() {
        let w = values((3, 2, 3, 3), 7);
        let x = values((2, 2, 5, 6), 3);
        for pad in [0, 2] {
            let gx = check_gradients(|t| conv2d(t, &w, pad)?.sqr(), &x, 1e-5).unwrap();
            assert!(gx.max_rel_error < 1e-7, "input, pad {pad}: {gx:?}");
            let gw = check_gradients(|t| conv2d(&x, t, pad)?.sqr(), &w, 1e-5).unwrap();
            assert!(gw.max_rel_error < 1e-7, "kernel, pad {pad}: {gw:?}");
        }
    }

    #[test]
    fn mismatched_channels_or_tiny_input_is_an_error() {
        assert!(conv2d(&values((1, 2, 5, 5), 0), &values((3, 4, 3, 3), 0), 0).is_err());
        assert!(conv2d(&values((1, 2, 2, 2), 0), &values((3, 2, 5, 5), 0), 0).is_err());
    }
}
