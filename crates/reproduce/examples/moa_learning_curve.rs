//! A MOAProfiler learning curve on the reproduction's simulated screen, to size the CPU tier:
//! `cargo run --release -p reproduce --example moa_learning_curve -- KEY=VALUE…` with keys
//! `sim` (rendered field side), `field` (network input side), `width`, `epochs`, `lr`,
//! `batch`, `moas`, `compounds` (per MOA), `sites` (per well), `cells` (per site), `replicates`,
//! `decay` (0: constant rate), `backbone` (efficientnet-b0, resnet18, …), `seed`, `device` (cpu, cuda), `out` (run directory; default a
//! temporary one). Prints each epoch's metrics (metrics.jsonl) and the final line `summary …`.

use anyhow::Result;
use moa_profiler::split::well_holdout;
use moa_profiler::{train_moa_profiler, MoaProfilerConfig};

#[global_allocator]
static GLOBAL: cellpaint_core::Allocator = cellpaint_core::Allocator;

fn main() -> Result<()> {
    // Before any thread starts (candle otherwise re-reads /proc/cpuinfo per matrix product).
    cellpaint_core::threads::fix_thread_counts();
    let args = reproduce::KeyValues::from_args();
    let get = |k: &str, d: f64| args.get(k, d);
    let device = args.device()?.device()?;
    let seed = get("seed", 0.0)? as u64;
    let mut sim = reproduce::moa_profiler::data::simulation_config(true, seed);
    sim.image_size = get("sim", sim.image_size as f64)? as usize;
    sim.n_moas = get("moas", sim.n_moas as f64)? as usize;
    sim.compounds_per_moa = get("compounds", sim.compounds_per_moa as f64)? as usize;
    sim.sites_per_well = get("sites", sim.sites_per_well as f64)? as usize;
    sim.mean_cells_per_site = get("cells", sim.mean_cells_per_site)?;
    sim.replicates = get("replicates", sim.replicates as f64)? as usize;
    let cfg = MoaProfilerConfig {
        image_size: get("field", 64.0)? as usize,
        width_mult: get("width", 0.5)?,
        epochs: get("epochs", 6.0)? as usize,
        batch_size: get("batch", 32.0)? as usize,
        learning_rate: get("lr", 0.1)?,
        milestones: if get("decay", 1.0)? > 0.0 {
            vec![0.5, 0.75]
        } else {
            vec![]
        },
        backbone: args
            .0
            .get("backbone")
            .cloned()
            .unwrap_or_else(|| "efficientnet-b0".into()),
        ..MoaProfilerConfig::default()
    };
    let screen = cellpaint_sim::Screen::design(&sim)?;
    let wells = reproduce::moa_profiler::data::well_infos(&screen);
    let fields = reproduce::moa_profiler::data::simulated_fields(&screen, &wells, cfg.image_size)?;
    let split = well_holdout(&wells, &cfg.control, [0.6, 0.1, 0.3], seed)?;
    let tmp = tempfile::tempdir()?;
    let dir = args
        .0
        .get("out")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let started = std::time::Instant::now();
    let m = train_moa_profiler(&cfg, &fields, &split, &dir, seed, true, &device)?;
    print!("{}", std::fs::read_to_string(dir.join("metrics.jsonl"))?);
    let truth: Vec<&str> = fields
        .field_well
        .iter()
        .map(|&w| fields.wells[w].moa.as_str())
        .collect();
    let pred = m.predict(&fields)?;
    let test_rows = fields.fields_of(&split.test);
    let test = test_rows.iter().filter(|&&i| pred[i] == truth[i]).count() as f64
        / test_rows.len().max(1) as f64;
    println!(
        "summary {:?}: {} fields, {} classes, {:.0} s, best epoch {:?}, test field accuracy {test:.3} (chance {:.3})",
        args.0,
        fields.len(),
        m.meta.classes.len(),
        started.elapsed().as_secs_f64(),
        m.meta.best_epoch,
        1.0 / m.meta.classes.len() as f64
    );
    Ok(())
}
