//! Whole fields of view, as the network reads them: each channel resized to the configured side
//! and scaled per field, (x − min)/(max + ε); standardised by the training set's channel
//! statistics when batched, after augmentation (rot90/flip, brightness/contrast).

use std::path::Path;

use cell_images::augment::{flip_horizontal, rot90};
use cell_images::ImageIndex;
use cellpaint_core::candle::{Device, Tensor};
use cellpaint_core::classify::ImageSet;
use ndarray::{Array3, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::config::MoaProfilerConfig;
use crate::error::{MoaError, Result};
use crate::preprocess::{scale_field, ChannelStats};
use crate::split::WellInfo;

/// Fields (scaled, not yet standardised) and the wells they belong to.
#[derive(Debug, Clone)]
pub struct FieldSet {
    /// Where the fields came from, for error messages.
    pub source: String,
    /// `(C, S, S)` each.
    pub fields: Vec<Array3<f32>>,
    /// Each field's well: an index into `wells`.
    pub field_well: Vec<usize>,
    /// The wells.
    pub wells: Vec<WellInfo>,
}

/// Resizes every channel of `pixels` to `size`×`size` and scales it per field.
pub fn prepare_field(pixels: &Array3<f32>, size: usize) -> Result<Array3<f32>> {
    let (c, h, w) = pixels.dim();
    let mut out = if (h, w) == (size, size) {
        pixels.clone()
    } else {
        let mut out = Array3::zeros((c, size, size));
        for (k, plane) in pixels.axis_iter(Axis(0)).enumerate() {
            out.index_axis_mut(Axis(0), k)
                .assign(&cell_images::resize::resize(plane, size, size));
        }
        out
    };
    scale_field(&mut out)?;
    Ok(out)
}

impl FieldSet {
    /// Checks that fields and wells line up, every well has a field and every field the same
    /// shape.
    pub fn new(
        source: impl Into<String>,
        fields: Vec<Array3<f32>>,
        field_well: Vec<usize>,
        wells: Vec<WellInfo>,
    ) -> Result<Self> {
        let source = source.into();
        if fields.len() != field_well.len() {
            return Err(MoaError::data(
                &source,
                format!(
                    "{} fields but {} well indices",
                    fields.len(),
                    field_well.len()
                ),
            ));
        }
        let mut seen = vec![false; wells.len()];
        for (i, &w) in field_well.iter().enumerate() {
            *seen.get_mut(w).ok_or_else(|| {
                MoaError::data(
                    &source,
                    format!("field {i} names well {w} of {}", wells.len()),
                )
            })? = true;
        }
        if let Some(w) = seen.iter().position(|s| !s) {
            return Err(MoaError::data(
                &source,
                format!("well {} {} has no field", wells[w].plate, wells[w].well),
            ));
        }
        if let Some(first) = fields.first() {
            if let Some(i) = fields.iter().position(|f| f.dim() != first.dim()) {
                return Err(MoaError::data(
                    &source,
                    format!(
                        "field {i} has shape {:?}, the first field {:?}",
                        fields[i].dim(),
                        first.dim()
                    ),
                ));
            }
        }
        Ok(Self {
            source,
            fields,
            field_well,
            wells,
        })
    }

    /// Reads every field of an image index (channels in `channels` order), resized and scaled
    /// as `config` says. Compound and MOA come from the index's metadata columns; control
    /// wells take the control's name as their MOA.
    pub fn from_index(
        index_path: &Path,
        channels: &[&str],
        config: &MoaProfilerConfig,
    ) -> Result<Self> {
        let source = index_path.display().to_string();
        let index = ImageIndex::read(index_path, channels, None)
            .map_err(|e| MoaError::data(&source, e.to_string()))?;
        let mut wells: Vec<WellInfo> = Vec::new();
        let mut field_well = Vec::with_capacity(index.fields.len());
        for r in &index.fields {
            let get = |col: &str| {
                r.metadata.get(col).cloned().ok_or_else(|| {
                    MoaError::data(&source, format!("line {}: no column {col}", r.line))
                })
            };
            let compound = get(&config.compound_column)?;
            let moa = if compound == config.control {
                config.control.clone()
            } else {
                get(&config.moa_column)?
            };
            let w = match wells
                .iter()
                .position(|w| w.plate == r.plate && w.well == r.well)
            {
                Some(w) if wells[w].compound != compound || wells[w].moa != moa => {
                    return Err(MoaError::data(
                        &source,
                        format!(
                            "line {}: well {} {} was {} ({}) on an earlier line",
                            r.line, r.plate, r.well, wells[w].compound, wells[w].moa
                        ),
                    ))
                }
                Some(w) => w,
                None => {
                    wells.push(WellInfo {
                        plate: r.plate.clone(),
                        well: r.well.clone(),
                        compound,
                        moa,
                    });
                    wells.len() - 1
                }
            };
            field_well.push(w);
        }
        let fields: Vec<Array3<f32>> = index
            .fields
            .par_iter()
            .map(|r| {
                let f = index
                    .load(r)
                    .map_err(|e| MoaError::data(&source, e.to_string()))?;
                prepare_field(&f.pixels, config.image_size)
                    .map_err(|e| MoaError::data(&source, format!("line {}: {e}", r.line)))
            })
            .collect::<Result<_>>()?;
        Self::new(source, fields, field_well, wells)
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// No fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Channels of the fields (0 when there are none).
    pub fn channels(&self) -> usize {
        self.fields.first().map_or(0, |f| f.dim().0)
    }

    /// Fields whose well is in `wells` (indices into `self.wells`), in field order.
    pub fn fields_of(&self, wells: &[usize]) -> Vec<usize> {
        let mut keep = vec![false; self.wells.len()];
        for &w in wells {
            keep[w] = true;
        }
        (0..self.len())
            .filter(|&i| keep[self.field_well[i]])
            .collect()
    }
}

/// How training fields are augmented.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldAugment {
    /// Random rot90 and horizontal flip.
    pub rotate_flip: bool,
    /// Brightness and contrast factors drawn from [1 − j, 1 + j].
    pub color_jitter: f64,
}

impl FieldAugment {
    /// The run's augmentation settings.
    pub fn of(config: &MoaProfilerConfig) -> Self {
        Self {
            rotate_flip: config.rotate_flip,
            color_jitter: config.color_jitter,
        }
    }
}

/// A seeded augmentation of a scaled field: rot90 by k ∈ 0..3 and a horizontal flip (each
/// with p = ½), then per channel brightness b and contrast c drawn from [1 − j, 1 + j]
/// (torchvision `ColorJitter`: y = (b·x − mean)·c + mean, clamped to [0, 1]).
pub fn augment_field(x: &Array3<f32>, aug: FieldAugment, seed: u64) -> Array3<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut y = x.clone();
    if aug.rotate_flip {
        y = rot90(&y, rng.random_range(0..4));
        if rng.random::<bool>() {
            y = flip_horizontal(&y);
        }
    }
    let j = aug.color_jitter as f32;
    if j > 0.0 {
        for mut ch in y.axis_iter_mut(Axis(0)) {
            let b = rng.random_range(1.0 - j..=1.0 + j);
            let c = rng.random_range(1.0 - j..=1.0 + j);
            ch.mapv_inplace(|v| v * b);
            let mean = ch.mean().unwrap_or(0.0);
            ch.mapv_inplace(|v| ((v - mean) * c + mean).clamp(0.0, 1.0));
        }
    }
    y
}

/// Some fields of a [`FieldSet`] as network input: standardised by `stats`, augmented when
/// the trainer asks.
pub struct FieldImages<'a> {
    /// The fields.
    pub set: &'a FieldSet,
    /// Fields of the set, in image order.
    pub rows: Vec<usize>,
    /// Standardisation (the training fields').
    pub stats: &'a ChannelStats,
    /// Augmentation of training batches.
    pub augment: FieldAugment,
}

impl ImageSet for FieldImages<'_> {
    fn len(&self) -> usize {
        self.rows.len()
    }

    fn batch(
        &self,
        rows: &[usize],
        augment_seeds: Option<&[u64]>,
        device: &Device,
    ) -> cellpaint_core::Result<Tensor> {
        let (c, h, w) = self.set.fields.first().map_or((0, 0, 0), |f| f.dim());
        let mut v: Vec<f32> = Vec::with_capacity(rows.len() * c * h * w);
        for (k, &r) in rows.iter().enumerate() {
            let field = &self.set.fields[self.rows[r]];
            let mut x = match augment_seeds {
                Some(seeds) => augment_field(field, self.augment, seeds[k]),
                None => field.clone(),
            };
            self.stats
                .apply(&mut x)
                .map_err(|e| cellpaint_core::CoreError::method(self.set.source.clone(), e))?;
            v.extend(x.iter());
        }
        Ok(Tensor::from_vec(v, (rows.len(), c, h, w), device)?)
    }
}

/// A seeded toy screen for tests and examples: 2 plates × (3 control wells + 2 wells of each
/// of 6 compounds, two per MOA m1…m3), 2 fields per well, 5 channels of `size`×`size`. Each
/// MOA lights blobs in its own channel; each compound shifts their size a little; plates
/// differ in gain.
pub fn toy_fields(seed: u64, size: usize) -> FieldSet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let treatments = [
        ("DMSO", "DMSO"),
        ("c1", "m1"),
        ("c2", "m1"),
        ("c3", "m2"),
        ("c4", "m2"),
        ("c5", "m3"),
        ("c6", "m3"),
    ];
    let (mut fields, mut field_well, mut wells) = (Vec::new(), Vec::new(), Vec::new());
    for (p, plate) in ["P1", "P2"].iter().enumerate() {
        let gain = 1.0 + 0.2 * p as f32;
        let mut n = 0;
        for (t, (compound, moa)) in treatments.iter().enumerate() {
            let n_wells = if t == 0 { 3 } else { 2 };
            for _ in 0..n_wells {
                wells.push(WellInfo {
                    plate: plate.to_string(),
                    well: format!("W{n:02}"),
                    compound: compound.to_string(),
                    moa: moa.to_string(),
                });
                n += 1;
                for _ in 0..2 {
                    let mut x = Array3::<f32>::zeros((5, size, size));
                    let r = size as f32 * (0.08 + 0.02 * (t % 2) as f32);
                    let blobs: Vec<(f32, f32)> = (0..4)
                        .map(|_| {
                            (
                                rng.random_range(0.2..0.8) * size as f32,
                                rng.random_range(0.2..0.8) * size as f32,
                            )
                        })
                        .collect();
                    let lit = (t + 1) / 2; // 0 for the control, 1..3 for the MOAs
                    for c in 0..5 {
                        for y in 0..size {
                            for xx in 0..size {
                                let inside = blobs
                                    .iter()
                                    .any(|&(bx, by)| (xx as f32 - bx).hypot(y as f32 - by) < r);
                                let on = inside && (c == 0 || (lit > 0 && c == lit));
                                x[[c, y, xx]] = gain
                                    * (if on { 200.0 } else { 20.0 } + rng.random_range(0.0..20.0));
                            }
                        }
                    }
                    fields.push(prepare_field(&x, size).expect("finite by construction"));
                    field_well.push(wells.len() - 1);
                }
            }
        }
    }
    FieldSet::new("toy fields", fields, field_well, wells).expect("consistent by construction")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp() -> Array3<f32> {
        Array3::from_shape_fn((2, 4, 4), |(c, y, x)| (c * 16 + y * 4 + x) as f32 / 40.0)
    }

    #[test]
    fn augmentation_is_seeded_and_keeps_pixels() {
        let x = ramp();
        let aug = FieldAugment {
            rotate_flip: true,
            color_jitter: 0.0,
        };
        assert_eq!(augment_field(&x, aug, 7), augment_field(&x, aug, 7));
        // Rotations and flips only move pixels: the sorted values are unchanged.
        let sorted = |a: &Array3<f32>| {
            let mut v: Vec<f32> = a.iter().copied().collect();
            v.sort_by(f32::total_cmp);
            v
        };
        let outs: Vec<Array3<f32>> = (0..16).map(|s| augment_field(&x, aug, s)).collect();
        for y in &outs {
            assert_eq!(sorted(y), sorted(&x));
        }
        assert!(outs.iter().any(|y| y != &x), "some seed moves pixels");
        let jitter = FieldAugment {
            rotate_flip: false,
            color_jitter: 0.3,
        };
        let y = augment_field(&x, jitter, 3);
        assert!(y.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_ne!(y, x);
    }

    #[test]
    fn field_set_checks_its_wells() {
        let well = |w: &str| WellInfo {
            plate: "P1".into(),
            well: w.into(),
            compound: "c".into(),
            moa: "m".into(),
        };
        let f = vec![ramp(), ramp()];
        assert!(FieldSet::new("t", f.clone(), vec![0, 1], vec![well("A01"), well("A02")]).is_ok());
        let e = FieldSet::new("t", f.clone(), vec![0, 0], vec![well("A01"), well("A02")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("A02 has no field"), "{e}");
        assert!(FieldSet::new("t", f.clone(), vec![0, 2], vec![well("A01"), well("A02")]).is_err());
        let odd = vec![ramp(), Array3::zeros((3, 4, 4))];
        assert!(
            FieldSet::new("t", odd, vec![0, 1], vec![well("A01"), well("A02")])
                .unwrap_err()
                .to_string()
                .contains("field 1 has shape")
        );
    }
}
