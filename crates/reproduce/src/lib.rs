#![warn(missing_docs)]
//! Paper reproductions: each runs its experiments end to end and writes `report.md` (the
//! paper's numbers beside ours), SVG figures, `metrics.json`, the resolved `config.json` and
//! `claims.json` (one verdict per checked claim) into its output directory.

pub mod cell_painting_vae;
pub mod cytovae;
pub mod deepprofiler;
pub mod figures;
pub mod moa_profiler;
pub mod output;
pub mod report;

use std::path::PathBuf;

/// `KEY=VALUE` arguments of the sizing examples (`examples/*_learning_curve.rs`).
pub struct KeyValues(pub std::collections::BTreeMap<String, String>);

impl KeyValues {
    /// Every `KEY=VALUE` argument after the program name.
    pub fn from_args() -> Self {
        Self(
            std::env::args()
                .skip(1)
                .filter_map(|a| {
                    a.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                })
                .collect(),
        )
    }

    /// The device given as `device=cpu|cuda|cuda:N`, else the CPU.
    pub fn device(&self) -> anyhow::Result<cellpaint_core::DeviceChoice> {
        self.0
            .get("device")
            .map_or(Ok(cellpaint_core::DeviceChoice::Cpu), |d| {
                d.parse().map_err(anyhow::Error::msg)
            })
    }

    /// The number given for `key`, else `default`; a value that is not a number is an error.
    pub fn get(&self, key: &str, default: f64) -> anyhow::Result<f64> {
        use anyhow::Context;
        self.0
            .get(key)
            .map(|v| v.parse::<f64>().with_context(|| format!("{key}={v}")))
            .unwrap_or(Ok(default))
    }
}

/// How big a reproduction runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// A few minutes on 2 cores: what CI runs (`--quick`).
    Quick,
    /// At most an hour on 2 cores, sized so that the networks can learn (defined for
    /// moa-profiler and cytovae; deepprofiler says it has none yet).
    Cpu,
    /// The paper's settings (GPU-scale for the image papers): the default.
    Paper,
}

impl Tier {
    /// `Quick` for `--quick`, else the default, `Paper`.
    pub fn from_quick(quick: bool) -> Self {
        if quick {
            Tier::Quick
        } else {
            Tier::Paper
        }
    }

    /// Name in run directories and reports (`quick`, `cpu`, `full`).
    pub fn name(self) -> &'static str {
        match self {
            Tier::Quick => "quick",
            Tier::Cpu => "cpu",
            Tier::Paper => "full",
        }
    }
}

/// Settings shared by every reproduction.
#[derive(Debug, Clone)]
pub struct Options {
    /// Data directory (else `CELLPAINT_DATA`, else `../shared/data` when it exists).
    pub data: Option<PathBuf>,
    /// A few minutes on 2 cores instead of the full run (`tier == Tier::Quick`).
    pub quick: bool,
    /// Which settings: quick, cpu or paper.
    pub tier: Tier,
    /// Output directory (report.md, figures/, claims.json, runs/).
    pub out: PathBuf,
    /// Seed of the whole reproduction.
    pub seed: u64,
    /// No progress output.
    pub quiet: bool,
    /// Where the convolutional models train (`cpu` or `cuda[:N]` in a `--features cuda`
    /// build); the profile VAEs are small dense networks and stay on the CPU.
    pub device: cellpaint_core::DeviceChoice,
    /// cytovae: training iterations per model instead of the mode's (60 quick, 40,000 full),
    /// for CPU runs in between; the feature-loss period scales with it.
    pub iterations: Option<usize>,
    /// moa-profiler: training epochs per network instead of the mode's (6 quick, 30 full); the
    /// learning-rate milestones stay at 50 % and 75 % of them.
    pub epochs: Option<usize>,
    /// Discard a training run found in a network's run directory when its fingerprint (config,
    /// seed, data) differs, instead of refusing it.
    pub restart: bool,
}

impl Options {
    /// The quick run of seed 0 into `out`, quietly, on the CPU (what the tests run).
    pub fn quick(out: impl Into<PathBuf>) -> Self {
        Self {
            data: None,
            quick: true,
            tier: Tier::Quick,
            out: out.into(),
            seed: 0,
            quiet: true,
            device: Default::default(),
            iterations: None,
            epochs: None,
            restart: false,
        }
    }

    /// How the method crates' training treats run directories and the terminal.
    pub fn run_options(&self) -> cellpaint_core::RunOptions {
        cellpaint_core::RunOptions {
            quiet: self.quiet,
            restart: self.restart,
        }
    }
}

/// Papers this crate reproduces: (name, what).
pub const PAPERS: &[(&str, &str)] = &[
    (
        "cell-painting-vae",
        "Way et al. 2022, VAEs on Cell Painting/L1000 profiles and latent space arithmetic",
    ),
    (
        "cytovae",
        "Lafarge et al. 2019, VAE+ on single-cell crops, NSC/NSCB on BBBC021",
    ),
    (
        "deepprofiler",
        "Moshkov et al., the weakly supervised Cell Painting CNN-1 (DeepProfiler)",
    ),
    (
        "moa-profiler",
        "Pfizer's MOAProfiler, a field-level MOA classifier and its embeddings",
    ),
];

/// Runs one paper's reproduction.
pub fn reproduce(paper: &str, opts: &Options) -> anyhow::Result<()> {
    match paper {
        "cell-painting-vae" => cell_painting_vae::run(opts),
        "cytovae" => cytovae::run(opts),
        "deepprofiler" => deepprofiler::run(opts),
        "moa-profiler" => moa_profiler::run(opts),
        other => anyhow::bail!(
            "unknown paper '{other}'; known: {}",
            PAPERS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
        ),
    }
}
