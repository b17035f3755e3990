//! The screen's design (batches → plates → wells), its ground truth, and the well-level states
//! that both the profiles and the images are drawn from.

use ndarray::{Array1, Array2, Axis};
use rand::seq::SliceRandom;
use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::SimConfig;
use crate::model::*;
use crate::rng::*;
use crate::SimError;

const MOA_NAMES: [&str; 30] = [
    "tubulin polymerization inhibitor",
    "HDAC inhibitor",
    "proteasome inhibitor",
    "CDK inhibitor",
    "EGFR inhibitor",
    "mTOR inhibitor",
    "HSP inhibitor",
    "PI3K inhibitor",
    "topoisomerase inhibitor",
    "Aurora kinase inhibitor",
    "MEK inhibitor",
    "glucocorticoid receptor agonist",
    "ATPase inhibitor",
    "DNA synthesis inhibitor",
    "protein synthesis inhibitor",
    "BET inhibitor",
    "PLK inhibitor",
    "JAK inhibitor",
    "SRC inhibitor",
    "RAF inhibitor",
    "dopamine receptor antagonist",
    "sodium channel blocker",
    "phosphodiesterase inhibitor",
    "sterol demethylase inhibitor",
    "calcium channel blocker",
    "serotonin receptor antagonist",
    "adrenergic receptor agonist",
    "histamine receptor antagonist",
    "cyclooxygenase inhibitor",
    "retinoid receptor agonist",
];

/// The name of MOA `i`: a real MOA name for the first ones, `MOA NN` after them.
pub fn moa_name(i: usize) -> String {
    MOA_NAMES
        .get(i)
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("MOA {:02}", i + 1))
}

/// A mechanism of action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Moa {
    /// Its annotation in the profiles.
    pub name: String,
    /// Full effect in latent space (see `GroundTruth::latent_names`).
    pub vector: Vec<f64>,
}

/// A compound: its MOAs, potency and effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compound {
    /// `SIM-00001`, …
    pub id: String,
    /// Indices into `GroundTruth::moas` (two for an `A|B` compound).
    pub moas: Vec<usize>,
    /// The MOA annotation as it appears in the profiles (`A|B` for two).
    pub moa_label: String,
    /// Concentration of half the maximal effect, µM.
    pub ec50_um: f64,
    /// The maximal effect (at saturating dose) in latent space.
    pub effect: Vec<f64>,
}

/// A plate: where it sits in the design and its nuisance effects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlateInfo {
    /// `SIM_B<batch>_M<map>_R<replicate>`, 1-based.
    pub name: String,
    /// 0-based batch.
    pub batch: usize,
    /// 0-based plate map (which treatments it holds).
    pub plate_map: usize,
    /// 0-based replicate of its plate map within the batch.
    pub replicate: usize,
    /// Batch + plate shift of every cell on the plate, in latent space.
    pub offset: Vec<f64>,
    /// Per channel: intensity change across the plate from column 1 to 24.
    pub column_gradient: Vec<f64>,
    /// Per channel: image vignetting strength (fraction of light lost at the corners).
    pub vignetting: Vec<f64>,
}

/// A well of a 384-well plate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Well {
    /// Index into `GroundTruth::plates`.
    pub plate: usize,
    /// 0-based row (A = 0, … P = 15).
    pub row: usize,
    /// 0-based column (0 … 23).
    pub col: usize,
    /// `None` for a control well.
    pub compound: Option<usize>,
    /// Dose in µM (0 for a control well).
    pub dose_um: f64,
}

impl Well {
    /// `A01`-style name.
    pub fn name(&self) -> String {
        format!("{}{:02}", (b'A' + self.row as u8) as char, self.col + 1)
    }
    /// On the plate's outer ring (edge effects apply).
    pub fn is_edge(&self) -> bool {
        self.row == 0 || self.row == 15 || self.col == 0 || self.col == 23
    }
}

/// Everything that is true about the simulated screen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// The settings the screen was drawn from.
    pub config: SimConfig,
    /// The latent factors' names ([`crate::LATENT_NAMES`]).
    pub latent_names: Vec<String>,
    /// Every MOA.
    pub moas: Vec<Moa>,
    /// Every compound (single-MOA ones first, then `A|B` combinations).
    pub compounds: Vec<Compound>,
    /// Per batch: latent shift shared by its plates.
    pub batch_offsets: Vec<Vec<f64>>,
    /// Every plate.
    pub plates: Vec<PlateInfo>,
    /// How latent factors become CellProfiler-like features.
    pub feature_map: FeatureMap,
}

/// A well's draw: its nuisance baseline, the compound effect at its dose, and its cells.
#[derive(Debug, Clone, PartialEq)]
pub struct WellState {
    /// Latent phenotype of its untreated cells: plate offset, column gradient, edge and
    /// density effects.
    pub baseline: Array1<f64>,
    /// The compound's effect at the well's dose (zero for a control well).
    pub effect: Array1<f64>,
    /// Cells in the well.
    pub n_cells: usize,
    /// Cells that respond to the compound (0 for a control well).
    pub n_responders: usize,
}

/// A simulated screen: its ground truth and its wells.
#[derive(Debug, Clone, PartialEq)]
pub struct Screen {
    /// Everything true about it.
    pub truth: GroundTruth,
    /// Every well of every plate.
    pub wells: Vec<Well>,
}

fn intensity_dims() -> std::ops::Range<usize> {
    INTENSITY..INTENSITY + 5
}

impl Screen {
    /// Lays out the screen and draws its truth. Deterministic in `config.seed`.
    pub fn design(config: &SimConfig) -> Result<Self, SimError> {
        config.check()?;
        let seed = config.seed;
        let mut rng = rng_for(seed, "truth", 0);
        let feature_map = FeatureMap::new(config.n_features, &mut rng_for(seed, "features", 0));
        let moas: Vec<Moa> = (0..config.n_moas)
            .map(|i| Moa {
                name: moa_name(i),
                vector: moa_vector(config.moa_effect, &mut rng).to_vec(),
            })
            .collect();
        let (lo, hi) = config.ec50_range;
        let mut compounds = Vec::new();
        let draw_ec50 = |rng: &mut rand_chacha::ChaCha8Rng| {
            (lo.ln() + (hi.ln() - lo.ln()) * rng.random::<f64>()).exp()
        };
        for (m, moa) in moas.iter().enumerate() {
            for _ in 0..config.compounds_per_moa {
                let own = normal_vector(
                    N_LATENT,
                    config.compound_specific / (N_LATENT as f64).sqrt(),
                    &mut rng,
                );
                let effect = Array1::from(moa.vector.clone()) + own;
                compounds.push(Compound {
                    id: String::new(),
                    moas: vec![m],
                    moa_label: moa.name.clone(),
                    ec50_um: draw_ec50(&mut rng),
                    effect: effect.to_vec(),
                });
            }
        }
        let n = config.n_moas;
        for k in 0..config.n_combinations {
            let a = k % n;
            let b = (a + 1 + (k / n) % (n - 1)) % n;
            let sum = Array1::from(moas[a].vector.clone()) + Array1::from(moas[b].vector.clone());
            let norm = sum.dot(&sum).sqrt();
            let twist = unit_vector(N_LATENT, &mut rng) * (config.non_additivity * norm);
            let own = normal_vector(
                N_LATENT,
                config.compound_specific / (N_LATENT as f64).sqrt(),
                &mut rng,
            );
            let (first, second) = if moas[a].name <= moas[b].name {
                (a, b)
            } else {
                (b, a)
            };
            compounds.push(Compound {
                id: String::new(),
                moas: vec![first, second],
                moa_label: format!("{}|{}", moas[first].name, moas[second].name),
                ec50_um: draw_ec50(&mut rng),
                effect: (sum + twist + own).to_vec(),
            });
        }
        for (i, c) in compounds.iter_mut().enumerate() {
            c.id = format!("SIM-{:05}", i + 1);
        }

        // Batch and plate effects: channel gains (intensity/texture) and a little of everything.
        let shift = |sd: f64, rng: &mut rand_chacha::ChaCha8Rng| {
            let mut v = normal_vector(N_LATENT, sd * 0.3, rng);
            for d in intensity_dims().chain(TEXTURE..TEXTURE + 5) {
                v[d] = sd * normal(rng);
            }
            v
        };
        let batch_offsets: Vec<Array1<f64>> = (0..config.n_batches)
            .map(|b| shift(config.batch_effect, &mut rng_for(seed, "batch", b as u64)))
            .collect();

        // Plate maps: every (compound, dose) once per map set, shuffled, chunked to fit.
        let capacity = 384 - config.control_wells_per_plate;
        let mut treatments: Vec<(usize, f64)> = (0..compounds.len())
            .flat_map(|c| config.doses.iter().map(move |&d| (c, d)))
            .collect();
        treatments.shuffle(&mut rng_for(seed, "layout", 0));
        let maps: Vec<Vec<(usize, f64)>> =
            treatments.chunks(capacity).map(|c| c.to_vec()).collect();
        let control_positions: Vec<usize> = (0..config.control_wells_per_plate)
            .map(|i| (i * 384 / config.control_wells_per_plate + (i % 3) * 5 + 1) % 384)
            .collect();

        let mut plates = Vec::new();
        let mut wells = Vec::new();
        for (b, boff) in batch_offsets.iter().enumerate() {
            for (m, map) in maps.iter().enumerate() {
                for r in 0..config.replicates {
                    let p = plates.len();
                    let mut prng = rng_for(seed, "plate", p as u64);
                    let offset = boff + &shift(config.plate_effect, &mut prng);
                    let column_gradient: Vec<f64> = (0..5)
                        .map(|_| config.plate_effect * normal(&mut prng))
                        .collect();
                    let vignetting: Vec<f64> =
                        (0..5).map(|_| 0.2 + 0.3 * prng.random::<f64>()).collect();
                    plates.push(PlateInfo {
                        name: format!("SIM_B{}_M{}_R{}", b + 1, m + 1, r + 1),
                        batch: b,
                        plate_map: m,
                        replicate: r,
                        offset: offset.to_vec(),
                        column_gradient,
                        vignetting,
                    });
                    let mut is_control = [false; 384];
                    let mut ctrl = control_positions.clone();
                    ctrl.sort_unstable();
                    ctrl.dedup();
                    // Dedup can only shorten the list when positions collide; refill in order.
                    let mut extra = 0;
                    while ctrl.len() < config.control_wells_per_plate {
                        if !ctrl.contains(&extra) {
                            ctrl.push(extra);
                        }
                        extra += 1;
                    }
                    ctrl.iter().for_each(|&i| is_control[i] = true);
                    let mut t = map.iter();
                    for pos in 0..384 {
                        let (row, col) = (pos / 24, pos % 24);
                        if is_control[pos] {
                            wells.push(Well {
                                plate: p,
                                row,
                                col,
                                compound: None,
                                dose_um: 0.0,
                            });
                        } else if let Some(&(c, d)) = t.next() {
                            wells.push(Well {
                                plate: p,
                                row,
                                col,
                                compound: Some(c),
                                dose_um: d,
                            });
                        }
                    }
                }
            }
        }
        Ok(Self {
            truth: GroundTruth {
                config: config.clone(),
                latent_names: LATENT_NAMES.iter().map(|s| s.to_string()).collect(),
                moas,
                compounds,
                batch_offsets: batch_offsets.iter().map(|v| v.to_vec()).collect(),
                plates,
                feature_map,
            },
            wells,
        })
    }

    /// The settings the screen was drawn from.
    pub fn config(&self) -> &SimConfig {
        &self.truth.config
    }

    /// The well's draw; the same for profiles and images.
    pub fn well_state(&self, index: usize) -> WellState {
        let cfg = self.config();
        let w = &self.wells[index];
        let plate = &self.truth.plates[w.plate];
        let mut rng = rng_for(cfg.seed, "well", index as u64);
        let mut baseline = Array1::from(plate.offset.clone());
        let x = (w.col as f64 - 11.5) / 11.5;
        for c in 0..5 {
            baseline[INTENSITY + c] += plate.column_gradient[c] * x;
        }
        if w.is_edge() {
            // Evaporation at the plate edge: smaller, brighter, fewer cells.
            baseline[CELL_SIZE] -= cfg.edge_effect;
            baseline[NUCLEUS_SIZE] -= 0.5 * cfg.edge_effect;
            for d in intensity_dims() {
                baseline[d] += 0.5 * cfg.edge_effect;
            }
            baseline[CELL_COUNT] -= 0.5 * cfg.edge_effect;
        }
        let density = cfg.density_effect * normal(&mut rng);
        baseline[CELL_COUNT] += density;
        baseline[CELL_SIZE] -= 0.8 * density;
        baseline[NUCLEUS_SIZE] -= 0.4 * density;
        baseline[CELL_SHAPE] += 0.5 * density;
        let effect = match w.compound {
            None => Array1::zeros(N_LATENT),
            Some(c) => {
                let comp = &self.truth.compounds[c];
                Array1::from(comp.effect.clone()) * dose_response(w.dose_um, comp.ec50_um, cfg.hill)
            }
        };
        let responding = 1.0 - cfg.nonresponder_fraction;
        let mean_cells = cfg.mean_cells_per_site
            * cfg.sites_per_well as f64
            * (baseline[CELL_COUNT] + responding * effect[CELL_COUNT]).exp();
        let n_cells = poisson(mean_cells, &mut rng).max(1);
        let n_responders = if w.compound.is_some() {
            binomial(n_cells, responding, &mut rng)
        } else {
            0
        };
        WellState {
            baseline,
            effect,
            n_cells,
            n_responders,
        }
    }

    /// The well-mean latent phenotype (cell noise averaged over the well's cells).
    pub fn well_latent(&self, index: usize) -> Array1<f64> {
        let s = self.well_state(index);
        let mut rng = rng_for(self.config().seed, "well-mean", index as u64);
        let frac = s.n_responders as f64 / s.n_cells as f64;
        let mut z = &s.baseline
            + &(s.effect * frac)
            + normal_vector(N_LATENT, 1.0 / (s.n_cells as f64).sqrt(), &mut rng);
        let expected = self.config().mean_cells_per_site * self.config().sites_per_well as f64;
        z[CELL_COUNT] = (s.n_cells as f64 / expected).ln();
        z
    }

    /// Well-level profiles: metadata plus `n_features` CellProfiler-like features.
    pub fn profiles(&self) -> Result<profiles::ProfileTable, SimError> {
        let fm = &self.truth.feature_map;
        let n_f = fm.specs.len();
        let cfg = self.config();
        let rows: Vec<Array1<f64>> = (0..self.wells.len())
            .into_par_iter()
            .map(|i| {
                let z = self.well_latent(i);
                let mut rng = rng_for(cfg.seed, "measurement", i as u64);
                let mut f = fm.loadings.dot(&z);
                for j in 0..n_f {
                    f[j] += cfg.noise * fm.noise_scale[j] * normal(&mut rng);
                }
                f
            })
            .collect();
        let mut x = Array2::zeros((rows.len(), n_f));
        for (i, r) in rows.iter().enumerate() {
            x.index_axis_mut(Axis(0), i).assign(r);
        }
        let names = [
            "Metadata_Batch",
            "Metadata_Plate",
            "Metadata_plate_map_name",
            "Metadata_Well",
            "Metadata_broad_sample",
            "Metadata_pert_type",
            "Metadata_moa",
            "Metadata_mmoles_per_liter",
        ];
        let mut meta: Vec<Vec<String>> = vec![Vec::with_capacity(self.wells.len()); names.len()];
        for w in &self.wells {
            let p = &self.truth.plates[w.plate];
            let (sample, kind, moa) = match w.compound {
                None => (
                    cfg.control_name.clone(),
                    "control".to_string(),
                    String::new(),
                ),
                Some(c) => {
                    let comp = &self.truth.compounds[c];
                    (comp.id.clone(), "trt".into(), comp.moa_label.clone())
                }
            };
            let vals = [
                format!("B{}", p.batch + 1),
                p.name.clone(),
                format!("M{}", p.plate_map + 1),
                w.name(),
                sample,
                kind,
                moa,
                if w.compound.is_some() {
                    format!("{}", w.dose_um)
                } else {
                    "0".into()
                },
            ];
            for (col, v) in meta.iter_mut().zip(vals) {
                col.push(v);
            }
        }
        Ok(profiles::ProfileTable::new(
            "simulated screen",
            names.iter().map(|s| s.to_string()).collect(),
            meta,
            fm.names(),
            x,
        )?)
    }
}
