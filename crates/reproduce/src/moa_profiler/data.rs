//! The simulated screen of the moa-profiler reproduction and its three embeddings' inputs:
//! rendered whole fields (MOAProfiler), the simulator's well profiles (the CellProfiler-like
//! "classical" features) and single-cell crops (the DeepProfiler stand-in).

use std::collections::HashMap;

use anyhow::{Context, Result};
use cellpaint_sim::{render_site, Screen, SimConfig};
use moa_profiler::fields::prepare_field;
use moa_profiler::split::WellInfo;
use moa_profiler::FieldSet;
use ndarray::Array2;
use profiles::ProfileTable;
use rayon::prelude::*;

/// Many MOAs with several compounds each, one dose (the paper's single concentration), plates
/// with their own gains; controls on every plate.
pub fn simulation_config(quick: bool, seed: u64) -> SimConfig {
    SimConfig {
        seed,
        n_batches: if quick { 1 } else { 2 },
        replicates: if quick { 4 } else { 6 },
        n_moas: if quick { 6 } else { 20 },
        compounds_per_moa: if quick { 3 } else { 5 },
        n_combinations: 0,
        doses: vec![10.0],
        control_wells_per_plate: if quick { 6 } else { 16 },
        sites_per_well: if quick { 2 } else { 3 },
        mean_cells_per_site: 30.0,
        image_size: if quick { 128 } else { 256 },
        ..SimConfig::default()
    }
}

/// Each simulated well as MOAProfiler sees it (the control's MOA is the control's name).
pub fn well_infos(screen: &Screen) -> Vec<WellInfo> {
    let cfg = screen.config();
    screen
        .wells
        .iter()
        .map(|w| {
            let (compound, moa) = match w.compound {
                Some(c) => {
                    let c = &screen.truth.compounds[c];
                    (c.id.clone(), c.moa_label.clone())
                }
                None => (cfg.control_name.clone(), cfg.control_name.clone()),
            };
            WellInfo {
                plate: screen.truth.plates[w.plate].name.clone(),
                well: w.name(),
                compound,
                moa,
            }
        })
        .collect()
}

/// Every site of every well rendered, resized to `size` and scaled per field.
pub fn simulated_fields(screen: &Screen, wells: &[WellInfo], size: usize) -> Result<FieldSet> {
    let sites = screen.config().sites_per_well;
    let jobs: Vec<(usize, usize)> = (0..screen.wells.len())
        .flat_map(|w| (0..sites).map(move |s| (w, s)))
        .collect();
    let fields = jobs
        .par_iter()
        .map(|&(w, s)| {
            let px = render_site(screen, w, s).pixels.mapv(f32::from);
            Ok(prepare_field(&px, size)?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(FieldSet::new(
        "simulated fields",
        fields,
        jobs.iter().map(|j| j.0).collect(),
        wells.to_vec(),
    )?)
}

/// Rows of `table` in the order of `wells`, matched on plate and well.
pub fn align_to_wells(table: &ProfileTable, wells: &[WellInfo]) -> Result<Array2<f64>> {
    let (plate, well) = (
        table.metadata("Metadata_Plate")?,
        table.metadata("Metadata_Well")?,
    );
    let at: HashMap<(&str, &str), usize> = (0..table.n_rows())
        .map(|r| ((plate[r].as_str(), well[r].as_str()), r))
        .collect();
    let rows: Vec<usize> = wells
        .iter()
        .map(|w| {
            at.get(&(w.plate.as_str(), w.well.as_str()))
                .copied()
                .with_context(|| {
                    format!("{}: no row for well {} {}", table.source(), w.plate, w.well)
                })
        })
        .collect::<Result<_>>()?;
    Ok(table.select_rows(&rows).into_features())
}
