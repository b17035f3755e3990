//! Optimisers whose state can be checkpointed: SGD (momentum, Nesterov, weight decay — which
//! candle-nn lacks) and AdamW (the same update as candle-nn's, whose moments are private and so
//! cannot be saved for resume).

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::Optimizer;

use crate::error::{CoreError, Result};

/// PyTorch `torch.optim.SGD` semantics.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SgdParams {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0: plain SGD).
    pub momentum: f64,
    /// Dampening of the momentum.
    pub dampening: f64,
    /// L2 penalty added to the gradient (coupled, as PyTorch's SGD).
    pub weight_decay: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
}

impl Default for SgdParams {
    fn default() -> Self {
        Self {
            lr: 0.01,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }
}

impl SgdParams {
    /// Non-negative rate, momentum and decay; Nesterov only with momentum and no dampening.
    pub fn check(&self) -> Result<()> {
        if !(self.lr >= 0.0) || !(self.momentum >= 0.0) || !(self.weight_decay >= 0.0) {
            return Err(CoreError::Config(format!(
                "SGD lr, momentum and weight_decay must be ≥ 0, got {self:?}"
            )));
        }
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(CoreError::Config(
                "Nesterov momentum needs momentum > 0 and dampening 0".into(),
            ));
        }
        Ok(())
    }
}

/// Stochastic gradient descent with momentum, Nesterov and (coupled, L2) weight decay:
/// `g ← ∇ + wd·θ; b ← μ·b + (1−τ)·g (b = g at the first step); g ← g + μ·b (Nesterov) or b;
/// θ ← θ − lr·g`.
#[derive(Debug)]
pub struct Sgd {
    vars: Vec<Var>,
    buffers: Vec<Option<Tensor>>,
    params: SgdParams,
}

impl Optimizer for Sgd {
    type Config = SgdParams;

    fn new(vars: Vec<Var>, params: SgdParams) -> candle_core::Result<Self> {
        params
            .check()
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let vars: Vec<Var> = vars.into_iter().filter(|v| v.dtype().is_float()).collect();
        let buffers = vec![None; vars.len()];
        Ok(Self {
            vars,
            buffers,
            params,
        })
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        let p = self.params;
        for (var, buf) in self.vars.iter().zip(self.buffers.iter_mut()) {
            let Some(grad) = grads.get(var) else { continue };
            if fused::applies_sgd(var.as_tensor(), buf.as_ref(), grad) {
                // In place, one pass per buffer; the tensor ops' bits (test).
                let step = fused::SgdStep {
                    params: p,
                    first: buf.is_none(),
                };
                if p.momentum != 0.0 {
                    // A buffer of its own: the first step's `b = g` must not share the
                    // gradient's storage, which the next steps write into.
                    let b = match buf.take() {
                        Some(b) => b,
                        None => var.as_tensor().zeros_like()?,
                    };
                    b.inplace_op3(grad, var.as_tensor(), &fused::SgdMomentum(step))?;
                    var.as_tensor().inplace_op3(grad, &b, &step)?;
                    *buf = Some(b);
                } else {
                    var.as_tensor().inplace_op3(grad, grad, &step)?;
                }
                continue;
            }
            // Detached: a term built from the variable itself would record the operation, and
            // each momentum buffer would then keep the previous step's graph alive (memory
            // growing with every step).
            let mut g = if p.weight_decay != 0.0 {
                (grad + (var.as_detached_tensor() * p.weight_decay)?)?
            } else {
                grad.clone()
            };
            if p.momentum != 0.0 {
                let b = match buf.take() {
                    None => g.clone(),
                    Some(b) => ((b * p.momentum)? + (&g * (1.0 - p.dampening))?)?,
                };
                g = if p.nesterov {
                    (g + (&b * p.momentum)?)?
                } else {
                    b.clone()
                };
                *buf = Some(b.detach());
            }
            var.set(&(var.as_detached_tensor() - (g * p.lr)?)?)?;
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.params.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr;
    }
}

/// AdamW hyperparameters (candle-nn's defaults).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct AdamWParams {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first-moment average.
    pub beta1: f64,
    /// Decay of the second-moment average.
    pub beta2: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

impl Default for AdamWParams {
    fn default() -> Self {
        let d = candle_nn::ParamsAdamW::default();
        Self {
            lr: d.lr,
            beta1: d.beta1,
            beta2: d.beta2,
            eps: d.eps,
            weight_decay: d.weight_decay,
        }
    }
}

/// AdamW (decoupled weight decay), the same update as `candle_nn::AdamW`.
#[derive(Debug)]
pub struct AdamW {
    vars: Vec<Var>,
    moments: Vec<(Tensor, Tensor)>,
    step_t: usize,
    params: AdamWParams,
}

impl Optimizer for AdamW {
    type Config = AdamWParams;

    fn new(vars: Vec<Var>, params: AdamWParams) -> candle_core::Result<Self> {
        if !(params.lr >= 0.0
            && (0.0..1.0).contains(&params.beta1)
            && (0.0..1.0).contains(&params.beta2))
        {
            candle_core::bail!("AdamW needs lr ≥ 0 and betas in [0, 1), got {params:?}");
        }
        let vars: Vec<Var> = vars.into_iter().filter(|v| v.dtype().is_float()).collect();
        let moments = vars
            .iter()
            .map(|v| Ok((v.zeros_like()?, v.zeros_like()?)))
            .collect::<candle_core::Result<_>>()?;
        Ok(Self {
            vars,
            moments,
            step_t: 0,
            params,
        })
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        self.step_t += 1;
        let p = self.params;
        let scale_m = 1.0 / (1.0 - p.beta1.powi(self.step_t as i32));
        let scale_v = 1.0 / (1.0 - p.beta2.powi(self.step_t as i32));
        for (var, (m, v)) in self.vars.iter().zip(self.moments.iter_mut()) {
            let Some(g) = grads.get(var) else { continue };
            if fused::applies(var.as_tensor(), m, v, g) {
                // One pass over each buffer instead of thirteen tensor ops, each allocating;
                // the same f32 arithmetic in the same order, so the same bits.
                let kernel = fused::AdamWKernel {
                    scale_m,
                    scale_v,
                    lr: p.lr,
                    weight_decay: p.weight_decay,
                    eps: p.eps,
                };
                m.inplace_op2(
                    g,
                    &fused::Moment {
                        beta: p.beta1,
                        squared: false,
                    },
                )?;
                v.inplace_op2(
                    g,
                    &fused::Moment {
                        beta: p.beta2,
                        squared: true,
                    },
                )?;
                var.as_tensor().inplace_op3(m, v, &kernel)?;
                continue;
            }
            let next_m = ((&*m * p.beta1)? + (g * (1.0 - p.beta1))?)?;
            let next_v = ((&*v * p.beta2)? + (g.sqr()? * (1.0 - p.beta2))?)?;
            let m_hat = (&next_m * scale_m)?;
            let v_hat = (&next_v * scale_v)?;
            let decayed = (var.as_tensor() * (1.0 - p.lr * p.weight_decay))?;
            let adjusted = (m_hat / (v_hat.sqrt()? + p.eps)?)?;
            var.set(&(decayed - (adjusted * p.lr)?)?)?;
            *m = next_m;
            *v = next_v;
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.params.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr;
    }
}

/// An optimiser chosen by configuration.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerConfig {
    /// SGD with PyTorch's semantics.
    Sgd(SgdParams),
    /// AdamW (candle-nn's).
    AdamW(AdamWParams),
}

impl OptimizerConfig {
    /// The base learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd(p) => p.lr,
            OptimizerConfig::AdamW(p) => p.lr,
        }
    }
    /// Builds the optimiser over `vars` (give them in a stable order, e.g.
    /// [`crate::SeededVarMap::named_vars`], so checkpointed state lines up on resume).
    pub fn build(&self, vars: Vec<Var>) -> Result<AnyOptimizer> {
        Ok(match *self {
            OptimizerConfig::Sgd(p) => AnyOptimizer::Sgd(Sgd::new(vars, p)?),
            OptimizerConfig::AdamW(p) => AnyOptimizer::AdamW(AdamW::new(vars, p)?),
        })
    }
}

/// Either optimiser, with its state exposed for checkpoints.
#[derive(Debug)]
pub enum AnyOptimizer {
    /// SGD.
    Sgd(Sgd),
    /// AdamW.
    AdamW(AdamW),
}

impl AnyOptimizer {
    /// Updates the variables from `grads`.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        match self {
            AnyOptimizer::Sgd(o) => o.step(grads)?,
            AnyOptimizer::AdamW(o) => o.step(grads)?,
        }
        Ok(())
    }
    /// Back-propagates `loss` and steps.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        self.step(&grads)
    }
    /// Sets the rate for the following steps (schedules call it each epoch).
    pub fn set_learning_rate(&mut self, lr: f64) {
        match self {
            AnyOptimizer::Sgd(o) => o.set_learning_rate(lr),
            AnyOptimizer::AdamW(o) => o.set_learning_rate(lr),
        }
    }
    /// The current rate.
    pub fn learning_rate(&self) -> f64 {
        match self {
            AnyOptimizer::Sgd(o) => o.learning_rate(),
            AnyOptimizer::AdamW(o) => o.learning_rate(),
        }
    }

    /// The optimiser's state as named tensors (prefix `optim.`), for a checkpoint.
    pub fn state(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        match self {
            AnyOptimizer::Sgd(o) => {
                for (i, b) in o.buffers.iter().enumerate() {
                    if let Some(b) = b {
                        out.insert(format!("optim.momentum.{i}"), b.clone());
                    }
                }
            }
            AnyOptimizer::AdamW(o) => {
                for (i, (m, v)) in o.moments.iter().enumerate() {
                    out.insert(format!("optim.m.{i}"), m.clone());
                    out.insert(format!("optim.v.{i}"), v.clone());
                }
                out.insert(
                    "optim.step".into(),
                    Tensor::new(&[o.step_t as u32], &candle_core::Device::Cpu)?,
                );
            }
        }
        Ok(out)
    }

    /// Restores what [`AnyOptimizer::state`] saved.
    pub fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        let fetch = |k: &str, like: &Var| -> Result<Option<Tensor>> {
            match state.get(k) {
                None => Ok(None),
                Some(t) if t.shape() != like.shape() => Err(CoreError::Config(format!(
                    "optimiser state '{k}' has shape {:?}, variable has {:?}",
                    t.shape(),
                    like.shape()
                ))),
                Some(t) => Ok(Some(t.to_dtype(like.dtype())?.to_device(like.device())?)),
            }
        };
        match self {
            AnyOptimizer::Sgd(o) => {
                for (i, var) in o.vars.iter().enumerate() {
                    o.buffers[i] = fetch(&format!("optim.momentum.{i}"), var)?;
                }
            }
            AnyOptimizer::AdamW(o) => {
                for (i, var) in o.vars.iter().enumerate() {
                    let m = fetch(&format!("optim.m.{i}"), var)?;
                    let v = fetch(&format!("optim.v.{i}"), var)?;
                    match (m, v) {
                        (Some(m), Some(v)) => o.moments[i] = (m, v),
                        _ => {
                            return Err(CoreError::Config(format!(
                                "checkpoint lacks AdamW moments for variable {i}"
                            )))
                        }
                    }
                }
                let step = state
                    .get("optim.step")
                    .ok_or_else(|| CoreError::Config("checkpoint lacks AdamW step".into()))?;
                o.step_t = step.to_vec1::<u32>()?[0] as usize;
            }
        }
        Ok(())
    }
}

/// AdamW's update as in-place CPU kernels on contiguous f32 buffers (the tensor ops above stay
/// the path for every other device, dtype or layout).
mod fused {
    use candle_core::{CpuStorage, DType, Layout, Tensor};

    /// Whether the four tensors can be updated by the kernels below.
    pub fn applies(p: &Tensor, m: &Tensor, v: &Tensor, g: &Tensor) -> bool {
        [p, m, v, g]
            .iter()
            .all(|t| t.device().is_cpu() && t.dtype() == DType::F32 && t.is_contiguous())
            && [m, v, g].iter().all(|t| t.shape() == p.shape())
    }

    fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
        let (a, b) = l
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("fused AdamW: not contiguous".into()))?;
        Ok(&s.as_slice::<f32>()?[a..b])
    }

    fn slice_mut<'a>(s: &'a mut CpuStorage, l: &Layout) -> candle_core::Result<&'a mut [f32]> {
        let (a, b) = l
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("fused AdamW: not contiguous".into()))?;
        match s {
            CpuStorage::F32(v) => Ok(&mut v[a..b]),
            _ => candle_core::bail!("fused AdamW: not f32"),
        }
    }

    /// Whether SGD's variable, momentum buffer (if any yet) and gradient can be updated in place.
    pub fn applies_sgd(p: &Tensor, buf: Option<&Tensor>, g: &Tensor) -> bool {
        let ok = |t: &Tensor| {
            t.device().is_cpu()
                && t.dtype() == DType::F32
                && t.is_contiguous()
                && t.shape() == p.shape()
        };
        ok(p) && ok(g) && buf.is_none_or(ok)
    }

    /// One SGD step (see [`super::Sgd`]); `first` when the momentum buffer is new.
    #[derive(Clone, Copy)]
    pub struct SgdStep {
        pub params: super::SgdParams,
        pub first: bool,
    }

    impl SgdStep {
        /// g ← ∇ + wd·θ, as the tensor path rounds it.
        fn gradient(&self, grad: f32, theta: f32) -> f32 {
            let wd = self.params.weight_decay;
            if wd != 0.0 {
                grad + (theta * wd as f32 + 0.0)
            } else {
                grad
            }
        }
    }

    /// The momentum buffer: b ← g at the first step, else μ·b + (1 − τ)·g.
    pub struct SgdMomentum(pub SgdStep);

    impl candle_core::InplaceOp3 for SgdMomentum {
        fn name(&self) -> &'static str {
            "sgd-momentum"
        }

        fn cpu_fwd(
            &self,
            s1: &mut CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
            s3: &CpuStorage,
            l3: &Layout,
        ) -> candle_core::Result<()> {
            let (grad, theta) = (slice(s2, l2)?, slice(s3, l3)?);
            let b = slice_mut(s1, l1)?;
            let step = self.0;
            let mu = step.params.momentum as f32;
            let keep = (1.0 - step.params.dampening) as f32;
            for ((b, &d), &t) in b.iter_mut().zip(grad).zip(theta) {
                let g = step.gradient(d, t);
                *b = if step.first {
                    g
                } else {
                    (*b * mu + 0.0) + (g * keep + 0.0)
                };
            }
            Ok(())
        }
    }

    /// θ ← θ − lr·(g + μ·b) (Nesterov) or θ − lr·b (momentum) or θ − lr·g; `s3` is the
    /// momentum buffer, already updated (ignored without momentum).
    impl candle_core::InplaceOp3 for SgdStep {
        fn name(&self) -> &'static str {
            "sgd-step"
        }

        fn cpu_fwd(
            &self,
            s1: &mut CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
            s3: &CpuStorage,
            l3: &Layout,
        ) -> candle_core::Result<()> {
            let (grad, b) = (slice(s2, l2)?, slice(s3, l3)?);
            let theta = slice_mut(s1, l1)?;
            let p = self.params;
            let (mu, lr) = (p.momentum as f32, p.lr as f32);
            for ((t, &d), &b) in theta.iter_mut().zip(grad).zip(b) {
                let g = self.gradient(d, *t);
                let g = if p.momentum == 0.0 {
                    g
                } else if p.nesterov {
                    g + (b * mu + 0.0)
                } else {
                    b
                };
                *t -= g * lr + 0.0;
            }
            Ok(())
        }
    }

    /// m ← β·m + (1 − β)·g, or with g² (the second moment).
    pub struct Moment {
        pub beta: f64,
        pub squared: bool,
    }

    impl candle_core::InplaceOp2 for Moment {
        fn name(&self) -> &'static str {
            "adamw-moment"
        }

        fn cpu_fwd(
            &self,
            s1: &mut CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
        ) -> candle_core::Result<()> {
            let g = slice(s2, l2)?;
            let m = slice_mut(s1, l1)?;
            // As the tensor path computes it: scalars rounded to f32, each scaling an affine
            // map x·a + 0 (the + 0 turns −0 into +0), then the sum.
            let (keep, take) = (self.beta as f32, (1.0 - self.beta) as f32);
            for (m, &g) in m.iter_mut().zip(g) {
                let g = if self.squared { g * g } else { g };
                *m = (*m * keep + 0.0) + (g * take + 0.0);
            }
            Ok(())
        }
    }

    /// p ← p·(1 − lr·wd) − lr · (m·scale_m) / (√(v·scale_v) + ε).
    pub struct AdamWKernel {
        pub scale_m: f64,
        pub scale_v: f64,
        pub lr: f64,
        pub weight_decay: f64,
        pub eps: f64,
    }

    impl candle_core::InplaceOp3 for AdamWKernel {
        fn name(&self) -> &'static str {
            "adamw-apply"
        }

        fn cpu_fwd(
            &self,
            s1: &mut CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
            s3: &CpuStorage,
            l3: &Layout,
        ) -> candle_core::Result<()> {
            let (m, v) = (slice(s2, l2)?, slice(s3, l3)?);
            let p = slice_mut(s1, l1)?;
            let (scale_m, scale_v) = (self.scale_m as f32, self.scale_v as f32);
            let decay = (1.0 - self.lr * self.weight_decay) as f32;
            let (lr, eps) = (self.lr as f32, self.eps as f32);
            for ((p, &m), &v) in p.iter_mut().zip(m).zip(v) {
                let adjusted = (m * scale_m + 0.0) / ((v * scale_v + 0.0).sqrt() + eps);
                *p = (*p * decay + 0.0) - (adjusted * lr + 0.0);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {

    /// The in-place SGD kernels give the tensor ops' bits, with and without momentum,
    /// Nesterov, dampening and weight decay: three steps each on seeded values.
    #[test]
    fn fused_sgd_equals_the_tensor_update_bit_for_bit() {
        use candle_core::{Device, Tensor, Var};
        let dev = Device::Cpu;
        let n = 131;
        let bits = |t: &Tensor| -> Vec<u32> {
            t.to_vec1::<f32>()
                .unwrap()
                .iter()
                .map(|x| x.to_bits())
                .collect()
        };
        for (momentum, dampening, nesterov, weight_decay) in [
            (0.0, 0.0, false, 0.0),
            (0.0, 0.0, false, 1e-3),
            (0.9, 0.0, false, 1e-4),
            (0.9, 0.0, true, 5e-4),
            (0.8, 0.1, false, 0.0),
        ] {
            let params = SgdParams {
                lr: 0.05,
                momentum,
                dampening,
                nesterov,
                weight_decay,
            };
            let init: Vec<f32> = (0..n)
                .map(|i| ((i * 29 % 97) as f32 - 48.0) / 5.0)
                .collect();
            let var = Var::from_tensor(&Tensor::from_vec(init.clone(), n, &dev).unwrap()).unwrap();
            let mut opt = Sgd::new(vec![var.clone()], params).unwrap();
            let mut p = Tensor::from_vec(init, n, &dev).unwrap();
            let mut buf: Option<Tensor> = None;
            for t in 1..=3 {
                let g: Vec<f32> = (0..n)
                    .map(|i| match (i + t) % 7 {
                        0 => 0.0,
                        1 => -0.0,
                        k => (k as f32 - 3.5) * 0.2 / t as f32,
                    })
                    .collect();
                let grad = Tensor::from_vec(g, n, &dev).unwrap();
                // The step as tensor ops (the path for other devices).
                let mut g = if weight_decay != 0.0 {
                    (&grad + (&p * weight_decay).unwrap()).unwrap()
                } else {
                    grad.clone()
                };
                if momentum != 0.0 {
                    let b = match buf.take() {
                        None => g.clone(),
                        Some(b) => {
                            ((b * momentum).unwrap() + (&g * (1.0 - dampening)).unwrap()).unwrap()
                        }
                    };
                    g = if nesterov {
                        (g + (&b * momentum).unwrap()).unwrap()
                    } else {
                        b.clone()
                    };
                    buf = Some(b);
                }
                p = (&p - (g * params.lr).unwrap()).unwrap();
                // The optimiser's step, on the fused path.
                let loss = (var.as_tensor() * &grad).unwrap().sum_all().unwrap();
                let grads = loss.backward().unwrap();
                assert!(fused::applies_sgd(
                    var.as_tensor(),
                    opt.buffers[0].as_ref(),
                    grads.get(&var).unwrap()
                ));
                opt.step(&grads).unwrap();
                assert_eq!(
                    bits(var.as_tensor()),
                    bits(&p),
                    "momentum {momentum} dampening {dampening} nesterov {nesterov} wd {weight_decay}, step {t}"
                );
            }
        }
    }

    /// The in-place AdamW kernels give the tensor ops' bits: three steps on seeded values
    /// (zeros and negative zeros among the gradients) against the update written as tensor ops.
    #[test]
    fn fused_adamw_equals_the_tensor_update_bit_for_bit() {
        use candle_core::{Device, Tensor, Var};
        let dev = Device::Cpu;
        let n = 257;
        let init: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let var = Var::from_tensor(&Tensor::from_vec(init.clone(), n, &dev).unwrap()).unwrap();
        let params = AdamWParams {
            lr: 0.01,
            weight_decay: 0.05,
            ..Default::default()
        };
        let mut opt = AdamW::new(vec![var.clone()], params).unwrap();
        let (mut p, mut m, mut v) = (
            Tensor::from_vec(init, n, &dev).unwrap(),
            Tensor::zeros(n, candle_core::DType::F32, &dev).unwrap(),
            Tensor::zeros(n, candle_core::DType::F32, &dev).unwrap(),
        );
        for t in 1..=3 {
            let g: Vec<f32> = (0..n)
                .map(|i| match (i + t) % 9 {
                    0 => 0.0,
                    1 => -0.0,
                    k => (k as f32 - 4.5) * 0.3 / t as f32,
                })
                .collect();
            let g = Tensor::from_vec(g, n, &dev).unwrap();
            // The step as tensor ops (the path for other devices).
            let (b1, b2) = (params.beta1, params.beta2);
            let scale_m = 1.0 / (1.0 - b1.powi(t as i32));
            let scale_v = 1.0 / (1.0 - b2.powi(t as i32));
            let next_m = ((&m * b1).unwrap() + (&g * (1.0 - b1)).unwrap()).unwrap();
            let next_v = ((&v * b2).unwrap() + (g.sqr().unwrap() * (1.0 - b2)).unwrap()).unwrap();
            let adjusted = ((&next_m * scale_m).unwrap()
                / ((&next_v * scale_v).unwrap().sqrt().unwrap() + params.eps).unwrap())
            .unwrap();
            p = ((&p * (1.0 - params.lr * params.weight_decay)).unwrap()
                - (adjusted * params.lr).unwrap())
            .unwrap();
            (m, v) = (next_m, next_v);
            // The optimiser's step, on the fused path.
            let loss = (var.as_tensor() * &g).unwrap().sum_all().unwrap();
            let grads = loss.backward().unwrap();
            let (om, ov) = &opt.moments[0];
            assert!(fused::applies(
                var.as_tensor(),
                om,
                ov,
                grads.get(&var).unwrap()
            ));
            opt.step(&grads).unwrap();
            let bits = |t: &Tensor| -> Vec<u32> {
                t.to_vec1::<f32>()
                    .unwrap()
                    .iter()
                    .map(|x| x.to_bits())
                    .collect()
            };
            assert_eq!(bits(var.as_tensor()), bits(&p), "step {t}");
        }
    }

    use super::*;
    use candle_core::{Device, Tensor};

    /// Minimises f(θ) = θ²/2 (gradient θ) from θ = 1 and returns the trajectory.
    fn run(config: OptimizerConfig, steps: usize) -> Vec<f64> {
        let theta = Var::new(&[1.0f64], &Device::Cpu).unwrap();
        let mut opt = config.build(vec![theta.clone()]).unwrap();
        (0..steps)
            .map(|_| {
                let loss = (theta.as_tensor().sqr().unwrap() * 0.5)
                    .unwrap()
                    .sum_all()
                    .unwrap();
                opt.backward_step(&loss).unwrap();
                theta.as_tensor().to_vec1::<f64>().unwrap()[0]
            })
            .collect()
    }

    #[test]
    fn sgd_state_records_no_graph() {
        // With weight decay and momentum, a buffer that recorded its operations would chain
        // every step's graph to the next (a leak of one graph per step).
        let theta = Var::new(&[1.0f64, -2.0], &Device::Cpu).unwrap();
        let mut opt = OptimizerConfig::Sgd(SgdParams {
            lr: 0.1,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 0.1,
            ..SgdParams::default()
        })
        .build(vec![theta.clone()])
        .unwrap();
        for _ in 0..3 {
            let loss = theta.as_tensor().sqr().unwrap().sum_all().unwrap();
            opt.backward_step(&loss).unwrap();
        }
        let state = opt.state().unwrap();
        assert!(!state.is_empty());
        for (name, t) in state {
            assert!(!t.track_op(), "{name} records its graph");
        }
    }

    #[test]
    fn sgd_momentum_nesterov_weight_decay_by_hand() {
        // lr 0.1, momentum 0.9, wd 0.1: g1 = 1 + 0.1 = 1.1, b1 = 1.1, θ1 = 1 − 0.11 = 0.89.
        // g2 = 0.89·1.1 = 0.979, b2 = 0.9·1.1 + 0.979 = 1.969, θ2 = 0.89 − 0.1969 = 0.6931.
        let p = SgdParams {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.1,
            ..Default::default()
        };
        let t = run(OptimizerConfig::Sgd(p), 2);
        assert!(
            (t[0] - 0.89).abs() < 1e-12 && (t[1] - 0.6931).abs() < 1e-12,
            "{t:?}"
        );
        // Nesterov, lr 0.1, μ 0.9, no wd: g1 = 1, b1 = 1, step = 1 + 0.9 = 1.9 → θ1 = 0.81.
        // g2 = 0.81, b2 = 0.9 + 0.81 = 1.71, step = 0.81 + 1.539 = 2.349 → θ2 = 0.5751.
        let p = SgdParams {
            lr: 0.1,
            momentum: 0.9,
            nesterov: true,
            ..Default::default()
        };
        let t = run(OptimizerConfig::Sgd(p), 2);
        assert!(
            (t[0] - 0.81).abs() < 1e-12 && (t[1] - 0.5751).abs() < 1e-12,
            "{t:?}"
        );
        let bad = SgdParams {
            nesterov: true,
            ..Default::default()
        };
        assert!(OptimizerConfig::Sgd(bad).build(vec![]).is_err());
    }

    #[test]
    fn adamw_matches_candle_nn() {
        let p = AdamWParams {
            lr: 0.05,
            weight_decay: 0.1,
            ..Default::default()
        };
        let ours = run(OptimizerConfig::AdamW(p), 5);
        let theta = Var::new(&[1.0f64], &Device::Cpu).unwrap();
        let mut theirs = candle_nn::AdamW::new(
            vec![theta.clone()],
            candle_nn::ParamsAdamW {
                lr: p.lr,
                beta1: p.beta1,
                beta2: p.beta2,
                eps: p.eps,
                weight_decay: p.weight_decay,
            },
        )
        .unwrap();
        for (k, want) in ours.iter().enumerate() {
            let loss = (theta.as_tensor().sqr().unwrap() * 0.5)
                .unwrap()
                .sum_all()
                .unwrap();
            theirs.backward_step(&loss).unwrap();
            let got = theta.as_tensor().to_vec1::<f64>().unwrap()[0];
            assert_eq!(got, *want, "step {k}");
        }
    }

    #[test]
    fn state_round_trips() {
        for config in [
            OptimizerConfig::Sgd(SgdParams {
                lr: 0.1,
                momentum: 0.9,
                ..Default::default()
            }),
            OptimizerConfig::AdamW(AdamWParams::default()),
        ] {
            let theta = Var::new(&[1.0f64, -2.0], &Device::Cpu).unwrap();
            let mut a = config.build(vec![theta.clone()]).unwrap();
            let loss = theta.as_tensor().sqr().unwrap().sum_all().unwrap();
            a.backward_step(&loss).unwrap();
            let state = a.state().unwrap();
            let mut b = config.build(vec![theta.clone()]).unwrap();
            b.load_state(&state).unwrap();
            let s2 = b.state().unwrap();
            assert_eq!(state.len(), s2.len());
            for (k, t) in &state {
                let x: Vec<f64> = t
                    .flatten_all()
                    .unwrap()
                    .to_dtype(candle_core::DType::F64)
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                let y: Vec<f64> = s2[k]
                    .flatten_all()
                    .unwrap()
                    .to_dtype(candle_core::DType::F64)
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                assert_eq!(x, y, "{k}");
            }
            let bad = Tensor::zeros(3, candle_core::DType::F64, &Device::Cpu).unwrap();
            let wrong = HashMap::from([
                ("optim.m.0".to_string(), bad.clone()),
                ("optim.v.0".to_string(), bad.clone()),
                ("optim.momentum.0".to_string(), bad),
            ]);
            assert!(b.load_state(&wrong).is_err());
        }
    }
}
