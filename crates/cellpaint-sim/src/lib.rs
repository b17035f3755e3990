#![warn(missing_docs)]
#![doc = include_str!("../README.md")]

pub mod config;
pub mod images;
pub mod measured;
pub mod model;
pub mod rng;
pub mod screen;

use std::path::Path;

pub use config::SimConfig;
pub use images::{render_site, select_wells, write_images, RenderedSite};
pub use measured::measure_site;
pub use model::{dose_response, LATENT_NAMES};
pub use screen::{GroundTruth, Screen};

/// What can go wrong simulating a screen.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Settings that cannot make a screen.
    #[error("simulation settings: {0}")]
    Config(String),
    /// Building or writing the profiles failed.
    #[error(transparent)]
    Profile(#[from] profiles::ProfileError),
    /// Writing images failed.
    #[error(transparent)]
    Image(#[from] cell_images::ImageError),
    /// Measuring rendered cells failed.
    #[error(transparent)]
    Measure(#[from] cell_measure::MeasureError),
}

/// Designs the screen and writes its profiles (`.csv`, `.csv.gz`) and the ground truth beside
/// them (`<stem>.truth.json`). Returns the screen.
pub fn write_profiles(config: &SimConfig, out: &Path) -> Result<Screen, SimError> {
    let screen = Screen::design(config)?;
    let table = screen.profiles()?;
    profiles::write_table(&table, out)?;
    profiles::write_json(&truth_path(out), &screen.truth)?;
    Ok(screen)
}

/// `<out minus .csv/.csv.gz>.truth.json`.
pub fn truth_path(out: &Path) -> std::path::PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".csv.gz")
        .or_else(|| name.strip_suffix(".csv"))
        .or_else(|| name.strip_suffix(".tsv"))
        .unwrap_or(&name);
    out.with_file_name(format!("{stem}.truth.json"))
}
