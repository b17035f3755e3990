#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod correlation;
mod distance;
mod error;
mod granularity;
mod intensity;
mod objects;
mod radial;
mod segment;
mod shape;
mod table;
mod texture;

pub use correlation::{measure_correlation, Correlation, THRESHOLD_PERCENT};
pub use error::{MeasureError, Result};
pub use granularity::{measure_granularity, GranularSpectrum, GranularityParams};
pub use intensity::{measure_intensity, Intensity};
pub use objects::{Object, Objects};
pub use radial::{measure_radial_distribution, RadialGeometry, RadialParams, RADIAL_FEATURES};
pub use segment::{segment_cells, CellParams, Threshold};
pub use shape::{measure_shapes, AreaShape};
pub use table::{
    is_positional, measure_cells, measure_objects, FeatureSet, MeasuredField, ObjectFeatures,
};
pub use texture::{measure_texture, Texture, HARALICK};
