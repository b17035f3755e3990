//! The crops of the cytovae reproduction: the real BBBC021 pack, and simulated crops cut
//! around the true nuclei of rendered simulator fields (several MOAs, several compounds per
//! MOA, two batches with every compound in one batch, as BBBC021's treatments are).

use anyhow::{Context, Result};
use cell_images::{extract_crops, BorderPolicy, CropParams, Field};
use cellpaint_sim::{render_site, Screen, SimConfig};
use cyto_vaegan::{ArchConfig, CropMeta, CropSet};
use ndarray::{Array2, Array4, Axis};
use rayon::prelude::*;

/// The simulator's DNA, Mito (a cytoplasmic network, standing in for β-tubulin) and AGP
/// (membranes and actin) channels, in BBBC021's DNA, tubulin, actin order.
pub const SIM_CHANNELS: [usize; 3] = [0, 4, 3];

/// The simulated screen for NSC/NSCB.
pub fn simulation_config(quick: bool, seed: u64) -> SimConfig {
    SimConfig {
        seed,
        n_batches: 2,
        replicates: 2,
        n_moas: if quick { 4 } else { 8 },
        compounds_per_moa: 4,
        n_combinations: 0,
        doses: vec![3.0, 10.0],
        control_wells_per_plate: 8,
        sites_per_well: 1,
        mean_cells_per_site: 30.0,
        image_size: 512,
        ..SimConfig::default()
    }
}

/// The simulated crops, the true latent phenotype of each crop's cell, and the screen.
pub struct SimulatedCrops {
    /// The crops and their metadata.
    pub crops: CropSet,
    /// `(crops, N_LATENT)`: row i is the phenotype crop i's cell was drawn from.
    pub latents: Array2<f64>,
    /// `(crops, features)`: CellProfiler-style features of each crop's cell measured from the
    /// same rendered field (cell-measure on the true segmentation, the three crop channels,
    /// every family; positions left out), NaN where the cell lacks a compartment (no row in
    /// `cell_measure::measure_cells`) or a feature is undefined for it.
    pub measured: Array2<f64>,
    /// The column names of `measured`.
    pub measured_names: Vec<String>,
    /// The simulated screen (its truth: compounds, MOAs, effects).
    pub screen: Screen,
}

/// Crops of the simulated screen: control wells and, per batch, the wells of the compounds
/// assigned to that batch (compound index mod batches), at most `per_well` cells each.
pub fn simulated_crops(config: &SimConfig, per_well: usize) -> Result<SimulatedCrops> {
    let screen = Screen::design(config)?;
    let n_batches = config.n_batches;
    let wells: Vec<usize> = (0..screen.wells.len())
        .filter(|&i| {
            let w = &screen.wells[i];
            let batch = screen.truth.plates[w.plate].batch;
            w.compound.is_none_or(|c| c % n_batches == batch)
        })
        .collect();
    let params = CropParams {
        box_size: 68,
        border: BorderPolicy::Skip,
        min_max_scale: false,
    };
    type WellCrops = (
        Vec<(ndarray::Array3<f32>, Vec<f64>, Vec<f64>)>,
        CropMeta,
        Vec<String>,
    );
    let set = cell_measure::FeatureSet::default();
    let per: Vec<WellCrops> = wells
        .par_iter()
        .map(|&i| -> Result<_> {
            let site = render_site(&screen, i, 0);
            let px = site.pixels.select(Axis(0), &SIM_CHANNELS).mapv(f32::from);
            let field =
                Field::from_pixels(vec!["DNA".into(), "Mito".into(), "AGP".into()], 16, px)?;
            let centres: Vec<(f64, f64)> = site.nuclei.iter().map(|n| (n.x, n.y)).collect();
            let crops = extract_crops(&field, &centres, &params)?;
            let cells = cellpaint_sim::measure_site(&site, &SIM_CHANNELS, &set)?;
            let keep: Vec<usize> = (0..cells.names.len())
                .filter(|&j| !cell_measure::is_positional(&cells.names[j]))
                .collect();
            let row_of: std::collections::HashMap<u32, usize> = cells
                .labels
                .iter()
                .enumerate()
                .map(|(i, &l)| (l, i))
                .collect();
            let features_of = |index: usize| -> Vec<f64> {
                match row_of.get(&(index as u32 + 1)) {
                    Some(&r) => keep.iter().map(|&j| cells.values[[r, j]]).collect(),
                    None => vec![f64::NAN; keep.len()],
                }
            };
            let names: Vec<String> = keep.iter().map(|&j| cells.names[j].clone()).collect();
            let w = &screen.wells[i];
            let plate = &screen.truth.plates[w.plate];
            let (compound, moa) = match w.compound {
                Some(c) => {
                    let c = &screen.truth.compounds[c];
                    (c.id.clone(), c.moa_label.clone())
                }
                None => (config.control_name.clone(), config.control_name.clone()),
            };
            let meta = CropMeta {
                plate: plate.name.clone(),
                well: w.name(),
                site: "1".into(),
                compound,
                concentration: if w.compound.is_some() {
                    w.dose_um.to_string()
                } else {
                    "0".into()
                },
                moa,
                batch: format!("batch{}", plate.batch),
            };
            Ok((
                crops
                    .into_iter()
                    .take(per_well)
                    .map(|c| {
                        let f = features_of(c.index);
                        (c.pixels, site.latents.row(c.index).to_vec(), f)
                    })
                    .collect(),
                meta,
                names,
            ))
        })
        .collect::<Result<_>>()?;
    let n: usize = per.iter().map(|p| p.0.len()).sum();
    let measured_names = per.first().map(|p| p.2.clone()).unwrap_or_default();
    let mut measured = Array2::<f64>::zeros((n, measured_names.len()));
    let mut pixels = Array4::<f32>::zeros((n, 3, 68, 68));
    let mut latents = Array2::<f64>::zeros((n, cellpaint_sim::model::N_LATENT));
    let mut meta = Vec::with_capacity(n);
    let mut k = 0;
    for (crops, m, _) in per {
        for (c, z, f) in crops {
            pixels.index_axis_mut(Axis(0), k).assign(&c);
            latents.row_mut(k).assign(&ndarray::ArrayView1::from(&z));
            measured.row_mut(k).assign(&ndarray::ArrayView1::from(&f));
            meta.push(m.clone());
            k += 1;
        }
    }
    let crops = CropSet::new("simulated screen", pixels, meta, &ArchConfig::default())
        .context("simulated crops")?;
    Ok(SimulatedCrops {
        crops,
        latents,
        measured,
        measured_names,
        screen,
    })
}

/// Cell features made comparable, as a profiling pipeline normalises them before profiles are
/// compared: each feature z-scored on the control cells (mean and s.d.; pycytominer's
/// `standardize` on negative controls), a missing value (NaN) set to the control mean (0
/// after scaling). Features with no finite control value or no spread on the controls are left
/// out. Returns the kept columns' indices beside the matrix.
pub fn standardise_on_controls(x: &Array2<f64>, control: &[bool]) -> (Array2<f64>, Vec<usize>) {
    let mut kept = Vec::new();
    let mut stats = Vec::new();
    for j in 0..x.ncols() {
        let v: Vec<f64> = (0..x.nrows())
            .filter(|&i| control[i] && x[[i, j]].is_finite())
            .map(|i| x[[i, j]])
            .collect();
        if v.len() < 2 {
            continue;
        }
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let sd = (v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt();
        if sd > 1e-12 * mean.abs().max(1.0) {
            kept.push(j);
            stats.push((mean, sd));
        }
    }
    let z = Array2::from_shape_fn((x.nrows(), kept.len()), |(i, k)| {
        let v = x[[i, kept[k]]];
        if v.is_finite() {
            (v - stats[k].0) / stats[k].1
        } else {
            0.0
        }
    });
    (z, kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cyto_vaegan::profile::{moa_accuracy, treatment_profiles, ProfileParams};

    fn nsc(x: &Array2<f64>, crops: &CropSet) -> f64 {
        let p = treatment_profiles(x.view(), &crops.meta, &ProfileParams::default()).unwrap();
        moa_accuracy(&p).unwrap().nsc.accuracy
    }

    /// The quick screen's MOAs are decodable from its crops' cells: NSC of mean profiles of the
    /// true phenotypes is near perfect (measured 96.9 %; chance 25 %), so a network far below
    /// that has not learned what the crops carry. Fails if the latents stop matching the crops'
    /// cells (shuffled across the screen they fall to about chance) or the profiles break.
    #[test]
    fn standardising_on_controls_scales_by_the_controls_and_drops_flat_features() {
        let x = ndarray::array![
            [1.0, 5.0, 2.0],
            [3.0, 5.0, f64::NAN],
            [10.0, 7.0, 4.0],
            [f64::NAN, 1.0, 8.0]
        ];
        let (z, kept) = standardise_on_controls(&x, &[true, true, false, false]);
        // Column 1 is flat on the controls, column 2 has one finite control value.
        assert_eq!(kept, vec![0]);
        let sd = 2f64.sqrt();
        assert_eq!(
            z.column(0).to_vec(),
            vec![-1.0 / sd, 1.0 / sd, 8.0 / sd, 0.0]
        );
    }

    #[test]
    fn moas_are_decodable_from_the_quick_screens_cells() {
        let sim = simulated_crops(&simulation_config(true, 0), 12).unwrap();
        assert_eq!(sim.latents.nrows(), sim.crops.len());
        let truth = nsc(&sim.latents, &sim.crops);
        assert!(truth >= 0.9, "true phenotype NSC {truth}");
        let mut order: Vec<usize> = (0..sim.latents.nrows()).collect();
        rand::seq::SliceRandom::shuffle(&mut order[..], &mut cellpaint_core::rng::seeded_rng(1));
        let shuffled = nsc(&sim.latents.select(Axis(0), &order), &sim.crops);
        assert!(shuffled <= 0.5, "shuffled phenotypes NSC {shuffled}");
    }
}
