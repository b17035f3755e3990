//! Reading and writing image files: TIFF (8/16-bit, uncompressed, LZW, Deflate, PackBits, zstd;
//! multi-page; BigTIFF) and PNG (8/16-bit). Pixels come back as `u16` whatever the depth, with
//! the depth recorded, so 8- and 16-bit plates share one code path.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use ndarray::{Array2, Array3, ArrayView2, Axis};
use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::encoder::{colortype, Compression, DeflateLevel, TiffEncoder};
use tiff::ColorType;

use crate::error::{ImageError, Result};

/// One decoded image: `pixels[[sample, row, col]]`; `samples` is 1 for grayscale, 3 for RGB.
#[derive(Debug, Clone, PartialEq)]
pub struct RawImage {
    /// Bit depth of the file (8 or 16).
    pub bits: u8,
    /// `(samples, height, width)`.
    pub pixels: Array3<u16>,
}

impl RawImage {
    /// Rows.
    pub fn height(&self) -> usize {
        self.pixels.shape()[1]
    }
    /// Columns.
    pub fn width(&self) -> usize {
        self.pixels.shape()[2]
    }
    /// Samples per pixel.
    pub fn samples(&self) -> usize {
        self.pixels.shape()[0]
    }
}

/// A single-sample (grayscale) image.
#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    /// Bit depth of the file (8 or 16).
    pub bits: u8,
    /// `(height, width)`.
    pub pixels: Array2<u16>,
}

fn is_png(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
}

/// Reads the first page of a TIFF or a PNG (chosen by extension), any number of samples.
pub fn read_image(path: impl AsRef<Path>) -> Result<RawImage> {
    let path = path.as_ref();
    if is_png(path) {
        read_png(path)
    } else {
        let mut pages = read_tiff_pages(path, Some(1))?;
        Ok(pages.remove(0))
    }
}

/// Reads a grayscale image; an RGB or multi-sample file is an error naming the file.
pub fn read_plane(path: impl AsRef<Path>) -> Result<Plane> {
    let path = path.as_ref();
    let raw = read_image(path)?;
    if raw.samples() != 1 {
        return Err(ImageError::invalid(
            path.display(),
            format!(
                "expected a single-channel (grayscale) image, found {} samples per pixel",
                raw.samples()
            ),
        ));
    }
    Ok(Plane {
        bits: raw.bits,
        pixels: raw.pixels.index_axis_move(Axis(0), 0),
    })
}

fn tiff_error(path: &Path, e: tiff::TiffError) -> ImageError {
    ImageError::Decode {
        path: path.to_path_buf(),
        format: "TIFF",
        message: profiles::one_line(&e.to_string()),
    }
}

/// The most bytes one decoded image page may take (4 GiB: a 16-bit 32768² field), unless the
/// environment variable `CELLPAINT_MAX_IMAGE_BYTES` says otherwise. A header claiming more is
/// an error before anything is allocated: a 136-byte file must not ask for 20 GB.
pub fn max_image_bytes() -> usize {
    std::env::var("CELLPAINT_MAX_IMAGE_BYTES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(4 << 30)
}

/// A decoder whose buffers are bounded by [`max_image_bytes`], errors naming the file.
fn open_tiff(path: &Path) -> Result<Decoder<BufReader<File>>> {
    let file = File::open(path).map_err(|e| ImageError::io(path, e))?;
    let max = max_image_bytes();
    let mut limits = Limits::default();
    limits.decoding_buffer_size = max;
    limits.intermediate_buffer_size = max;
    Ok(Decoder::new(BufReader::new(file))
        .map_err(|e| tiff_error(path, e))?
        .with_limits(limits))
}

/// Checks a page's declared size against [`max_image_bytes`] before it is decoded.
fn check_page_size(
    path: &Path,
    page: usize,
    w: u32,
    h: u32,
    samples: usize,
    bits: u8,
) -> Result<()> {
    let bytes = (w as u128) * (h as u128) * (samples as u128) * (bits as u128).div_ceil(8);
    let max = max_image_bytes();
    if bytes > max as u128 {
        return Err(ImageError::invalid(
            path.display(),
            format!(
                "page {page} declares {w}×{h} pixels × {samples} samples of {bits} bits = {bytes} bytes, \
                 over the limit of {max} bytes (set CELLPAINT_MAX_IMAGE_BYTES to raise it)"
            ),
        ));
    }
    Ok(())
}

/// Reads every page of a (possibly multi-page, possibly BigTIFF) TIFF; `max_pages` stops early.
pub fn read_tiff_pages(path: impl AsRef<Path>, max_pages: Option<usize>) -> Result<Vec<RawImage>> {
    let path = path.as_ref();
    let decode_err = |e: tiff::TiffError| tiff_error(path, e);
    let mut decoder = open_tiff(path)?;
    let mut pages = Vec::new();
    loop {
        let (w, h) = decoder.dimensions().map_err(decode_err)?;
        let color = decoder.colortype().map_err(decode_err)?;
        let (samples, bits) = match color {
            ColorType::Gray(b) => (1, b),
            ColorType::RGB(b) => (3, b),
            ColorType::GrayA(b) => (2, b),
            ColorType::RGBA(b) => (4, b),
            ColorType::Multiband {
                bit_depth,
                num_samples,
            } => (num_samples as usize, bit_depth),
            other => {
                return Err(ImageError::invalid(
                    path.display(),
                    format!(
                        "page {}: unsupported colour type {other:?} (expected grayscale or RGB)",
                        pages.len() + 1
                    ),
                ))
            }
        };
        check_page_size(path, pages.len() + 1, w, h, samples, bits)?;
        let data: Vec<u16> = match decoder.read_image().map_err(decode_err)? {
            DecodingResult::U8(v) => v.into_iter().map(u16::from).collect(),
            DecodingResult::U16(v) => v,
            _ => {
                return Err(ImageError::invalid(
                    path.display(),
                    format!("page {}: {bits}-bit samples are not supported (expected 8- or 16-bit unsigned integers)", pages.len() + 1),
                ))
            }
        };
        pages.push(interleaved_to_planar(
            path, data, h as usize, w as usize, samples, bits,
        )?);
        if max_pages.is_some_and(|m| pages.len() >= m) || !decoder.more_images() {
            break;
        }
        decoder.next_image().map_err(decode_err)?;
    }
    Ok(pages)
}

fn interleaved_to_planar(
    path: &Path,
    data: Vec<u16>,
    h: usize,
    w: usize,
    samples: usize,
    bits: u8,
) -> Result<RawImage> {
    if data.len() != h * w * samples {
        return Err(ImageError::invalid(
            path.display(),
            format!(
                "decoded {} values for a {w}×{h} image with {samples} samples per pixel",
                data.len()
            ),
        ));
    }
    let hwc = Array3::from_shape_vec((h, w, samples), data).expect("length checked");
    Ok(RawImage {
        bits,
        pixels: hwc
            .permuted_axes([2, 0, 1])
            .as_standard_layout()
            .into_owned(),
    })
}

fn read_png(path: &Path) -> Result<RawImage> {
    let decode_err = |e: image::ImageError| ImageError::Decode {
        path: path.to_path_buf(),
        format: "PNG",
        message: profiles::one_line(&e.to_string()),
    };
    let file = File::open(path).map_err(|e| ImageError::io(path, e))?;
    let img = image::ImageReader::with_format(BufReader::new(file), image::ImageFormat::Png)
        .decode()
        .map_err(decode_err)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    use image::DynamicImage as D;
    let (data, samples, bits): (Vec<u16>, usize, u8) = match img {
        D::ImageLuma8(b) => (b.into_raw().into_iter().map(u16::from).collect(), 1, 8),
        D::ImageLuma16(b) => (b.into_raw(), 1, 16),
        D::ImageLumaA8(b) => (b.into_raw().into_iter().map(u16::from).collect(), 2, 8),
        D::ImageLumaA16(b) => (b.into_raw(), 2, 16),
        D::ImageRgb8(b) => (b.into_raw().into_iter().map(u16::from).collect(), 3, 8),
        D::ImageRgb16(b) => (b.into_raw(), 3, 16),
        D::ImageRgba8(b) => (b.into_raw().into_iter().map(u16::from).collect(), 4, 8),
        D::ImageRgba16(b) => (b.into_raw(), 4, 16),
        other => {
            return Err(ImageError::invalid(
                path.display(),
                format!("unsupported PNG colour type {:?}", other.color()),
            ))
        }
    };
    interleaved_to_planar(path, data, h, w, samples, bits)
}

/// TIFF compression for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TiffCompression {
    /// Uncompressed.
    None,
    /// LZW.
    Lzw,
    #[default]
    /// Deflate (zlib), the default.
    Deflate,
    /// PackBits run-length encoding.
    Packbits,
}

impl TiffCompression {
    fn to_tiff(self) -> Compression {
        match self {
            TiffCompression::None => Compression::Uncompressed,
            TiffCompression::Lzw => Compression::Lzw,
            TiffCompression::Deflate => Compression::Deflate(DeflateLevel::Balanced),
            TiffCompression::Packbits => Compression::Packbits,
        }
    }
}

/// Writes 16-bit grayscale pages into one TIFF (one page per plane), atomically.
pub fn write_tiff_u16(
    path: impl AsRef<Path>,
    pages: &[ArrayView2<'_, u16>],
    compression: TiffCompression,
) -> Result<()> {
    write_tiff_pages::<colortype::Gray16>(path.as_ref(), pages, compression.to_tiff())
}

/// Writes a 32-bit float grayscale multi-page TIFF (used for illumination functions), atomically.
pub fn write_tiff_f32(path: impl AsRef<Path>, pages: &[ArrayView2<'_, f32>]) -> Result<()> {
    write_tiff_pages::<colortype::Gray32Float>(
        path.as_ref(),
        pages,
        Compression::Deflate(DeflateLevel::Balanced),
    )
}

/// One grayscale page per plane, encoded in memory and written atomically.
fn write_tiff_pages<C: colortype::ColorType>(
    path: &Path,
    pages: &[ArrayView2<'_, C::Inner>],
    compression: Compression,
) -> Result<()>
where
    C::Inner: Copy,
    [C::Inner]: tiff::encoder::TiffValue,
{
    profiles::write_atomic(path, |w| {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut enc = TiffEncoder::new(&mut buf)
                .map_err(std::io::Error::other)?
                .with_compression(compression);
            for page in pages {
                let (h, w) = page.dim();
                let data: Vec<C::Inner> = page.iter().copied().collect();
                enc.write_image::<C>(w as u32, h as u32, &data)
                    .map_err(std::io::Error::other)?;
            }
        }
        w.write_all(buf.get_ref())
    })?;
    Ok(())
}

/// Reads a float TIFF written by [`write_tiff_f32`].
pub fn read_tiff_f32(path: impl AsRef<Path>) -> Result<Vec<Array2<f32>>> {
    let path = path.as_ref();
    let decode_err = |e: tiff::TiffError| tiff_error(path, e);
    let mut decoder = open_tiff(path)?;
    let mut pages = Vec::new();
    loop {
        let (w, h) = decoder.dimensions().map_err(decode_err)?;
        check_page_size(path, pages.len() + 1, w, h, 1, 32)?;
        match decoder.read_image().map_err(decode_err)? {
            DecodingResult::F32(v) if v.len() == (w * h) as usize => {
                pages.push(Array2::from_shape_vec((h as usize, w as usize), v).expect("checked"))
            }
            _ => {
                return Err(ImageError::invalid(
                    path.display(),
                    "expected single-sample 32-bit float pages",
                ))
            }
        }
        if !decoder.more_images() {
            break;
        }
        decoder.next_image().map_err(decode_err)?;
    }
    Ok(pages)
}

/// Writes an 8-bit grayscale PNG (lossless), atomically; returns the bytes written.
pub fn write_png_u8(path: impl AsRef<Path>, plane: ArrayView2<'_, u8>) -> Result<u64> {
    let (h, w) = plane.dim();
    let data: Vec<u8> = plane.iter().copied().collect();
    write_png(path.as_ref(), w, h, &data, image::ExtendedColorType::L8)
}

/// Writes an 8-bit RGB PNG from `rgb[[row, col, 0..3]]`, atomically (figures, overlays).
pub fn write_png_rgb8(path: impl AsRef<Path>, rgb: &Array3<u8>) -> Result<u64> {
    let (h, w, c) = rgb.dim();
    if c != 3 {
        return Err(ImageError::Params(format!(
            "RGB PNG needs 3 samples per pixel, got {c}"
        )));
    }
    let data: Vec<u8> = rgb.iter().copied().collect();
    write_png(path.as_ref(), w, h, &data, image::ExtendedColorType::Rgb8)
}

/// Writes a 16-bit grayscale PNG, atomically; returns the bytes written.
pub fn write_png_u16(path: impl AsRef<Path>, plane: ArrayView2<'_, u16>) -> Result<u64> {
    let (h, w) = plane.dim();
    // `image` takes native-endian samples and writes PNG's big-endian itself.
    let data: Vec<u8> = plane.iter().flat_map(|v| v.to_ne_bytes()).collect();
    write_png(path.as_ref(), w, h, &data, image::ExtendedColorType::L16)
}

fn write_png(
    path: &Path,
    w: usize,
    h: usize,
    data: &[u8],
    color: image::ExtendedColorType,
) -> Result<u64> {
    use image::ImageEncoder;
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut bytes,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(data, w as u32, h as u32, color)
    .map_err(|e| ImageError::Decode {
        path: path.to_path_buf(),
        format: "PNG (encoding)",
        message: e.to_string(),
    })?;
    profiles::write_atomic(path, |w| w.write_all(&bytes))?;
    Ok(bytes.len() as u64)
}
