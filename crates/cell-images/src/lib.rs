#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod augment;
pub mod compress;
pub mod crops;
pub mod error;
pub mod field;
pub mod illum;
pub mod index;
pub mod io;
pub mod npz;
pub mod nuclei;
pub mod resize;

pub use augment::{augment, AugmentParams};
pub use compress::{compress_field, CompressionParams, CompressionReport};
pub use crops::{export_crops, extract_crops, write_sc_metadata, BorderPolicy, Crop, CropParams};
pub use error::{ImageError, Result};
pub use field::{Field, CELL_PAINTING_CHANNELS};
pub use illum::{IlluminationFunction, IlluminationParams};
pub use index::{object_paths, write_index, FieldRecord, ImageIndex};
pub use io::{
    read_image, read_plane, read_tiff_pages, write_png_u16, write_png_u8, write_tiff_u16, Plane,
    RawImage, TiffCompression,
};
pub use npz::read_npz_crops;
pub use nuclei::{detect_nuclei, read_locations, write_locations, Nucleus, NucleusParams};
