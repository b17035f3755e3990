//! Our EfficientNet-B0 against torchvision's on the same weights and input
//! (fixtures/efficientnet_b0_reference.json, made by scripts/efficientnet_reference.py).
//! Weights and input come from a formula both sides evaluate exactly, so no weight file is
//! committed; batch-norm statistics are calibrated by one training-mode pass, as in the script.

use cellpaint_core::candle::{DType, Device, Tensor};
use cellpaint_core::rng::mix64;
use cellpaint_core::{EfficientNet, EfficientNetConfig, SeededVarMap};

fn fnv1a32(s: &str) -> u64 {
    let mut h: u32 = 0x811C_9DC5;
    for b in s.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h as u64
}

fn formula(name: &str, n: usize, lo: f64, hi: f64) -> Vec<f32> {
    let h = fnv1a32(name) << 32;
    (0..n as u64)
        .map(|i| {
            let u = (mix64(h ^ i) >> 11) as f64 / 2f64.powi(53);
            (lo + (hi - lo) * u) as f32
        })
        .collect()
}

fn value_range(name: &str, dims: &[usize]) -> (f64, f64) {
    if name.ends_with("running_var") {
        (0.6, 1.4)
    } else if name.ends_with("running_mean") || name.ends_with("bias") {
        (-0.1, 0.1)
    } else if dims.len() == 1 {
        (0.8, 1.2)
    } else {
        let fan_in: usize = dims[1..].iter().product();
        let b = (3.0 / fan_in as f64).sqrt();
        (-b, b)
    }
}

fn max_abs_diff(ours: &Tensor, theirs: &serde_json::Value) -> (f64, f64) {
    let ours: Vec<Vec<f32>> = ours.to_vec2().unwrap();
    let (mut worst, mut scale) = (0.0f64, 0.0f64);
    for (r, row) in ours.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            let t = theirs[r][c].as_f64().unwrap();
            worst = worst.max((*v as f64 - t).abs());
            scale = scale.max(t.abs());
        }
    }
    (worst, scale)
}

#[test]
fn matches_torchvision_efficientnet_b0_with_five_channels() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/efficientnet_b0_reference.json"
    );
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cfg = EfficientNetConfig {
        bn_momentum: 1.0,
        dropout: 0.0,
        stochastic_depth: 0.0,
        ..EfficientNetConfig::b0(5, 7)
    };
    let map = SeededVarMap::new(0);
    let net = EfficientNet::new(cfg, map.var_builder(DType::F32, &Device::Cpu)).unwrap();
    for (name, var) in map.named_vars() {
        let (lo, hi) = value_range(&name, var.dims());
        let t = Tensor::from_vec(
            formula(&name, var.elem_count(), lo, hi),
            var.shape(),
            &Device::Cpu,
        )
        .unwrap();
        var.set(&t).unwrap();
    }
    let x = Tensor::from_vec(
        formula("input", 2 * 5 * 128 * 128, -1.0, 1.0),
        (2, 5, 128, 128),
        &Device::Cpu,
    )
    .unwrap();
    net.forward_taps(&x, true, None, &[]).unwrap(); // calibrate batch-norm statistics
    let out = net
        .forward_taps(&x, false, None, &["block6a_activation", "avg_pool"])
        .unwrap();
    let b6 = out.taps["block6a_activation"].mean((2, 3)).unwrap();
    let checks = [
        ("logits", max_abs_diff(&out.logits, &reference["logits"])),
        (
            "block6a_activation (spatial mean)",
            max_abs_diff(&b6, &reference["block6a_activation_mean"]),
        ),
        (
            "avg_pool",
            max_abs_diff(&out.taps["avg_pool"], &reference["avg_pool"]),
        ),
    ];
    for (what, (worst, scale)) in checks {
        eprintln!("{what}: max |ours − torchvision| = {worst:.2e} (values up to {scale:.3})");
        assert!(worst <= 1e-4 * scale.max(1.0), "{what}: {worst}");
    }
}
