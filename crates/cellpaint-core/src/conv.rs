//! A stride-1 2-D convolution whose forward and backward are fast and lean on the CPU.
//!
//! candle 0.11 computes a convolution's input gradient with `conv_transpose2d`, a direct loop
//! on the CPU, and its kernel gradient as a convolution with an image-sized kernel: for the
//! 5×5 layers of VAE+ the backward pass took 4–5× the forward. Here each image's convolution
//! is `W · im2col(x)`, a matrix product, and both gradients are matrix products too
//! (`Wᵀ · dy` folded back by col2im; `Σ dy · im2col(x)ᵀ`). The im2col columns (25× the input
//! for a 5×5 kernel) live only in one scratch buffer per thread, never as a batch-sized
//! tensor: at VAE+'s batch 104 that tensor and its gradient were 1.5 GB each for the decoder's
//! last layer alone, and zeroing freshly mapped pages for them was half the iteration.
//! Other devices use candle's own `conv2d`.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// `x (N, C_in, H, W) ⋆ w (C_out, C_in, K_h, K_w)` with stride 1 and `padding` zeros on every
/// side; output `(N, C_out, H + 2p − K_h + 1, W + 2p − K_w + 1)`.
pub fn conv2d(x: &Tensor, w: &Tensor, padding: usize) -> Result<Tensor> {
    let (_, c, h, wd) = x.dims4()?;
    let (co, ci, kh, kw) = w.dims4()?;
    if ci != c {
        candle_core::bail!("conv2d: input has {c} channels, kernel expects {ci}");
    }
    if c == 0 || co == 0 {
        candle_core::bail!("conv2d: {c} input and {co} output channels; both must be ≥ 1");
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
    let geometry = Geometry {
        c,
        h,
        w: wd,
        kh,
        kw,
        pad: padding,
        co,
    };
    x.contiguous()?
        .apply_op2(&w.contiguous()?, Conv(geometry, Pass::Forward))
}

#[derive(Debug, Clone, Copy)]
struct Geometry {
    c: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    pad: usize,
    co: usize,
}

impl Geometry {
    fn out(&self) -> (usize, usize) {
        (
            self.h + 2 * self.pad - self.kh + 1,
            self.w + 2 * self.pad - self.kw + 1,
        )
    }
    /// Rows of one image's im2col matrix, `C·K_h·K_w`.
    fn rows(&self) -> usize {
        self.c * self.kh * self.kw
    }
    /// Output pixels of one image, the im2col matrix's columns.
    fn pixels(&self) -> usize {
        let (oh, ow) = self.out();
        oh * ow
    }
    fn image(&self) -> usize {
        self.c * self.h * self.w
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

/// f32 and f64, the types the convolution runs in.
trait Element: Copy + Default + std::ops::AddAssign + Send + Sync + 'static {
    const ONE: Self;
}
impl Element for f32 {
    const ONE: Self = 1.0;
}
impl Element for f64 {
    const ONE: Self = 1.0;
}

/// A row-major or transposed view of a matrix in a slice: element (i, j) at `i·rs + j·cs`.
#[derive(Clone, Copy)]
struct View<'a, T> {
    data: &'a [T],
    rs: usize,
    cs: usize,
}

impl<'a, T> View<'a, T> {
    fn rows(data: &'a [T], cols: usize) -> Self {
        Self {
            data,
            rs: cols,
            cs: 1,
        }
    }
    fn transposed(data: &'a [T], cols: usize) -> Self {
        Self {
            data,
            rs: 1,
            cs: cols,
        }
    }
    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.rs + (cols - 1) * self.cs < self.data.len()
    }
}

/// `dst (m × n, row-major) = [dst +] a (m × k) · b (k × n)`, on `threads` threads.
fn matmul<T: Element>(
    dst: &mut [T],
    (m, n, k): (usize, usize, usize),
    accumulate: bool,
    a: View<T>,
    b: View<T>,
    threads: usize,
) {
    assert!(
        dst.len() >= m * n && a.fits(m, k) && b.fits(k, n),
        "matmul: views out of bounds"
    );
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the assert above keeps every index gemm reads or writes inside the slices, and
    // `dst` is borrowed mutably, so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// im2col of one image: `(C, H, W)` → `(C·K_h·K_w, OH·OW)`.
fn unfold_image<T: Element>(x: &[T], g: Geometry, out: &mut [T]) {
    let (oh, ow) = g.out();
    out.fill(T::default());
    for (r, row) in out.chunks_mut(g.pixels()).enumerate() {
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

/// col2im of one image: sums `(C·K_h·K_w, OH·OW)` back onto `(C, H, W)`.
fn fold_image<T: Element>(cols: &[T], g: Geometry, out: &mut [T]) {
    let (oh, ow) = g.out();
    let l = g.pixels();
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

/// The images split into one contiguous run per thread, and the threads each matrix product
/// gets: with at least as many images as threads every thread takes whole images (no
/// synchronisation inside a product); with fewer, images go one by one and each product
/// uses every thread.
fn schedule(images: usize) -> (usize, usize) {
    let threads = rayon::current_num_threads().max(1);
    if images >= threads {
        (images.div_ceil(threads), 1)
    } else {
        (1, threads)
    }
}

/// Forward: `y_i = W · im2col(x_i)` for every image i.
fn forward<T: Element>(x: &[T], w: &[T], g: Geometry) -> Vec<T> {
    let (per_in, per_out, l) = (g.image(), g.co * g.pixels(), g.pixels());
    let n = x.len() / per_in;
    let (run, threads) = schedule(n);
    let mut y = vec![T::default(); n * per_out];
    y.par_chunks_mut(run * per_out)
        .zip(x.par_chunks(run * per_in))
        .for_each(|(ys, xs)| {
            let mut cols = vec![T::default(); g.rows() * l];
            for (yi, xi) in ys.chunks_mut(per_out).zip(xs.chunks(per_in)) {
                unfold_image(xi, g, &mut cols);
                let dims = (g.co, l, g.rows());
                let (a, b) = (View::rows(w, g.rows()), View::rows(&cols, l));
                matmul(yi, dims, false, a, b, threads);
            }
        });
    y
}

/// Input gradient: `dx_i = col2im(Wᵀ · dy_i)`.
fn input_gradient<T: Element>(dy: &[T], w: &[T], g: Geometry) -> Vec<T> {
    let (per_dy, per_dx, l) = (g.co * g.pixels(), g.image(), g.pixels());
    let n = dy.len() / per_dy;
    let (run, threads) = schedule(n);
    let mut dx = vec![T::default(); n * per_dx];
    dx.par_chunks_mut(run * per_dx)
        .zip(dy.par_chunks(run * per_dy))
        .for_each(|(dxs, dys)| {
            let mut cols = vec![T::default(); g.rows() * l];
            for (dxi, dyi) in dxs.chunks_mut(per_dx).zip(dys.chunks(per_dy)) {
                let dims = (g.rows(), l, g.co);
                let (a, b) = (View::transposed(w, g.rows()), View::rows(dyi, l));
                matmul(&mut cols, dims, false, a, b, threads);
                fold_image(&cols, g, dxi);
            }
        });
    dx
}

/// Kernel gradient: `dW = Σ_i dy_i · im2col(x_i)ᵀ`, one partial sum per thread.
fn kernel_gradient<T: Element>(x: &[T], dy: &[T], g: Geometry) -> Vec<T> {
    let (per_in, per_dy, l) = (g.image(), g.co * g.pixels(), g.pixels());
    let n = x.len() / per_in;
    let (run, threads) = schedule(n);
    let size = g.co * g.rows();
    x.par_chunks(run * per_in)
        .zip(dy.par_chunks(run * per_dy))
        .map(|(xs, dys)| {
            let mut cols = vec![T::default(); g.rows() * l];
            let mut dw = vec![T::default(); size];
            for (xi, dyi) in xs.chunks(per_in).zip(dys.chunks(per_dy)) {
                unfold_image(xi, g, &mut cols);
                let dims = (g.co, g.rows(), l);
                let (a, b) = (View::rows(dyi, l), View::transposed(&cols, l));
                matmul(&mut dw, dims, true, a, b, threads);
            }
            dw
        })
        .reduce(
            || vec![T::default(); size],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
                a
            },
        )
}

/// A custom op's operand as its elements in order (contiguous; a batch slice may start past
/// 0); `op` names the op in the error.
pub(crate) fn elements<'a, T>(data: &'a [T], l: &Layout, op: &str) -> Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{op} needs contiguous operands"),
    }
}

/// Which product a [`Conv`] op computes from its two operands.
#[derive(Debug, Clone, Copy)]
enum Pass {
    /// (x, w) → y
    Forward,
    /// (dy, w) → dx
    InputGradient,
    /// (x, dy) → dW
    KernelGradient,
}

struct Conv(Geometry, Pass);

impl CustomOp2 for Conv {
    fn name(&self) -> &'static str {
        match self.1 {
            Pass::Forward => "conv2d-im2col",
            Pass::InputGradient => "conv2d-im2col-grad-input",
            Pass::KernelGradient => "conv2d-im2col-grad-kernel",
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let Conv(g, pass) = *self;
        let n = l1.shape().dims()[0];
        let (oh, ow) = g.out();
        let shape = match pass {
            Pass::Forward => Shape::from((n, g.co, oh, ow)),
            Pass::InputGradient => Shape::from((n, g.c, g.h, g.w)),
            Pass::KernelGradient => Shape::from((g.co, g.c, g.kh, g.kw)),
        };
        macro_rules! run {
            ($a:expr, $b:expr, $v:ident) => {
                CpuStorage::$v(match pass {
                    Pass::Forward => forward($a, $b, g),
                    Pass::InputGradient => input_gradient($a, $b, g),
                    Pass::KernelGradient => kernel_gradient($a, $b, g),
                })
            };
        }
        let out = match (s1, s2) {
            (CpuStorage::F32(a), CpuStorage::F32(b)) => {
                run!(elements(a, l1, "conv2d")?, elements(b, l2, "conv2d")?, F32)
            }
            (CpuStorage::F64(a), CpuStorage::F64(b)) => {
                run!(elements(a, l1, "conv2d")?, elements(b, l2, "conv2d")?, F64)
            }
            _ => candle_core::bail!("conv2d: f32 or f64 operands of one type only"),
        };
        Ok((out, shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let Conv(g, Pass::Forward) = *self else {
            candle_core::bail!("conv2d: gradients of gradients are not implemented");
        };
        let grad = grad.contiguous()?;
        let dx = grad.apply_op2_no_bwd(w, &Conv(g, Pass::InputGradient))?;
        let dw = x.apply_op2_no_bwd(&grad, &Conv(g, Pass::KernelGradient))?;
        Ok((Some(dx), Some(dw)))
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

    /// Forward and both gradients equal candle's conv2d on every thread schedule: fewer images
    /// than threads (products share the threads), more (threads share the images), one thread,
    /// and an input that is a batch slice of a larger tensor.
    #[test]
    fn equals_candles_gradients_on_every_schedule() {
        let full = candle_core::Var::from_tensor(&values((5, 3, 8, 7), 11)).unwrap();
        let w = candle_core::Var::from_tensor(&values((4, 3, 5, 5), 13)).unwrap();
        for threads in [1, 2, 3] {
            for (first, images) in [(0, 2), (1, 4), (0, 5)] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let x = full.narrow(0, first, images).unwrap();
                let ours = pool.install(|| {
                    let y = conv2d(&x, &w, 2).unwrap();
                    let g = (y.sqr().unwrap().sum_all().unwrap()).backward().unwrap();
                    (
                        y,
                        g.get(&full).unwrap().copy().unwrap(),
                        g.get(&w).unwrap().copy().unwrap(),
                    )
                });
                let y = x.conv2d(&w, 2, 1, 1, 1).unwrap();
                let g = (y.sqr().unwrap().sum_all().unwrap()).backward().unwrap();
                let at = format!("threads {threads}, images {first}..{}", first + images);
                assert!(max_abs_diff(&ours.0, &y).unwrap() < 1e-12, "{at}");
                assert!(
                    max_abs_diff(&ours.1, g.get(&full).unwrap()).unwrap() < 1e-10,
                    "{at}"
                );
                assert!(
                    max_abs_diff(&ours.2, g.get(&w).unwrap()).unwrap() < 1e-10,
                    "{at}"
                );
            }
        }
    }

    #[test]
    fn mismatched_channels_or_tiny_input_is_an_error() {
        assert!(conv2d(&values((1, 2, 5, 5), 0), &values((3, 4, 3, 3), 0), 0).is_err());
        assert!(conv2d(&values((1, 2, 2, 2), 0), &values((3, 2, 5, 5), 0), 0).is_err());
        assert!(conv2d(&values((1, 0, 5, 5), 0), &values((3, 0, 3, 3), 0), 0).is_err());
        // An empty batch is an empty output, not an error.
        let y = conv2d(&values((0, 2, 5, 5), 0), &values((3, 2, 3, 3), 0), 1).unwrap();
        assert_eq!(y.dims(), &[0, 3, 5, 5]);
    }
}
