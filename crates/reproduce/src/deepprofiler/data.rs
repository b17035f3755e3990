//! The simulated screen of the deepprofiler reproduction: well profiles (the "classical"
//! CellProfiler-like features) and single-cell crops around the true nuclei of its rendered
//! fields, min–max scaled per crop as DeepProfiler does.

use anyhow::Result;
use cell_images::{extract_crops, BorderPolicy, CropParams, Field};
use cellpaint_sim::{render_site, Screen, SimConfig};
use deepprofiler_wsl::config::MetadataConfig;
use deepprofiler_wsl::CellCrops;
use ndarray::{Array4, Axis};
use rayon::prelude::*;

pub fn simulation_config(quick: bool, seed: u64) -> SimConfig {
    SimConfig {
        seed,
        n_batches: 2,
        replicates: 2,
        n_moas: if quick { 4 } else { 10 },
        compounds_per_moa: if quick { 3 } else { 5 },
        n_combinations: 0,
        doses: vec![3.0, 10.0],
        control_wells_per_plate: 8,
        sites_per_well: 1,
        mean_cells_per_site: 30.0,
        image_size: 256,
        ..SimConfig::default()
    }
}

/// Crops of every well of the screen (at most `per_well` cells each), `box_size` pixels, each
/// min–max scaled per channel as DeepProfiler does.
pub fn simulated_cells(screen: &Screen, box_size: usize, per_well: usize) -> Result<CellCrops> {
    let params = CropParams {
        box_size,
        border: BorderPolicy::Skip,
        min_max_scale: true,
    };
    simulated_cells_with(screen, &params, per_well)
}

/// [`simulated_cells`] with other crop settings (e.g. no min–max scaling, to see what the
/// scaling removes; examples/dp_learning_curve.rs).
pub fn simulated_cells_with(
    screen: &Screen,
    params: &CropParams,
    per_well: usize,
) -> Result<CellCrops> {
    let cfg = screen.config();
    let box_size = params.box_size;
    let per: Vec<(Vec<ndarray::Array3<f32>>, [String; 5])> = (0..screen.wells.len())
        .into_par_iter()
        .map(|i| -> Result<_> {
            let site = render_site(screen, i, 0);
            let field = Field::from_pixels(
                cell_images::CELL_PAINTING_CHANNELS
                    .iter()
                    .map(|c| c.to_string())
                    .collect(),
                16,
                site.pixels.mapv(f32::from),
            )?;
            let centres: Vec<(f64, f64)> = site.nuclei.iter().map(|n| (n.x, n.y)).collect();
            let crops = extract_crops(&field, &centres, params)?;
            let w = &screen.wells[i];
            let (label, moa) = match w.compound {
                Some(c) => {
                    let c = &screen.truth.compounds[c];
                    (c.id.clone(), c.moa_label.clone())
                }
                None => (cfg.control_name.clone(), String::new()),
            };
            let meta = [
                screen.truth.plates[w.plate].name.clone(),
                w.name(),
                "1".to_string(),
                label,
                moa,
            ];
            Ok((
                crops
                    .into_iter()
                    .take(per_well)
                    .map(|mut c| {
                        // Unscaled crops keep the fields' intensities, on a [0, 1] scale.
                        if !params.min_max_scale {
                            c.pixels.mapv_inplace(|v| v / 65535.0);
                        }
                        c.pixels
                    })
                    .collect(),
                meta,
            ))
        })
        .collect::<Result<_>>()?;
    let n: usize = per.iter().map(|p| p.0.len()).sum();
    let mut pixels = Array4::<f32>::zeros((n, 5, box_size, box_size));
    let mut cols: Vec<Vec<String>> = vec![Vec::with_capacity(n); 5];
    let mut k = 0;
    for (crops, meta) in per {
        for c in crops {
            pixels.index_axis_mut(Axis(0), k).assign(&c);
            for (j, v) in meta.iter().enumerate() {
                cols[j].push(v.clone());
            }
            k += 1;
        }
    }
    let cols: [Vec<String>; 5] = cols.try_into().expect("five columns");
    Ok(CellCrops::from_columns(
        "simulated cells",
        pixels,
        cols,
        &MetadataConfig::default(),
    )?)
}

/// The true strength of each compound: ‖maximal effect‖ × the mean dose response over its doses.
pub fn true_strength(screen: &Screen) -> std::collections::BTreeMap<String, f64> {
    let cfg = screen.config();
    screen
        .truth
        .compounds
        .iter()
        .map(|c| {
            let norm = c.effect.iter().map(|v| v * v).sum::<f64>().sqrt();
            let resp = cfg
                .doses
                .iter()
                .map(|&d| cellpaint_sim::dose_response(d, c.ec50_um, cfg.hill))
                .sum::<f64>()
                / cfg.doses.len() as f64;
            (c.id.clone(), norm * resp)
        })
        .collect()
}

/// The one complete real 5-channel Cell Painting field of the shared data (pediatric line,
/// plate BR00143976, well C03, site 3), channels DNA, ER, RNA, AGP, Mito, read through a
/// LoadData index written to `work`. `None` when the data directory lacks it.
pub fn load_real_field(
    data: &std::path::Path,
    work: &std::path::Path,
) -> Result<Option<cell_images::Field>> {
    let orig = data.join("images/cellpainting_5ch/pediatric_BR00143976_C03_site3/images/orig");
    if !orig.is_dir() {
        return Ok(None);
    }
    // A LoadData index in DeepProfiler's channel order (channel map from the data README).
    let ch = |n: u32| format!("r03c03f03p01-ch{n}sk1fk1fl1.tiff");
    let mut header = "Metadata_Plate,Metadata_Well,Metadata_Site".to_string();
    let mut row = "BR00143976,C03,3".to_string();
    for (name, n) in [("DNA", 5), ("ER", 2), ("RNA", 6), ("AGP", 3), ("Mito", 4)] {
        header += &format!(",FileName_Orig{name},PathName_Orig{name}");
        row += &format!(",{},{}", ch(n), orig.display());
    }
    std::fs::create_dir_all(work)?;
    let index_path = work.join("real_field_load_data.csv");
    std::fs::write(&index_path, format!("{header}\n{row}\n"))?;
    let index =
        cell_images::ImageIndex::read(&index_path, &cell_images::CELL_PAINTING_CHANNELS, None)?;
    Ok(Some(index.load(&index.fields[0])?))
}

/// The one complete real 5-channel Cell Painting field of the shared data (pediatric line,
/// plate BR00143976, well C03, site 3; no treatment): illumination-corrected as DeepProfiler
/// prepares fields, nuclei detected on DNA, `box_size` crops min–max scaled. `None` when the
/// data directory lacks it. Also returns the number of nuclei found.
pub fn real_field_cells(
    data: &std::path::Path,
    work: &std::path::Path,
    box_size: usize,
) -> Result<Option<(CellCrops, usize)>> {
    let Some(field) = load_real_field(data, work)? else {
        return Ok(None);
    };
    let mut acc = cell_images::IlluminationParams::default().accumulator()?;
    acc.add(&field, "BR00143976")?;
    let corrected = acc.finish(&field.channels)?.apply(&field)?;
    let seg =
        cell_images::detect_nuclei(corrected.channel(0), &cell_images::NucleusParams::default())?;
    let centres: Vec<(f64, f64)> = seg.nuclei.iter().map(|n| (n.x, n.y)).collect();
    let params = CropParams {
        box_size,
        border: BorderPolicy::Skip,
        min_max_scale: true,
    };
    let crops = extract_crops(&corrected, &centres, &params)?;
    let n = crops.len();
    let mut pixels = Array4::<f32>::zeros((n, 5, box_size, box_size));
    for (k, c) in crops.iter().enumerate() {
        pixels.index_axis_mut(Axis(0), k).assign(&c.pixels);
    }
    let col = |v: &str| vec![v.to_string(); n];
    let crops = CellCrops::from_columns(
        "real field BR00143976 C03 site 3",
        pixels,
        [
            col("BR00143976"),
            col("C03"),
            col("3"),
            col("untreated"),
            col(""),
        ],
        &MetadataConfig::default(),
    )?;
    Ok(Some((crops, seg.nuclei.len())))
}
