//! `cellpaint simulate calibrate`: a real plate's summary statistics beside a simulated plate
//! processed the same way, each against a tolerance written down before any calibration
//! (docs/simulator.md). The simulator is calibrated on these summaries only, never on a
//! paper's claim.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use profiles::{
    feature_select, normalize, read_table, FeatureSelectParams, NormalizeParams, ReadOptions,
    Selection,
};
use profiling_eval::{summarise_plate, PlateSummary, PlateSummaryParams};
use serde_json::{json, Value};

use crate::images::SimSettings;

#[derive(Args, Debug)]
pub struct SimCalibrateArgs {
    /// The real plate: normalized, feature-selected well profiles (e.g. LINCS
    /// SQ00015054_normalized_feature_select.csv.gz).
    #[arg(long)]
    pub against: PathBuf,
    #[command(flatten)]
    pub settings: SimSettings,
    /// Wells with the same value are replicates of one treatment (both plates).
    #[arg(long, default_value = "Metadata_broad_sample")]
    pub replicate_by: String,
    /// MOA annotation (both plates).
    #[arg(long, default_value = "Metadata_moa")]
    pub moa_by: String,
    /// Control wells of the real plate (the simulator's are `Metadata_broad_sample=<control>`).
    #[arg(long, default_value = "Metadata_broad_sample=DMSO")]
    pub controls: Selection,
    /// Also write the comparison as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// How far the simulated value may be from the real one.
#[derive(Clone, Copy, Debug)]
enum Tolerance {
    /// |sim − real| ≤ this.
    Absolute(f64),
    /// both positive and max(sim/real, real/sim) ≤ this.
    Ratio(f64),
}

impl Tolerance {
    fn holds(self, real: f64, sim: f64) -> bool {
        match self {
            Tolerance::Absolute(t) => (sim - real).abs() <= t,
            Tolerance::Ratio(t) => real > 0.0 && sim > 0.0 && (sim / real).max(real / sim) <= t,
        }
    }
    fn describe(self) -> String {
        match self {
            Tolerance::Absolute(t) => format!("± {t}"),
            Tolerance::Ratio(t) => format!("× {t}"),
        }
    }
}

/// The statistics compared and their tolerances (docs/simulator.md gives the reasons).
const STATISTICS: [(&str, Tolerance); 12] = [
    ("replicate_correlation", Tolerance::Absolute(0.10)),
    ("null_correlation_p90", Tolerance::Absolute(0.10)),
    ("percent_replicating", Tolerance::Absolute(0.15)),
    ("activity_map", Tolerance::Absolute(0.10)),
    ("activity_significant", Tolerance::Absolute(0.20)),
    ("activity_map_sphered", Tolerance::Absolute(0.10)),
    ("activity_significant_sphered", Tolerance::Absolute(0.20)),
    ("moa_consistency_map", Tolerance::Absolute(0.05)),
    ("effective_rank", Tolerance::Ratio(1.5)),
    ("median_skewness", Tolerance::Absolute(0.5)),
    ("median_excess_kurtosis", Tolerance::Ratio(2.0)),
    ("cells_per_well", Tolerance::Ratio(1.3)),
];

/// The simulated screen's first plate, normalized (mad_robustize on all wells) and
/// feature-selected (pycytominer's defaults), as the LINCS plates were processed.
fn simulated_plate(cfg: &cellpaint_sim::SimConfig) -> Result<profiles::ProfileTable> {
    let screen = cellpaint_sim::Screen::design(cfg)?;
    let wells = screen.profiles()?;
    let plates = wells.metadata("Metadata_Plate")?;
    let first = plates[0].clone();
    let rows: Vec<usize> = (0..wells.n_rows())
        .filter(|&r| plates[r] == first)
        .collect();
    let plate = wells.select_rows(&rows);
    let normalized = normalize(&plate, &NormalizeParams::default())?;
    Ok(feature_select(&normalized, &FeatureSelectParams::default())?.0)
}

pub fn calibrate(a: SimCalibrateArgs, quiet: bool) -> Result<()> {
    let cfg = a.settings.resolve("default")?;
    let real = read_table(&a.against, &ReadOptions::default())?;
    let params = |controls: Selection| PlateSummaryParams {
        replicate_by: a.replicate_by.clone(),
        moa_by: a.moa_by.clone(),
        controls: vec![controls],
        ..PlateSummaryParams::default()
    };
    let real_summary = summarise_plate(&real, &params(a.controls.clone()))
        .with_context(|| format!("{}", a.against.display()))?;
    let sim = simulated_plate(&cfg)?;
    let sim_summary = summarise_plate(
        &sim,
        &params(Selection::equals(
            "Metadata_broad_sample",
            &cfg.control_name,
        )),
    )
    .context("the simulated plate")?;
    let as_map = |s: &PlateSummary| -> Result<serde_json::Map<String, Value>> {
        match serde_json::to_value(s)? {
            Value::Object(m) => Ok(m),
            _ => bail!("a plate summary is an object"),
        }
    };
    let (r, s) = (as_map(&real_summary)?, as_map(&sim_summary)?);
    let mut rows = Vec::new();
    let mut within = 0;
    let mut compared = 0;
    for (name, tolerance) in STATISTICS {
        let (rv, sv) = (r[name].as_f64(), s[name].as_f64());
        let verdict = match (rv, sv) {
            (Some(x), Some(y)) => {
                compared += 1;
                let ok = tolerance.holds(x, y);
                within += ok as usize;
                json!(ok)
            }
            _ => Value::Null,
        };
        rows.push(json!({
            "statistic": name, "real": rv, "simulated": sv,
            "tolerance": tolerance.describe(), "within": verdict,
        }));
    }
    let report = json!({
        "real_plate": a.against.display().to_string(),
        "simulated": {"config": cfg, "plate": "the first plate, normalized (mad_robustize) and feature-selected"},
        "real_summary": real_summary,
        "simulated_summary": sim_summary,
        "comparison": rows,
        "within_tolerance": within,
        "compared": compared,
    });
    if let Some(path) = &a.json {
        profiles::write_json(path, &report)?;
    }
    if !quiet {
        println!(
            "{:<30} {:>10} {:>10} {:>8}  within",
            "statistic", "real", "simulated", "tol."
        );
        let show = |v: &Value| v.as_f64().map_or("—".to_string(), |x| format!("{x:.4}"));
        for row in report["comparison"].as_array().into_iter().flatten() {
            println!(
                "{:<30} {:>10} {:>10} {:>8}  {}",
                row["statistic"].as_str().unwrap_or(""),
                show(&row["real"]),
                show(&row["simulated"]),
                row["tolerance"].as_str().unwrap_or(""),
                match row["within"].as_bool() {
                    Some(true) => "yes",
                    Some(false) => "NO",
                    None => "—",
                }
            );
        }
        println!(
            "{within} of {compared} statistics within tolerance (real {} wells × {} features; simulated {} × {})",
            real_summary.wells, real_summary.features, sim_summary.wells, sim_summary.features
        );
    }
    Ok(())
}
