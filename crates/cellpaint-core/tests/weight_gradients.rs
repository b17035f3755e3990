//! Weight gradients of the EfficientNet in training mode (batch statistics, the fused batch
//! norm) against central finite differences, in f64: every variable, sampled elements. The
//! input-gradient check in the unit tests cannot see a wrong gradient of a weight.

use cellpaint_core::candle::{DType, Device, Tensor};
use cellpaint_core::classify::smoothed_cross_entropy;
use cellpaint_core::{Backbone, EfficientNet, EfficientNetConfig, SeededVarMap};

#[test]
fn training_mode_weight_gradients_match_finite_differences() {
    let map = SeededVarMap::new(5);
    let cfg = EfficientNetConfig {
        width_mult: 0.1,
        depth_mult: 0.2,
        dropout: 0.0,
        stochastic_depth: 0.0,
        ..EfficientNetConfig::b0(2, 3)
    };
    let dev = Device::Cpu;
    let net = EfficientNet::new(cfg, map.var_builder(DType::F64, &dev)).unwrap();
    let n = 4;
    let x: Vec<f64> = (0..n * 2 * 16 * 16)
        .map(|i| ((i * 7919) % 101) as f64 / 50.0 - 1.0)
        .collect();
    let x = Tensor::from_vec(x, (n, 2, 16, 16), &dev).unwrap();
    let labels = [0usize, 1, 2, 1];
    let loss = |net: &EfficientNet| -> f64 {
        let logits = net.forward_taps(&x, true, None, &[]).unwrap().logits;
        smoothed_cross_entropy(&logits, &labels, 0.0)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    let logits = net.forward_taps(&x, true, None, &[]).unwrap().logits;
    let grads = smoothed_cross_entropy(&logits, &labels, 0.0)
        .unwrap()
        .backward()
        .unwrap();
    let eps = 1e-5;
    let mut worst = (0.0f64, String::new());
    let mut checked = 0;
    for (name, var) in map.named_vars() {
        if name.contains("running") {
            continue;
        }
        let Some(g) = grads.get(&var) else {
            panic!("no gradient for {name}");
        };
        let g: Vec<f64> = g.flatten_all().unwrap().to_vec1().unwrap();
        let base: Vec<f64> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let shape = var.as_tensor().shape().clone();
        let step = base.len().div_ceil(6).max(1);
        for i in (0..base.len()).step_by(step) {
            let mut v = base.clone();
            v[i] = base[i] + eps;
            var.set(&Tensor::from_vec(v.clone(), shape.clone(), &dev).unwrap())
                .unwrap();
            let plus = loss(&net);
            v[i] = base[i] - eps;
            var.set(&Tensor::from_vec(v, shape.clone(), &dev).unwrap())
                .unwrap();
            let minus = loss(&net);
            var.set(&Tensor::from_vec(base.clone(), shape.clone(), &dev).unwrap())
                .unwrap();
            let numeric = (plus - minus) / (2.0 * eps);
            let rel = (g[i] - numeric).abs() / g[i].abs().max(numeric.abs()).max(1e-4);
            checked += 1;
            if rel > worst.0 {
                worst = (
                    rel,
                    format!("{name}[{i}]: backward {} vs numeric {numeric}", g[i]),
                );
            }
        }
    }
    assert!(checked > 100, "{checked}");
    assert!(
        worst.0 < 1e-3,
        "worst relative error {}: {}",
        worst.0,
        worst.1
    );
}
