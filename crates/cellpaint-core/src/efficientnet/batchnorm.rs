//! Batch norm (+ SiLU) for NCHW activations.
//!
//! Training mode on the CPU is one custom op: batch statistics, normalisation, affine and SiLU
//! in one pass, with an analytic backward — instead of candle's ~10 full-size temporaries per
//! layer (transpose copies, centred, squared, divided, scaled, shifted, activated). Elsewhere,
//! and in inference mode, it is a composition of candle ops (inference folds the statistics
//! into one per-channel scale and shift). Running statistics follow PyTorch: momentum update,
//! unbiased variance.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, Var, D};
use candle_nn::VarBuilder;
use rayon::prelude::*;

/// A 2-D batch norm whose variables are named as PyTorch's (`weight`, `bias`, `running_mean`,
/// `running_var`).
#[derive(Debug, Clone)]
pub struct BatchNorm2d {
    weight: Tensor,
    bias: Tensor,
    running_mean: Var,
    running_var: Var,
    eps: f64,
    momentum: f64,
}

impl BatchNorm2d {
    /// Weight, bias and running statistics under `vb`; `momentum` in [0, 1] weights the new
    /// batch in the running averages (PyTorch's convention), `eps` ≥ 0.
    pub fn new(channels: usize, eps: f64, momentum: f64, vb: VarBuilder) -> Result<Self> {
        if !(0.0..=1.0).contains(&momentum) || eps < 0.0 {
            candle_core::bail!("batch norm needs momentum in [0, 1] and eps ≥ 0");
        }
        use candle_nn::Init::Const;
        Ok(Self {
            running_mean: Var::from_tensor(&vb.get_with_hints(
                channels,
                "running_mean",
                Const(0.0),
            )?)?,
            running_var: Var::from_tensor(&vb.get_with_hints(
                channels,
                "running_var",
                Const(1.0),
            )?)?,
            weight: vb.get_with_hints(channels, "weight", Const(1.0))?,
            bias: vb.get_with_hints(channels, "bias", Const(0.0))?,
            eps,
            momentum,
        })
    }

    /// Normalises `x` (N, C, H, W); `train` uses and records batch statistics; `silu` applies
    /// SiLU to the result.
    pub fn forward(&self, x: &Tensor, train: bool, silu: bool) -> Result<Tensor> {
        let c = x.dim(1)?;
        let y = if train && fusable(x) {
            return self.fused_train(x, x.dim(0)?, silu);
        } else if train {
            self.composed_train(x, x)?
        } else {
            let rm = self.running_mean.as_detached_tensor();
            let rv = self.running_var.as_detached_tensor();
            let a = self.weight.broadcast_div(&(rv + self.eps)?.sqrt()?)?;
            let b = (&self.bias - rm.mul(&a)?)?;
            if fusable(x) && a.dtype() == x.dtype() {
                return x.contiguous()?.apply_op3(&a, &b, ScaleShift { silu });
            }
            x.broadcast_mul(&a.reshape((1, c, 1, 1))?)?
                .broadcast_add(&b.reshape((1, c, 1, 1))?)?
        };
        if silu {
            y.silu()
        } else {
            Ok(y)
        }
    }

    /// Training-mode normalisation of all of `x` with batch statistics of its first
    /// `stats_rows` samples only (VAE+'s discriminator takes its moments from real and
    /// reconstructed images, then normalises the originals with them too). Gradients flow
    /// through the statistics, as in training mode.
    pub fn forward_stats_from(&self, x: &Tensor, stats_rows: usize, silu: bool) -> Result<Tensor> {
        let n = x.dim(0)?;
        if stats_rows == 0 || stats_rows > n {
            candle_core::bail!("batch norm statistics from {stats_rows} of {n} samples");
        }
        if stats_rows == n || fusable(x) {
            return self.fused_train(x, stats_rows, silu);
        }
        let y = self.composed_train(x, &x.narrow(0, 0, stats_rows)?)?;
        if silu {
            y.silu()
        } else {
            Ok(y)
        }
    }

    /// Training mode in one custom op (CPU, f32/f64), moments from the first `stats_rows`
    /// samples.
    fn fused_train(&self, x: &Tensor, stats_rows: usize, silu: bool) -> Result<Tensor> {
        let stats = Arc::new(Mutex::new(None));
        let op = BnTrain {
            eps: self.eps,
            silu,
            stats_rows,
            stats: stats.clone(),
        };
        let y = x.contiguous()?.apply_op3(&self.weight, &self.bias, op)?;
        let (mean, var) = stats
            .lock()
            .expect("stats lock")
            .clone()
            .expect("forward ran");
        let dev = x.device();
        self.update_running(
            &x.narrow(0, 0, stats_rows)?,
            &Tensor::new(mean.as_slice(), dev)?,
            &Tensor::new(var.as_slice(), dev)?,
        )?;
        Ok(y)
    }

    /// Batch norm of `x` with the statistics of `stats` (a prefix of `x`, or `x` itself).
    fn composed_train(&self, x: &Tensor, stats: &Tensor) -> Result<Tensor> {
        let c = x.dim(1)?;
        let mean = stats
            .mean_keepdim(D::Minus1)?
            .mean_keepdim(D::Minus2)?
            .mean_keepdim(0)?;
        let var = stats
            .broadcast_sub(&mean)?
            .sqr()?
            .mean_keepdim(D::Minus1)?
            .mean_keepdim(D::Minus2)?
            .mean_keepdim(0)?;
        // As tensors, so that on a GPU the update stays there (no copy to the host per layer).
        self.update_running(stats, &mean.flatten_all()?, &var.flatten_all()?)?;
        let scale = (var + self.eps)?.sqrt()?;
        x.broadcast_sub(&mean)?
            .broadcast_div(&scale)?
            .broadcast_mul(&self.weight.reshape((1, c, 1, 1))?)?
            .broadcast_add(&self.bias.reshape((1, c, 1, 1))?)
    }

    /// Running statistics ← (1 − m)·running + m·batch, the variance made unbiased; `mean` and
    /// `var` are the batch's per-channel moments (any float dtype, on the variables' device).
    fn update_running(&self, x: &Tensor, mean: &Tensor, var: &Tensor) -> Result<()> {
        let (n, _, h, w) = x.dims4()?;
        let m = (n * h * w) as f64;
        let unbiased = if m > 1.0 { m / (m - 1.0) } else { 1.0 };
        let dt = self.running_mean.dtype();
        let bm = mean.detach().to_dtype(dt)?;
        let bv = (var.detach().to_dtype(dt)? * unbiased)?;
        let k = self.momentum;
        self.running_mean
            .set(&((self.running_mean.as_tensor() * (1.0 - k))? + (bm * k)?)?)?;
        self.running_var
            .set(&((self.running_var.as_tensor() * (1.0 - k))? + (bv * k)?)?)?;
        Ok(())
    }
}

/// Whether training mode can run as the fused op.
fn fusable(x: &Tensor) -> bool {
    x.device().is_cpu() && matches!(x.dtype(), candle_core::DType::F32 | candle_core::DType::F64)
}

/// Fused training-mode batch norm (+ SiLU) with moments from the first `stats_rows` samples;
/// the op records (mean, biased variance) per channel.
struct BnTrain {
    eps: f64,
    silu: bool,
    stats_rows: usize,
    stats: Arc<Mutex<Option<(Vec<f64>, Vec<f64>)>>>,
}

/// Per-channel (mean, biased variance) of contiguous NCHW data.
fn channel_stats<T: Copy + Into<f64> + Sync>(
    x: &[T],
    n: usize,
    c: usize,
    plane: usize,
) -> (Vec<f64>, Vec<f64>) {
    let m = (n * plane) as f64;
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let planes = || (0..n).map(move |i| &x[(i * c + ch) * plane..(i * c + ch + 1) * plane]);
            let mean = planes()
                .flat_map(|p| p.iter())
                .map(|&v| v.into())
                .sum::<f64>()
                / m;
            let var = planes()
                .flat_map(|p| p.iter())
                .map(|&v| (v.into() - mean).powi(2))
                .sum::<f64>()
                / m;
            (mean, var)
        })
        .unzip()
}

/// A pointer to an output buffer shared by tasks that write disjoint parts of it.
struct SharedOut<T>(*mut T);
// SAFETY: only used where every task writes its own disjoint ranges (see the use).
unsafe impl<T: Send> Sync for SharedOut<T> {}
impl<T> SharedOut<T> {
    fn ptr(&self) -> *mut T {
        self.0
    }
}

macro_rules! bn_kernels {
    ($t:ty, $fwd:ident, $bwd:ident) => {
        fn $fwd(
            x: &[$t],
            g: &[$t],
            b: &[$t],
            dims: (usize, usize, usize),
            stats_rows: usize,
            eps: f64,
            silu: bool,
        ) -> (Vec<$t>, Vec<f64>, Vec<f64>) {
            let (_, c, plane) = dims;
            let (mean, var) = channel_stats(x, stats_rows, c, plane);
            let mut y = vec![0 as $t; x.len()];
            y.par_chunks_mut(plane).enumerate().for_each(|(nc, out)| {
                let ch = nc % c;
                let inv = 1.0 / (var[ch] + eps).sqrt();
                // Element-wise work in the data's own precision (f32 exp is several times faster).
                let scale = (g[ch] as f64 * inv) as $t;
                let shift = (b[ch] as f64 - mean[ch] * g[ch] as f64 * inv) as $t;
                let pairs = out.iter_mut().zip(&x[nc * plane..(nc + 1) * plane]);
                if silu {
                    for (o, &v) in pairs {
                        let z = v * scale + shift;
                        *o = z / (1.0 + (-z).exp());
                    }
                } else {
                    for (o, &v) in pairs {
                        *o = v * scale + shift;
                    }
                }
            });
            (y, mean, var)
        }

        #[allow(clippy::too_many_arguments)]
        fn $bwd(
            x: &[$t],
            g: &[$t],
            b: &[$t],
            dy: &[$t],
            dims: (usize, usize, usize),
            stats_rows: usize,
            mean: &[f64],
            var: &[f64],
            eps: f64,
            silu: bool,
        ) -> (Vec<$t>, Vec<f64>, Vec<f64>) {
            let (n, c, plane) = dims;
            // Moments from the first `stats_rows` samples: only those reach the output through
            // (μ, σ²); the sums run over every sample, whose outputs all depend on (μ, σ²).
            let m = (stats_rows * plane) as f64;
            let invs: Vec<$t> = var.iter().map(|v| (1.0 / (v + eps).sqrt()) as $t).collect();
            let means: Vec<$t> = mean.iter().map(|&m| m as $t).collect();
            let dz_at = |ch: usize, v: $t, d: $t| -> ($t, $t) {
                let xh = (v - means[ch]) * invs[ch];
                let z = g[ch] * xh + b[ch];
                let dz = if silu {
                    let s = 1.0 / (1.0 + (-z).exp());
                    d * s * (1.0 + z * (1.0 - s))
                } else {
                    d
                };
                (dz, xh)
            };
            // Pass 1, per channel: dz = dy · act'(z) into dx (kept for pass 2, which then
            // needs no second exp), and Σdz, Σdz·x̂ in the same order as a plain loop.
            let mut dx = vec![0 as $t; x.len()];
            let out = SharedOut(dx.as_mut_ptr());
            let sums: Vec<(f64, f64)> = (0..c)
                .into_par_iter()
                .map(|ch| {
                    let (mut s1, mut s2) = (0.0, 0.0);
                    for i in 0..n {
                        let r = (i * c + ch) * plane..(i * c + ch + 1) * plane;
                        // SAFETY: plane (i, ch) lies inside dx and only this channel's task
                        // writes it; nothing reads dx until the tasks are done.
                        let o = unsafe {
                            std::slice::from_raw_parts_mut(out.ptr().add(r.start), plane)
                        };
                        for ((o, &v), &d) in o.iter_mut().zip(&x[r.clone()]).zip(&dy[r]) {
                            let (dz, xh) = dz_at(ch, v, d);
                            *o = dz;
                            s1 += dz as f64;
                            s2 += (dz * xh) as f64;
                        }
                    }
                    (s1, s2)
                })
                .collect();
            let db: Vec<f64> = sums.iter().map(|s| s.0).collect();
            let dg: Vec<f64> = sums.iter().map(|s| s.1).collect();
            // Pass 2, in place: dx = γ/σ · (dz − Σdz/m − x̂ Σdz·x̂/m) for the samples in the
            // statistics, γ/σ · dz for the others.
            dx.par_chunks_mut(plane).enumerate().for_each(|(nc, out)| {
                let ch = nc % c;
                let k = (g[ch] as f64 * invs[ch] as f64 / m) as $t;
                let (s1, s2) = (db[ch] as $t, dg[ch] as $t);
                let (mu, inv, mt) = (means[ch], invs[ch], m as $t);
                let xs = &x[nc * plane..(nc + 1) * plane];
                if nc / c < stats_rows {
                    for (o, &v) in out.iter_mut().zip(xs) {
                        let xh = (v - mu) * inv;
                        *o = k * (mt * *o - s1 - xh * s2);
                    }
                } else {
                    for o in out.iter_mut() {
                        *o *= k * mt;
                    }
                }
            });
            (dx, dg, db)
        }
    };
}

bn_kernels!(f32, fwd_f32, bwd_f32);
bn_kernels!(f64, fwd_f64, bwd_f64);

fn contiguous<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a CpuStorage> {
    if l.contiguous_offsets() != Some((0, l.shape().elem_count())) {
        candle_core::bail!("batch norm op needs contiguous, offset-free inputs");
    }
    Ok(s)
}

impl CustomOp3 for BnTrain {
    fn name(&self) -> &'static str {
        "batch-norm-train"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = l1.shape().dims4()?;
        let dims = (n, c, h * w);
        let (x, g, b) = (
            contiguous(s1, l1)?,
            contiguous(s2, l2)?,
            contiguous(s3, l3)?,
        );
        let (y, mean, var) = match (x, g, b) {
            (CpuStorage::F32(x), CpuStorage::F32(g), CpuStorage::F32(b)) => {
                let (y, m, v) = fwd_f32(x, g, b, dims, self.stats_rows, self.eps, self.silu);
                (CpuStorage::F32(y), m, v)
            }
            (CpuStorage::F64(x), CpuStorage::F64(g), CpuStorage::F64(b)) => {
                let (y, m, v) = fwd_f64(x, g, b, dims, self.stats_rows, self.eps, self.silu);
                (CpuStorage::F64(y), m, v)
            }
            _ => candle_core::bail!("batch norm op: f32 or f64, one dtype"),
        };
        *self.stats.lock().expect("stats lock") = Some((mean, var));
        Ok((y, l1.shape().clone()))
    }
    fn bwd(
        &self,
        x: &Tensor,
        g: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (mean, var) = self
            .stats
            .lock()
            .expect("stats lock")
            .clone()
            .expect("forward ran before backward");
        let sums = Arc::new(Mutex::new(None));
        let grad = BnTrainGrad {
            mean,
            var,
            gamma: g.to_dtype(candle_core::DType::F64)?.to_vec1()?,
            beta: b.to_dtype(candle_core::DType::F64)?.to_vec1()?,
            eps: self.eps,
            silu: self.silu,
            stats_rows: self.stats_rows,
            sums: sums.clone(),
        };
        let dx = x.apply_op2_no_bwd(&dy.contiguous()?, &grad)?;
        let (dg, db) = sums
            .lock()
            .expect("sums lock")
            .clone()
            .expect("gradient op ran");
        let c = dg.len();
        let dg = Tensor::from_vec(dg, c, x.device())?.to_dtype(g.dtype())?;
        let db = Tensor::from_vec(db, c, x.device())?.to_dtype(b.dtype())?;
        Ok((Some(dx), Some(dg), Some(db)))
    }
}

/// Inference-mode batch norm (+ SiLU) as one pass on the CPU: y = act(a·x + b) per channel,
/// with the statistics folded into (a, b), instead of three full-size passes and temporaries.
/// Its gradient (rarely wanted in inference mode) is the candle composition's.
struct ScaleShift {
    silu: bool,
}

macro_rules! scale_shift_kernel {
    ($t:ty, $name:ident) => {
        fn $name(x: &[$t], a: &[$t], b: &[$t], c: usize, plane: usize, silu: bool) -> Vec<$t> {
            let mut y = vec![0 as $t; x.len()];
            y.par_chunks_mut(plane).enumerate().for_each(|(nc, out)| {
                let (a, b) = (a[nc % c], b[nc % c]);
                let pairs = out.iter_mut().zip(&x[nc * plane..(nc + 1) * plane]);
                if silu {
                    for (o, &v) in pairs {
                        let z = v * a + b;
                        *o = z / (1.0 + (-z).exp());
                    }
                } else {
                    for (o, &v) in pairs {
                        *o = v * a + b;
                    }
                }
            });
            y
        }
    };
}
scale_shift_kernel!(f32, scale_shift_f32);
scale_shift_kernel!(f64, scale_shift_f64);

impl CustomOp3 for ScaleShift {
    fn name(&self) -> &'static str {
        "batch-norm-inference"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, c, h, w) = l1.shape().dims4()?;
        if l2.shape().elem_count() != c || l3.shape().elem_count() != c {
            candle_core::bail!("batch norm inference: scale and shift need {c} values");
        }
        let (x, a, b) = (
            contiguous(s1, l1)?,
            contiguous(s2, l2)?,
            contiguous(s3, l3)?,
        );
        let y = match (x, a, b) {
            (CpuStorage::F32(x), CpuStorage::F32(a), CpuStorage::F32(b)) => {
                CpuStorage::F32(scale_shift_f32(x, a, b, c, h * w, self.silu))
            }
            (CpuStorage::F64(x), CpuStorage::F64(a), CpuStorage::F64(b)) => {
                CpuStorage::F64(scale_shift_f64(x, a, b, c, h * w, self.silu))
            }
            _ => candle_core::bail!("batch norm inference: f32 or f64, one dtype"),
        };
        Ok((y, l1.shape().clone()))
    }
    fn bwd(
        &self,
        x: &Tensor,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let c = a.elem_count();
        let (a4, b4) = (a.reshape((1, c, 1, 1))?, b.reshape((1, c, 1, 1))?);
        let z = x.broadcast_mul(&a4)?.broadcast_add(&b4)?;
        let dz = if self.silu {
            let s = candle_nn::ops::sigmoid(&z)?;
            // d/dz z·σ(z) = σ(z)·(1 + z·(1 − σ(z)))
            (dy * s.mul(&(z.mul(&s.affine(-1.0, 1.0)?)? + 1.0)?)?)?
        } else {
            dy.clone()
        };
        let per_channel = |t: &Tensor| -> Result<Tensor> {
            t.sum_keepdim(0)?.sum_keepdim(2)?.sum_keepdim(3)?.reshape(c)
        };
        Ok((
            Some(dz.broadcast_mul(&a4)?),
            Some(per_channel(&dz.mul(x)?)?),
            Some(per_channel(&dz)?),
        ))
    }
}

/// Gradient of [`BnTrain`] with respect to its input, straight from the storages; records
/// (dγ, dβ) per channel for the caller.
struct BnTrainGrad {
    mean: Vec<f64>,
    var: Vec<f64>,
    gamma: Vec<f64>,
    beta: Vec<f64>,
    eps: f64,
    silu: bool,
    stats_rows: usize,
    sums: Arc<Mutex<Option<(Vec<f64>, Vec<f64>)>>>,
}

impl candle_core::CustomOp2 for BnTrainGrad {
    fn name(&self) -> &'static str {
        "batch-norm-train-grad"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = l1.shape().dims4()?;
        let dims = (n, c, h * w);
        let (dx, dg, db) = match (contiguous(s1, l1)?, contiguous(s2, l2)?) {
            (CpuStorage::F32(x), CpuStorage::F32(dy)) => {
                let g: Vec<f32> = self.gamma.iter().map(|&v| v as f32).collect();
                let b: Vec<f32> = self.beta.iter().map(|&v| v as f32).collect();
                let (dx, dg, db) = bwd_f32(
                    x,
                    &g,
                    &b,
                    dy,
                    dims,
                    self.stats_rows,
                    &self.mean,
                    &self.var,
                    self.eps,
                    self.silu,
                );
                (CpuStorage::F32(dx), dg, db)
            }
            (CpuStorage::F64(x), CpuStorage::F64(dy)) => {
                let (dx, dg, db) = bwd_f64(
                    x,
                    &self.gamma,
                    &self.beta,
                    dy,
                    dims,
                    self.stats_rows,
                    &self.mean,
                    &self.var,
                    self.eps,
                    self.silu,
                );
                (CpuStorage::F64(dx), dg, db)
            }
            _ => candle_core::bail!("batch norm gradient: f32 or f64, one dtype"),
        };
        *self.sums.lock().expect("sums lock") = Some((dg, db));
        Ok((dx, l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::SeededVarMap;
    use candle_core::{DType, Device};

    fn bn(seed: u64, c: usize, dtype: DType) -> (SeededVarMap, BatchNorm2d) {
        let map = SeededVarMap::new(seed);
        let bn = BatchNorm2d::new(c, 1e-5, 0.1, map.var_builder(dtype, &Device::Cpu)).unwrap();
        // Non-trivial affine parameters.
        for (name, var) in map.named_vars() {
            if name == "weight" || name == "bias" {
                let v: Vec<f64> = (0..c)
                    .map(|i| {
                        if name == "weight" {
                            0.5 + 0.3 * i as f64
                        } else {
                            0.1 * i as f64 - 0.2
                        }
                    })
                    .collect();
                var.set(
                    &Tensor::new(v.as_slice(), &Device::Cpu)
                        .unwrap()
                        .to_dtype(dtype)
                        .unwrap(),
                )
                .unwrap();
            }
        }
        (map, bn)
    }

    fn input(dims: (usize, usize, usize, usize)) -> Tensor {
        let n = dims.0 * dims.1 * dims.2 * dims.3;
        let v: Vec<f64> = (0..n)
            .map(|i| ((i * 7919) % 101) as f64 / 25.0 - 2.0 + (i % 3) as f64)
            .collect();
        Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
    }

    /// Inference mode in one pass equals the three-op composition it replaces: the values bit
    /// for bit (same operations in the same order), the gradients to the input, γ and β to
    /// rounding.
    #[test]
    fn fused_inference_equals_the_composition() {
        for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
            for silu in [false, true] {
                let (map, bn) = bn(2, 4, dtype);
                // Running statistics away from (0, 1): one training step with momentum 0.1.
                bn.forward(&input((3, 4, 5, 6)).to_dtype(dtype).unwrap(), true, false)
                    .unwrap();
                let x = candle_core::Var::from_tensor(
                    &input((2, 4, 3, 7))
                        .affine(0.7, 0.3)
                        .unwrap()
                        .to_dtype(dtype)
                        .unwrap(),
                )
                .unwrap();
                let fused = bn.forward(&x, false, silu).unwrap();
                let rm = bn.running_mean.as_detached_tensor();
                let rv = bn.running_var.as_detached_tensor();
                let a = bn
                    .weight
                    .broadcast_div(&(rv + bn.eps).unwrap().sqrt().unwrap())
                    .unwrap();
                let b = (&bn.bias - rm.mul(&a).unwrap()).unwrap();
                let z = x
                    .broadcast_mul(&a.reshape((1, 4, 1, 1)).unwrap())
                    .unwrap()
                    .broadcast_add(&b.reshape((1, 4, 1, 1)).unwrap())
                    .unwrap();
                let composed = if silu { z.silu().unwrap() } else { z };
                let d = |p: &Tensor, q: &Tensor| crate::gradcheck::max_abs_diff(p, q).unwrap();
                assert_eq!(d(&fused, &composed), 0.0, "values {dtype:?} silu={silu}");
                // A loss weighting every output differently reaches every gradient.
                let w = input((2, 4, 3, 7)).to_dtype(dtype).unwrap();
                let gf = (&fused * &w)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                let gc = (&composed * &w)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                for (name, var) in map.named_vars() {
                    if name == "weight" || name == "bias" {
                        let (p, q) = (gf.get(&var).unwrap(), gc.get(&var).unwrap());
                        assert!(d(p, q) < tol * 10.0, "d{name} {dtype:?} silu={silu}");
                    }
                }
                let (p, q) = (gf.get(&x).unwrap(), gc.get(&x).unwrap());
                assert!(d(p, q) < tol, "dx {dtype:?} silu={silu}");
            }
        }
    }

    #[test]
    fn fused_op_equals_the_composition_and_candles_batchnorm() {
        // f64 to rounding; f32 to its precision (the fast exp, the order of sums).
        for (dtype, tv, tg) in [(DType::F64, 1e-12, 1e-10), (DType::F32, 2e-6, 1e-4)] {
            for silu in [false, true] {
                let x =
                    candle_core::Var::from_tensor(&input((3, 4, 5, 6)).to_dtype(dtype).unwrap())
                        .unwrap();
                let (map_a, a) = bn(1, 4, dtype);
                let (map_b, b) = bn(1, 4, dtype);
                let ya = a.forward(x.as_tensor(), true, silu).unwrap();
                // The composition path (forced by a non-CPU-style call through candle ops).
                let mean = x
                    .as_tensor()
                    .mean_keepdim(3)
                    .unwrap()
                    .mean_keepdim(2)
                    .unwrap()
                    .mean_keepdim(0)
                    .unwrap();
                let centred = x.as_tensor().broadcast_sub(&mean).unwrap();
                let var = centred
                    .sqr()
                    .unwrap()
                    .mean_keepdim(3)
                    .unwrap()
                    .mean_keepdim(2)
                    .unwrap()
                    .mean_keepdim(0)
                    .unwrap();
                let w = map_b.tensors()["weight"].reshape((1, 4, 1, 1)).unwrap();
                let bb = map_b.tensors()["bias"].reshape((1, 4, 1, 1)).unwrap();
                let mut yb = centred
                    .broadcast_div(&(var + 1e-5).unwrap().sqrt().unwrap())
                    .unwrap()
                    .broadcast_mul(&w)
                    .unwrap()
                    .broadcast_add(&bb)
                    .unwrap();
                if silu {
                    yb = yb.silu().unwrap();
                }
                let d = |p: &Tensor, q: &Tensor| crate::gradcheck::max_abs_diff(&p, &q).unwrap();
                assert!(d(&ya, &yb) < tv, "values {dtype:?} silu={silu}");
                let ga = (ya.sqr().unwrap() * 0.5)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                let gb = (yb.sqr().unwrap() * 0.5)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                assert!(
                    d(ga.get(&x).unwrap(), gb.get(&x).unwrap()) < tg,
                    "dx {dtype:?} silu={silu}"
                );
                let var_of = |m: &SeededVarMap, n: &str| {
                    m.named_vars().into_iter().find(|(k, _)| k == n).unwrap().1
                };
                for name in ["weight", "bias"] {
                    let (va, vb) = (var_of(&map_a, name), var_of(&map_b, name));
                    assert!(
                        d(ga.get(&va).unwrap(), gb.get(&vb).unwrap()) < tg,
                        "d{name} {dtype:?} silu={silu}: {}",
                        d(ga.get(&va).unwrap(), gb.get(&vb).unwrap())
                    );
                }
                // Running statistics as candle-nn's BatchNorm (PyTorch semantics).
                let _ = b;
                let cand = candle_nn::BatchNorm::new(
                    4,
                    Tensor::zeros(4, dtype, &Device::Cpu).unwrap(),
                    Tensor::ones(4, dtype, &Device::Cpu).unwrap(),
                    map_b.tensors()["weight"].clone(),
                    map_b.tensors()["bias"].clone(),
                    1e-5,
                )
                .unwrap();
                cand.forward_train(x.as_tensor()).unwrap();
                assert!(d(&map_a.tensors()["running_mean"], cand.running_mean()) < tv);
                assert!(d(&map_a.tensors()["running_var"], cand.running_var()) < tv);
            }
        }
    }

    #[test]
    fn fused_op_gradients_match_finite_differences() {
        let (_, b) = bn(2, 3, DType::F64);
        let r = crate::gradcheck::check_gradients(
            |x| b.forward(x, true, true)?.sqr(),
            &input((2, 3, 3, 4)),
            1e-5,
        )
        .unwrap();
        assert!(r.max_rel_error < 1e-6, "{r:?}");
    }

    #[test]
    fn statistics_from_a_prefix_normalise_the_whole_batch() {
        let (_, b) = bn(3, 3, DType::F64);
        let x = input((5, 3, 2, 2));
        // All rows: identical to plain training mode.
        let all = b.forward_stats_from(&x, 5, false).unwrap();
        let (_, b2) = bn(3, 3, DType::F64);
        let plain = b2.forward(&x, true, false).unwrap();
        assert!(crate::gradcheck::max_abs_diff(&all, &plain).unwrap() < 1e-12);
        // First 3 rows: those rows equal a training-mode pass over them alone, and the last two
        // are normalised with the same moments (their per-channel mean is then not 0).
        let y = b.forward_stats_from(&x, 3, false).unwrap();
        let (_, b3) = bn(3, 3, DType::F64);
        let head = b3
            .forward(&x.narrow(0, 0, 3).unwrap(), true, false)
            .unwrap();
        let d = crate::gradcheck::max_abs_diff(&y.narrow(0, 0, 3).unwrap(), &head).unwrap();
        assert!(d < 1e-12, "{d}");
        let r = crate::gradcheck::check_gradients(
            |t| b.forward_stats_from(t, 3, false)?.sqr(),
            &x,
            1e-5,
        )
        .unwrap();
        assert!(r.max_rel_error < 1e-6, "{r:?}");
        assert!(b.forward_stats_from(&x, 6, false).is_err());
        assert!(b.forward_stats_from(&x, 0, false).is_err());
    }

    /// Moments from a prefix: the fused op equals the candle composition in values, every
    /// gradient (the rows outside the prefix reach the input only directly) and the running
    /// statistics.
    #[test]
    fn fused_prefix_statistics_equal_the_composition() {
        let d = |p: &Tensor, q: &Tensor| crate::gradcheck::max_abs_diff(p, q).unwrap();
        for silu in [false, true] {
            let x = candle_core::Var::from_tensor(&input((5, 3, 3, 2))).unwrap();
            let (map_a, a) = bn(4, 3, DType::F64);
            let (map_b, b) = bn(4, 3, DType::F64);
            let ya = a.forward_stats_from(x.as_tensor(), 3, silu).unwrap();
            let mut yb = b
                .composed_train(x.as_tensor(), &x.narrow(0, 0, 3).unwrap())
                .unwrap();
            if silu {
                yb = yb.silu().unwrap();
            }
            assert!(d(&ya, &yb) < 1e-12, "values silu={silu}");
            let weights = input((5, 3, 3, 2));
            let loss = |y: &Tensor| y.mul(&weights).unwrap().sum_all().unwrap();
            let (ga, gb) = (loss(&ya).backward().unwrap(), loss(&yb).backward().unwrap());
            assert!(
                d(ga.get(&x).unwrap(), gb.get(&x).unwrap()) < 1e-10,
                "dx silu={silu}"
            );
            for name in ["weight", "bias"] {
                let var = |m: &SeededVarMap| m.named_vars().into_iter().find(|(k, _)| k == name);
                let (va, vb) = (var(&map_a).unwrap().1, var(&map_b).unwrap().1);
                assert!(
                    d(ga.get(&va).unwrap(), gb.get(&vb).unwrap()) < 1e-10,
                    "d{name}"
                );
            }
            for name in ["running_mean", "running_var"] {
                assert!(
                    d(&map_a.tensors()[name], &map_b.tensors()[name]) < 1e-12,
                    "{name}"
                );
            }
        }
    }
}
