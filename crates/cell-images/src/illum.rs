//! DeepProfiler's illumination correction, per plate and channel: average the plate's fields at
//! 1/`down_scale_factor` size, median-filter the mean with a disk, resize back, floor at the
//! `robust_percentile`-th percentile and divide by it, so the function is ≥ 1 and dividing an
//! image by it flattens the illumination without changing the dimmest regions.

use std::path::Path;

use ndarray::{Array2, Array3, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{ImageError, Result};
use crate::field::Field;
use crate::io::{read_tiff_f32, write_tiff_f32};
use crate::resize::{median_disk, percentile, resize};

/// Settings; the defaults are DeepProfiler's (`down_scale_factor` 4, `median_filter_size` 24,
/// i.e. a disk of radius 12 at quarter scale, floor at the 2nd percentile).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IlluminationParams {
    /// Fields are averaged at 1/`down_scale_factor` of their size (≥ 1).
    pub down_scale_factor: usize,
    /// Diameter of the median filter's disk at the reduced scale.
    pub median_filter_size: usize,
    /// The function's floor: values below this percentile (0–100) of each plane are raised to it.
    pub robust_percentile: f64,
}

impl Default for IlluminationParams {
    fn default() -> Self {
        Self {
            down_scale_factor: 4,
            median_filter_size: 24,
            robust_percentile: 2.0,
        }
    }
}

impl IlluminationParams {
    /// A scale factor ≥ 1 and a percentile in [0, 100).
    pub fn check(&self) -> Result<()> {
        if self.down_scale_factor == 0 {
            return Err(ImageError::Params("down_scale_factor must be ≥ 1".into()));
        }
        if !(0.0..100.0).contains(&self.robust_percentile) {
            return Err(ImageError::Params(format!(
                "robust_percentile must be in [0, 100), got {}",
                self.robust_percentile
            )));
        }
        Ok(())
    }

    /// Starts accumulating one plate's mean image.
    pub fn accumulator(&self) -> Result<IlluminationAccumulator> {
        self.check()?;
        Ok(IlluminationAccumulator {
            params: self.clone(),
            sum: None,
            shape: None,
            count: 0,
        })
    }
}

/// Streams a plate's fields into the mean thumbnail; memory is one thumbnail stack.
#[derive(Debug, Clone)]
pub struct IlluminationAccumulator {
    params: IlluminationParams,
    sum: Option<Array3<f64>>,
    shape: Option<(usize, usize, usize)>,
    count: usize,
}

impl IlluminationAccumulator {
    /// Adds a field; `label` names it in errors (e.g. its first file).
    pub fn add(&mut self, field: &Field, label: &str) -> Result<()> {
        let shape = field.pixels.dim();
        match self.shape {
            None => self.shape = Some(shape),
            Some(s) if s != shape => {
                return Err(ImageError::invalid(
                    label,
                    format!(
                        "field is {} channels × {}×{} but the plate's first field is {} × {}×{}",
                        shape.0, shape.2, shape.1, s.0, s.2, s.1
                    ),
                ))
            }
            _ => {}
        }
        let f = self.params.down_scale_factor;
        let (th, tw) = ((shape.1 / f).max(1), (shape.2 / f).max(1));
        let sum = self
            .sum
            .get_or_insert_with(|| Array3::zeros((shape.0, th, tw)));
        for c in 0..shape.0 {
            let thumb = resize(field.channel(c), th, tw);
            sum.index_axis_mut(Axis(0), c)
                .zip_mut_with(&thumb, |s, &t| *s += t as f64);
        }
        self.count += 1;
        Ok(())
    }

    /// Fields added so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The illumination function at full size, one plane per channel.
    pub fn finish(self, channels: &[String]) -> Result<IlluminationFunction> {
        let (Some(sum), Some(shape)) = (self.sum, self.shape) else {
            return Err(ImageError::Params(
                "no fields were added: an illumination function needs at least one field".into(),
            ));
        };
        let radius = self.params.median_filter_size / 2;
        let mut functions = Array3::<f32>::zeros(shape);
        for c in 0..shape.0 {
            // DeepProfiler casts the mean to uint16 before filtering.
            let mean = sum
                .index_axis(Axis(0), c)
                .mapv(|v| (v / self.count as f64).floor().clamp(0.0, 65535.0) as f32);
            let filtered = median_disk(mean.view(), radius);
            let full = resize(filtered.view(), shape.1, shape.2);
            let floor = percentile(full.iter().copied(), self.params.robust_percentile);
            if !(floor > 0.0) {
                return Err(ImageError::Params(format!(
                    "channel {}: the {}th percentile of the smoothed mean image is {floor}; the plate's images are dark or empty, so no illumination function can be fitted",
                    channels.get(c).map(String::as_str).unwrap_or("?"),
                    self.params.robust_percentile
                )));
            }
            functions
                .index_axis_mut(Axis(0), c)
                .assign(&full.mapv(|v| v.max(floor) / floor));
        }
        Ok(IlluminationFunction {
            channels: channels.to_vec(),
            functions,
        })
    }
}

/// A fitted illumination function: divide each channel by its plane.
#[derive(Debug, Clone, PartialEq)]
pub struct IlluminationFunction {
    /// Channel names, in the order of `functions`.
    pub channels: Vec<String>,
    /// `(channels, height, width)`: the plane each channel is divided by.
    pub functions: Array3<f32>,
}

impl IlluminationFunction {
    /// The field divided by the function, channel by channel; its channels and size must match.
    pub fn apply(&self, field: &Field) -> Result<Field> {
        if field.pixels.dim() != self.functions.dim() || field.channels != self.channels {
            return Err(ImageError::Params(format!(
                "field ({} channels {:?}, {}×{}) does not match the illumination function ({:?}, {}×{})",
                field.n_channels(),
                field.channels,
                field.width(),
                field.height(),
                self.channels,
                self.functions.shape()[2],
                self.functions.shape()[1]
            )));
        }
        let mut out = field.clone();
        out.pixels.zip_mut_with(&self.functions, |v, &f| *v /= f);
        Ok(out)
    }

    /// Saves as a float TIFF (one page per channel) plus a JSON sidecar with channel names.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let pages: Vec<_> = self.functions.outer_iter().collect();
        write_tiff_f32(path, &pages)?;
        profiles::write_json(&path.with_extension("json"), &self.channels)?;
        Ok(())
    }

    /// Reads what [`IlluminationFunction::save`] wrote.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let sidecar = path.with_extension("json");
        let text = std::fs::read_to_string(&sidecar).map_err(|e| ImageError::io(&sidecar, e))?;
        let channels: Vec<String> = serde_json::from_str(&text).map_err(|e| {
            ImageError::invalid(
                sidecar.display(),
                format!("expected a JSON list of channel names: {e}"),
            )
        })?;
        let pages = read_tiff_f32(path)?;
        if pages.len() != channels.len() {
            return Err(ImageError::invalid(
                path.display(),
                format!(
                    "{} pages for {} channels in {}",
                    pages.len(),
                    channels.len(),
                    sidecar.display()
                ),
            ));
        }
        let (h, w) = pages[0].dim();
        let mut functions = Array3::zeros((pages.len(), h, w));
        for (c, p) in pages.iter().enumerate() {
            if p.dim() != (h, w) {
                return Err(ImageError::invalid(path.display(), "pages differ in size"));
            }
            functions.index_axis_mut(Axis(0), c).assign(p);
        }
        Ok(Self {
            channels,
            functions,
        })
    }

    /// Channel `c`'s plane (0-based).
    pub fn channel(&self, c: usize) -> ndarray::ArrayView2<'_, f32> {
        self.functions.index_axis(Axis(0), c)
    }
}

/// A plane normalised for display: divided by its maximum.
pub fn relative(plane: &Array2<f32>) -> Array2<f32> {
    let m = plane.iter().copied().fold(0.0f32, f32::max);
    if m > 0.0 {
        plane.mapv(|v| v / m)
    } else {
        plane.clone()
    }
}
