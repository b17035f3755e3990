//! What every training command shares: the seed, the run directory's resume rule, the device,
//! and the closing line.

use std::path::Path;

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
