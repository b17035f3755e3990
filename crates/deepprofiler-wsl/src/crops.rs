//! Single-cell crops with their metadata, checked once when built.

use cellpaint_core::candle::{Device, Tensor};
use ndarray::{Array2, Array3, Array4, Axis};
use profiles::ProfileTable;

use crate::config::MetadataConfig;
use crate::error::{DpError, Result};

/// Crops `(N, C, S, S)`, each channel already scaled (DeepProfiler: min–max per crop), and one
/// metadata row per crop (a feature-less [`ProfileTable`], so the profiles crate's grouping and
/// selection work on it).
#[derive(Debug, Clone)]
pub struct CellCrops {
    /// `(N, C, S, S)`.
    pub pixels: Array4<f32>,
    /// One metadata row per crop.
    pub cells: ProfileTable,
}

impl CellCrops {
    /// Checks shapes, finiteness and the metadata columns the pipeline needs.
    pub fn new(pixels: Array4<f32>, cells: ProfileTable, meta: &MetadataConfig) -> Result<Self> {
        let (n, c, h, w) = pixels.dim();
        if n != cells.n_rows() {
            return Err(DpError::data(
                cells.source(),
                format!("{n} crops but {} metadata rows", cells.n_rows()),
            ));
        }
        if n == 0 || c == 0 || h != w || h < 8 {
            return Err(DpError::data(
                cells.source(),
                format!("crops must be square, ≥ 8 pixels, with channels (got {n}×{c}×{h}×{w})"),
            ));
        }
        for col in [
            &meta.plate_field,
            &meta.well_field,
            &meta.site_field,
            &meta.label_field,
            &meta.moa_field,
        ] {
            cells.metadata(col)?;
        }
        if let Some(i) = pixels
            .axis_iter(Axis(0))
            .position(|crop| crop.iter().any(|v| !v.is_finite()))
        {
            return Err(DpError::data(
                cells.source(),
                format!("crop {i} is not finite"),
            ));
        }
        Ok(Self { pixels, cells })
    }

    /// From crops and their plate, well, site, label and MOA columns (in that order), named
    /// as `meta` says.
    pub fn from_columns(
        source: &str,
        pixels: Array4<f32>,
        columns: [Vec<String>; 5],
        meta: &MetadataConfig,
    ) -> Result<Self> {
        let n = pixels.dim().0;
        let cells = ProfileTable::new(
            source,
            vec![
                meta.plate_field.clone(),
                meta.well_field.clone(),
                meta.site_field.clone(),
                meta.label_field.clone(),
                meta.moa_field.clone(),
            ],
            columns.to_vec(),
            vec![],
            Array2::zeros((n, 0)),
        )?;
        Self::new(pixels, cells, meta)
    }

    /// Number of crops.
    pub fn len(&self) -> usize {
        self.cells.n_rows()
    }

    /// No crops.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Channels per crop.
    pub fn channels(&self) -> usize {
        self.pixels.dim().1
    }

    /// A copy of crop `i`, `(C, S, S)`.
    pub fn crop(&self, i: usize) -> Array3<f32> {
        self.pixels.index_axis(Axis(0), i).to_owned()
    }

    /// The crops `rows`, in that order, with their metadata.
    pub fn subset(&self, rows: &[usize]) -> CellCrops {
        CellCrops {
            pixels: self.pixels.select(Axis(0), rows),
            cells: self.cells.select_rows(rows),
        }
    }

    /// The cells' metadata with `features` (one row per crop) as a profile table.
    pub fn with_features(&self, names: Vec<String>, features: Array2<f64>) -> Result<ProfileTable> {
        Ok(self.cells.with_features(names, features)?)
    }
}

/// Crops resized to `size` (bilinear, per channel) and stacked as one tensor.
pub fn batch_tensor(crops: &[Array3<f32>], size: usize, device: &Device) -> Result<Tensor> {
    let c = crops.first().map_or(0, |x| x.dim().0);
    let mut v: Vec<f32> = Vec::with_capacity(crops.len() * c * size * size);
    for x in crops {
        for plane in x.axis_iter(Axis(0)) {
            if plane.dim() == (size, size) {
                v.extend(plane.iter());
            } else {
                v.extend(cell_images::resize::resize(plane, size, size).iter());
            }
        }
    }
    Ok(Tensor::from_vec(v, (crops.len(), c, size, size), device)?)
}

/// Reads crops exported in DeepProfiler's layout (`sc-metadata.csv` at `dir` and one
/// unfolded 8-bit PNG per cell, as `cellpaint prepare crops` writes them): each PNG is folded
/// back into `channels` planes scaled to [0, 1]. The label column is the export's `Target`;
/// the MOA column starts empty (see [`annotate`]).
pub fn read_exported_crops(
    dir: &std::path::Path,
    channels: usize,
    meta: &MetadataConfig,
) -> Result<CellCrops> {
    let index = dir.join("sc-metadata.csv");
    let mut reader = csv_reader(&index)?;
    let mut rows: Vec<cell_images::crops::ExportedCell> = Vec::new();
    for (i, r) in reader.deserialize().enumerate() {
        rows.push(r.map_err(|e| {
            DpError::data(index.display().to_string(), format!("line {}: {e}", i + 2))
        })?);
    }
    if rows.is_empty() {
        return Err(DpError::data(index.display().to_string(), "no cells"));
    }
    let mut planes = Vec::with_capacity(rows.len());
    let mut size = None;
    for r in &rows {
        let path = dir.join(&r.image_name);
        let plane = cell_images::io::read_plane(&path)?;
        let scale = ((1u32 << plane.bits) - 1) as f32;
        let unfolded = plane.pixels.mapv(|v| v as f32 / scale);
        let crop = cell_images::crops::fold_channels(&unfolded, channels)?;
        let (_, h, w) = crop.dim();
        if *size.get_or_insert((h, w)) != (h, w) {
            return Err(DpError::data(
                path.display().to_string(),
                format!("crop is {h}×{w}, the first was {:?}", size.expect("set")),
            ));
        }
        planes.push(crop.insert_axis(Axis(0)));
    }
    let views: Vec<_> = planes.iter().map(|p| p.view()).collect();
    let pixels = ndarray::concatenate(Axis(0), &views).expect("same shapes");
    let col =
        |f: fn(&cell_images::crops::ExportedCell) -> String| rows.iter().map(f).collect::<Vec<_>>();
    CellCrops::from_columns(
        &index.display().to_string(),
        pixels,
        [
            col(|r| r.plate.clone()),
            col(|r| r.well.clone()),
            col(|r| r.site.clone()),
            col(|r| r.target.clone()),
            vec![String::new(); rows.len()],
        ],
        meta,
    )
}

fn csv_reader(path: &std::path::Path) -> Result<csv::Reader<std::fs::File>> {
    csv::Reader::from_path(path).map_err(|e| DpError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Label → MOA from any CSV with the label and MOA columns (other columns are ignored; a
/// label listed twice must have one MOA).
pub fn read_annotations(
    path: &std::path::Path,
    meta: &MetadataConfig,
) -> Result<std::collections::HashMap<String, String>> {
    let name = path.display().to_string();
    let mut reader = csv_reader(path)?;
    let headers = reader
        .headers()
        .map_err(|e| DpError::data(&name, e.to_string()))?
        .clone();
    let col = |c: &str| {
        headers
            .iter()
            .position(|h| h == c)
            .ok_or_else(|| DpError::data(&name, format!("no column '{c}'")))
    };
    let (lc, mc) = (col(&meta.label_field)?, col(&meta.moa_field)?);
    let mut map = std::collections::HashMap::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| DpError::data(&name, format!("line {}: {e}", i + 2)))?;
        let (l, m) = (rec.get(lc).unwrap_or(""), rec.get(mc).unwrap_or(""));
        if let Some(prev) = map.insert(l.to_string(), m.to_string()) {
            if prev != m {
                return Err(DpError::data(
                    &name,
                    format!(
                        "line {}: '{l}' has MOA '{m}' here and '{prev}' before",
                        i + 2
                    ),
                ));
            }
        }
    }
    Ok(map)
}

/// Sets each cell's MOA from a label → MOA map; labels without one keep an empty MOA.
pub fn annotate(
    cells: &mut ProfileTable,
    annotations: &std::collections::HashMap<String, String>,
    meta: &MetadataConfig,
) -> Result<()> {
    let values: Vec<String> = cells
        .metadata(&meta.label_field)?
        .iter()
        .map(|l| annotations.get(l).cloned().unwrap_or_default())
        .collect();
    cells.set_metadata(&meta.moa_field, values)?;
    Ok(())
}

/// A seeded, separable toy set for examples and tests: treatments DMSO, t1, t2, t3 (MOAs m1,
/// m1, m2): a blob whose channel and size depend on the
/// treatment; 2 plates × 4 wells (one per treatment) × 2 sites × 6 cells.
pub fn toy_crops(seed: u64) -> CellCrops {
    let m = MetadataConfig::default();
    let mut rng = cellpaint_core::rng::seeded_rng(seed);
    use rand::Rng as _;
    let treatments = [("DMSO", ""), ("t1", "m1"), ("t2", "m1"), ("t3", "m2")];
    let mut cols: Vec<Vec<String>> = vec![Vec::new(); 5];
    let mut px = Vec::new();
    for plate in ["P1", "P2"] {
        for (w, (t, moa)) in treatments.iter().enumerate() {
            for site in ["1", "2"] {
                for _ in 0..6 {
                    let mut x = Array4::<f32>::zeros((1, 5, 32, 32));
                    let (cx, cy) = (rng.random_range(12.0..20.0), rng.random_range(12.0..20.0));
                    let r = 4.0 + 2.0 * w as f32;
                    for c in 0..5 {
                        for y in 0..32 {
                            for xx in 0..32 {
                                let d = ((xx as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
                                let on = d < r && (c == 0 || c == w);
                                x[[0, c, y, xx]] =
                                    if on { 0.8 } else { 0.1 } + rng.random_range(0.0..0.1);
                            }
                        }
                    }
                    px.push(x);
                    for (k, v) in [plate, &format!("W{w}"), site, t, moa].iter().enumerate() {
                        cols[k].push(v.to_string());
                    }
                }
            }
        }
    }
    let views: Vec<_> = px.iter().map(|a| a.view()).collect();
    let pixels =
        ndarray::concatenate(ndarray::Axis(0), &views).expect("consistent by construction");
    let cols: [Vec<String>; 5] = cols.try_into().expect("five columns");
    CellCrops::from_columns("synthetic cells", pixels, cols, &m)
        .expect("consistent by construction")
}
