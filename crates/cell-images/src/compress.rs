//! DeepProfiler's compression: stretch each (illumination-corrected) channel between two
//! percentiles, map to 8 bits and store as lossless PNG.

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::{ImageError, Result};
use crate::field::Field;
use crate::io::write_png_u8;
use crate::resize::{percentiles_of, resize};

/// Settings; the defaults are the paper's 0.05 / 99.95 percentiles at full size.
/// (DeepProfiler's code at some commits clips at 0.1 / 99.1 per image instead; see docs/images.md.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompressionParams {
    /// Intensities at or below this percentile (0–100) of the image map to 0.
    pub lower_percentile: f64,
    /// Intensities at or above this percentile (0–100) map to 255.
    pub upper_percentile: f64,
    /// Resize factor before stretching (1.0 keeps the size).
    pub scaling_factor: f64,
}

impl Default for CompressionParams {
    fn default() -> Self {
        Self {
            lower_percentile: 0.05,
            upper_percentile: 99.95,
            scaling_factor: 1.0,
        }
    }
}

impl CompressionParams {
    /// Percentiles within 0–100, lower below upper, and a scaling factor in (0, 1].
    pub fn check(&self) -> Result<()> {
        let ok = (0.0..=100.0).contains(&self.lower_percentile)
            && (0.0..=100.0).contains(&self.upper_percentile)
            && self.lower_percentile < self.upper_percentile;
        if !ok {
            return Err(ImageError::Params(format!(
                "percentiles must satisfy 0 ≤ lower < upper ≤ 100, got {} and {}",
                self.lower_percentile, self.upper_percentile
            )));
        }
        if !(self.scaling_factor > 0.0 && self.scaling_factor <= 1.0) {
            return Err(ImageError::Params(format!(
                "scaling_factor must be in (0, 1], got {}",
                self.scaling_factor
            )));
        }
        Ok(())
    }

    /// One channel stretched to 8 bits: values at or below the lower percentile map to 0,
    /// at or above the upper to 255, linearly between.
    pub fn stretch_to_u8(&self, plane: ArrayView2<'_, f32>) -> Array2<u8> {
        let (h, w) = plane.dim();
        let scaled = (self.scaling_factor < 1.0).then(|| {
            let nh = ((h as f64 * self.scaling_factor) as usize).max(1);
            let nw = ((w as f64 * self.scaling_factor) as usize).max(1);
            resize(plane, nh, nw)
        });
        let plane = match &scaled {
            Some(a) => a.view(),
            None => plane.view(),
        };
        let mut values: Vec<f32> = plane.iter().copied().filter(|v| v.is_finite()).collect();
        let p = percentiles_of(&mut values, &[self.lower_percentile, self.upper_percentile]);
        let (lo, hi) = (p[0], p[1]);
        let range = hi - lo;
        plane.mapv(|v| {
            if !(range > 0.0) || !v.is_finite() {
                0
            } else {
                (((v - lo) / range).clamp(0.0, 1.0) * 255.0).round() as u8
            }
        })
    }
}

/// Bytes before and after compression.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CompressionReport {
    /// Images written.
    pub files: usize,
    /// Bytes of the originals.
    pub bytes_in: u64,
    /// Bytes of the compressed images.
    pub bytes_out: u64,
}

impl CompressionReport {
    /// Original size / compressed size.
    pub fn factor(&self) -> f64 {
        if self.bytes_out == 0 {
            f64::NAN
        } else {
            self.bytes_in as f64 / self.bytes_out as f64
        }
    }
    /// Adds another report's counts to this one (e.g. one per plate).
    pub fn add(&mut self, other: CompressionReport) {
        self.files += other.files;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
    }
}

/// Compresses one field into `out_dir/<stem of each source>.png`. `sources` are the original
/// files (their sizes are the "before" of the report).
pub fn compress_field(
    field: &Field,
    sources: &[PathBuf],
    out_dir: &Path,
    params: &CompressionParams,
) -> Result<(Vec<PathBuf>, CompressionReport)> {
    params.check()?;
    if sources.len() != field.n_channels() {
        return Err(ImageError::Params(format!(
            "{} source files for {} channels",
            sources.len(),
            field.n_channels()
        )));
    }
    let mut report = CompressionReport::default();
    let mut outputs = Vec::new();
    for (c, src) in sources.iter().enumerate() {
        let bytes_in = std::fs::metadata(src)
            .map_err(|e| ImageError::io(src, e))?
            .len();
        let stem = src
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("channel{c}"));
        let out = out_dir.join(format!("{stem}.png"));
        let bytes_out = write_png_u8(&out, params.stretch_to_u8(field.channel(c)).view())?;
        report.add(CompressionReport {
            files: 1,
            bytes_in,
            bytes_out,
        });
        outputs.push(out);
    }
    Ok((outputs, report))
}
