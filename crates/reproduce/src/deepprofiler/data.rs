//! The simulated screen of the deepprofiler reproduction: well profiles (the "classical"
//! CellProfiler-like features) and single-cell crops around the true nuclei of its rendered
//! fields, min–max scaled per crop as DeepProfiler does.

use anyhow::Result;
use cell_images::{extract_crops, BorderPolicy, CropParams, Field};
use cellpaint_sim::{render_site, Screen, SimConfig};
use deepprofiler_wsl::config::MetadataConfig;
use deepprofiler_wsl::CellCrops;
use ndarray::{Array2, Array4, Axis};
use rayon::prelude::*;

/// The simulated screen of the DeepProfiler reproduction (smaller with `quick`).
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
/// min–max scaled per channel as DeepProfiler does, with each cell's true phenotype.
pub fn simulated_cells(
    screen: &Screen,
    box_size: usize,
    per_well: usize,
) -> Result<SimulatedCells> {
    let params = CropParams {
        box_size,
        border: BorderPolicy::Skip,
        min_max_scale: true,
    };
    simulated_cells_with(screen, &params, per_well)
}

/// Simulated single-cell crops and the true latent phenotype of the cell in each.
pub struct SimulatedCells {
    /// The crops and their metadata.
    pub crops: CellCrops,
    /// `(crops, N_LATENT)`: row i is the phenotype crop i's cell was drawn from.
    pub latents: Array2<f64>,
}

/// [`simulated_cells`] with other crop settings (e.g. no min–max scaling, to see what the
/// scaling removes; examples/dp_learning_curve.rs), and each crop's true latent phenotype.
pub fn simulated_cells_with(
    screen: &Screen,
    params: &CropParams,
    per_well: usize,
) -> Result<SimulatedCells> {
    let cfg = screen.config();
    let box_size = params.box_size;
    let per: Vec<(Vec<(ndarray::Array3<f32>, Vec<f64>)>, [String; 5])> = (0..screen.wells.len())
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
                        (c.pixels, site.latents.row(c.index).to_vec())
                    })
                    .collect(),
                meta,
            ))
        })
        .collect::<Result<_>>()?;
    let n: usize = per.iter().map(|p| p.0.len()).sum();
    let mut pixels = Array4::<f32>::zeros((n, 5, box_size, box_size));
    let mut latents = Array2::<f64>::zeros((n, cellpaint_sim::model::N_LATENT));
    let mut cols: Vec<Vec<String>> = vec![Vec::with_capacity(n); 5];
    let mut k = 0;
    for (crops, meta) in per {
        for (c, z) in crops {
            pixels.index_axis_mut(Axis(0), k).assign(&c);
            latents.row_mut(k).assign(&ndarray::ArrayView1::from(&z));
            for (j, v) in meta.iter().enumerate() {
                cols[j].push(v.clone());
            }
            k += 1;
        }
    }
    let cols: [Vec<String>; 5] = cols.try_into().expect("five columns");
    Ok(SimulatedCells {
        crops: CellCrops::from_columns(
            "simulated cells",
            pixels,
            cols,
            &MetadataConfig::default(),
        )?,
        latents,
    })
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

/// How well the true per-cell phenotype itself predicts `labels`: a multinomial logistic
/// regression on the standardised latent factors of the `train` rows, scored (balanced
/// accuracy) on the `val` rows. This bounds what a per-cell image classifier can be expected
/// to reach on the simulated screen. `with_intensity = false` leaves out the five intensity factors, which
/// DeepProfiler's per-crop min–max scaling removes from the pixels; the well-level cell count
/// factor is never used (a single cell does not show it).
pub fn latent_readout(
    latents: &Array2<f64>,
    labels: &[String],
    train: &[usize],
    val: &[usize],
    with_intensity: bool,
) -> Result<f64> {
    use cellpaint_sim::model::{CELL_COUNT, INTENSITY};
    let factors: Vec<usize> = (0..latents.ncols())
        .filter(|&k| {
            k != CELL_COUNT && (with_intensity || !(INTENSITY..INTENSITY + 5).contains(&k))
        })
        .collect();
    let columns = Array2::from_shape_fn((latents.nrows(), factors.len()), |(i, j)| {
        latents[[i, factors[j]]]
    });
    feature_readout(&columns, labels, train, val)
}

/// Balanced validation accuracy ([`profiling_eval::balanced_accuracy`]) of a multinomial logistic regression
/// (L2 1e-3) on the standardised columns of `features`, fit on the `train` rows and scored on
/// the `val` rows.
pub fn feature_readout(
    features: &Array2<f64>,
    labels: &[String],
    train: &[usize],
    val: &[usize],
) -> Result<f64> {
    let pick = |rows: &[usize]| features.select(Axis(0), rows);
    let (mut x_train, mut x_val) = (pick(train), pick(val));
    for j in 0..features.ncols() {
        let col = x_train.column(j);
        let mean = col.mean().unwrap_or(0.0);
        let sd = col.std(0.0).max(1e-12);
        x_train.column_mut(j).mapv_inplace(|v| (v - mean) / sd);
        x_val.column_mut(j).mapv_inplace(|v| (v - mean) / sd);
    }
    let y = |rows: &[usize]| rows.iter().map(|&i| labels[i].clone()).collect::<Vec<_>>();
    let truth = y(val);
    let predicted = profiling_eval::logistic_predictions(
        x_train.view(),
        &y(train),
        x_val.view(),
        profiling_eval::ProbeParams {
            l2: 1e-3,
            max_iterations: 300,
        },
    )?;
    Ok(profiling_eval::balanced_accuracy(&truth, &predicted))
}

/// Simple statistics of each crop as the network sees it: per channel the mean, s.d., fraction
/// of pixels above 0.25 and above 0.5, and the mean of the central square of half the side;
/// `(crops, 5 × channels)`.
pub fn crop_statistics(pixels: &Array4<f32>) -> Array2<f64> {
    let (n, c, h, w) = pixels.dim();
    let mut out = Array2::zeros((n, 5 * c));
    for i in 0..n {
        for k in 0..c {
            let x = pixels.slice(ndarray::s![i, k, .., ..]);
            let frac = |t: f32| x.iter().filter(|&&v| v > t).count() as f64 / (h * w) as f64;
            let centre = x.slice(ndarray::s![h / 4..3 * h / 4, w / 4..3 * w / 4]);
            let row = [
                f64::from(x.mean().unwrap_or(0.0)),
                f64::from(x.std(0.0)),
                frac(0.25),
                frac(0.5),
                f64::from(centre.mean().unwrap_or(0.0)),
            ];
            for (j, v) in row.into_iter().enumerate() {
                out[[i, 5 * k + j]] = v;
            }
        }
    }
    out
}

/// What a per-cell classifier could reach on a split: balanced validation accuracies of
/// logistic regressions on what the cells carry.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct PerCellReadouts {
    /// Distinct labels.
    pub classes: usize,
    /// 1 / `classes`.
    pub chance: f64,
    /// From the cells' true latent phenotypes.
    pub latent: f64,
    /// From the phenotypes without the intensity factors (what min–max scaling leaves).
    pub latent_without_intensity: f64,
    /// From [`crop_statistics`].
    pub crop_statistics: f64,
}

/// [`PerCellReadouts`] of `label_field` for `cells`, fit on the `train` rows and scored on the
/// `val` rows.
pub fn per_cell_readouts(
    cells: &SimulatedCells,
    label_field: &str,
    train: &[usize],
    val: &[usize],
) -> Result<PerCellReadouts> {
    let labels = cells.crops.cells.metadata(label_field)?.to_vec();
    let mut distinct = labels.clone();
    distinct.sort();
    distinct.dedup();
    let stats = crop_statistics(&cells.crops.pixels);
    Ok(PerCellReadouts {
        classes: distinct.len(),
        chance: 1.0 / distinct.len().max(1) as f64,
        latent: latent_readout(&cells.latents, &labels, train, val, true)?,
        latent_without_intensity: latent_readout(&cells.latents, &labels, train, val, false)?,
        crop_statistics: feature_readout(&stats, &labels, train, val)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quick screen's treatments are decodable per cell from the true phenotype and from
    /// plain crop statistics (measured balanced accuracies: 0.357, 0.254 without intensity,
    /// 0.192; chance 0.077), so a network near chance there has not learned what the crops
    /// carry. Fails if the latents stop matching the crops' cells or the readout breaks.
    #[test]
    fn treatments_are_decodable_per_cell_on_the_quick_screen() {
        let screen = Screen::design(&simulation_config(true, 0)).unwrap();
        let params = CropParams {
            box_size: 32,
            border: BorderPolicy::Skip,
            min_max_scale: true,
        };
        let cells = simulated_cells_with(&screen, &params, 16).unwrap();
        assert_eq!(cells.latents.nrows(), cells.crops.len());
        let meta = MetadataConfig::default();
        let (tr, va) = deepprofiler_wsl::split::partition(
            &cells.crops.cells,
            &meta,
            &deepprofiler_wsl::config::Partition::LeaveCellsOut {
                train_fraction: 0.6,
            },
            0,
        )
        .unwrap();
        let r = per_cell_readouts(&cells, &meta.label_field, &tr, &va).unwrap();
        assert_eq!(r.classes, 13);
        assert!(r.latent >= 4.0 * r.chance, "{r:?}");
        assert!(r.latent > r.latent_without_intensity, "{r:?}");
        assert!(r.crop_statistics >= 2.0 * r.chance, "{r:?}");
        // Labels shuffled against the cells: every readout falls to about chance.
        let mut order: Vec<usize> = (0..cells.latents.nrows()).collect();
        rand::seq::SliceRandom::shuffle(&mut order[..], &mut cellpaint_core::rng::seeded_rng(1));
        let shuffled = cells.latents.select(Axis(0), &order);
        let labels = cells.crops.cells.metadata(&meta.label_field).unwrap();
        let broken = latent_readout(&shuffled, labels, &tr, &va, true).unwrap();
        assert!(
            broken < 2.0 * r.chance,
            "shuffled latents still read out {broken}"
        );
    }
}
