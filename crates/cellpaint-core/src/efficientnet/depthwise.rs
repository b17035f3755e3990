//! Depthwise convolution.
//!
//! candle runs a grouped convolution as one small convolution per group (672 of them in
//! EfficientNet's block 6), which is slow on the CPU. On the CPU we use a custom op with direct
//! forward and backward kernels (parallel over channel planes, no intermediate tensors). Other
//! devices use a composition of candle ops: each kernel tap is a slice of the padded input
//! (strided by a reshape for stride 2) times a per-channel weight — correct everywhere, but it
//! keeps k² intermediates for backward. Tests check the two agree, values and gradients.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Depthwise 2-D convolution: `x` (N, C, H, W), `weight` (C, 1, k, k) (PyTorch layout),
/// symmetric `padding`, `stride` 1 or 2. No bias.
pub fn depthwise_conv2d(
    x: &Tensor,
    weight: &Tensor,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    check(x, weight, stride, padding)?;
    let float = matches!(x.dtype(), candle_core::DType::F32 | candle_core::DType::F64);
    let f32s = x.dtype() == candle_core::DType::F32 && weight.dtype() == candle_core::DType::F32;
    let kernel = (x.device().is_cpu() && float && x.dtype() == weight.dtype())
        || (x.device().is_cuda() && f32s && crate::device::cuda_kernels());
    if kernel {
        x.contiguous()?
            .apply_op2(&weight.contiguous()?, Depthwise { stride, padding })
    } else {
        depthwise_conv2d_composed(x, weight, stride, padding)
    }
}

fn check(x: &Tensor, weight: &Tensor, stride: usize, padding: usize) -> Result<()> {
    let (_, c, h, w) = x.dims4()?;
    let (wc, one, k, k2) = weight.dims4()?;
    if wc != c || one != 1 || k != k2 {
        candle_core::bail!(
            "depthwise weight {:?} does not fit input {:?}",
            weight.shape(),
            x.shape()
        );
    }
    if !(1..=2).contains(&stride) {
        candle_core::bail!("depthwise stride must be 1 or 2, got {stride}");
    }
    if h + 2 * padding < k || w + 2 * padding < k {
        candle_core::bail!("depthwise input {h}×{w} (+ padding {padding}) smaller than kernel {k}");
    }
    Ok(())
}

/// Geometry shared by the three kernels.
#[derive(Debug, Clone, Copy)]
struct Geom {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    k: usize,
    s: usize,
    p: usize,
    oh: usize,
    ow: usize,
}

impl Geom {
    fn new(n: usize, c: usize, h: usize, w: usize, k: usize, s: usize, p: usize) -> Geom {
        Geom {
            n,
            c,
            h,
            w,
            k,
            s,
            p,
            oh: (h + 2 * p - k) / s + 1,
            ow: (w + 2 * p - k) / s + 1,
        }
    }
    /// Input coordinate of output `o` at tap `a`, if inside the image.
    #[inline]
    fn input(&self, o: usize, a: usize, len: usize) -> Option<usize> {
        let i = (o * self.s + a) as isize - self.p as isize;
        (i >= 0 && (i as usize) < len).then_some(i as usize)
    }
}

trait Float:
    Copy
    + Default
    + Send
    + Sync
    + std::ops::Add<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::AddAssign
{
}
impl Float for f32 {}
impl Float for f64 {}

impl Geom {
    /// Output columns `ox` whose input column `ox·s + b − p` lies inside the image.
    #[inline]
    fn valid(&self, b: usize, len: usize, out_len: usize) -> std::ops::Range<usize> {
        let lo = if self.p > b {
            (self.p - b).div_ceil(self.s)
        } else {
            0
        }
        .min(out_len);
        let hi = if len + self.p > b {
            ((len - 1 + self.p - b) / self.s + 1).min(out_len)
        } else {
            0
        };
        lo..hi.max(lo)
    }
}

// The kernels loop row by row with the tap outermost, so the inner loop runs over a contiguous
// range of output columns without bounds tests (vectorised by the compiler for stride 1).

fn forward<T: Float>(x: &[T], wt: &[T], g: Geom) -> Vec<T> {
    let (plane_in, plane_out, kk) = (g.h * g.w, g.oh * g.ow, g.k * g.k);
    let mut out = vec![T::default(); g.n * g.c * plane_out];
    out.par_chunks_mut(plane_out)
        .enumerate()
        .for_each(|(nc, o)| {
            let xi = &x[nc * plane_in..(nc + 1) * plane_in];
            let wk = &wt[(nc % g.c) * kk..(nc % g.c + 1) * kk];
            for oy in 0..g.oh {
                let row = &mut o[oy * g.ow..(oy + 1) * g.ow];
                for a in 0..g.k {
                    let Some(iy) = g.input(oy, a, g.h) else {
                        continue;
                    };
                    let xr = &xi[iy * g.w..(iy + 1) * g.w];
                    for b in 0..g.k {
                        let wv = wk[a * g.k + b];
                        let r = g.valid(b, g.w, g.ow);
                        if r.is_empty() {
                            continue;
                        }
                        let off = r.start * g.s + b - g.p;
                        if g.s == 1 {
                            for (o, &v) in row[r.clone()].iter_mut().zip(&xr[off..off + r.len()]) {
                                *o += v * wv;
                            }
                        } else {
                            for (j, o) in row[r.clone()].iter_mut().enumerate() {
                                *o += xr[off + j * g.s] * wv;
                            }
                        }
                    }
                }
            }
        });
    out
}

fn grad_input<T: Float>(gr: &[T], wt: &[T], g: Geom) -> Vec<T> {
    let (plane_in, plane_out, kk) = (g.h * g.w, g.oh * g.ow, g.k * g.k);
    let mut gx = vec![T::default(); g.n * g.c * plane_in];
    gx.par_chunks_mut(plane_in)
        .enumerate()
        .for_each(|(nc, gxi)| {
            let go = &gr[nc * plane_out..(nc + 1) * plane_out];
            let wk = &wt[(nc % g.c) * kk..(nc % g.c + 1) * kk];
            for oy in 0..g.oh {
                let gr_row = &go[oy * g.ow..(oy + 1) * g.ow];
                for a in 0..g.k {
                    let Some(iy) = g.input(oy, a, g.h) else {
                        continue;
                    };
                    let xr = &mut gxi[iy * g.w..(iy + 1) * g.w];
                    for b in 0..g.k {
                        let wv = wk[a * g.k + b];
                        let r = g.valid(b, g.w, g.ow);
                        if r.is_empty() {
                            continue;
                        }
                        let off = r.start * g.s + b - g.p;
                        if g.s == 1 {
                            for (d, &v) in xr[off..off + r.len()].iter_mut().zip(&gr_row[r.clone()])
                            {
                                *d += v * wv;
                            }
                        } else {
                            for (j, &v) in gr_row[r.clone()].iter().enumerate() {
                                xr[off + j * g.s] += v * wv;
                            }
                        }
                    }
                }
            }
        });
    gx
}

fn grad_weight<T: Float>(x: &[T], gr: &[T], g: Geom) -> Vec<T> {
    let (plane_in, plane_out, kk) = (g.h * g.w, g.oh * g.ow, g.k * g.k);
    let per_channel: Vec<Vec<T>> = (0..g.c)
        .into_par_iter()
        .map(|c| {
            let mut gw = vec![T::default(); kk];
            for n in 0..g.n {
                let nc = n * g.c + c;
                let xi = &x[nc * plane_in..(nc + 1) * plane_in];
                let go = &gr[nc * plane_out..(nc + 1) * plane_out];
                for oy in 0..g.oh {
                    let gr_row = &go[oy * g.ow..(oy + 1) * g.ow];
                    for a in 0..g.k {
                        let Some(iy) = g.input(oy, a, g.h) else {
                            continue;
                        };
                        let xr = &xi[iy * g.w..(iy + 1) * g.w];
                        for b in 0..g.k {
                            let r = g.valid(b, g.w, g.ow);
                            if r.is_empty() {
                                continue;
                            }
                            let off = r.start * g.s + b - g.p;
                            let mut acc = T::default();
                            if g.s == 1 {
                                for (&v, &xv) in
                                    gr_row[r.clone()].iter().zip(&xr[off..off + r.len()])
                                {
                                    acc += v * xv;
                                }
                            } else {
                                for (j, &v) in gr_row[r.clone()].iter().enumerate() {
                                    acc += v * xr[off + j * g.s];
                                }
                            }
                            gw[a * g.k + b] += acc;
                        }
                    }
                }
            }
            gw
        })
        .collect();
    per_channel.concat()
}

enum Slice<'a> {
    F32(&'a [f32]),
    F64(&'a [f64]),
}

fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<Slice<'a>> {
    let (start, end) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("depthwise: non-contiguous input".into()))?;
    Ok(match s {
        CpuStorage::F32(v) => Slice::F32(&v[start..end]),
        CpuStorage::F64(v) => Slice::F64(&v[start..end]),
        _ => candle_core::bail!("depthwise: only f32 and f64 on the CPU"),
    })
}

/// Runs the `f32` or `f64` kernel on two storages of the same dtype.
fn dispatch(
    a: (&CpuStorage, &Layout),
    b: (&CpuStorage, &Layout),
    f32k: impl Fn(&[f32], &[f32]) -> Vec<f32>,
    f64k: impl Fn(&[f64], &[f64]) -> Vec<f64>,
) -> Result<CpuStorage> {
    Ok(match (slice(a.0, a.1)?, slice(b.0, b.1)?) {
        (Slice::F32(x), Slice::F32(y)) => CpuStorage::F32(f32k(x, y)),
        (Slice::F64(x), Slice::F64(y)) => CpuStorage::F64(f64k(x, y)),
        _ => candle_core::bail!("depthwise: mixed dtypes"),
    })
}

#[cfg(feature = "cuda")]
#[path = "depthwise_cuda.rs"]
mod cuda;

struct Depthwise {
    stride: usize,
    padding: usize,
}

impl CustomOp2 for Depthwise {
    fn name(&self) -> &'static str {
        "depthwise-conv2d"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = l1.shape().dims4()?;
        let g = Geom::new(n, c, h, w, l2.shape().dims()[2], self.stride, self.padding);
        let out = dispatch(
            (s1, l1),
            (s2, l2),
            |x, wt| forward(x, wt, g),
            |x, wt| forward(x, wt, g),
        )?;
        Ok((out, Shape::from((n, c, g.oh, g.ow))))
    }
    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let (n, c, h, w) = l1.shape().dims4()?;
        let g = Geom::new(n, c, h, w, l2.shape().dims()[2], self.stride, self.padding);
        let out = cuda::launch(cuda::Kernel::Forward, g, (s1, l1), (s2, l2))?;
        Ok((out, Shape::from((n, c, g.oh, g.ow))))
    }
    fn bwd(
        &self,
        x: &Tensor,
        wt: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (n, c, h, w) = x.dims4()?;
        let g = Geom::new(n, c, h, w, wt.dim(2)?, self.stride, self.padding);
        let grad = grad.contiguous()?;
        let gx = grad.apply_op2_no_bwd(wt, &Grad::Input(g))?;
        let gw = x.apply_op2_no_bwd(&grad, &Grad::Weight(g))?;
        Ok((Some(gx), Some(gw)))
    }
}

/// The two gradient kernels of [`Depthwise`]: with respect to the input (arguments: output
/// gradient, weight) and to the weight (arguments: input, output gradient).
enum Grad {
    Input(Geom),
    Weight(Geom),
}

impl CustomOp2 for Grad {
    fn name(&self) -> &'static str {
        match self {
            Grad::Input(_) => "depthwise-conv2d-grad-input",
            Grad::Weight(_) => "depthwise-conv2d-grad-weight",
        }
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        match *self {
            Grad::Input(g) => Ok((
                dispatch(
                    (s1, l1),
                    (s2, l2),
                    |gr, wt| grad_input(gr, wt, g),
                    |gr, wt| grad_input(gr, wt, g),
                )?,
                Shape::from((g.n, g.c, g.h, g.w)),
            )),
            Grad::Weight(g) => Ok((
                dispatch(
                    (s1, l1),
                    (s2, l2),
                    |x, gr| grad_weight(x, gr, g),
                    |x, gr| grad_weight(x, gr, g),
                )?,
                Shape::from((g.c, 1, g.k, g.k)),
            )),
        }
    }
    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        match *self {
            Grad::Input(g) => Ok((
                cuda::launch(cuda::Kernel::GradInput, g, (s1, l1), (s2, l2))?,
                Shape::from((g.n, g.c, g.h, g.w)),
            )),
            Grad::Weight(g) => Ok((
                cuda::launch(cuda::Kernel::GradWeight, g, (s1, l1), (s2, l2))?,
                Shape::from((g.c, 1, g.k, g.k)),
            )),
        }
    }
}

/// The composition of candle ops used off the CPU (and as the CPU kernels' reference).
pub fn depthwise_conv2d_composed(
    x: &Tensor,
    weight: &Tensor,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    check(x, weight, stride, padding)?;
    let (n, c, h, w) = x.dims4()?;
    let k = weight.dim(2)?;
    let (hp, wp) = (h + 2 * padding, w + 2 * padding);
    let (oh, ow) = ((hp - k) / stride + 1, (wp - k) / stride + 1);
    // Room for every tap's strided window: (k − 1) + stride·out rows, padded at the end if short.
    let (need_h, need_w) = (k - 1 + stride * oh, k - 1 + stride * ow);
    let x = x
        .pad_with_zeros(2, padding, padding + need_h.saturating_sub(hp))?
        .pad_with_zeros(3, padding, padding + need_w.saturating_sub(wp))?;
    let weight = weight.reshape((c, k * k))?;
    let mut out: Option<Tensor> = None;
    for a in 0..k {
        let rows = x.narrow(2, a, stride * oh)?;
        let rows = if stride == 2 {
            rows.reshape((n, c, oh, 2, rows.dim(3)?))?
                .narrow(3, 0, 1)?
                .squeeze(3)?
        } else {
            rows
        };
        for b in 0..k {
            let tap = rows.narrow(3, b, stride * ow)?;
            let tap = if stride == 2 {
                tap.reshape((n, c, oh, ow, 2))?
                    .narrow(4, 0, 1)?
                    .squeeze(4)?
            } else {
                tap
            };
            let wk = weight.narrow(1, a * k + b, 1)?.reshape((1, c, 1, 1))?;
            let term = tap.broadcast_mul(&wk)?;
            out = Some(match out {
                None => term,
                Some(acc) => (acc + term)?,
            });
        }
    }
    out.ok_or_else(|| candle_core::Error::Msg("empty kernel".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_gradients;
    use candle_core::Device;

    fn seq(dims: (usize, usize, usize, usize), scale: f64) -> Tensor {
        let n = dims.0 * dims.1 * dims.2 * dims.3;
        let v: Vec<f64> = (0..n)
            .map(|i| (((i * 7919) % 97) as f64 / 97.0 - 0.5) * scale)
            .collect();
        Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
    }

    #[test]
    fn equals_candles_grouped_conv() {
        for (k, s, h) in [(3, 1, 7), (3, 2, 8), (5, 2, 9), (5, 1, 6), (3, 2, 7)] {
            let x = seq((2, 4, h, h + 1), 1.0);
            let w = seq((4, 1, k, k), 2.0);
            let ours = depthwise_conv2d(&x, &w, s, (k - 1) / 2).unwrap();
            let theirs = x.conv2d(&w, (k - 1) / 2, s, 1, 4).unwrap();
            assert_eq!(ours.dims(), theirs.dims(), "k{k} s{s} h{h}");
            let d = crate::gradcheck::max_abs_diff(&ours, &theirs).unwrap();
            assert!(d < 1e-12, "k{k} s{s} h{h}: {d}");
        }
    }

    #[test]
    fn cpu_kernels_equal_the_composition_values_and_gradients() {
        use candle_core::Var;
        for (k, s, h) in [(3, 1, 7), (3, 2, 8), (5, 2, 9), (5, 1, 6), (3, 2, 7)] {
            let x = Var::from_tensor(&seq((2, 3, h, h + 1), 1.0)).unwrap();
            let w = Var::from_tensor(&seq((3, 1, k, k), 2.0)).unwrap();
            let a = depthwise_conv2d(x.as_tensor(), w.as_tensor(), s, (k - 1) / 2).unwrap();
            let b =
                depthwise_conv2d_composed(x.as_tensor(), w.as_tensor(), s, (k - 1) / 2).unwrap();
            let diff = |p: &Tensor, q: &Tensor| crate::gradcheck::max_abs_diff(&p, &q).unwrap();
            assert!(diff(&a, &b) < 1e-12);
            let ga = a.sqr().unwrap().sum_all().unwrap().backward().unwrap();
            let gb = b.sqr().unwrap().sum_all().unwrap().backward().unwrap();
            assert!(
                diff(ga.get(&x).unwrap(), gb.get(&x).unwrap()) < 1e-10,
                "grad x k{k} s{s}"
            );
            assert!(
                diff(ga.get(&w).unwrap(), gb.get(&w).unwrap()) < 1e-10,
                "grad w k{k} s{s}"
            );
        }
    }

    #[test]
    fn tiny_images_at_the_edges() {
        // 1×1 and 2×2 inputs with a 5×5 kernel: most taps fall outside; compare with candle.
        for (h, k, s) in [(1, 5, 1), (2, 5, 2), (1, 3, 2), (3, 5, 2)] {
            let x = seq((1, 2, h, h), 1.0);
            let w = seq((2, 1, k, k), 1.0);
            let ours = depthwise_conv2d(&x, &w, s, (k - 1) / 2).unwrap();
            let theirs = x.conv2d(&w, (k - 1) / 2, s, 1, 2).unwrap();
            let d = crate::gradcheck::max_abs_diff(&ours, &theirs).unwrap();
            assert!(d < 1e-12, "h{h} k{k} s{s}: {d}");
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let w = seq((3, 1, 3, 3), 1.0);
        let r = check_gradients(
            |x| depthwise_conv2d(x, &w, 2, 1)?.sqr(),
            &seq((1, 3, 6, 5), 1.0),
            1e-5,
        )
        .unwrap();
        assert!(r.max_abs_error < 1e-6, "input grad {r:?}");
        let x = seq((2, 3, 5, 5), 1.0);
        let r = check_gradients(|w| depthwise_conv2d(&x, w, 1, 1)?.sqr(), &w, 1e-5).unwrap();
        assert!(r.max_abs_error < 1e-6, "weight grad {r:?}");
    }
}
