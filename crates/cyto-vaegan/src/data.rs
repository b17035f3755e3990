//! Single-cell crops with their metadata, the reference's per-crop per-channel max scaling, the
//! BBBC021 crop packs of the shared data, and the paper's mini-batch sampler (one random crop
//! per treatment).

use std::path::Path;

use cellpaint_core::candle::{Device, Tensor};
use cellpaint_core::rng::Rng;
use ndarray::{Array4, ArrayView4, Axis};
use rand::seq::SliceRandom;
use rand::Rng as _;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::ArchConfig;
use crate::error::{CytoError, Result};

/// Where a crop comes from and what was done to its cells.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CropMeta {
    /// Plate.
    pub plate: String,
    /// Well.
    pub well: String,
    /// Site (field) within the well.
    pub site: String,
    /// Compound; the control's name for controls.
    pub compound: String,
    /// Concentration, as written in the metadata.
    pub concentration: String,
    /// Mechanism of action; the control's own name (e.g. "DMSO") for controls.
    pub moa: String,
    /// Experimental batch (BBBC021: the week).
    pub batch: String,
}

impl CropMeta {
    /// A treatment is a compound at one concentration.
    pub fn treatment(&self) -> String {
        format!("{}@{}", self.compound, self.concentration)
    }
}

/// Crops `(N, C, H, W)` scaled to [0, 1] per crop and channel, with one [`CropMeta`] each.
#[derive(Debug, Clone)]
pub struct CropSet {
    /// Where the crops came from, for error messages.
    pub source: String,
    /// `(N, C, H, W)`.
    pub pixels: Array4<f32>,
    /// One entry per crop.
    pub meta: Vec<CropMeta>,
}

impl CropSet {
    /// From raw intensities `(N, C, H, W)`: checks the shape against the architecture, that every
    /// value is finite and ≥ 0, then divides each crop's channel by its maximum (the reference's
    /// normalisation; an all-zero channel stays 0).
    pub fn new(
        source: impl Into<String>,
        mut pixels: Array4<f32>,
        meta: Vec<CropMeta>,
        arch: &ArchConfig,
    ) -> Result<Self> {
        let source = source.into();
        let (n, c, h, w) = pixels.dim();
        if c != arch.in_channels || h != arch.image_size || w != arch.image_size {
            return Err(CytoError::data(
                &source,
                format!(
                    "crops are {c} channels × {h}×{w}; the model expects {} channels × {s}×{s}",
                    arch.in_channels,
                    s = arch.image_size
                ),
            ));
        }
        if meta.len() != n {
            return Err(CytoError::data(
                &source,
                format!("{n} crops but {} metadata rows", meta.len()),
            ));
        }
        if n == 0 {
            return Err(CytoError::data(&source, "no crops"));
        }
        let bad = pixels
            .axis_iter(Axis(0))
            .into_par_iter()
            .position_first(|crop| crop.iter().any(|v| !(v.is_finite() && *v >= 0.0)));
        if let Some(i) = bad {
            return Err(CytoError::data(
                &source,
                format!("crop {i} has a negative or non-finite intensity"),
            ));
        }
        pixels
            .axis_iter_mut(Axis(0))
            .into_par_iter()
            .for_each(|mut crop| {
                for mut ch in crop.axis_iter_mut(Axis(0)) {
                    let max = ch.fold(0f32, |m, &v| m.max(v));
                    if max > 0.0 {
                        ch.mapv_inplace(|v| v / max);
                    }
                }
            });
        Ok(Self {
            source,
            pixels,
            meta,
        })
    }

    /// From `uint16[N, H, W, C]` (NumPy's channels-last layout).
    pub fn from_nhwc_u16(
        source: impl Into<String>,
        crops: ArrayView4<'_, u16>,
        meta: Vec<CropMeta>,
        arch: &ArchConfig,
    ) -> Result<Self> {
        let nchw = crops.permuted_axes([0, 3, 1, 2]).mapv(f32::from);
        Self::new(source, nchw.as_standard_layout().into_owned(), meta, arch)
    }

    /// Number of crops.
    pub fn len(&self) -> usize {
        self.meta.len()
    }

    /// No crops.
    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    /// The crops at `rows`, as a new set.
    pub fn subset(&self, rows: &[usize]) -> CropSet {
        CropSet {
            source: self.source.clone(),
            pixels: self.pixels.select(Axis(0), rows),
            meta: rows.iter().map(|&i| self.meta[i].clone()).collect(),
        }
    }

    /// The crops at `rows` as one f32 tensor.
    pub fn tensor(&self, rows: &[usize], device: &Device) -> Result<Tensor> {
        let (_, c, h, w) = self.pixels.dim();
        let mut v: Vec<f32> = Vec::with_capacity(rows.len() * c * h * w);
        for &i in rows {
            v.extend(self.pixels.index_axis(Axis(0), i).iter());
        }
        Ok(Tensor::from_vec(v, (rows.len(), c, h, w), device)?)
    }
}

/// Reads a BBBC021 crop pack of the shared data: `<name>.npz` (array `crops`, uint16
/// `[N, 68, 68, 3]`: DNA, β-tubulin, F-actin) and `<name>_index.csv` (one row per crop with
/// plate, well, site, compound, concentration_uM, moa). The batch is the plate's week.
pub fn read_bbbc021(npz: &Path, arch: &ArchConfig) -> Result<CropSet> {
    let crops = cell_images::read_npz_crops(npz, "crops")?;
    let stem = npz
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| CytoError::data(npz.display().to_string(), "no file name"))?;
    let index = npz.with_file_name(format!("{stem}_index.csv"));
    let meta = read_bbbc021_index(&index)?;
    if meta.len() != crops.dim().0 {
        return Err(CytoError::data(
            index.display().to_string(),
            format!(
                "{} index rows but {} crops in {}",
                meta.len(),
                crops.dim().0,
                npz.display()
            ),
        ));
    }
    CropSet::from_nhwc_u16(npz.display().to_string(), crops.view(), meta, arch)
}

/// The index CSV of a BBBC021 pack; errors name the file, line and column.
pub fn read_bbbc021_index(path: &Path) -> Result<Vec<CropMeta>> {
    let name = path.display().to_string();
    let mut reader = csv::Reader::from_path(path).map_err(|e| CytoError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let headers = reader
        .headers()
        .map_err(|e| CytoError::data(&name, e.to_string()))?
        .clone();
    let col = |c: &str| {
        headers
            .iter()
            .position(|h| h == c)
            .ok_or_else(|| CytoError::data(&name, format!("no column '{c}'")))
    };
    let cols = [
        col("plate")?,
        col("well")?,
        col("site")?,
        col("compound")?,
        col("concentration_uM")?,
        col("moa")?,
    ];
    let mut out = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| CytoError::data(&name, format!("line {line}: {e}")))?;
        let field = |k: usize| -> Result<String> {
            rec.get(cols[k]).map(str::to_string).ok_or_else(|| {
                CytoError::data(
                    &name,
                    format!(
                        "line {line}: missing column {}",
                        headers[cols[k]].to_string()
                    ),
                )
            })
        };
        let concentration = field(4)?;
        if concentration.parse::<f64>().is_err() {
            return Err(CytoError::data(
                &name,
                format!("line {line}, column concentration_uM: '{concentration}' is not a number"),
            ));
        }
        let plate = field(0)?;
        let batch = plate.split('_').next().unwrap_or(&plate).to_string();
        out.push(CropMeta {
            plate,
            well: field(1)?,
            site: field(2)?,
            compound: field(3)?,
            concentration,
            moa: field(5)?,
            batch,
        });
    }
    Ok(out)
}

/// The paper's mini-batches: crops drawn treatment by treatment (one random crop from each, in
/// a shuffled order, cycling when the batch is larger than the number of treatments), so rare
/// and common treatments weigh the same.
#[derive(Debug, Clone)]
pub struct TreatmentSampler {
    groups: Vec<Vec<usize>>,
}

impl TreatmentSampler {
    /// Groups the crops by treatment (compound at a concentration).
    pub fn new(meta: &[CropMeta]) -> Self {
        let mut by: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
        for (i, m) in meta.iter().enumerate() {
            by.entry(m.treatment()).or_default().push(i);
        }
        Self {
            groups: by.into_values().collect(),
        }
    }

    /// Number of treatments.
    pub fn n_treatments(&self) -> usize {
        self.groups.len()
    }

    /// `size` crop indices.
    pub fn batch(&self, size: usize, rng: &mut Rng) -> Vec<usize> {
        let mut order: Vec<usize> = Vec::with_capacity(size);
        while order.len() < size {
            let mut g: Vec<usize> = (0..self.groups.len()).collect();
            g.shuffle(rng);
            order.extend(g);
        }
        order.truncate(size);
        order
            .into_iter()
            .map(|g| self.groups[g][rng.random_range(0..self.groups[g].len())])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn meta(compound: &str, conc: &str) -> CropMeta {
        CropMeta {
            plate: "P1".into(),
            well: "A01".into(),
            site: "1".into(),
            compound: compound.into(),
            concentration: conc.into(),
            moa: "m".into(),
            batch: "b".into(),
        }
    }

    #[test]
    fn max_scaling_per_crop_and_channel() {
        let arch = ArchConfig::default();
        let mut px = Array4::<f32>::zeros((2, 3, 68, 68));
        px[[0, 0, 3, 3]] = 200.0;
        px[[0, 0, 4, 4]] = 50.0;
        px[[1, 1, 0, 0]] = 7.0;
        let set = CropSet::new("t", px, vec![meta("a", "1"); 2], &arch).unwrap();
        assert_eq!(set.pixels[[0, 0, 3, 3]], 1.0);
        assert_eq!(set.pixels[[0, 0, 4, 4]], 0.25);
        assert_eq!(set.pixels[[1, 1, 0, 0]], 1.0);
        assert_eq!(
            set.pixels.index_axis(Axis(1), 2).sum(),
            0.0,
            "all-zero channel stays 0"
        );
    }

    #[test]
    fn wrong_shapes_and_values_are_named() {
        let arch = ArchConfig::default();
        let e = CropSet::new(
            "x.npz",
            Array4::zeros((1, 5, 68, 68)),
            vec![meta("a", "1")],
            &arch,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("x.npz") && e.contains("5 channels") && e.contains("expects 3"),
            "{e}"
        );
        let e = CropSet::new(
            "x",
            Array4::zeros((1, 3, 64, 64)),
            vec![meta("a", "1")],
            &arch,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("64×64"), "{e}");
        let mut px = Array4::<f32>::zeros((2, 3, 68, 68));
        px[[1, 2, 5, 5]] = f32::NAN;
        let e = CropSet::new("x", px, vec![meta("a", "1"); 2], &arch)
            .unwrap_err()
            .to_string();
        assert!(e.contains("crop 1"), "{e}");
        let e = CropSet::new(
            "x",
            Array4::zeros((2, 3, 68, 68)),
            vec![meta("a", "1")],
            &arch,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("2 crops but 1 metadata"), "{e}");
    }

    #[test]
    fn sampler_draws_every_treatment_once_per_cycle() {
        let mut m = vec![meta("a", "1"); 10];
        m.extend(vec![meta("b", "1"); 2]);
        m.push(meta("a", "5"));
        let s = TreatmentSampler::new(&m);
        assert_eq!(s.n_treatments(), 3);
        let mut rng = cellpaint_core::rng::seeded_rng(4);
        for _ in 0..20 {
            let b = s.batch(3, &mut rng);
            let mut t: Vec<String> = b.iter().map(|&i| m[i].treatment()).collect();
            t.sort();
            assert_eq!(t, vec!["a@1", "a@5", "b@1"]);
        }
        let again = s.batch(7, &mut cellpaint_core::rng::seeded_rng(9));
        assert_eq!(
            again,
            s.batch(7, &mut cellpaint_core::rng::seeded_rng(9)),
            "seeded"
        );
        assert_eq!(again.len(), 7);
    }

    #[test]
    fn index_errors_name_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("i.csv");
        std::fs::write(
            &p,
            "plate,well,site,compound,concentration_uM,moa\nWeek4_1,B02,1,DMSO,0.0,DMSO\nWeek4_1,B03,1,x,lots,y\n",
        )
        .unwrap();
        let e = read_bbbc021_index(&p).unwrap_err().to_string();
        assert!(
            e.contains("line 3") && e.contains("concentration_uM"),
            "{e}"
        );
        std::fs::write(&p, "plate,well\nA,B\n").unwrap();
        let e = read_bbbc021_index(&p).unwrap_err().to_string();
        assert!(e.contains("no column 'site'"), "{e}");
    }
}
