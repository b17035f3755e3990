//! What every training command shares: the seed, the run directory's resume rule, the device,
//! and the closing line.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use cellpaint_core::{DeviceChoice, EpochRecord, RunOptions};
use clap::Args;

/// The options every `… train` command takes besides its data and settings.
#[derive(Args, Debug)]
pub struct RunArgs {
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// A run directory belongs to one run: the same settings and data resume it; anything
    /// else is refused, naming the first difference. --restart discards that run instead.
    #[arg(long)]
    pub restart: bool,
    #[arg(long, default_value = "cpu")]
    pub device: DeviceChoice,
}

impl RunArgs {
    /// The shared trainer's options.
    pub fn options(&self, quiet: bool) -> RunOptions {
        RunOptions {
            quiet,
            restart: self.restart,
        }
    }
}

/// `trained; epoch N: metric value, …; model in DIR` (or that nothing was left to train).
pub fn trained_message(last: Option<&EpochRecord>, out: &Path) -> String {
    match last {
        Some(l) => format!(
            "trained; epoch {}: {}; model in {}",
            l.epoch + 1,
            l.metrics
                .iter()
                .map(|(k, v)| format!("{k} {v:.4}"))
                .collect::<Vec<_>>()
                .join(", "),
            out.display()
        ),
        None => format!("nothing to train; model in {}", out.display()),
    }
}

/// The trained model a command after `train` reads, and where it runs.
#[derive(Args, Debug)]
pub struct ModelArg {
    /// A run directory written by this method's `train`.
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long, default_value = "cpu")]
    pub device: DeviceChoice,
}

/// A `--config` file: a strict JSON object (errors name the file, line and column).
pub fn read_config<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(profiles::parse_json_object(
        &text,
        &path.display().to_string(),
    )?)
}
