//! A DeepProfiler (Cell Painting CNN) learning curve on the reproduction's simulated screen, to
//! size its tiers: `cargo run --release -p reproduce --example dp_learning_curve -- KEY=VALUE…`
//! with keys `box` (crop side = input side), `cells` (crops per well), `width`, `epochs`, `lr`,
//! `batch`, `moas`, `compounds` (per MOA), `sites` (per well), `replicates` (plates per batch),
//! `seed`, `device` (cpu, cuda), `schedule` (constant, the default here; cosine: DeepProfiler's,
//! with `warmup` epochs, default 5), `backbone` (a registered name: efficientnet-b0, resnet18, …),
//! `minmax` (1: min–max
//! scale each crop per channel, as DeepProfiler; 0: raw intensities divided by 65535), `label`
//! (`treatment`, the paper's; `moa`), `augment` (1: DeepProfiler's augmentation; 0: none).
//! Leave-cells-out partition (60 % training).
//!
//! Prints first a `ceiling: …` line: the chance level and how well the cells' true latent
//! phenotypes (with and without the intensity factors min–max scaling removes) and simple crop
//! statistics predict the same labels (balanced accuracy of a logistic regression); then each
//! epoch's metrics (metrics.jsonl) and a final `summary …` line. `epochs=0` stops after the
//! ceiling. `export=DIR` writes the crops, labels and split there (for
//! scripts/dp_learning_curve_torch.py).

use anyhow::Result;
use deepprofiler_wsl::config::{DeepProfilerConfig, Partition};
use deepprofiler_wsl::split::partition;
use deepprofiler_wsl::train_classifier;

#[global_allocator]
static GLOBAL: cellpaint_core::Allocator = cellpaint_core::Allocator;

fn main() -> Result<()> {
    // Before any thread starts (candle otherwise re-reads /proc/cpuinfo per matrix product).
    cellpaint_core::threads::fix_thread_counts();
    let args = reproduce::KeyValues::from_args();
    let get = |k: &str, d: f64| args.get(k, d);
    let device = args.device()?.device()?;
    let seed = get("seed", 0.0)? as u64;
    let mut sim = reproduce::deepprofiler::data::simulation_config(true, seed);
    sim.n_moas = get("moas", sim.n_moas as f64)? as usize;
    sim.compounds_per_moa = get("compounds", sim.compounds_per_moa as f64)? as usize;
    sim.sites_per_well = get("sites", sim.sites_per_well as f64)? as usize;
    sim.replicates = get("replicates", sim.replicates as f64)? as usize;
    let box_size = get("box", 32.0)? as usize;
    let mut cfg = DeepProfilerConfig::default();
    cfg.dataset.locations.box_size = box_size;
    let m = &mut cfg.train.model;
    m.epochs = get("epochs", 3.0)? as usize;
    m.input_size = box_size;
    m.width_mult = get("width", 0.5)?;
    if let Some(b) = args.0.get("backbone") {
        m.backbone = b.clone();
        if b != "efficientnet-b0" {
            // The curve profiles nothing; any layer of the backbone passes the config check.
            cfg.profile.feature_layer = "avg_pool".into();
        }
    }
    m.learning_rate = get("lr", 0.05)?;
    m.batch_size = get("batch", 32.0)? as usize;
    m.lr_schedule = match args.0.get("schedule").map_or("constant", String::as_str) {
        "constant" => cellpaint_core::LrSchedule::Constant,
        // DeepProfiler's: cosine to 0 over the run after a reciprocal warm-up.
        "cosine" => cellpaint_core::LrSchedule::Cosine {
            total_epochs: m.epochs,
            warmup_epochs: get("warmup", 5.0)? as usize,
            warmup: cellpaint_core::Warmup::Reciprocal,
            min_lr: 0.0,
        },
        s => anyhow::bail!("schedule={s}: expected constant or cosine"),
    };
    if get("augment", 1.0)? == 0.0 {
        m.augment = None;
    }
    let screen = cellpaint_sim::Screen::design(&sim)?;
    let crop = cell_images::CropParams {
        box_size,
        border: cell_images::BorderPolicy::Skip,
        min_max_scale: get("minmax", 1.0)? != 0.0,
    };
    let sim_cells = reproduce::deepprofiler::data::simulated_cells_with(
        &screen,
        &crop,
        get("cells", 16.0)? as usize,
    )?;
    let meta = cfg.dataset.metadata.clone();
    let cells = match args.0.get("label").map(String::as_str) {
        None | Some("treatment") => sim_cells.crops,
        Some("moa") => {
            // The MOA as each crop's class; DMSO (no MOA) stays its own class.
            let c = &sim_cells.crops.cells;
            let col = |n: &str| c.metadata(n).map(<[String]>::to_vec);
            let moa: Vec<String> = col(&meta.moa_field)?
                .into_iter()
                .zip(col(&meta.label_field)?)
                .map(|(m, t)| if m.is_empty() { t } else { m })
                .collect();
            deepprofiler_wsl::CellCrops::from_columns(
                "simulated cells, MOA labels",
                sim_cells.crops.pixels.clone(),
                [
                    col(&meta.plate_field)?,
                    col(&meta.well_field)?,
                    col(&meta.site_field)?,
                    moa.clone(),
                    moa,
                ],
                &meta,
            )?
        }
        Some(other) => anyhow::bail!("label={other}: expected treatment or moa"),
    };
    let (tr, va) = partition(
        &cells.cells,
        &meta,
        &Partition::LeaveCellsOut {
            train_fraction: 0.6,
        },
        seed,
    )?;
    let labels = cells.cells.metadata(&meta.label_field)?.to_vec();
    let sim = reproduce::deepprofiler::data::SimulatedCells {
        crops: cells,
        latents: sim_cells.latents,
    };
    let cells = &sim.crops;
    let r = reproduce::deepprofiler::data::per_cell_readouts(&sim, &meta.label_field, &tr, &va)?;
    println!(
        "ceiling: {} classes, chance {:.3}; true latent phenotype → balanced validation accuracy {:.3} \
         (without intensity factors {:.3}); crop statistics → {:.3}",
        r.classes, r.chance, r.latent, r.latent_without_intensity, r.crop_statistics
    );
    if let Some(dir) = args.0.get("export") {
        // For a side-by-side run of another framework on the very same crops and split:
        // crops.f32 (little-endian, shape in crops.json) and crops.json (labels, split).
        let dir = std::path::Path::new(dir);
        profiles::write_atomic(&dir.join("crops.f32"), |w| {
            cells
                .pixels
                .iter()
                .try_for_each(|v| w.write_all(&v.to_le_bytes()))
        })?;
        let index = serde_json::json!({
            "shape": cells.pixels.shape(), "labels": labels, "train": tr, "val": va,
        });
        profiles::write_atomic(&dir.join("crops.json"), |w| {
            w.write_all(index.to_string().as_bytes())
        })?;
    }
    if get("epochs", 3.0)? == 0.0 {
        return Ok(());
    }
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
