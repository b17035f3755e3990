//! CellProfiler-style measurements of segmented objects, from pixels.
//!
//! Objects come as a label image (0 = background, 1..=N = objects), either given (a label
//! image CellProfiler or another segmenter wrote) or made from a binary mask by
//! [`Objects::from_mask`] (4-connected components, numbered in raster order as
//! `scipy.ndimage.label` numbers them). Per object:
//!
//! * [`AreaShape`] — CellProfiler's `MeasureObjectSizeShape` core: area, perimeter, form
//!   factor, compactness, the second-moment ellipse (axes, eccentricity, orientation), convex
//!   area and solidity, extent, Euler number, equivalent diameter, centre, bounding box;
//! * [`Intensity`] — `MeasureObjectIntensity`: integrated, mean, s.d., min, max, quartiles and
//!   MAD (CellProfiler's quantile convention), mass displacement, the same statistics over the
//!   object's edge pixels, the intensity-weighted centre and the position of the maximum.
//!
//! Names follow CellProfiler (`AreaShape_FormFactor`, `Intensity_MeanIntensity`), so a column
//! is `<Compartment>_<Feature>[_<Channel>]` as in its per-object tables. Pixel values are what
//! CellProfiler measures: 16-bit intensities divided by 65535. The test against CellProfiler's
//! own numbers and cp_measure's on the real NF1 fields is `tests/reference.rs`; docs/measure.md
//! lists every feature with its agreement.
//!
//! Not finite pixels are refused (an error naming the position): a measurement of an image
//! with NaN in it would silently change meaning. A feature that is undefined for an object
//! (the form factor of a one-pixel object, whose perimeter is 0) is NaN.
//!
//! ```
//! use cell_measure::{measure_intensity, measure_shapes, Objects};
//! use ndarray::array;
//!
//! let mask = array![[false, true, true], [false, true, true], [false, false, false]];
//! let objects = Objects::from_mask(mask.view());
//! assert_eq!(objects.count(), 1);
//! let shape = &measure_shapes(&objects)[0];
//! assert_eq!((shape.area, shape.center_x, shape.center_y), (4.0, 1.5, 0.5));
//! let pixels = array![[0.0, 0.2, 0.4], [0.0, 0.2, 0.4], [0.0, 0.0, 0.0]];
//! let intensity = &measure_intensity(&objects, pixels.view()).unwrap()[0];
//! assert!((intensity.mean - 0.3).abs() < 1e-12);
//! ```

mod error;
mod intensity;
mod objects;
mod shape;

pub use error::{MeasureError, Result};
pub use intensity::{measure_intensity, Intensity};
pub use objects::{Object, Objects};
pub use shape::{measure_shapes, AreaShape};
