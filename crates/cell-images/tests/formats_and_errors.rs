//! Every format the issue lists round-trips, and every kind of bad file gets an error naming it.

use std::path::Path;

use cell_images::*;
use ndarray::{Array2, Array3};

fn ramp(h: usize, w: usize, k: u16) -> Array2<u16> {
    Array2::from_shape_fn((h, w), |(y, x)| (y as u16 * 300 + x as u16 * 7 + k) % 65000)
}

#[test]
fn tiff_roundtrips_with_each_compression_and_multiple_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let pages = [ramp(17, 23, 0), ramp(17, 23, 5)];
    let views: Vec<_> = pages.iter().map(|p| p.view()).collect();
    for c in [
        TiffCompression::None,
        TiffCompression::Lzw,
        TiffCompression::Deflate,
        TiffCompression::Packbits,
    ] {
        let p = tmp.path().join(format!("{c:?}.tiff"));
        write_tiff_u16(&p, &views, c).unwrap();
        let back = read_tiff_pages(&p, None).unwrap();
        assert_eq!(back.len(), 2, "{c:?}");
        for (b, orig) in back.iter().zip(&pages) {
            assert_eq!(b.bits, 16);
            assert_eq!(
                b.pixels.index_axis(ndarray::Axis(0), 0),
                orig.view(),
                "{c:?}"
            );
        }
        assert_eq!(read_plane(&p).unwrap().pixels, pages[0]);
    }
}

#[test]
fn bigtiff_and_8_bit_tiff_are_read() {
    use tiff::encoder::{colortype, TiffEncoder};
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("big.tiff");
    let img = ramp(9, 11, 3);
    let data: Vec<u16> = img.iter().copied().collect();
    {
        let f = std::fs::File::create(&p).unwrap();
        let mut enc = TiffEncoder::new_big(f).unwrap();
        enc.write_image::<colortype::Gray16>(11, 9, &data).unwrap();
    }
    assert_eq!(read_plane(&p).unwrap().pixels, img);
    let p8 = tmp.path().join("eight.tiff");
    let bytes: Vec<u8> = (0..99u8).collect();
    {
        let f = std::fs::File::create(&p8).unwrap();
        let mut enc = TiffEncoder::new(f).unwrap();
        enc.write_image::<colortype::Gray8>(11, 9, &bytes).unwrap();
    }
    let plane = read_plane(&p8).unwrap();
    assert_eq!(plane.bits, 8);
    assert_eq!(plane.pixels[[8, 10]], 98);
}

/// A minimal little-endian TIFF with one zstd-compressed strip (the `tiff` crate decodes zstd
/// but cannot write it).
fn write_zstd_tiff(path: &Path, img: &Array2<u16>) {
    let (h, w) = img.dim();
    let raw: Vec<u8> = img.iter().flat_map(|v| v.to_le_bytes()).collect();
    let strip = zstd::bulk::compress(&raw, 3).unwrap();
    let entries: [(u16, u16, u32); 9] = [
        (256, 3, w as u32),
        (257, 3, h as u32),
        (258, 3, 16),
        (259, 3, 50000),
        (262, 3, 1),
        (273, 4, 8 + 2 + 9 * 12 + 4),
        (277, 3, 1),
        (278, 3, h as u32),
        (279, 4, strip.len() as u32),
    ];
    let mut out = b"II".to_vec();
    out.extend(42u16.to_le_bytes());
    out.extend(8u32.to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    for (tag, ty, value) in entries {
        out.extend(tag.to_le_bytes());
        out.extend(ty.to_le_bytes());
        out.extend(1u32.to_le_bytes());
        if ty == 3 {
            out.extend((value as u16).to_le_bytes());
            out.extend([0, 0]);
        } else {
            out.extend(value.to_le_bytes());
        }
    }
    out.extend(0u32.to_le_bytes());
    out.extend(strip);
    std::fs::write(path, out).unwrap();
}

#[test]
fn zstd_tiff_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("z.tiff");
    let img = ramp(13, 21, 9);
    write_zstd_tiff(&p, &img);
    assert_eq!(read_plane(&p).unwrap().pixels, img);
}

#[test]
fn png_8_and_16_bit_roundtrip() {
    let tmp = tempfile::tempdir().unwrap();
    let img = ramp(10, 12, 1000);
    write_png_u16(tmp.path().join("a.png"), img.view()).unwrap();
    let back = read_plane(tmp.path().join("a.png")).unwrap();
    assert_eq!((back.bits, back.pixels), (16, img));
    let small = Array2::from_shape_fn((5, 6), |(y, x)| (y * 40 + x) as u8);
    write_png_u8(tmp.path().join("b.png"), small.view()).unwrap();
    let back = read_plane(tmp.path().join("b.png")).unwrap();
    assert_eq!(back.bits, 8);
    assert_eq!(back.pixels, small.mapv(u16::from));
}

#[test]
fn bad_files_name_themselves() {
    let tmp = tempfile::tempdir().unwrap();
    // Missing.
    let missing = tmp.path().join("nope.tiff");
    let e = read_plane(&missing).unwrap_err().to_string();
    assert!(e.contains("nope.tiff"), "{e}");
    // Truncated.
    let good = tmp.path().join("good.tiff");
    let img = ramp(64, 64, 0);
    write_tiff_u16(&good, &[img.view()], TiffCompression::None).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let cut = tmp.path().join("cut.tiff");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = read_plane(&cut).unwrap_err().to_string();
    assert!(e.contains("cut.tiff") && e.contains("TIFF"), "{e}");
    // Not an image at all.
    let junk = tmp.path().join("junk.png");
    std::fs::write(&junk, b"hello").unwrap();
    let e = read_plane(&junk).unwrap_err().to_string();
    assert!(e.contains("junk.png") && e.contains("PNG"), "{e}");
    // Mismatched sizes and depths inside one field.
    let other = tmp.path().join("other.tiff");
    write_tiff_u16(&other, &[ramp(32, 64, 0).view()], TiffCompression::None).unwrap();
    let names = vec!["DNA".to_string(), "ER".to_string()];
    let e = Field::load(&names, &[good.clone(), other])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("other.tiff") && e.contains("ER") && e.contains("size"),
        "{e}"
    );
    let eight = tmp.path().join("eight.png");
    write_png_u8(&eight, Array2::<u8>::zeros((64, 64)).view()).unwrap();
    let e = Field::load(&names, &[good.clone(), eight])
        .unwrap_err()
        .to_string();
    assert!(e.contains("eight.png") && e.contains("8-bit"), "{e}");
    // RGB where a channel was expected.
    let rgb = tmp.path().join("rgb.png");
    cell_images::io::write_png_rgb8(&rgb, &Array3::<u8>::zeros((4, 4, 3))).unwrap();
    let e = read_plane(&rgb).unwrap_err().to_string();
    assert!(e.contains("rgb.png") && e.contains("3 samples"), "{e}");
}

#[test]
fn index_errors_name_the_row_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("index.csv");
    std::fs::write(
        &p,
        "Metadata_Plate,Metadata_Well,Metadata_Site,DNA\nP1,A01,1,a.tiff\n",
    )
    .unwrap();
    let e = ImageIndex::read(&p, &["DNA", "ER"], None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("index.csv") && e.contains("'ER'"), "{e}");
    std::fs::write(
        &p,
        "Metadata_Plate,Metadata_Well,Metadata_Site,DNA\nP1,A01,1,\n",
    )
    .unwrap();
    let e = ImageIndex::read(&p, &["DNA"], None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2") && e.contains("DNA"), "{e}");
    // A DeepProfiler-style index whose file is missing: the error names file and index line.
    std::fs::write(
        &p,
        "Metadata_Plate,Metadata_Well,Metadata_Site,DNA\nP1,A01,1,missing.tiff\n",
    )
    .unwrap();
    let idx = ImageIndex::read(&p, &["DNA"], None).unwrap();
    assert_eq!(idx.fields[0].paths[0], tmp.path().join("missing.tiff"));
    let e = idx.load(&idx.fields[0]).unwrap_err().to_string();
    assert!(e.contains("missing.tiff") && e.contains("line 2"), "{e}");
}

#[test]
fn illumination_correction_flattens_a_known_gradient() {
    // Fields = texture × a smooth gain from 1 to 3 across x; correction must remove the gain.
    let (h, w) = (96, 128);
    let gain = |x: usize| 1.0 + 2.0 * x as f32 / (w - 1) as f32;
    let mut acc = IlluminationParams {
        median_filter_size: 6,
        ..Default::default()
    }
    .accumulator()
    .unwrap();
    let mut fields = Vec::new();
    for k in 0..6u64 {
        let px = Array3::from_shape_fn((1, h, w), |(_, y, x)| {
            let t = ((x as u64 * 31 + y as u64 * 17 + k * 101) % 53) as f32;
            (200.0 + 10.0 * t) * gain(x)
        });
        let f = Field::from_pixels(vec!["DNA".into()], 16, px).unwrap();
        acc.add(&f, "synthetic").unwrap();
        fields.push(f);
    }
    let illum = acc.finish(&["DNA".to_string()]).unwrap();
    let corrected = illum.apply(&fields[0]).unwrap();
    let col_mean = |f: &Field, x0: usize| {
        let s = f.channel(0);
        (x0..x0 + 16).map(|x| s.column(x).sum()).sum::<f32>() / (16 * h) as f32
    };
    let before = col_mean(&fields[0], w - 16) / col_mean(&fields[0], 0);
    let after = col_mean(&corrected, w - 16) / col_mean(&corrected, 0);
    assert!(before > 2.3, "{before}");
    assert!(
        (after - 1.0).abs() < 0.1,
        "right/left after correction {after}"
    );
    // Bad input.
    let e = IlluminationParams::default()
        .accumulator()
        .unwrap()
        .finish(&[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("no fields"), "{e}");
}

#[test]
fn detector_splits_two_touching_discs_and_finds_separate_ones() {
    let (h, w) = (120, 160);
    let discs = [
        (40.0, 40.0, 14.0),
        (40.0, 64.0, 14.0),
        (90.0, 110.0, 12.0),
        (30.0, 125.0, 10.0),
    ];
    let img = Array2::from_shape_fn((h, w), |(y, x)| {
        let inside = discs.iter().any(|&(cy, cx, r)| {
            let (dy, dx) = (y as f64 - cy, x as f64 - cx);
            dy * dy + dx * dx <= r * r
        });
        if inside {
            1000.0
        } else {
            100.0 + ((x * 7 + y * 3) % 11) as f32
        }
    });
    let seg = detect_nuclei(img.view(), &NucleusParams::default()).unwrap();
    assert_eq!(seg.nuclei.len(), 4, "{:?}", seg.nuclei);
    for &(cy, cx, _) in &discs {
        assert!(
            seg.nuclei
                .iter()
                .any(|n| (n.x - cx).abs() < 3.0 && (n.y - cy).abs() < 3.0),
            "no nucleus near ({cx}, {cy}): {:?}",
            seg.nuclei
        );
    }
}

/// A 130-byte TIFF whose header declares 100000×100000 16-bit pixels: refused with the
/// numbers and the limit before anything is allocated (it used to abort on a 20 GB request).
#[test]
fn a_header_claiming_a_huge_image_is_refused_before_allocating() {
    let mut b: Vec<u8> = b"II*\0".to_vec();
    b.extend(8u32.to_le_bytes());
    let entries: [(u16, u16, u32); 9] = [
        (256, 4, 100_000), // width
        (257, 4, 100_000), // height
        (258, 3, 16),      // bits per sample
        (259, 3, 1),       // no compression
        (262, 3, 1),       // black is zero
        (273, 4, 8),       // strip offset
        (277, 3, 1),       // samples per pixel
        (278, 4, 100_000), // rows per strip
        (279, 4, 2),       // strip byte count
    ];
    b.extend((entries.len() as u16).to_le_bytes());
    for (tag, kind, value) in entries {
        b.extend(tag.to_le_bytes());
        b.extend(kind.to_le_bytes());
        b.extend(1u32.to_le_bytes());
        b.extend(value.to_le_bytes());
    }
    b.extend(0u32.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.tiff");
    std::fs::write(&path, &b).unwrap();
    let e = cell_images::io::read_tiff_pages(&path, None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("huge.tiff")
            && e.contains("100000×100000")
            && e.contains("20000000000 bytes")
            && e.contains("CELLPAINT_MAX_IMAGE_BYTES"),
        "{e}"
    );
}
