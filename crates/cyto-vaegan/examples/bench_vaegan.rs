//! Seconds per training iteration of VAE+ at the paper's batch 104 (encoder, decoder, the
//! discriminator on [B2 | reconstructions | B1] with all four feature-loss weights on, both
//! optimiser steps) and of the plain VAE: `cargo xtask bench vaegan` (or
//! `cargo run --release -p cyto-vaegan --example bench_vaegan -- OUT.json`).
//! `scripts/bench_vaegan_torch.py` is the same iteration in PyTorch.

use std::time::Instant;

use cellpaint_core::candle::Device;
use cellpaint_core::rng::seeded_rng;
use cellpaint_core::TrainTask;
use cyto_vaegan::{CropMeta, CropSet, VaeGanConfig, VaeGanTask, Variant};
use ndarray::Array4;
use rand::Rng;

#[global_allocator]
static GLOBAL: cellpaint_core::Allocator = cellpaint_core::Allocator;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median seconds per iteration after one warm-up iteration.
fn iteration_s(
    variant: Variant,
    crops: &CropSet,
    steps: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let mut cfg = VaeGanConfig::paper(variant);
    // γ_i(t) = clamp(t/T − i, 0, 1): with T = 1 every feature layer is fully on from t = 4.
    cfg.feature_period = 1;
    cfg.iterations_per_record = cfg.iterations;
    let mut task = VaeGanTask::new(&cfg, crops, 0, &Device::Cpu)?;
    let mut rng = seeded_rng(1);
    let mut times = Vec::new();
    for s in 0..=steps {
        let t = Instant::now();
        task.train_step(0, 10 + s, &mut rng)?;
        if s > 0 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    Ok(median(times))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Before any thread starts (candle otherwise re-reads /proc/cpuinfo per matrix product).
    cellpaint_core::threads::fix_thread_counts();
    let steps: usize = std::env::var("BENCH_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let n = 416;
    let mut rng = seeded_rng(0);
    let px = Array4::from_shape_fn((n, 3, 68, 68), |_| rng.random::<f32>());
    let meta = (0..n)
        .map(|i| CropMeta {
            plate: "p".into(),
            well: format!("w{}", i % 8),
            site: "1".into(),
            compound: format!("c{}", i % 8),
            concentration: "1".into(),
            moa: format!("m{}", i % 4),
            batch: "b".into(),
        })
        .collect();
    let crops = CropSet::new(
        "bench",
        px,
        meta,
        &VaeGanConfig::paper(Variant::VaePlus).arch,
    )?;
    let result = serde_json::json!({
        "model": "VAE+ (Lafarge et al.), 68×68×3 crops, batch 104, f32, CPU",
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "vaeplus_iteration_s": iteration_s(Variant::VaePlus, &crops, steps)?,
        "vae_iteration_s": iteration_s(Variant::Vae, &crops, steps)?,
        "peak_rss_mb": cellpaint_core::allocator::peak_resident_mb(),
    });
    println!("{}", serde_json::to_string_pretty(&result)?);
    if let Some(path) = std::env::args().nth(1) {
        cellpaint_core::profiles::write_json(std::path::Path::new(&path), &result)?;
    }
    Ok(())
}
