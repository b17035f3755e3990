//! A correct 2-D max-pool for training.
//!
//! candle 0.11's `max_pool2d` backward divides gradients by k² and fails when kernel ≠ stride
//! (EfficientNet/ResNet stems pool 3×3 with stride 2). This version gathers each window with
//! `index_select`, takes the argmax and `gather`s it, so the gradient flows to exactly one
//! element per window through ops whose backward candle gets right, on CPU and CUDA alike.

use candle_core::{DType, Device, Result, Tensor, D};

/// Max-pool over the last two dims of an `(N, C, H, W)` tensor; padding counts as −∞.
pub fn max_pool2d(
    x: &Tensor,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
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
