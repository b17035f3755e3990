//! A correct 2-D max-pool for training.
//!
//! candle 0.11's `max_pool2d` backward divides gradients by k² and fails when kernel ≠ stride
//! (EfficientNet/ResNet stems pool 3×3 with stride 2). On the CPU this is one custom op that
//! remembers each window's argmax and routes the gradient to exactly that element. Elsewhere
//! it gathers each window with `index_select`, takes the argmax and `gather`s it, ops whose
//! backward candle gets right on every device (four input-sized temporaries forward and
//! backward, which is why the CPU has its own op). Padding counts as −∞; the first maximum in
//! a window (row by row) wins ties; a NaN in a window is its maximum (PyTorch's rule).

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

/// Max-pool over the last two dims of an `(N, C, H, W)` tensor; padding counts as −∞.
pub fn max_pool2d(
    x: &Tensor,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let (kh, kw) = kernel;
    let (sh, sw) = stride;
    let (ph, pw) = padding;
    if kh == 0 || kw == 0 || sh == 0 || sw == 0 {
        candle_core::bail!("max_pool2d: kernel and stride must be ≥ 1, got {kernel:?}, {stride:?}");
    }
    if ph * 2 > kh || pw * 2 > kw {
        candle_core::bail!(
            "max_pool2d: padding {padding:?} larger than half the kernel {kernel:?}"
        );
    }
    let (hp, wp) = (h + 2 * ph, w + 2 * pw);
    if hp < kh || wp < kw {
        candle_core::bail!("max_pool2d: input {h}×{w} smaller than kernel {kernel:?}");
    }
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        let window = Window {
            h,
            w,
            kernel,
            stride,
            padding,
        };
        let op = MaxPool {
            window,
            argmax: Arc::new(Mutex::new(Vec::new())),
        };
        return x.contiguous()?.apply_op1(op);
    }
    gathered(x, kernel, stride, padding)
}

/// The device-independent composition (index_select, argmax, gather); arguments checked.
fn gathered(
    x: &Tensor,
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    (ph, pw): (usize, usize),
) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let (hp, wp) = (h + 2 * ph, w + 2 * pw);
    let padded = if ph > 0 || pw > 0 {
        let pad = |t: &Tensor| t.pad_with_zeros(2, ph, ph)?.pad_with_zeros(3, pw, pw);
        // Inside 1, padding 0; shifting padding by −1e30 makes it lose every max.
        let inside = pad(&x.ones_like()?)?;
        (pad(x)? + ((inside - 1.0)? * 1e30)?)?
    } else {
        x.clone()
    };
    let (oh, ow) = ((hp - kh) / sh + 1, (wp - kw) / sw + 1);
    let mut idx = Vec::with_capacity(oh * ow * kh * kw);
    for i in 0..oh {
        for j in 0..ow {
            for a in 0..kh {
                for b in 0..kw {
                    idx.push(((i * sh + a) * wp + (j * sw + b)) as u32);
                }
            }
        }
    }
    let idx = Tensor::from_vec(idx, oh * ow * kh * kw, &Device::Cpu)?.to_device(x.device())?;
    let windows = padded
        .reshape((n, c, hp * wp))?
        .index_select(&idx, 2)?
        .reshape((n, c, oh * ow, kh * kw))?;
    let arg = windows.argmax_keepdim(D::Minus1)?.to_dtype(DType::U32)?;
    windows
        .gather(&arg.contiguous()?, D::Minus1)?
        .reshape((n, c, oh, ow))
}

/// The pooling geometry of one `(H, W)` plane.
#[derive(Debug, Clone, Copy)]
struct Window {
    h: usize,
    w: usize,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
}

impl Window {
    fn out(&self) -> (usize, usize) {
        let (hp, wp) = (self.h + 2 * self.padding.0, self.w + 2 * self.padding.1);
        (
            (hp - self.kernel.0) / self.stride.0 + 1,
            (wp - self.kernel.1) / self.stride.1 + 1,
        )
    }

    /// Pools one plane: writes the maxima and the plane index of each one.
    fn pool<T: Copy + PartialOrd>(&self, plane: &[T], out: &mut [T], argmax: &mut [u32]) {
        let (oh, ow) = self.out();
        let (pt, pl) = (self.padding.0 as isize, self.padding.1 as isize);
        for oy in 0..oh {
            // The window's rows and columns clipped to the plane: padding never wins.
            let y0 = (oy * self.stride.0) as isize - pt;
            let ys =
                y0.max(0) as usize..((y0 + self.kernel.0 as isize).min(self.h as isize)) as usize;
            for ox in 0..ow {
                let x0 = (ox * self.stride.1) as isize - pl;
                let xs = x0.max(0) as usize
                    ..((x0 + self.kernel.1 as isize).min(self.w as isize)) as usize;
                let mut best = ys.start * self.w + xs.start;
                'window: for y in ys.clone() {
                    for x in xs.clone() {
                        let i = y * self.w + x;
                        let v = plane[i];
                        // NaN: `v != v`; it is the window's maximum and stays so.
                        #[allow(clippy::eq_op)]
                        if v != v {
                            best = i;
                            break 'window;
                        }
                        if v > plane[best] {
                            best = i;
                        }
                    }
                }
                out[oy * ow + ox] = plane[best];
                argmax[oy * ow + ox] = best as u32;
            }
        }
    }
}

/// CPU max-pool over contiguous `(N, C, H, W)`; records each output's argmax (index within
/// its plane) for the backward.
struct MaxPool {
    window: Window,
    argmax: Arc<Mutex<Vec<u32>>>,
}

fn pool_all<T: Copy + PartialOrd + Default + Send + Sync>(
    x: &[T],
    window: Window,
) -> (Vec<T>, Vec<u32>) {
    let (oh, ow) = window.out();
    let (plane, out_plane) = (window.h * window.w, oh * ow);
    let planes = x.len() / plane;
    let mut y = vec![T::default(); planes * out_plane];
    let mut arg = vec![0u32; planes * out_plane];
    y.par_chunks_mut(out_plane)
        .zip(arg.par_chunks_mut(out_plane))
        .zip(x.par_chunks(plane))
        .for_each(|((o, a), p)| window.pool(p, o, a));
    (y, arg)
}

fn planar<'a, T>(data: &'a [T], l: &Layout) -> Result<&'a [T]> {
    crate::conv::elements(data, l, "max_pool2d")
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "max-pool2d"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, _, _) = l.shape().dims4()?;
        let (oh, ow) = self.window.out();
        let (y, arg) = match s {
            CpuStorage::F32(x) => {
                let (y, a) = pool_all(planar(x, l)?, self.window);
                (CpuStorage::F32(y), a)
            }
            CpuStorage::F64(x) => {
                let (y, a) = pool_all(planar(x, l)?, self.window);
                (CpuStorage::F64(y), a)
            }
            _ => candle_core::bail!("max_pool2d: f32 or f64 only"),
        };
        *self.argmax.lock().expect("argmax lock") = arg;
        Ok((y, Shape::from((n, c, oh, ow))))
    }
    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let scatter = MaxPoolGrad {
            window: self.window,
            argmax: self.argmax.clone(),
        };
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&scatter)?))
    }
}

/// Sends each output's gradient to its window's argmax.
struct MaxPoolGrad {
    window: Window,
    argmax: Arc<Mutex<Vec<u32>>>,
}

fn scatter_all<T: Copy + Default + std::ops::AddAssign + Send + Sync>(
    dy: &[T],
    argmax: &[u32],
    window: Window,
) -> Vec<T> {
    let (oh, ow) = window.out();
    let (plane, out_plane) = (window.h * window.w, oh * ow);
    let mut dx = vec![T::default(); dy.len() / out_plane * plane];
    dx.par_chunks_mut(plane)
        .zip(dy.par_chunks(out_plane).zip(argmax.par_chunks(out_plane)))
        .for_each(|(d, (g, a))| {
            // Overlapping windows (stride < kernel) may share an argmax: gradients add.
            for (&gi, &ai) in g.iter().zip(a) {
                d[ai as usize] += gi;
            }
        });
    dx
}

impl CustomOp1 for MaxPoolGrad {
    fn name(&self) -> &'static str {
        "max-pool2d-grad"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, _, _) = l.shape().dims4()?;
        let argmax = self.argmax.lock().expect("argmax lock");
        if argmax.len() != l.shape().elem_count() {
            candle_core::bail!("max_pool2d backward: gradient shape differs from the forward's");
        }
        let dx = match s {
            CpuStorage::F32(g) => CpuStorage::F32(scatter_all(planar(g, l)?, &argmax, self.window)),
            CpuStorage::F64(g) => CpuStorage::F64(scatter_all(planar(g, l)?, &argmax, self.window)),
            _ => candle_core::bail!("max_pool2d backward: f32 or f64 only"),
        };
        Ok((dx, Shape::from((n, c, self.window.h, self.window.w))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_gradients;

    fn input(dims: (usize, usize, usize, usize)) -> Tensor {
        // Distinct values (no ties), deterministic.
        let n = dims.0 * dims.1 * dims.2 * dims.3;
        let v: Vec<f64> = (0..n)
            .map(|i| ((i * 7919) % 101) as f64 / 10.0 - 5.0)
            .collect();
        Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
    }

    #[test]
    fn forward_matches_candle_when_kernel_equals_stride() {
        let x = input((2, 3, 6, 8));
        let ours = max_pool2d(&x, (2, 2), (2, 2), (0, 0)).unwrap();
        let theirs = x.max_pool2d(2).unwrap();
        let d = crate::gradcheck::max_abs_diff(&ours, &theirs).unwrap();
        assert_eq!(d, 0.0);
    }

    #[test]
    fn stem_pool_3x3_stride_2_pad_1_by_hand_and_gradient() {
        // 1×1×3×3 input 1..9: with pad 1, windows centred at (0,0),(0,2),(2,0),(2,2) → 5, 6, 8, 9.
        let x = Tensor::arange(1f64, 10.0, &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 3, 3))
            .unwrap();
        let y = max_pool2d(&x, (3, 3), (2, 2), (1, 1)).unwrap();
        assert_eq!(
            y.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
            vec![5.0, 6.0, 8.0, 9.0]
        );
        let report = check_gradients(
            |t| max_pool2d(t, (3, 3), (2, 2), (1, 1)),
            &input((1, 2, 7, 7)),
            1e-4,
        )
        .unwrap();
        assert!(report.max_abs_error < 1e-6, "{report:?}");
    }

    /// The CPU op equals the composition in values and gradients, for plain, strided-overlapping
    /// and padded windows, in f64 and f32.
    #[test]
    fn cpu_op_equals_the_gathered_composition() {
        for (k, st, p) in [
            ((2, 2), (2, 2), (0, 0)),
            ((3, 3), (1, 1), (0, 0)),
            ((3, 3), (2, 2), (1, 1)),
            ((3, 2), (2, 1), (1, 1)),
        ] {
            for dtype in [DType::F64, DType::F32] {
                let x =
                    candle_core::Var::from_tensor(&input((2, 3, 7, 9)).to_dtype(dtype).unwrap())
                        .unwrap();
                let weights = input((2, 3, 10, 10)).to_dtype(dtype).unwrap();
                let ours = max_pool2d(x.as_tensor(), k, st, p).unwrap();
                let theirs = gathered(x.as_tensor(), k, st, p).unwrap();
                let at = format!("kernel {k:?} stride {st:?} padding {p:?} {dtype:?}");
                assert_eq!(ours.dims(), theirs.dims(), "{at}");
                let d = |a: &Tensor, b: &Tensor| crate::gradcheck::max_abs_diff(a, b).unwrap();
                assert_eq!(d(&ours, &theirs), 0.0, "{at}");
                let loss = |y: &Tensor| {
                    let w = weights.narrow(2, 0, y.dim(2).unwrap()).unwrap();
                    let w = w.narrow(3, 0, y.dim(3).unwrap()).unwrap();
                    y.mul(&w).unwrap().sum_all().unwrap().backward().unwrap()
                };
                let (ga, gb) = (loss(&ours), loss(&theirs));
                assert!(d(ga.get(&x).unwrap(), gb.get(&x).unwrap()) < 1e-6, "{at}");
            }
        }
    }

    #[test]
    fn a_nan_is_its_windows_maximum() {
        let mut v = vec![1.0f64; 16];
        v[5] = f64::NAN;
        let x = Tensor::from_vec(v, (1, 1, 4, 4), &Device::Cpu).unwrap();
        let y = max_pool2d(&x, (2, 2), (2, 2), (0, 0)).unwrap();
        let y = y.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        assert!(y[0].is_nan() && y[1..].iter().all(|&v| v == 1.0), "{y:?}");
    }

    #[test]
    fn candle_0_11_pool_backward_is_scaled_by_k2() {
        // Why this module exists: with kernel = stride = 2 every input's gradient should be
        // 1 or 0 (one max per window); candle's own backward gives 1/4.
        let x = candle_core::Var::from_tensor(&input((1, 1, 4, 4))).unwrap();
        let g = x
            .as_tensor()
            .max_pool2d(2)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let total = g
            .get(&x)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        let ours = max_pool2d(x.as_tensor(), (2, 2), (2, 2), (0, 0))
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let ours_total = ours
            .get(&x)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert_eq!(ours_total, 4.0, "four windows, one unit gradient each");
        assert_ne!(
            total, 4.0,
            "candle fixed its max_pool2d backward: revisit cellpaint_core::pool"
        );
    }
}
