//! Simulation settings: a serde struct with validated defaults and three presets.

use serde::{Deserialize, Serialize};

use crate::SimError;

/// Everything that shapes a simulated screen. Defaults are the `default` preset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Seed of every random draw; the same config gives the same screen.
    pub seed: u64,
    /// Batches, each with its own latent shift shared by its plates.
    pub n_batches: usize,
    /// Replicate plates of each plate map in every batch.
    pub replicates: usize,
    /// Mechanisms of action, each a direction in the latent space.
    pub n_moas: usize,
    /// Single-MOA compounds per MOA.
    pub compounds_per_moa: usize,
    /// Compounds with two MOAs (`A|B`); each also has both parts present as single-MOA compounds.
    pub n_combinations: usize,
    /// Doses in µM; every compound is tested at each.
    pub doses: Vec<f64>,
    /// Control (untreated) wells on every plate.
    pub control_wells_per_plate: usize,
    /// Control label: `DMSO` (default) or `EMPTY`.
    pub control_name: String,
    /// Imaged sites (fields) per well.
    pub sites_per_well: usize,
    /// Mean number of cells in one site of an untreated well at average density.
    pub mean_cells_per_site: f64,
    /// Number of CellProfiler-like features in the profiles (at least one per latent factor).
    pub n_features: usize,
    // Biology.
    /// Length of an MOA's direction in the latent space (in units of cell-to-cell sd).
    pub moa_effect: f64,
    /// Length of each compound's own deviation from its MOA.
    pub compound_specific: f64,
    /// 0 = `A|B` does A + B exactly; 1 = its effect is as far from A + B as A + B is long.
    pub non_additivity: f64,
    /// Fraction of cells that do not respond to a compound.
    pub nonresponder_fraction: f64,
    /// Hill slope of the dose–response; EC50s are log-uniform between the two bounds (µM).
    pub hill: f64,
    /// (lowest, highest) EC50 in µM.
    pub ec50_range: (f64, f64),
    // Confounders.
    /// Standard deviation of a batch's shift of channel intensities and textures (and 0.3 of
    /// it on every other factor).
    pub batch_effect: f64,
    /// The same for each plate on top of its batch, and the sd of its column gradients.
    pub plate_effect: f64,
    /// Shift of edge wells: smaller cells and nuclei, brighter, fewer cells.
    pub edge_effect: f64,
    /// Standard deviation of a well's density draw: more cells, smaller and less round.
    pub density_effect: f64,
    /// Per-well measurement noise in feature space.
    pub noise: f64,
    /// Image size (pixels) for `simulate images`.
    pub image_size: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            n_batches: 1,
            replicates: 4,
            n_moas: 10,
            compounds_per_moa: 4,
            n_combinations: 6,
            doses: vec![0.1, 0.3, 1.0, 3.0, 10.0],
            control_wells_per_plate: 24,
            control_name: "DMSO".into(),
            sites_per_well: 1,
            mean_cells_per_site: 40.0,
            n_features: 300,
            moa_effect: 1.5,
            compound_specific: 0.4,
            non_additivity: 0.0,
            nonresponder_fraction: 0.2,
            hill: 1.5,
            ec50_range: (0.3, 3.0),
            batch_effect: 0.5,
            plate_effect: 0.3,
            edge_effect: 0.6,
            density_effect: 0.5,
            noise: 0.3,
            image_size: 512,
        }
    }
}

impl SimConfig {
    /// A screen small enough for a unit test (two plates).
    pub fn tiny(seed: u64) -> Self {
        Self {
            seed,
            replicates: 2,
            n_moas: 4,
            compounds_per_moa: 3,
            n_combinations: 2,
            doses: vec![0.3, 3.0, 10.0],
            control_wells_per_plate: 16,
            n_features: 120,
            mean_cells_per_site: 30.0,
            image_size: 256,
            ..Self::default()
        }
    }

    /// The benchmark screen: 2 batches × 4 plates × 300 compounds (plus 20 combinations).
    pub fn benchmark(seed: u64) -> Self {
        Self {
            seed,
            n_batches: 2,
            replicates: 1,
            n_moas: 30,
            compounds_per_moa: 10,
            n_combinations: 20,
            // 320 compounds × 4 doses fill 4 plate maps of 360 treatment wells.
            doses: vec![0.3, 1.0, 3.0, 10.0],
            control_wells_per_plate: 24,
            n_features: 500,
            ..Self::default()
        }
    }

    /// The preset `tiny`, `default` or `benchmark` with `seed`.
    pub fn preset(name: &str, seed: u64) -> Result<Self, SimError> {
        match name {
            "tiny" => Ok(Self::tiny(seed)),
            "default" => Ok(Self {
                seed,
                ..Self::default()
            }),
            "benchmark" => Ok(Self::benchmark(seed)),
            other => Err(SimError::Config(format!(
                "unknown preset '{other}' (expected tiny, default or benchmark)"
            ))),
        }
    }

    /// Compounds in the screen: single-MOA compounds and `A|B` combinations.
    pub fn n_compounds(&self) -> usize {
        self.n_moas * self.compounds_per_moa + self.n_combinations
    }

    /// Rejects settings that cannot make a screen, before anything is drawn.
    pub fn check(&self) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::Config(m));
        if self.n_batches == 0 || self.replicates == 0 || self.sites_per_well == 0 {
            return bad("n_batches, replicates and sites_per_well must be ≥ 1".into());
        }
        if self.n_moas == 0 || self.compounds_per_moa == 0 {
            return bad("n_moas and compounds_per_moa must be ≥ 1".into());
        }
        if self.n_combinations > 0 && self.n_moas < 2 {
            return bad("combinations (A|B) need at least 2 MOAs".into());
        }
        if self.doses.is_empty() || self.doses.iter().any(|d| !(*d > 0.0 && d.is_finite())) {
            return bad(format!(
                "doses must be positive and finite, got {:?}",
                self.doses
            ));
        }
        if self.control_wells_per_plate == 0 || self.control_wells_per_plate >= 384 {
            return bad(
                "control_wells_per_plate must be in 1..384 (every plate needs controls)".into(),
            );
        }
        if self.n_features < crate::model::N_LATENT {
            return bad(format!(
                "n_features must be ≥ {} (one per latent factor)",
                crate::model::N_LATENT
            ));
        }
        if !(0.0..1.0).contains(&self.nonresponder_fraction) {
            return bad("nonresponder_fraction must be in [0, 1)".into());
        }
        let (lo, hi) = self.ec50_range;
        if !(lo > 0.0 && hi >= lo) {
            return bad("ec50_range must satisfy 0 < low ≤ high".into());
        }
        if !(self.mean_cells_per_site >= 1.0) || self.image_size < 64 {
            return bad("mean_cells_per_site must be ≥ 1 and image_size ≥ 64".into());
        }
        for (name, v) in [
            ("moa_effect", self.moa_effect),
            ("compound_specific", self.compound_specific),
            ("non_additivity", self.non_additivity),
            ("batch_effect", self.batch_effect),
            ("plate_effect", self.plate_effect),
            ("edge_effect", self.edge_effect),
            ("density_effect", self.density_effect),
            ("noise", self.noise),
            ("hill", self.hill),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return bad(format!("{name} must be ≥ 0 and finite, got {v}"));
            }
        }
        Ok(())
    }
}
