//! Depthwise convolution as k² shifted multiply-adds.
//!
//! candle runs a grouped convolution as one small convolution per group (672 of them in
//! EfficientNet's block 6), which is slow on the CPU. Here each kernel tap is a slice of the
//! padded input (strided by a reshape for stride 2) times a per-channel weight, so forward and
//! backward are a handful of large element-wise ops candle differentiates correctly.

use candle_core::{Result, Tensor};

/// Depthwise 2-D convolution: `x` (N, C, H, W), `weight` (C, 1, k, k) (PyTorch layout),
/// symmetric `padding`, `stride` 1 or 2. No bias.
pub fn depthwise_conv2d(
    x: &Tensor,
    weight: &Tensor,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
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
    let (hp, wp) = (h + 2 * padding, w + 2 * padding);
    if hp < k || wp < k {
        candle_core::bail!("depthwise input {h}×{w} (+ padding {padding}) smaller than kernel {k}");
    }
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
    use candle_core::{Device, Var};

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
            let d = (ours - theirs)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap();
            assert!(d < 1e-12, "k{k} s{s} h{h}: {d}");
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
        let _ = Var::new(0f64, &Device::Cpu);
    }
}
