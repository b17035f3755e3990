//! What every reproduction does first: its output folders, `config.json`, and progress lines.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::report::{write_report, Claim, Report};
use crate::Options;

/// Where a reproduction writes.
pub struct Output {
    /// The figures directory (SVG, PNG).
    pub figures: PathBuf,
    /// Run directory of these exact settings: runs resume from their checkpoints, so a run
    /// directory belongs to one setting (`runs/<quick|full>-seed<N>-<fingerprint>`).
    pub runs: PathBuf,
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Creates `figures/`, picks the run directory for `settings` and writes them to
/// `config.json`.
pub fn prepare_output(opts: &Options, settings: &impl Serialize) -> Result<Output> {
    let figures = opts.out.join("figures");
    std::fs::create_dir_all(&figures).with_context(|| format!("creating {}", figures.display()))?;
    let fingerprint = fnv1a(serde_json::to_string(settings)?.as_bytes());
    let runs = opts.out.join("runs").join(format!(
        "{}-seed{}-{fingerprint:016x}",
        opts.tier.name(),
        opts.seed
    ));
    profiles::write_json(&opts.out.join("config.json"), settings)?;
    Ok(Output { figures, runs })
}

/// Progress lines with the seconds since `started`, silent when `quiet`.
pub fn progress(quiet: bool, started: Instant) -> impl Fn(&str) + Copy {
    move |m: &str| {
        if !quiet {
            eprintln!("[{:>6.1}s] {m}", started.elapsed().as_secs_f64());
        }
    }
}

/// What each figure or table of a reproduction adds to: the report, `claims.json` and
/// `metrics.json`.
#[derive(Debug)]
pub struct Outputs {
    /// report.md, section by section.
    pub report: Report,
    /// The paper's claims with our verdicts.
    pub claims: Vec<Claim>,
    /// Everything measured, by name.
    pub metrics: serde_json::Map<String, serde_json::Value>,
}

impl Outputs {
    /// Nothing yet, under the report's title.
    pub fn new(title: &str) -> Self {
        Self {
            report: Report::new(title),
            claims: Vec::new(),
            metrics: serde_json::Map::new(),
        }
    }

    /// Writes them (see [`finish`]).
    pub fn finish(self, opts: &Options, started: Instant) -> Result<()> {
        finish(opts, self.report, &self.claims, self.metrics, started)
    }
}

/// Ends a reproduction: the claims table and wall time in the report, `metrics.json`,
/// `report.md` and `claims.json`.
pub fn finish(
    opts: &Options,
    mut report: Report,
    claims: &[Claim],
    mut metrics: serde_json::Map<String, serde_json::Value>,
    started: Instant,
) -> Result<()> {
    let seconds = started.elapsed().as_secs_f64();
    report.claims(claims);
    report.para(&format!("Wall time {seconds:.0} s."));
    metrics.insert("wall_seconds".into(), serde_json::json!(seconds));
    profiles::write_json(
        &opts.out.join("metrics.json"),
        &serde_json::Value::Object(metrics),
    )?;
    write_report(&opts.out, &report, claims)?;
    progress(opts.quiet, started)(&format!("wrote {}", opts.out.join("report.md").display()));
    Ok(())
}
