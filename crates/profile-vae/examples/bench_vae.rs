//! Training throughput of the paper's level-5 model (588 → 250 → 10, batch 96), in steps/s:
//! `cargo xtask bench vae` (or `cargo run --release -p profile-vae --example bench_vae`).

use std::time::Instant;

use cellpaint_core::rng::seeded_rng;
use cellpaint_core::TrainTask;
use ndarray::Array2;
use profile_vae::{VaeConfig, VaeTask};
use rand::Rng;

#[global_allocator]
static GLOBAL: cellpaint_core::Allocator = cellpaint_core::Allocator;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Before any thread starts (candle otherwise re-reads /proc/cpuinfo per matrix product).
    cellpaint_core::threads::fix_thread_counts();
    let (n, d, batch) = (96 * 20, 588, 96);
    let mut rng = seeded_rng(0);
    let x = Array2::from_shape_fn((n, d), |_| rng.random::<f64>());
    let mut task = VaeTask::new(VaeConfig::beta_vae(d, 0.3), x.view(), None, batch, 1e-3, 0)?;
    let steps = task.steps_per_epoch();
    let mut rng = seeded_rng(1);
    for s in 0..steps {
        task.train_step(0, s, &mut rng)?; // warm-up epoch
    }
    let start = Instant::now();
    let epochs = 10;
    for e in 1..=epochs {
        for s in 0..steps {
            task.train_step(e, s, &mut rng)?;
        }
    }
    let per_s = (epochs * steps) as f64 / start.elapsed().as_secs_f64();
    let result =
        serde_json::json!({"model": "VAE 588-250-10, batch 96, f32, CPU", "steps_per_s": per_s});
    println!("{result}");
    if let Some(path) = std::env::args().nth(1) {
        profiles::write_json(std::path::Path::new(&path), &result)?;
    }
    Ok(())
}
