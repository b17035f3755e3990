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

#[cfg(test)]
mod tests {
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
