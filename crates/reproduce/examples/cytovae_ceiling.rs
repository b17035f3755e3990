//! What the simulated crops of the cytovae reproduction allow: NSC / NSCB (Table 1's four
//! summaries) of profiles built from each cell's true latent phenotype and from plain crop
//! statistics, with no network. Sizes a CPU tier: a network cannot beat what its crops carry.
//!
//! `cargo run --release -p reproduce --example cytovae_ceiling -- [moas=4] [per_well=12]
//! [cells=30] [seed=0]`

use anyhow::Result;
use cyto_vaegan::profile::ProfileParams;
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
    let get = |k: &str, d: usize| args.get(k).map_or(Ok(d), |v| v.parse()).unwrap_or(d);
    let seed = get("seed", 0) as u64;
    let mut cfg = simulation_config(true, seed);
    cfg.n_moas = get("moas", cfg.n_moas);
    cfg.mean_cells_per_site = get("cells", cfg.mean_cells_per_site as usize) as f64;
    let per_well = get("per_well", 12);
    let t = std::time::Instant::now();
    let sim = simulated_crops(&cfg, per_well)?;
    let stats = reproduce::deepprofiler::data::crop_statistics(&sim.crops.pixels);
    println!(
        "{} MOAs, {} crops, rendered in {:.1} s; chance {:.1} %",
        cfg.n_moas,
        sim.crops.len(),
        t.elapsed().as_secs_f64(),
        100.0 / cfg.n_moas as f64
    );
    for (name, x) in [
        ("true phenotype", &sim.latents),
        ("crop statistics", &stats),
    ] {
        let mut row = format!("{name:>16}:");
        for ((col, _), (nsc, nscb)) in ProfileParams::table1()
            .iter()
            .zip(table1_accuracies(x.view(), &sim.crops.meta)?)
        {
            row += &format!("  {col} NSC {:.1} NSCB {:.1}", 100.0 * nsc, 100.0 * nscb);
        }
        println!("{row}");
    }
    Ok(())
}
