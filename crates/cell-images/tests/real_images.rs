//! Checks against the real images in the shared data directory (docs/data.md, README §3).

use std::path::{Path, PathBuf};

use cell_images::compress::CompressionParams;
use cell_images::nuclei::count_outlined_objects;
use cell_images::*;
use profiles::data::data_dir_for_tests;

fn images_dir() -> Option<PathBuf> {
    data_dir_for_tests().map(|d| d.join("images"))
}

fn files_with(dir: &Path, ext: &[&str]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ext.contains(&e))
        })
        .collect();
    out.sort();
    out
}

/// (height, width, samples, bits) and a non-constant image.
fn check(path: &Path, h: usize, w: usize, samples: usize, bits: u8) -> RawImage {
    let img = read_image(path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (img.height(), img.width(), img.samples(), img.bits),
        (h, w, samples, bits),
        "{}",
        path.display()
    );
    let (lo, hi) = img
        .pixels
        .iter()
        .fold((u16::MAX, 0u16), |(a, b), &v| (a.min(v), b.max(v)));
    assert!(hi > lo, "{} is constant", path.display());
    img
}

#[test]
fn every_staged_image_decodes_with_the_stated_size_and_depth() {
    let Some(root) = images_dir() else { return };
    let five = root.join("cellpainting_5ch/pediatric_BR00143976_C03_site3/images");
    let orig = files_with(&five.join("orig"), &["tiff"]);
    assert_eq!(orig.len(), 6);
    for p in &orig {
        check(p, 1080, 1080, 1, 16);
    }
    for p in files_with(&five.join("outlines"), &["tiff"]) {
        check(&p, 1080, 1080, 3, 16);
    }
    let jump = root.join("cellpainting_partial/jump_cpjump1_BR00117006_A01_site1/images");
    let jump_orig = files_with(&jump.join("orig"), &["tiff"]);
    assert_eq!(jump_orig.len(), 3);
    for p in &jump_orig {
        check(p, 1080, 1080, 1, 16);
    }
    for p in files_with(&jump.join("outlines"), &["png"]) {
        let img = read_image(&p).unwrap();
        assert_eq!((img.height(), img.width()), (1080, 1080), "{}", p.display());
    }
    let nf1 = files_with(&root.join("nf1_schwann_3ch/Plate_2_images"), &["tif"]);
    assert_eq!(nf1.len(), 15);
    for p in &nf1 {
        check(p, 904, 1224, 1, 16);
    }
    let masks = files_with(&root.join("nf1_schwann_3ch/Plate_2_masks"), &["tiff"]);
    assert_eq!(masks.len(), 15);
    for p in &masks {
        let m = read_image(p).unwrap();
        assert_eq!(
            (m.height(), m.width(), m.bits),
            (904, 1224, 8),
            "{}",
            p.display()
        );
    }
    let human = files_with(&root.join("cellprofiler_ExampleHuman/images"), &["tif"]);
    assert_eq!(human.len(), 3);
    for p in &human {
        check(p, 512, 512, 1, 8);
    }
    let bbbc022 = files_with(
        &root.join("bbbc022_hoechst_w1/BBBC022_v1_images_20585w1"),
        &["tif"],
    );
    assert_eq!(bbbc022.len(), 7);
    for p in &bbbc022 {
        check(p, 520, 696, 1, 16);
    }
}

const FIELD: &str = "cellpainting_5ch/pediatric_BR00143976_C03_site3/images";

/// A LoadData index for the one complete 5-channel field (channel map from the data README).
fn write_field_index(dir: &Path, images: &Path) -> PathBuf {
    let orig = images.join(FIELD).join("orig");
    let ch = |n: u32| format!("r03c03f03p01-ch{n}sk1fk1fl1.tiff");
    let mut header = vec!["Metadata_Plate", "Metadata_Well", "Metadata_Site"].join(",");
    let mut row = "BR00143976,C03,3".to_string();
    for (name, n) in [("DNA", 5), ("ER", 2), ("RNA", 6), ("AGP", 3), ("Mito", 4)] {
        header += &format!(",FileName_Orig{name},PathName_Orig{name}");
        row += &format!(",{},{}", ch(n), orig.display());
    }
    let path = dir.join("load_data.csv");
    std::fs::write(&path, format!("{header}\n{row}\n")).unwrap();
    path
}

#[test]
fn the_complete_field_goes_through_preparation_detection_and_crop_export() {
    let Some(images) = images_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let index = ImageIndex::read(
        write_field_index(tmp.path(), &images),
        &CELL_PAINTING_CHANNELS,
        None,
    )
    .unwrap();
    assert_eq!(index.fields.len(), 1);
    let record = &index.fields[0];
    let field = index.load(record).unwrap();
    assert_eq!(field.pixels.dim(), (5, 1080, 1080));
    assert_eq!(field.bits, 16);

    // Illumination: a one-field "plate" still gives a function ≥ 1 with its 2nd percentile at 1.
    let mut acc = IlluminationParams::default().accumulator().unwrap();
    acc.add(&field, "field").unwrap();
    let illum = acc.finish(&field.channels).unwrap();
    for c in 0..5 {
        let f = illum.channel(c);
        let min = f.iter().copied().fold(f32::INFINITY, f32::min);
        let max = f.iter().copied().fold(0.0f32, f32::max);
        assert!((min - 1.0).abs() < 1e-6, "channel {c}: min {min}");
        assert!(
            max > 1.05,
            "channel {c}: a real field has uneven illumination, max {max}"
        );
        eprintln!("illumination {}: max/min {max:.3}", field.channels[c]);
    }
    illum.save(tmp.path().join("illum.tiff")).unwrap();
    let reloaded = IlluminationFunction::load(tmp.path().join("illum.tiff")).unwrap();
    assert_eq!(reloaded, illum);
    let corrected = illum.apply(&field).unwrap();

    // Compression to 8-bit PNG.
    let (pngs, report) = compress_field(
        &corrected,
        &record.paths,
        &tmp.path().join("compressed"),
        &CompressionParams::default(),
    )
    .unwrap();
    eprintln!(
        "compression: {} files, {} → {} bytes, factor {:.2}",
        report.files,
        report.bytes_in,
        report.bytes_out,
        report.factor()
    );
    assert_eq!(report.files, 5);
    assert!(report.factor() > 2.0, "factor {}", report.factor());
    for p in &pngs {
        let back = read_plane(p).unwrap();
        assert_eq!((back.bits, back.pixels.dim()), (8, (1080, 1080)));
        // The stretch saturates about 0.05 % of pixels at each end.
        let at_max = back.pixels.iter().filter(|&&v| v == 255).count() as f64 / 1080.0 / 1080.0;
        assert!(at_max < 0.002, "{}: {at_max}", p.display());
    }

    // Nuclei on the DNA channel vs CellProfiler's own outlines of this field.
    let seg = detect_nuclei(corrected.channel(0), &NucleusParams::default()).unwrap();
    let outlines = read_image(
        images
            .join(FIELD)
            .join("outlines/NucleiOutlines_BR00143976_C03_3.tiff"),
    )
    .unwrap();
    let outline_mask = outlines
        .pixels
        .map_axis(ndarray::Axis(0), |px| px.iter().any(|&v| v > 0));
    let reference = count_outlined_objects(outline_mask.view(), 20);
    let found = seg.nuclei.len();
    let rel = (found as f64 - reference as f64).abs() / reference as f64;
    eprintln!(
        "nuclei: found {found}, CellProfiler outlines enclose {reference} ({:.1}% apart)",
        rel * 100.0
    );
    assert_eq!(reference, 37);
    assert!(rel <= 0.10, "found {found} nuclei vs {reference} outlined");

    // Crops around the detected centres, exported in DeepProfiler's layout.
    let centers: Vec<(f64, f64)> = seg.nuclei.iter().map(|n| (n.x, n.y)).collect();
    let crops = extract_crops(&corrected, &centers, &CropParams::default()).unwrap();
    assert!(!crops.is_empty() && crops.len() <= centers.len());
    for c in &crops {
        assert_eq!(c.pixels.dim(), (5, 128, 128));
        for ch in c.pixels.outer_iter() {
            let max = ch.iter().copied().fold(0.0f32, f32::max);
            let min = ch.iter().copied().fold(1.0f32, f32::min);
            assert!((max - 1.0).abs() < 1e-6 && min.abs() < 1e-6);
        }
    }
    let padded = extract_crops(
        &corrected,
        &centers,
        &CropParams {
            border: BorderPolicy::Pad,
            ..CropParams::default()
        },
    )
    .unwrap();
    assert_eq!(padded.len(), centers.len());
    let out = tmp.path().join("single-cell");
    let rows = export_crops(
        &out,
        &record.plate,
        &record.well,
        &record.site,
        "untreated",
        &crops,
    )
    .unwrap();
    let meta = write_sc_metadata(&out, &rows).unwrap();
    let first = read_plane(out.join(&rows[0].image_name)).unwrap();
    assert_eq!(first.pixels.dim(), (128, 128 * 5));
    assert!(rows[0]
        .image_name
        .starts_with("BR00143976/C03/3/untreated@"));
    let text = std::fs::read_to_string(meta).unwrap();
    assert_eq!(text.lines().count(), crops.len() + 1);
    assert!(text
        .starts_with("Metadata_Plate,Metadata_Well,Metadata_Site,Target,Nuclei_Location_Center_X"));
    eprintln!(
        "crops: {} inside the field, {} with padding",
        crops.len(),
        padded.len()
    );
}

#[test]
fn cellprofiler_locations_from_the_parquet_free_csv_path_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("loc.csv");
    std::fs::write(
        &p,
        "ObjectNumber,Nuclei_Location_Center_X,Nuclei_Location_Center_Y\n1,10.5,20\n2,30,40.25\n",
    )
    .unwrap();
    assert_eq!(
        read_locations(&p).unwrap(),
        vec![(10.5, 20.0), (30.0, 40.25)]
    );
    std::fs::write(
        &p,
        "Nuclei_Location_Center_X,Nuclei_Location_Center_Y\n1,\n",
    )
    .unwrap();
    let e = read_locations(&p).unwrap_err().to_string();
    assert!(
        e.contains("line 2") && e.contains("Nuclei_Location_Center_Y"),
        "{e}"
    );
}
