//! `cellpaint measure` on the real NF1 fields with CellProfiler's own masks, given the way
//! CellProfiler's LoadData takes them (`ObjectsFileName_<Object>`, `ObjectsPathName_<Object>`).

mod common;
use common::{fails, run};

use profiles::data::data_dir_for_tests;
use profiles::{read_table, ReadOptions};

/// A LoadData index of wells D7 (site 1) and B7 (site 3): DNA and RFP, nuclei and cells.
fn index(dir: &std::path::Path, objects: bool) -> String {
    let nf1 = dir.join("images/nf1_schwann_3ch");
    let (img, masks) = (nf1.join("Plate_2_images"), nf1.join("Plate_2_masks"));
    let (img, masks) = (img.display(), masks.display());
    let mut text = String::from(
        "Metadata_Plate,Metadata_Well,Metadata_Site,FileName_OrigDNA,PathName_OrigDNA,\
         FileName_OrigRFP,PathName_OrigRFP",
    );
    if objects {
        text.push_str(
            ",ObjectsFileName_Nuclei,ObjectsPathName_Nuclei,ObjectsFileName_Cells,ObjectsPathName_Cells",
        );
    }
    text.push('\n');
    for (well, site) in [("D7", 1), ("B7", 3)] {
        text.push_str(&format!(
            "Plate_2,{well},{site},{well}_01_1_{site}_DAPI_001.tif,{img},{well}_01_3_{site}_RFP_001.tif,{img}"
        ));
        if objects {
            text.push_str(&format!(
                ",{well}_01_1_{site}_DAPI_001_MaskNuclei.tiff,{masks},{well}_01_3_{site}_RFP_001_MaskCells.tiff,{masks}"
            ));
        }
        text.push('\n');
    }
    text
}

#[test]
fn measures_every_object_and_agrees_with_cellprofiler_and_cp_measure() {
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("load_data.csv");
    std::fs::write(&csv, index(&dir, true)).unwrap();
    let out = tmp.path().join("out");
    run(&[
        "-q",
        "measure",
        "--index",
        csv.to_str().unwrap(),
        "--channels",
        "DNA,RFP",
        "--objects",
        "Nuclei,Cells,Cytoplasm",
        "-o",
        out.to_str().unwrap(),
    ]);
    // Cytoplasm has no column of its own: Cells minus the inside of Nuclei, one per cell.
    let cytoplasm = read_table(out.join("Cytoplasm.csv.gz"), &ReadOptions::default()).unwrap();
    assert_eq!(cytoplasm.n_rows(), 13);
    let nuclei = read_table(out.join("Nuclei.csv.gz"), &ReadOptions::default()).unwrap();
    let cells = read_table(out.join("Cells.csv.gz"), &ReadOptions::default()).unwrap();
    // 29 + 28 nuclei and 9 + 4 cell components in the binary masks.
    assert_eq!((nuclei.n_rows(), cells.n_rows()), (57, 13));
    let wells = nuclei.metadata("Metadata_Well").unwrap();
    let numbers = nuclei.metadata("Metadata_ObjectNumber").unwrap();
    let row = (0..nuclei.n_rows())
        .find(|&r| wells[r] == "D7" && numbers[r] == "3")
        .unwrap();
    let value = |name: &str| nuclei.features()[[row, nuclei.feature_index(name).unwrap()]];
    // CellProfiler's own measurements of this nucleus (the shrunken NF1 table).
    assert_eq!(value("Nuclei_AreaShape_Area"), 1547.0);
    assert!((value("Nuclei_AreaShape_Perimeter") - 147.4386001800126).abs() < 1e-9);
    assert!((value("Nuclei_AreaShape_Solidity") - 0.9741813602015114).abs() < 1e-12);
    assert!((value("Nuclei_AreaShape_MinFeretDiameter") - 40.38217428519668).abs() < 1e-12);
    assert!((value("Nuclei_AreaShape_MaxFeretDiameter") - 49.36598018878993).abs() < 1e-12);
    // cp_measure 0.3.0 on the same pixels (fixtures/nf1_measure_reference.json).
    assert!((value("Nuclei_Intensity_MeanIntensity_DNA") - 0.5857383677452882).abs() < 1e-12);
    assert!((value("Nuclei_Intensity_MedianIntensity_DNA") - 0.5882352941176471).abs() < 1e-12);
    assert_eq!(
        nuclei.feature_names().len(),
        25 + 2 * 19 + 9 + 2 * 52 + 2 * 16 + 2 * 12,
        "AreaShape, Intensity/Location per channel, Correlation per channel pair, Texture, \
         Granularity and RadialDistribution per channel"
    );
    // cp_measure's Pearson correlation of DNA and RFP in this nucleus (the fixture's D7 field).
    assert!((value("Nuclei_Correlation_Correlation_DNA_RFP") + 0.5078365004432164).abs() < 1e-12);
    // … and its Haralick contrast on DNA at scale 3, direction 00.
    assert!((value("Nuclei_Texture_Contrast_DNA_3_00_256") - 554.9640338504935).abs() < 1e-9);
    // … its granular spectrum's first step and the intensity fraction in the innermost ring.
    assert!((value("Nuclei_Granularity_1_DNA") - 11.810454025325964).abs() < 1e-9);
    assert!(
        (value("Nuclei_RadialDistribution_FracAtD_DNA_1of4") - 0.07269383074026793).abs() < 1e-12
    );
}

#[test]
fn an_index_without_objects_and_without_the_channel_to_find_them_is_refused_before_writing() {
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("load_data.csv");
    std::fs::write(&csv, index(&dir, false)).unwrap();
    let out = tmp.path().join("out");
    let err = fails(&[
        "measure",
        "--index",
        csv.to_str().unwrap(),
        "--channels",
        "DNA,RFP",
        "--nuclei-channel",
        "Hoechst",
        "--objects",
        "Nuclei",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(
        err.contains("load_data.csv")
            && err.contains("ObjectsFileName_Nuclei")
            && err.contains("Hoechst")
            && err.contains("--nuclei-channel"),
        "{err}"
    );
    assert!(!out.exists());
}

/// No masks in the index: nuclei found on DNA, cells grown from them on RFP (actin), the
/// cytoplasm between. CellProfiler counted 29 nuclei and 21 cells in D7 and 28 and 19 in B7
/// (the shrunken table's Image_Count_*); we find 32 and 29 (nuclei touching the border left out,
/// as CellProfiler does).
#[test]
fn segments_nuclei_and_cells_when_the_index_names_no_objects() {
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("load_data.csv");
    std::fs::write(&csv, index(&dir, false)).unwrap();
    let out = tmp.path().join("out");
    run(&[
        "-q",
        "measure",
        "--index",
        csv.to_str().unwrap(),
        "--channels",
        "DNA,RFP",
        "--cell-channel",
        "RFP",
        "--skip",
        "texture,granularity",
        "-o",
        out.to_str().unwrap(),
    ]);
    let table =
        |o: &str| read_table(out.join(format!("{o}.csv.gz")), &ReadOptions::default()).unwrap();
    let (nuclei, cells, cytoplasm) = (table("Nuclei"), table("Cells"), table("Cytoplasm"));
    let per_well = |t: &profiles::ProfileTable, well: &str| {
        t.metadata("Metadata_Well")
            .unwrap()
            .iter()
            .filter(|w| *w == well)
            .count()
    };
    for (well, cp_nuclei) in [("D7", 29usize), ("B7", 28)] {
        let n = per_well(&nuclei, well);
        assert!(
            n.abs_diff(cp_nuclei) <= 5,
            "{well}: {n} nuclei against CellProfiler's {cp_nuclei}"
        );
        // One cell per nucleus, with the same numbers, and a cytoplasm for each (measured: 32
        // and 29, every grown cell reaches beyond its nucleus's inside).
        assert_eq!(per_well(&cells, well), n);
        assert_eq!(per_well(&cytoplasm, well), n);
    }
    let area = |t: &profiles::ProfileTable, name: &str| {
        t.features().column(t.feature_index(name).unwrap()).to_vec()
    };
    let (an, ac) = (
        area(&nuclei, "Nuclei_AreaShape_Area"),
        area(&cells, "Cells_AreaShape_Area"),
    );
    // `--skip texture,granularity`: AreaShape, Intensity per channel, Correlation, RadialDistribution.
    assert_eq!(nuclei.feature_names().len(), 25 + 2 * 19 + 9 + 2 * 12);
    assert!(!nuclei
        .feature_names()
        .iter()
        .any(|n| n.contains("_Texture_") || n.contains("_Granularity_")));
    // Each cell contains its nucleus.
    assert!(an.iter().zip(&ac).all(|(n, c)| c >= n), "{an:?} {ac:?}");
}

/// A field that cannot be measured (its mask file is missing) fails the run naming the file,
/// and no table, partial or whole, is left behind.
#[test]
fn a_failing_field_leaves_no_tables_behind() {
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("load_data.csv");
    let text = index(&dir, true).replace(
        "B7_01_3_3_RFP_001_MaskCells.tiff",
        "B7_missing_MaskCells.tiff",
    );
    std::fs::write(&csv, text).unwrap();
    let out = tmp.path().join("out");
    let err = fails(&[
        "measure",
        "--index",
        csv.to_str().unwrap(),
        "--channels",
        "DNA,RFP",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(err.contains("B7_missing_MaskCells.tiff"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&out)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}
