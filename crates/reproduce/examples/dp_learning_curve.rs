//! A DeepProfiler (Cell Painting CNN) learning curve on the reproduction's simulated screen, to
//! size its tiers: `cargo run --release -p reproduce --example dp_learning_curve -- KEY=VALUE…`
//! with keys `box` (crop side = input side), `cells` (crops per well), `width`, `epochs`,
//! `lr`, `batch`, `moas`, `seed`, `device` (cpu, cuda), `minmax` (1: min–max scale each crop per channel, as
//! DeepProfiler; 0: raw intensities divided by 65535). Leave-cells-out partition (60 % training). Prints each
//! epoch's metrics (metrics.jsonl) and a final `summary …` line.

use anyhow::Result;
use deepprofiler_wsl::config::{DeepProfilerConfig, Partition};
use deepprofiler_wsl::split::partition;
use deepprofiler_wsl::train_classifier;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<()> {
    let args = reproduce::KeyValues::from_args();
    let get = |k: &str, d: f64| args.get(k, d);
    let device = args.device()?.device()?;
    let seed = get("seed", 0.0)? as u64;
    let mut sim = reproduce::deepprofiler::data::simulation_config(true, seed);
    sim.n_moas = get("moas", sim.n_moas as f64)? as usize;
    let box_size = get("box", 32.0)? as usize;
    let mut cfg = DeepProfilerConfig::default();
    cfg.dataset.locations.box_size = box_size;
    let m = &mut cfg.train.model;
    m.epochs = get("epochs", 3.0)? as usize;
    m.input_size = box_size;
    m.width_mult = get("width", 0.5)?;
    m.learning_rate = get("lr", 0.05)?;
    m.batch_size = get("batch", 32.0)? as usize;
    m.lr_schedule = cellpaint_core::LrSchedule::Constant;
    let screen = cellpaint_sim::Screen::design(&sim)?;
    let crop = cell_images::CropParams {
        box_size,
        border: cell_images::BorderPolicy::Skip,
        min_max_scale: get("minmax", 1.0)? != 0.0,
    };
    let cells = reproduce::deepprofiler::data::simulated_cells_with(
        &screen,
        &crop,
        get("cells", 16.0)? as usize,
    )?;
    let meta = cfg.dataset.metadata.clone();
    let (tr, va) = partition(
        &cells.cells,
        &meta,
        &Partition::LeaveCellsOut {
            train_fraction: 0.6,
        },
        seed,
    )?;
    let tmp = tempfile::tempdir()?;
    let started = std::time::Instant::now();
    let f = train_classifier(
        &cfg,
        &cells.subset(&tr),
        Some(&cells.subset(&va)),
        tmp.path(),
        seed,
        true,
        &device,
    )?;
    print!(
        "{}",
        std::fs::read_to_string(tmp.path().join("metrics.jsonl"))?
    );
    println!(
        "summary {:?}: {} crops ({} training), {} classes, {:.0} s",
        args.0,
        cells.len(),
        tr.len(),
        f.meta.classes.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
