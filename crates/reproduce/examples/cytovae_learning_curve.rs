//! Sizing the cytovae CPU tier. First what the simulated crops allow with no network: NSC /
//! NSCB (Table 1's four summaries) of profiles from each cell's true latent phenotype and from
//! plain crop statistics. Then, for each iteration count given (each a fresh run; none with
//! `iterations=0`), one of AE / VAE / VAE+ trained on the crops: the same NSC / NSCB of its
//! embeddings, its reconstruction MSE against the untrained network, and seconds per iteration.
//!
//! `cargo run --release -p reproduce --example cytovae_learning_curve -- [variant=ae|vae|vae-plus]
//! [iterations=250,1000] [batch=8] [filters=16] [moas=4] [cells=30] [per_well=12]
//! [eval_per_well=per_well] [seed=0] [out=DIR] [device=cpu|cuda]`

use anyhow::{Context, Result};
use cyto_vaegan::profile::ProfileParams;
use cyto_vaegan::quality::reconstruction_quality;
use cyto_vaegan::{fit, CropMeta, FittedVaeGan, VaeGanConfig, Variant};
use ndarray::{Array2, Axis};
use reproduce::cytovae::data::{simulated_crops, simulation_config};
use reproduce::cytovae::table1_accuracies;

/// Table 1's four NSC / NSCB pairs of per-cell vectors `x`, as one line.
fn table1_line(x: &Array2<f64>, meta: &[CropMeta]) -> Result<String> {
    let mut row = String::new();
    for ((col, _), (nsc, nscb)) in ProfileParams::table1()
        .iter()
        .zip(table1_accuracies(x.view(), meta)?)
    {
        row += &format!(" | {col} NSC {:.1} NSCB {:.1}", 100.0 * nsc, 100.0 * nscb);
    }
    Ok(row)
}

/// Each plate's rows minus the mean of that plate's control rows (a diagnostic: the paper's
/// mean profiles are uncentred).
fn centre_on_plate_controls(x: &Array2<f64>, meta: &[CropMeta]) -> Array2<f64> {
    let mut out = x.clone();
    let plates: std::collections::BTreeSet<&str> = meta.iter().map(|m| m.plate.as_str()).collect();
    for plate in plates {
        let rows: Vec<usize> = (0..meta.len())
            .filter(|&i| meta[i].plate == plate)
            .collect();
        let ctl: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|&i| meta[i].compound == "DMSO")
            .collect();
        if ctl.is_empty() {
            continue;
        }
        let mean = x
            .select(Axis(0), &ctl)
            .mean_axis(Axis(0))
            .expect("controls");
        for &i in &rows {
            let mut r = out.row_mut(i);
            r -= &mean;
        }
    }
    out
}

fn main() -> Result<()> {
    // Before any thread starts (candle otherwise re-reads /proc/cpuinfo per matrix product).
    cellpaint_core::threads::fix_thread_counts();
    let args = reproduce::KeyValues::from_args();
    let get = |k: &str, d: usize| -> Result<usize> { Ok(args.get(k, d as f64)? as usize) };
    let variant = match args.0.get("variant").map_or("ae", String::as_str) {
        "ae" => Variant::Ae,
        "vae" => Variant::Vae,
        "vae-plus" => Variant::VaePlus,
        v => anyhow::bail!("variant={v}: expected ae, vae or vae-plus"),
    };
    let iterations: Vec<usize> = args
        .0
        .get("iterations")
        .map_or("250,1000", String::as_str)
        .split(',')
        .map(|v| v.parse().with_context(|| format!("iterations: {v}")))
        .filter(|n| !matches!(n, Ok(0)))
        .collect::<Result<_>>()?;
    let seed = get("seed", 0)? as u64;
    let mut sim_cfg = simulation_config(true, seed);
    sim_cfg.n_moas = get("moas", sim_cfg.n_moas)?;
    sim_cfg.mean_cells_per_site = get("cells", sim_cfg.mean_cells_per_site as usize)? as f64;
    let per_well = get("per_well", 12)?;
    let eval_per_well = get("eval_per_well", per_well)?;
    let sim = simulated_crops(&sim_cfg, per_well)?;
    let crops = &sim.crops;
    // Profiles may come from more cells per well than training saw (the same wells' others).
    let eval_sim = if eval_per_well == per_well {
        None
    } else {
        Some(simulated_crops(&sim_cfg, eval_per_well)?)
    };
    let eval = eval_sim.as_ref().unwrap_or(&sim);
    println!(
        "{} MOAs (chance {:.1} %), {} training crops, profiles from {} crops",
        sim_cfg.n_moas,
        100.0 / sim_cfg.n_moas as f64,
        crops.len(),
        eval.crops.len()
    );
    let stats = reproduce::deepprofiler::data::crop_statistics(&eval.crops.pixels);
    // Each crop channel is divided by its maximum (the paper's normalisation), which removes
    // most of a cell's brightness: what the phenotype carries without its intensity factors.
    let shape_texture: Vec<usize> = (0..cellpaint_sim::model::N_LATENT)
        .filter(|j| {
            !(cellpaint_sim::model::INTENSITY..cellpaint_sim::model::INTENSITY + 5).contains(j)
        })
        .collect();
    let no_intensity = eval.latents.select(Axis(1), &shape_texture);
    for (name, x) in [
        ("true phenotype", &eval.latents),
        ("true phenotype without intensities", &no_intensity),
        ("crop statistics", &stats),
    ] {
        println!(
            "{name:>16} (no network){}",
            table1_line(x, &eval.crops.meta)?
        );
    }
    let out = std::path::PathBuf::from(
        args.0
            .get("out")
            .map_or("target/cytovae-learning-curve", String::as_str),
    );
    let device = args.device()?.device()?;
    let sample: Vec<usize> = (0..crops.len()).step_by(crops.len().div_ceil(64)).collect();
    let mse = |m: &FittedVaeGan| -> Result<f64> {
        let r = m.reconstruct(crops, &sample)?;
        Ok(
            reconstruction_quality(sample.iter().enumerate().map(|(k, &i)| {
                (
                    crops.pixels.index_axis(Axis(0), i),
                    r.index_axis(Axis(0), k),
                )
            }))
            .mse,
        )
    };
    for &n in &iterations {
        let mut cfg = VaeGanConfig::paper(variant);
        cfg.iterations = n;
        cfg.batch_size = get("batch", 8)?;
        cfg.arch.filters = get("filters", 16)?;
        cfg.feature_period = (n / 16).max(1);
        cfg.iterations_per_record = n.min(50);
        let dir = out.join(format!("{}-{n}", variant.slug()));
        let t = std::time::Instant::now();
        let m = fit(
            &cfg,
            crops,
            &dir,
            seed,
            cellpaint_core::RunOptions::default(),
            &device,
        )?;
        let secs = t.elapsed().as_secs_f64();
        let untrained = FittedVaeGan::untrained(&cfg, crops, seed, &device)?;
        let emb = m.embed(&eval.crops)?.mapv(f64::from);
        if n == iterations[0] {
            let raw = untrained.embed(&eval.crops)?.mapv(f64::from);
            println!(
                "untrained {}{}",
                variant.name(),
                table1_line(&raw, &eval.crops.meta)?
            );
        }
        let centred = centre_on_plate_controls(&emb, &eval.crops.meta);
        println!(
            "{} {n} iterations, embeddings centred on each plate's control cells (diagnostic){}",
            variant.name(),
            table1_line(&centred, &eval.crops.meta)?
        );
        println!(
            "{} {n} iterations ({:.2} s/it; a resumed run reports ≈ 0): MSE {:.4} (untrained {:.4}){}",
            variant.name(),
            secs / n as f64,
            mse(&m)?,
            mse(&untrained)?,
            table1_line(&emb, &eval.crops.meta)?
        );
    }
    Ok(())
}
