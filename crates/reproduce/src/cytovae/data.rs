//! The crops of the cytovae reproduction: the real BBBC021 pack, and simulated crops cut
//! around the true nuclei of rendered simulator fields (several MOAs, several compounds per
//! MOA, two batches with every compound in one batch, as BBBC021's treatments are).

use anyhow::{Context, Result};
use cell_images::{extract_crops, BorderPolicy, CropParams, Field};
use cellpaint_sim::{render_site, Screen, SimConfig};
use cyto_vaegan::{ArchConfig, CropMeta, CropSet};
use ndarray::{Array4, Axis};
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

/// Crops of the simulated screen: control wells and, per batch, the wells of the compounds
/// assigned to that batch (compound index mod batches), at most `per_well` cells each.
pub fn simulated_crops(config: &SimConfig, per_well: usize) -> Result<(CropSet, Screen)> {
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
    let per: Vec<(Vec<ndarray::Array3<f32>>, CropMeta)> = wells
        .par_iter()
        .map(|&i| -> Result<_> {
            let site = render_site(&screen, i, 0);
            let px = site.pixels.select(Axis(0), &SIM_CHANNELS).mapv(f32::from);
            let field =
                Field::from_pixels(vec!["DNA".into(), "Mito".into(), "AGP".into()], 16, px)?;
            let centres: Vec<(f64, f64)> = site.nuclei.iter().map(|n| (n.x, n.y)).collect();
            let crops = extract_crops(&field, &centres, &params)?;
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
                crops.into_iter().take(per_well).map(|c| c.pixels).collect(),
                meta,
            ))
        })
        .collect::<Result<_>>()?;
    let n: usize = per.iter().map(|p| p.0.len()).sum();
    let mut pixels = Array4::<f32>::zeros((n, 3, 68, 68));
    let mut meta = Vec::with_capacity(n);
    let mut k = 0;
    for (crops, m) in per {
        for c in crops {
            pixels.index_axis_mut(Axis(0), k).assign(&c);
            meta.push(m.clone());
            k += 1;
        }
    }
    let set = CropSet::new("simulated screen", pixels, meta, &ArchConfig::default())
        .context("simulated crops")?;
    Ok((set, screen))
}
