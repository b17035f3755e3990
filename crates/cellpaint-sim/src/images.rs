//! Procedural 5-channel fields whose cells follow the well's latent phenotype: nucleus (DNA),
//! perinuclear ER, nucleoli and cytoplasmic RNA, membrane-rich AGP, punctate Mito. Plates add
//! channel gains and vignetting; a camera offset and shot noise finish the 16-bit image.

use std::path::{Path, PathBuf};

use cell_images::{FieldRecord, Nucleus};
use ndarray::{Array1, Array2, Array3};
use rand::Rng;
use rayon::prelude::*;

use crate::model::*;
use crate::rng::{normal, normal_vector, rng_for};
use crate::screen::Screen;
use crate::SimError;

/// One rendered site: the 16-bit stack (DNA, ER, RNA, AGP, Mito), the true nucleus centres
/// and each cell's true latent phenotype.
pub struct RenderedSite {
    /// `(5, size, size)` 16-bit channels: DNA, ER, RNA, AGP, Mito.
    pub pixels: Array3<u16>,
    /// Every cell's nucleus (centre and area), in drawing order.
    pub nuclei: Vec<Nucleus>,
    /// `(cells, N_LATENT)`, row i the phenotype cell i (`nuclei[i]`) was drawn from (factors in
    /// `LATENT_NAMES` order): what a perfect per-cell measurement could know, e.g. to bound how
    /// well any per-cell classifier can do.
    pub latents: Array2<f64>,
    /// The true nucleus segmentation, `(size, size)`: label k + 1 is `nuclei[k]`, 0 background.
    /// A pixel inside two drawn nuclei goes to the one it is deeper in (smaller elliptical
    /// distance), as a segmentation would split them.
    pub nucleus_labels: Array2<u32>,
    /// The true cell segmentation, same numbering and rule (each cell's nucleus shares its label).
    pub cell_labels: Array2<u32>,
}

struct Cell {
    x: f64,
    y: f64,
    angle: f64,
    nucleus: (f64, f64),
    cell: (f64, f64),
    z: Array1<f64>,
}

/// Cheap deterministic per-pixel noise in [−1, 1] for texture.
fn hash_noise(x: usize, y: usize, salt: u64) -> f64 {
    let h = crate::rng::mix64((x as u64) << 32 ^ y as u64 ^ salt.wrapping_mul(0x9E37_79B9));
    (h >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// Renders site `site` of well `well_index`.
pub fn render_site(screen: &Screen, well_index: usize, site: usize) -> RenderedSite {
    let cfg = screen.config();
    let size = cfg.image_size;
    let state = screen.well_state(well_index);
    let well = &screen.wells[well_index];
    let plate = &screen.truth.plates[well.plate];
    let mut rng = rng_for(cfg.seed, "site", (well_index * 64 + site) as u64);
    // This site's share of the well's cells, and of its responders.
    let per_site = |n: usize| n / cfg.sites_per_well + usize::from(site < n % cfg.sites_per_well);
    let n_cells = per_site(state.n_cells);
    let n_resp = per_site(state.n_responders).min(n_cells);
    let scale = size as f64 / 512.0;
    let mut cells: Vec<Cell> = Vec::with_capacity(n_cells);
    for i in 0..n_cells {
        let mut z = &state.baseline + &normal_vector(N_LATENT, 0.6, &mut rng);
        if i < n_resp {
            z = z + &state.effect;
        }
        let rn = 11.0 * scale * (0.25 * z[NUCLEUS_SIZE]).exp();
        let rc = rn * 2.1 * (0.25 * (z[CELL_SIZE] - z[NUCLEUS_SIZE] * 0.5)).exp();
        let ecc_n = 1.0 + 0.25 * (z[NUCLEUS_SHAPE].tanh() + 1.0);
        let ecc_c = 1.0 + 0.35 * (z[CELL_SHAPE].tanh() + 1.0);
        // Place away from earlier nuclei where possible.
        let mut best = (0.0, 0.0);
        for _try in 0..12 {
            let (x, y) = (
                rng.random::<f64>() * size as f64,
                rng.random::<f64>() * size as f64,
            );
            best = (x, y);
            if cells.iter().all(|c| (c.x - x).hypot(c.y - y) > 2.2 * rn) {
                break;
            }
        }
        cells.push(Cell {
            x: best.0,
            y: best.1,
            angle: rng.random::<f64>() * std::f64::consts::PI,
            nucleus: (rn * ecc_n.sqrt(), rn / ecc_n.sqrt()),
            cell: (rc * ecc_c.sqrt(), rc / ecc_c.sqrt()),
            z,
        });
    }
    let mut img = Array3::<f64>::zeros((5, size, size));
    // The true segmentation, and how deep each pixel is in the object it is assigned to.
    let mut nucleus_labels = Array2::<u32>::zeros((size, size));
    let mut cell_labels = Array2::<u32>::zeros((size, size));
    let mut nucleus_depth = Array2::<f64>::from_elem((size, size), f64::INFINITY);
    let mut cell_depth = Array2::<f64>::from_elem((size, size), f64::INFINITY);
    let salt = rng.random::<u64>();
    for (k, c) in cells.iter().enumerate() {
        let (cos, sin) = (c.angle.cos(), c.angle.sin());
        let reach = c.cell.0.max(c.cell.1) + 2.0;
        let (x0, x1) = (
            (c.x - reach).floor().max(0.0) as usize,
            ((c.x + reach).ceil() as usize).min(size),
        );
        let (y0, y1) = (
            (c.y - reach).floor().max(0.0) as usize,
            ((c.y + reach).ceil() as usize).min(size),
        );
        let bright: Vec<f64> = (0..5)
            .map(|ch| (0.35 * c.z[INTENSITY + ch]).exp())
            .collect();
        let texture: Vec<f64> = (0..5)
            .map(|ch| 0.25 * (1.0 + (c.z[TEXTURE + ch]).tanh()))
            .collect();
        let nucleoli: Vec<(f64, f64)> = (0..3)
            .map(|_| {
                (
                    normal(&mut rng) * 0.35 * c.nucleus.0,
                    normal(&mut rng) * 0.35 * c.nucleus.1,
                )
            })
            .collect();
        let mito: Vec<(f64, f64)> = (0..14)
            .map(|_| {
                let a = rng.random::<f64>() * std::f64::consts::TAU;
                let r = 1.1 + 0.8 * rng.random::<f64>();
                (r * c.nucleus.0 * a.cos(), r * c.nucleus.1 * a.sin())
            })
            .collect();
        for y in y0..y1 {
            for x in x0..x1 {
                let (dx, dy) = (x as f64 + 0.5 - c.x, y as f64 + 0.5 - c.y);
                let (u, v) = (dx * cos + dy * sin, -dx * sin + dy * cos);
                let dn = ((u / c.nucleus.0).powi(2) + (v / c.nucleus.1).powi(2)).sqrt();
                let dc = ((u / c.cell.0).powi(2) + (v / c.cell.1).powi(2)).sqrt();
                if dc > 1.15 {
                    continue;
                }
                if dc <= 1.0 && dc < cell_depth[[y, x]] {
                    cell_depth[[y, x]] = dc;
                    cell_labels[[y, x]] = k as u32 + 1;
                }
                if dn <= 1.0 && dn < nucleus_depth[[y, x]] {
                    nucleus_depth[[y, x]] = dn;
                    nucleus_labels[[y, x]] = k as u32 + 1;
                }
                let soft = |d: f64| 1.0 / (1.0 + ((d - 1.0) * 12.0).exp());
                let in_n = soft(dn);
                let in_c = soft(dc);
                let cyto = (in_c - in_n).max(0.0);
                let tex =
                    |ch: usize| 1.0 + texture[ch] * hash_noise(x, y, salt ^ (k * 5 + ch) as u64);
                img[[0, y, x]] += 3000.0 * bright[0] * in_n * tex(0);
                img[[1, y, x]] += 1400.0 * bright[1] * cyto * (1.6 - 0.6 * dc.min(1.0)) * tex(1);
                let nucleolus: f64 = nucleoli
                    .iter()
                    .map(|&(a, b)| {
                        (-((u - a).powi(2) + (v - b).powi(2))
                            / (2.0 * (0.15 * c.nucleus.1).powi(2)))
                        .exp()
                    })
                    .sum();
                img[[2, y, x]] +=
                    900.0 * bright[2] * (0.5 * cyto + 1.5 * nucleolus * in_n) * tex(2);
                let membrane = (-((dc - 0.95) / 0.08).powi(2)).exp();
                img[[3, y, x]] += 1100.0 * bright[3] * (0.25 * in_c + membrane) * tex(3);
                let puncta: f64 = mito
                    .iter()
                    .map(|&(a, b)| {
                        (-((u - a).powi(2) + (v - b).powi(2)) / (2.0 * (1.6 * scale).powi(2))).exp()
                    })
                    .sum();
                img[[4, y, x]] += 1500.0 * bright[4] * cyto * (0.3 + puncta) * tex(4);
            }
        }
    }
    // Plate optics and camera: gain per channel from the batch/plate offsets, vignetting,
    // offset 100, shot noise.
    let half = size as f64 / 2.0;
    let mut noise_rng = rng_for(cfg.seed, "camera", (well_index * 64 + site) as u64);
    let mut out = Array3::<u16>::zeros((5, size, size));
    for ch in 0..5 {
        let gain = (0.3 * plate.offset[INTENSITY + ch]).exp();
        for y in 0..size {
            for x in 0..size {
                let r2 =
                    ((x as f64 - half).powi(2) + (y as f64 - half).powi(2)) / (2.0 * half * half);
                let light = 1.0 - plate.vignetting[ch] * r2;
                let signal = 100.0 + (img[[ch, y, x]] + 60.0) * gain * light;
                let noisy = signal + signal.sqrt() * normal(&mut noise_rng);
                out[[ch, y, x]] = noisy.round().clamp(0.0, 65535.0) as u16;
            }
        }
    }
    let nuclei = cells
        .iter()
        .map(|c| Nucleus {
            x: c.x,
            y: c.y,
            area: (std::f64::consts::PI * c.nucleus.0 * c.nucleus.1).round() as usize,
        })
        .collect();
    let latents = Array2::from_shape_fn((cells.len(), N_LATENT), |(i, k)| cells[i].z[k]);
    RenderedSite {
        pixels: out,
        nuclei,
        latents,
        nucleus_labels,
        cell_labels,
    }
}

/// Which wells to render: all, or at most `max_wells_per_plate` per plate (controls first,
/// then treatments in layout order).
pub fn select_wells(screen: &Screen, max_wells_per_plate: Option<usize>) -> Vec<usize> {
    let Some(max) = max_wells_per_plate else {
        return (0..screen.wells.len()).collect();
    };
    let mut out = Vec::new();
    for p in 0..screen.truth.plates.len() {
        let on_plate: Vec<usize> = (0..screen.wells.len())
            .filter(|&i| screen.wells[i].plate == p)
            .collect();
        let controls = on_plate
            .iter()
            .copied()
            .filter(|&i| screen.wells[i].compound.is_none());
        let treated = on_plate
            .iter()
            .copied()
            .filter(|&i| screen.wells[i].compound.is_some());
        let n_ctrl = (max / 4).max(1);
        let mut chosen: Vec<usize> = controls.take(n_ctrl).collect();
        chosen.extend(treated.take(max.saturating_sub(chosen.len())));
        chosen.sort_unstable();
        out.extend(chosen);
    }
    out
}

/// Writes the chosen wells' sites as 16-bit TIFFs (`<dir>/images/<plate>/<well>_s<site>_<ch>.tiff`),
/// the true nucleus and cell label images (`<dir>/masks/<plate>/<well>_s<site>_{Nuclei,Cells}.tiff`),
/// one nucleus-locations CSV per site (`<dir>/locations/<plate>/<well>_s<site>.csv`) and an
/// index CSV (`<dir>/index.csv`) in the layout cell-images reads, with LoadData's
/// `ObjectsFileName_<Object>` / `ObjectsPathName_<Object>` columns for the masks. Returns the index records.
pub fn write_images(
    screen: &Screen,
    dir: &Path,
    wells: &[usize],
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<FieldRecord>, SimError> {
    let cfg = screen.config();
    let jobs: Vec<(usize, usize)> = wells
        .iter()
        .flat_map(|&w| (0..cfg.sites_per_well).map(move |s| (w, s)))
        .collect();
    let records: Vec<Result<FieldRecord, SimError>> = jobs
        .par_iter()
        .map(|&(w, s)| {
            let well = &screen.wells[w];
            let plate = &screen.truth.plates[well.plate];
            let site = render_site(screen, w, s);
            let wname = well.name();
            let img_dir = dir.join("images").join(&plate.name);
            let mut paths = Vec::new();
            for (c, ch) in CHANNELS.iter().enumerate() {
                let p = img_dir.join(format!("{wname}_s{}_{ch}.tiff", s + 1));
                cell_images::write_tiff_u16(
                    &p,
                    &[site.pixels.index_axis(ndarray::Axis(0), c)],
                    cell_images::TiffCompression::Deflate,
                )?;
                paths.push(
                    PathBuf::from("images")
                        .join(&plate.name)
                        .join(p.file_name().unwrap()),
                );
            }
            let loc = dir
                .join("locations")
                .join(&plate.name)
                .join(format!("{wname}_s{}.csv", s + 1));
            cell_images::write_locations(&loc, &site.nuclei)?;
            let mut metadata = std::collections::BTreeMap::new();
            // The true segmentation as 16-bit label images, named the way CellProfiler's
            // LoadData names object images (`cellpaint measure` reads them).
            for (object, labels) in [
                ("Nuclei", &site.nucleus_labels),
                ("Cells", &site.cell_labels),
            ] {
                let name = format!("{wname}_s{}_{object}.tiff", s + 1);
                let p = dir.join("masks").join(&plate.name).join(&name);
                let max = labels.iter().copied().max().unwrap_or(0);
                let labels = ndarray::Array2::from_shape_fn(labels.dim(), |i| {
                    u16::try_from(labels[i]).unwrap_or(u16::MAX)
                });
                if max > u32::from(u16::MAX) {
                    return Err(SimError::Config(format!(
                        "{}: {max} objects do not fit a 16-bit label image",
                        p.display()
                    )));
                }
                cell_images::write_tiff_u16(
                    &p,
                    &[labels.view()],
                    cell_images::TiffCompression::Deflate,
                )?;
                metadata.insert(format!("ObjectsFileName_{object}"), name);
                metadata.insert(
                    format!("ObjectsPathName_{object}"),
                    PathBuf::from("masks")
                        .join(&plate.name)
                        .display()
                        .to_string(),
                );
            }
            let (sample, moa) = match well.compound {
                None => (cfg.control_name.clone(), String::new()),
                Some(c) => (
                    screen.truth.compounds[c].id.clone(),
                    screen.truth.compounds[c].moa_label.clone(),
                ),
            };
            metadata.insert("Metadata_broad_sample".to_string(), sample);
            metadata.insert("Metadata_moa".to_string(), moa);
            metadata.insert(
                "Metadata_mmoles_per_liter".to_string(),
                format!("{}", well.dose_um),
            );
            progress(1);
            Ok(FieldRecord {
                plate: plate.name.clone(),
                well: wname,
                site: (s + 1).to_string(),
                paths,
                metadata,
                line: 0,
            })
        })
        .collect();
    let records: Vec<FieldRecord> = records.into_iter().collect::<Result<_, _>>()?;
    let channels: Vec<String> = CHANNELS.iter().map(|s| s.to_string()).collect();
    cell_images::write_index(dir.join("index.csv"), &channels, &records)?;
    Ok(records)
}
