//! Seeded parameter initialisation for candle models.
//!
//! candle draws `Init::Randn`/`Kaiming` values from a thread-local generator that cannot be
//! seeded on the CPU, so two runs of the same model start from different weights. A
//! [`SeededVarMap`] is a `VarBuilder` backend that draws each variable from a generator seeded
//! by (run seed, variable name): the same seed gives the same weights, whatever order layers
//! are built in, and the variables still live in an ordinary `VarMap` for optimisers and saving.

use std::collections::HashMap;

use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::init::{FanInOut, Init, NormalOrUniform};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{VarBuilder, VarMap};
use rand::Rng as _;

use crate::rng::{derive_seed, seeded_rng};

/// A `VarMap` whose new variables are initialised from a seed.
#[derive(Clone)]
pub struct SeededVarMap {
    varmap: VarMap,
    seed: u64,
}

impl SeededVarMap {
    /// An empty map whose variables are initialised from `seed` and their names.
    pub fn new(seed: u64) -> Self {
        Self {
            varmap: VarMap::new(),
            seed,
        }
    }

    /// A `VarBuilder` creating (or fetching) variables in this map.
    pub fn var_builder(&self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self.clone()), dtype, device.clone())
    }

    /// The variables created so far.
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// Variables sorted by name: a stable order for optimiser state and checkpoints.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let data = self.varmap.data().lock().expect("varmap lock");
        let mut v: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The variables' current values, by name.
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        self.named_vars()
            .into_iter()
            .map(|(k, v)| (k, v.as_tensor().clone()))
            .collect()
    }

    /// Overwrites variables from `tensors`; every variable must be present with its shape.
    pub fn load_tensors(&self, tensors: &HashMap<String, Tensor>) -> candle_core::Result<()> {
        for (name, var) in self.named_vars() {
            let t = tensors.get(&name).ok_or_else(|| {
                candle_core::Error::Msg(format!("no tensor named '{name}' in the saved state"))
            })?;
            if t.shape() != var.shape() {
                candle_core::bail!(
                    "tensor '{name}' has shape {:?}, the model expects {:?}",
                    t.shape(),
                    var.shape()
                );
            }
            var.set(&t.to_dtype(var.dtype())?.to_device(var.device())?)?;
        }
        Ok(())
    }
}

/// Values of `init` for a variable named `name`, drawn from its own seeded stream.
pub fn init_values(init: Init, shape: &Shape, seed: u64, name: &str) -> Vec<f64> {
    let n = shape.elem_count();
    let mut rng = seeded_rng(derive_seed(seed, &format!("init/{name}")));
    let normal = |rng: &mut crate::rng::Rng| profiles::synthetic::standard_normal(rng);
    match init {
        Init::Const(c) => vec![c; n],
        Init::Randn { mean, stdev } => (0..n).map(|_| mean + stdev * normal(&mut rng)).collect(),
        Init::Uniform { lo, up } => (0..n).map(|_| rng.random_range(lo..up)).collect(),
        Init::Kaiming {
            dist,
            fan,
            non_linearity,
        } => {
            let fan = match fan {
                FanInOut::FanIn => FanInOut::FanIn.for_shape(shape),
                FanInOut::FanOut => FanInOut::FanOut.for_shape(shape),
            };
            let std = non_linearity.gain() / (fan as f64).sqrt();
            match dist {
                NormalOrUniform::Normal => (0..n).map(|_| std * normal(&mut rng)).collect(),
                NormalOrUniform::Uniform => {
                    let bound = 3f64.sqrt() * std;
                    (0..n).map(|_| rng.random_range(-bound..bound)).collect()
                }
            }
        }
    }
}

impl SimpleBackend for SeededVarMap {
    fn get(
        &self,
        s: Shape,
        name: &str,
        h: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let mut data = self.varmap.data().lock().expect("varmap lock");
        if let Some(var) = data.get(name) {
            if var.shape() != &s {
                candle_core::bail!(
                    "variable '{name}' exists with shape {:?}, asked for {:?}",
                    var.shape(),
                    s
                );
            }
            return Ok(var.as_tensor().clone());
        }
        let values = init_values(h, &s, self.seed, name);
        let t = Tensor::from_vec(values, s, &Device::Cpu)?
            .to_dtype(dtype)?
            .to_device(dev)?;
        let var = Var::from_tensor(&t)?;
        let out = var.as_tensor().clone();
        data.insert(name.to_string(), var);
        Ok(out)
    }

    fn get_unchecked(
        &self,
        name: &str,
        _dtype: DType,
        _dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let data = self.varmap.data().lock().expect("varmap lock");
        data.get(name)
            .map(|v| v.as_tensor().clone())
            .ok_or_else(|| candle_core::Error::Msg(format!("no variable named '{name}'")))
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.varmap
            .data()
            .lock()
            .expect("varmap lock")
            .contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::Module;

    #[test]
    fn same_seed_same_weights_any_build_order() {
        let build = |seed: u64, reversed: bool| {
            let map = SeededVarMap::new(seed);
            let vb = map.var_builder(DType::F32, &Device::Cpu);
            let names = if reversed { ["b", "a"] } else { ["a", "b"] };
            for n in names {
                candle_nn::linear(4, 3, vb.pp(n)).unwrap();
            }
            map.tensors()
        };
        let x = build(5, false);
        let y = build(5, true);
        for (k, t) in &x {
            let a: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
            let b: Vec<f32> = y[k].flatten_all().unwrap().to_vec1().unwrap();
            assert_eq!(a, b, "{k}");
        }
        let z = build(6, false);
        let a: Vec<f32> = x["a.weight"].flatten_all().unwrap().to_vec1().unwrap();
        let c: Vec<f32> = z["a.weight"].flatten_all().unwrap().to_vec1().unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn linear_init_follows_candle_hints() {
        // candle's linear: weight Kaiming-normal (fan-in 100, ReLU gain √2 → variance 2/100),
        // bias uniform in ±1/√100.
        let map = SeededVarMap::new(0);
        let vb = map.var_builder(DType::F64, &Device::Cpu);
        let lin = candle_nn::linear(100, 50, vb).unwrap();
        let t = map.tensors();
        let w: Vec<f64> = t["weight"].flatten_all().unwrap().to_vec1().unwrap();
        let var = w.iter().map(|v| v * v).sum::<f64>() / w.len() as f64;
        assert!((var - 0.02).abs() < 0.002, "{var}");
        let b: Vec<f64> = t["bias"].to_vec1().unwrap();
        assert!(b.iter().all(|v| v.abs() <= 0.1) && b.iter().any(|v| v.abs() > 0.05));
        let out = lin
            .forward(&Tensor::zeros((2, 100), DType::F64, &Device::Cpu).unwrap())
            .unwrap();
        assert_eq!(out.dims(), &[2, 50]);
    }
}
