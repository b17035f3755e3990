//! Single-cell crops: a `box_size` square centred on each nucleus, scaled per channel to [0, 1],
//! and export in DeepProfiler's single-cell layout
//! (`<out>/<plate>/<well>/<site>/<target>@<x>x<y>.png`, channels side by side, plus
//! `sc-metadata.csv`).

use std::path::{Path, PathBuf};

use ndarray::{s, Array2, Array3, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{ImageError, Result};
use crate::field::{min_max_scale, Field};
use crate::io::write_png_u8;

/// What to do with a box that extends past the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BorderPolicy {
    /// Leave the cell out.
    #[default]
    Skip,
    /// Keep it, filling the outside with zeros (before scaling, so zeros are the channel floor).
    Pad,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
/// How cells are cut from a field; the defaults are DeepProfiler's (128-px box, cells near the
/// border skipped, each crop min–max scaled per channel).
pub struct CropParams {
    /// Side of the square crop in pixels, centred on the nucleus.
    pub box_size: usize,
    /// What to do with a cell whose box leaves the field.
    pub border: BorderPolicy,
    /// Per-channel min–max scaling of each crop (DeepProfiler's default).
    pub min_max_scale: bool,
}

impl Default for CropParams {
    fn default() -> Self {
        Self {
            box_size: 128,
            border: BorderPolicy::Skip,
            min_max_scale: true,
        }
    }
}

/// One cell's crop; `index` is the position of its centre in the list given.
#[derive(Debug, Clone, PartialEq)]
pub struct Crop {
    /// Position of the cell's centre in the list given to [`extract_crops`].
    pub index: usize,
    /// Centre column, in pixels.
    pub x: f64,
    /// Centre row, in pixels.
    pub y: f64,
    /// `(channels, box, box)`.
    pub pixels: Array3<f32>,
}

/// Cuts one crop per centre (x = column, y = row, in pixels).
pub fn extract_crops(
    field: &Field,
    centers: &[(f64, f64)],
    params: &CropParams,
) -> Result<Vec<Crop>> {
    if params.box_size == 0 {
        return Err(ImageError::Params("box_size must be ≥ 1".into()));
    }
    let (c, h, w) = field.pixels.dim();
    // A box larger than the field is all padding, and its size would be allocated per cell:
    // `--box-size 100000 --border pad` once asked for 200 GB.
    if params.box_size > h.max(w) {
        return Err(ImageError::Params(format!(
            "box_size {} is larger than the {w}×{h} field",
            params.box_size
        )));
    }
    let bytes = (centers.len() as u128) * (c as u128) * (params.box_size as u128).pow(2) * 4;
    let max = crate::io::max_image_bytes();
    if bytes > max as u128 {
        return Err(ImageError::Params(format!(
            "{} crops of {c}×{b}×{b} floats take {bytes} bytes, over the limit of {max} bytes \
             (set CELLPAINT_MAX_IMAGE_BYTES to raise it)",
            centers.len(),
            b = params.box_size
        )));
    }
    let b = params.box_size as isize;
    let mut out = Vec::new();
    for (index, &(x, y)) in centers.iter().enumerate() {
        if !(x.is_finite() && y.is_finite()) {
            return Err(ImageError::Params(format!(
                "centre {index} is not finite: ({x}, {y})"
            )));
        }
        let (x0, y0) = (x.round() as isize - b / 2, y.round() as isize - b / 2);
        let inside = x0 >= 0 && y0 >= 0 && x0 + b <= w as isize && y0 + b <= h as isize;
        let mut pixels = if inside {
            field
                .pixels
                .slice(s![.., y0..y0 + b, x0..x0 + b])
                .to_owned()
        } else {
            if params.border == BorderPolicy::Skip {
                continue;
            }
            let mut p = Array3::<f32>::zeros((c, b as usize, b as usize));
            let (ya, yb) = (y0.max(0), (y0 + b).min(h as isize));
            let (xa, xb) = (x0.max(0), (x0 + b).min(w as isize));
            if ya < yb && xa < xb {
                p.slice_mut(s![.., ya - y0..yb - y0, xa - x0..xb - x0])
                    .assign(&field.pixels.slice(s![.., ya..yb, xa..xb]));
            }
            p
        };
        if params.min_max_scale {
            min_max_scale(&mut pixels);
        }
        out.push(Crop {
            index,
            x,
            y,
            pixels,
        });
    }
    Ok(out)
}

/// Channels side by side: `(C, H, W)` → `(H, W·C)`, DeepProfiler's "unfolded" crop.
pub fn unfold_channels(pixels: &Array3<f32>) -> Array2<f32> {
    let (c, h, w) = pixels.dim();
    let mut out = Array2::zeros((h, w * c));
    for (k, ch) in pixels.axis_iter(Axis(0)).enumerate() {
        out.slice_mut(s![.., k * w..(k + 1) * w]).assign(&ch);
    }
    out
}

/// The inverse of [`unfold_channels`].
pub fn fold_channels(unfolded: &Array2<f32>, channels: usize) -> Result<Array3<f32>> {
    let (h, wc) = unfolded.dim();
    if channels == 0 || wc % channels != 0 {
        return Err(ImageError::Params(format!(
            "an unfolded crop {wc} pixels wide cannot hold {channels} channels of equal width"
        )));
    }
    let w = wc / channels;
    let mut out = Array3::zeros((channels, h, w));
    for k in 0..channels {
        out.index_axis_mut(Axis(0), k)
            .assign(&unfolded.slice(s![.., k * w..(k + 1) * w]));
    }
    Ok(out)
}

/// One exported cell, a row of `sc-metadata.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedCell {
    #[serde(rename = "Metadata_Plate")]
    /// Plate of the cell's field.
    pub plate: String,
    #[serde(rename = "Metadata_Well")]
    /// Well of the cell's field.
    pub well: String,
    #[serde(rename = "Metadata_Site")]
    /// Site (field) within the well.
    pub site: String,
    #[serde(rename = "Target")]
    /// The training label (DeepProfiler's `Target` column).
    pub target: String,
    #[serde(rename = "Nuclei_Location_Center_X")]
    /// Nucleus centre, column in pixels.
    pub x: f64,
    #[serde(rename = "Nuclei_Location_Center_Y")]
    /// Nucleus centre, row in pixels.
    pub y: f64,
    /// Path relative to the export root.
    #[serde(rename = "Image_Name")]
    pub image_name: String,
}

/// Writes crops in DeepProfiler's layout (8-bit PNG, values in [0, 1] mapped to 0–255) and
/// returns their metadata rows; call [`write_sc_metadata`] once all fields are exported.
pub fn export_crops(
    out_dir: &Path,
    plate: &str,
    well: &str,
    site: &str,
    target: &str,
    crops: &[Crop],
) -> Result<Vec<ExportedCell>> {
    let mut rows = Vec::with_capacity(crops.len());
    for crop in crops {
        let name = format!(
            "{target}@{}x{}.png",
            crop.x.round() as i64,
            crop.y.round() as i64
        );
        let rel: PathBuf = [plate, well, site, name.as_str()].iter().collect();
        let img = unfold_channels(&crop.pixels).mapv(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8);
        write_png_u8(out_dir.join(&rel), img.view())?;
        rows.push(ExportedCell {
            plate: plate.into(),
            well: well.into(),
            site: site.into(),
            target: target.into(),
            x: crop.x,
            y: crop.y,
            image_name: rel.to_string_lossy().into_owned(),
        });
    }
    Ok(rows)
}

/// Writes `sc-metadata.csv` at the export root, atomically.
pub fn write_sc_metadata(out_dir: &Path, rows: &[ExportedCell]) -> Result<PathBuf> {
    let path = out_dir.join("sc-metadata.csv");
    profiles::write_atomic(&path, |w| {
        let mut wtr = csv::Writer::from_writer(w);
        for r in rows {
            wtr.serialize(r).map_err(std::io::Error::other)?;
        }
        wtr.flush()
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field() -> Field {
        let px = Array3::from_shape_fn((2, 20, 30), |(c, y, x)| (c * 1000 + y * 30 + x) as f32);
        Field::from_pixels(vec!["DNA".into(), "RNA".into()], 16, px).unwrap()
    }

    #[test]
    fn pads_at_the_border_and_skips_by_default() {
        let f = field();
        let pad = CropParams {
            box_size: 8,
            border: BorderPolicy::Pad,
            min_max_scale: false,
        };
        let crops = extract_crops(&f, &[(1.0, 1.0), (15.0, 10.0)], &pad).unwrap();
        assert_eq!(crops.len(), 2);
        // Centre (1, 1), box 8: rows/cols −3..5; the outside is zero, the inside is the field.
        assert_eq!(crops[0].pixels[[0, 0, 0]], 0.0);
        assert_eq!(crops[0].pixels[[1, 3, 3]], 1000.0);
        assert_eq!(crops[1].pixels[[0, 0, 0]], (6 * 30 + 11) as f32);
        let skip = CropParams {
            border: BorderPolicy::Skip,
            ..pad
        };
        assert_eq!(
            extract_crops(&f, &[(1.0, 1.0), (15.0, 10.0)], &skip)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn sizes_are_bounded_before_allocating() {
        let f = field();
        let huge = CropParams {
            box_size: 100_000,
            border: BorderPolicy::Pad,
            min_max_scale: true,
        };
        let e = extract_crops(&f, &[(5.0, 5.0)], &huge)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("box_size 100000 is larger than the 30×20 field"),
            "{e}"
        );
        // 10 million cells of a full-field box: 2 × 30² × 4 bytes each = 72 GB.
        let full = CropParams {
            box_size: 30,
            ..huge
        };
        let many = vec![(15.0, 10.0); 10_000_000];
        let e = extract_crops(&f, &many, &full).unwrap_err().to_string();
        assert!(
            e.contains("over the limit") && e.contains("CELLPAINT_MAX_IMAGE_BYTES"),
            "{e}"
        );
    }
}
