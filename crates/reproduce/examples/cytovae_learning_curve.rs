//! Sizing the cytovae CPU tier: trains one of AE / VAE / VAE+ on the simulated crops for each
//! iteration count given (each a fresh run) and prints NSC / NSCB for Table 1's four
//! summaries, the reconstruction MSE against the untrained network, and seconds per iteration.
//!
//! `cargo run --release -p reproduce --example cytovae_learning_curve -- [variant=ae|vae|vae-plus]
//! [iterations=250,1000] [batch=8] [filters=16] [moas=4] [per_well=12]
//! [eval_per_well=per_well] [seed=0] [out=DIR]`

use anyhow::{Context, Result};
use cyto_vaegan::profile::ProfileParams;
use cyto_vaegan::{fit, FittedVaeGan, VaeGanConfig, Variant};
use reproduce::cytovae::data::{simulated_crops, simulation_config};
use reproduce::cytovae::table1_accuracies;

fn main() -> Result<()> {
    let args: std::collections::BTreeMap<String, String> = std::env::args()
        .skip(1)
        .filter_map(|a| {
            a.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let get = |k: &str, d: usize| -> Result<usize> {
        args.get(k)
            .map_or(Ok(d), |v| v.parse())
            .with_context(|| format!("{k}: expected a whole number"))
    };
    let variant = match args.get("variant").map_or("ae", String::as_str) {
        "ae" => Variant::Ae,
        "vae" => Variant::Vae,
        "vae-plus" => Variant::VaePlus,
        v => anyhow::bail!("variant={v}: expected ae, vae or vae-plus"),
    };
    let iterations: Vec<usize> = args
        .get("iterations")
        .map_or("250,1000", String::as_str)
        .split(',')
        .map(|v| v.parse().with_context(|| format!("iterations: {v}")))
        .collect::<Result<_>>()?;
    let seed = get("seed", 0)? as u64;
    let mut sim_cfg = simulation_config(true, seed);
    sim_cfg.n_moas = get("moas", sim_cfg.n_moas)?;
    let sim = simulated_crops(&sim_cfg, get("per_well", 12)?)?;
    let crops = &sim.crops;
    // Profiles from more cells per well than training saw (the same wells' other cells).
    let eval = simulated_crops(&sim_cfg, get("eval_per_well", get("per_well", 12)?)?)?;
    let out = std::path::PathBuf::from(
        args.get("out")
            .map_or("target/cytovae-learning-curve", String::as_str),
    );
    let device = cellpaint_core::candle::Device::Cpu;
    let chance = 100.0 / sim_cfg.n_moas as f64;
    println!(
        "{} on {} simulated crops, {} MOAs (chance {chance:.1} %)",
        variant.name(),
        crops.len(),
        sim_cfg.n_moas
    );
    let sample: Vec<usize> = (0..crops.len()).step_by(crops.len().div_ceil(64)).collect();
    let mse = |m: &FittedVaeGan| -> Result<f64> {
        let r = m.reconstruct(crops, &sample)?;
        let mut s = 0.0;
        for (k, &i) in sample.iter().enumerate() {
            let d =
                &crops.pixels.index_axis(ndarray::Axis(0), i) - &r.index_axis(ndarray::Axis(0), k);
            s += d.mapv(|v| f64::from(v * v)).mean().unwrap_or(f64::NAN);
        }
        Ok(s / sample.len() as f64)
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
        let mut row = format!(
            "{n:>6} iterations ({:.2} s/it): MSE {:.4} (untrained {:.4})",
            secs / n as f64,
            mse(&m)?,
            mse(&untrained)?
        );
        for ((col, _), (nsc, nscb)) in ProfileParams::table1()
            .iter()
            .zip(table1_accuracies(emb.view(), &eval.crops.meta)?)
        {
            row += &format!(" | {col} NSC {:.1} NSCB {:.1}", 100.0 * nsc, 100.0 * nscb);
        }
        println!("{row}");
    }
    Ok(())
}
