//! A field of view: one image per channel, stacked as `pixels[[channel, row, col]]` in `f32`
//! (16-bit values are exact in `f32`).

use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3, ArrayView2, Axis};

use crate::error::{ImageError, Result};
use crate::io::read_plane;

/// The five Cell Painting channels in the order every crate of the workspace uses.
pub const CELL_PAINTING_CHANNELS: [&str; 5] = ["DNA", "ER", "RNA", "AGP", "Mito"];

#[derive(Debug, Clone, PartialEq)]
/// One field of view: a stack of channels, `pixels[[channel, row, col]]`, in the source files'
/// raw intensity units (0 … 2^bits − 1) as f32.
pub struct Field {
    /// Channel names, in the order of `pixels`' first axis.
    pub channels: Vec<String>,
    /// Bit depth of the source files (8 or 16).
    pub bits: u8,
    /// `(channels, height, width)`.
    pub pixels: Array3<f32>,
}

impl Field {
    /// Loads one file per channel; every file must be grayscale with one size and one depth.
    pub fn load(channels: &[String], paths: &[PathBuf]) -> Result<Self> {
        if channels.len() != paths.len() || channels.is_empty() {
            return Err(ImageError::Params(format!(
                "{} channel names for {} files",
                channels.len(),
                paths.len()
            )));
        }
        let mut stack: Option<Array3<f32>> = None;
        let mut first: Option<(&Path, u8, (usize, usize))> = None;
        for (c, path) in paths.iter().enumerate() {
            let plane = read_plane(path)?;
            let dim = plane.pixels.dim();
            match first {
                None => first = Some((path, plane.bits, dim)),
                Some((p0, bits0, dim0)) => {
                    if dim != dim0 {
                        return Err(ImageError::invalid(
                            path.display(),
                            format!(
                                "channel '{}' is {}×{} but '{}' ({}) is {}×{}; all channels of a field must have one size",
                                channels[c], dim.1, dim.0, channels[0], p0.display(), dim0.1, dim0.0
                            ),
                        ));
                    }
                    if plane.bits != bits0 {
                        return Err(ImageError::invalid(
                            path.display(),
                            format!(
                                "channel '{}' is {}-bit but '{}' is {}-bit",
                                channels[c], plane.bits, channels[0], bits0
                            ),
                        ));
                    }
                }
            }
            let s = stack.get_or_insert_with(|| Array3::zeros((paths.len(), dim.0, dim.1)));
            s.index_axis_mut(Axis(0), c)
                .zip_mut_with(&plane.pixels, |o, &v| *o = v as f32);
        }
        let (_, bits, _) = first.expect("at least one channel");
        Ok(Self {
            channels: channels.to_vec(),
            bits,
            pixels: stack.expect("at least one channel"),
        })
    }

    /// A field from an existing stack; the number of names must match the stack's channels.
    pub fn from_pixels(channels: Vec<String>, bits: u8, pixels: Array3<f32>) -> Result<Self> {
        if channels.len() != pixels.shape()[0] {
            return Err(ImageError::Params(format!(
                "{} channel names for a stack of {} channels",
                channels.len(),
                pixels.shape()[0]
            )));
        }
        Ok(Self {
            channels,
            bits,
            pixels,
        })
    }

    /// Number of channels.
    pub fn n_channels(&self) -> usize {
        self.pixels.shape()[0]
    }
    /// Rows.
    pub fn height(&self) -> usize {
        self.pixels.shape()[1]
    }
    /// Columns.
    pub fn width(&self) -> usize {
        self.pixels.shape()[2]
    }

    /// A view of channel `c` (0-based).
    pub fn channel(&self, c: usize) -> ArrayView2<'_, f32> {
        self.pixels.index_axis(Axis(0), c)
    }

    /// The index of a channel by name, with the available names in the error.
    pub fn channel_index(&self, name: &str) -> Result<usize> {
        self.channels.iter().position(|c| c == name).ok_or_else(|| {
            ImageError::Params(format!(
                "no channel '{name}' in this field (channels: {})",
                self.channels.join(", ")
            ))
        })
    }

    /// Whole-field loading for field-level models (MOAProfiler): resize every channel to
    /// `size × size` with anti-aliasing.
    pub fn downscaled(&self, height: usize, width: usize) -> Field {
        let mut out = Array3::zeros((self.n_channels(), height, width));
        for c in 0..self.n_channels() {
            out.index_axis_mut(Axis(0), c)
                .assign(&crate::resize::resize(self.channel(c), height, width));
        }
        Field {
            channels: self.channels.clone(),
            bits: self.bits,
            pixels: out,
        }
    }
}

/// Per-channel min–max scaling to [0, 1] (a constant channel becomes 0).
pub fn min_max_scale(pixels: &mut Array3<f32>) {
    for mut ch in pixels.outer_iter_mut() {
        let (lo, hi) = ch
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        let range = hi - lo;
        if range > 0.0 && range.is_finite() {
            ch.mapv_inplace(|v| (v - lo) / range);
        } else {
            ch.fill(0.0);
        }
    }
}

/// Converts a plane to `u16`, rounding and clamping to the 16-bit range.
pub fn to_u16(plane: ArrayView2<'_, f32>) -> Array2<u16> {
    plane.mapv(|v| v.round().clamp(0.0, 65535.0) as u16)
}
