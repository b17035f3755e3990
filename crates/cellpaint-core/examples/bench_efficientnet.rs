//! EfficientNet-B0 speed on this machine: `cargo xtask bench efficientnet` (or
//! `cargo run --release -p cellpaint-core --example bench_efficientnet -- OUT.json`).
//! Batch 32 of 5×128×128 crops: one training step (forward, backward, SGD step) and inference
//! throughput; inference on 512×512 fields; peak resident memory. Compare with
//! `scripts/bench_efficientnet_torch.py` on the same machine.

use std::time::Instant;

use cellpaint_core::candle::{DType, Device, Tensor};
use cellpaint_core::{
    Backbone, EfficientNet, EfficientNetConfig, OptimizerConfig, SeededVarMap, SgdParams,
};

#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static GLOBAL: cellpaint_core::Allocator = cellpaint_core::Allocator;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Before any thread starts (candle otherwise re-reads /proc/cpuinfo per matrix product).
    cellpaint_core::threads::fix_thread_counts();
    let out = std::env::args().nth(1);
    let steps: usize = std::env::var("BENCH_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dev = Device::Cpu;
    let map = SeededVarMap::new(0);
    let net = EfficientNet::new(
        EfficientNetConfig::b0(5, 10),
        map.var_builder(DType::F32, &dev),
    )?;
    let vars = map.named_vars().into_iter().map(|(_, v)| v).collect();
    let mut opt = OptimizerConfig::Sgd(SgdParams {
        lr: 0.005,
        momentum: 0.9,
        nesterov: true,
        ..Default::default()
    })
    .build(vars)?;
    let x = Tensor::randn(0f32, 1.0, (32, 5, 128, 128), &dev)?;
    let y = Tensor::from_vec((0..32u32).map(|i| i % 10).collect::<Vec<_>>(), 32, &dev)?;
    let mut rng = cellpaint_core::rng::seeded_rng(0);
    let mut train = Vec::new();
    for s in 0..=steps {
        let t = Instant::now();
        let logits = net.forward_taps(&x, true, Some(&mut rng), &[])?.logits;
        let loss = cellpaint_core::candle_nn::loss::cross_entropy(&logits, &y)?;
        opt.backward_step(&loss)?;
        if s > 0 {
            train.push(t.elapsed().as_secs_f64()); // first step warms allocators up
        }
    }
    let mut infer = Vec::new();
    for s in 0..=steps {
        let t = Instant::now();
        let _ = net.forward_taps(&x, false, None, &[])?;
        if s > 0 {
            infer.push(32.0 / t.elapsed().as_secs_f64());
        }
    }
    let fields = Tensor::randn(0f32, 1.0, (4, 5, 512, 512), &dev)?;
    let mut field_rates = Vec::new();
    for s in 0..=steps {
        let t = Instant::now();
        let _ = net.forward_taps(&fields, false, None, &[])?;
        if s > 0 {
            field_rates.push(4.0 / t.elapsed().as_secs_f64());
        }
    }
    let fields_per_s = median(field_rates);
    let result = serde_json::json!({
        "model": "efficientnet_b0, 5 channels, 10 classes, f32, CPU",
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "train_step_s": median(train),
        "infer_crops_per_s": median(infer),
        "infer_fields_512_per_s": fields_per_s,
        "peak_rss_mb": cellpaint_core::allocator::peak_resident_mb(),
    });
    println!("{}", serde_json::to_string_pretty(&result)?);
    if let Some(path) = out {
        cellpaint_core::profiles::write_json(std::path::Path::new(&path), &result)?;
    }
    Ok(())
}
