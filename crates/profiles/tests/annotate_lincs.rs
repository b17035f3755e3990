//! `annotate` on the real LINCS plate: strip SQ00015054's profiles down to plate and well,
//! annotate them again from the Broad's own barcode table, the 28 plate maps of the batch and
//! the repurposing hub's MOA table, and compare every metadata column with what the LINCS
//! pipeline (pycytominer's `annotate`) wrote into the published file.

use cellpaint_profiles::data::{data_dir_for_tests, data_file, known};
use cellpaint_profiles::{
    annotate, read_table, AnnotateParams, KeyPair, MetadataTable, ReadOptions,
};

const MAPS: &str =
    "profiles/lincs_cp/lincs-cell-painting/metadata/platemaps/2016_04_01_a549_48hr_batch1";
const MOA: &str = "profiles/lincs_cp/lincs-cell-painting/metadata/moa/repurposing_info_external_moa_map_resolved.tsv";

/// The published file writes numbers with 5 significant digits (pycytominer's float_format);
/// the plate maps carry 18.
fn same_number(ours: &str, published: &str) -> bool {
    let (a, b): (f64, f64) = (ours.parse().unwrap(), published.parse().unwrap());
    a == b || ((a - b) / b).abs() < 5e-5
}

#[test]
fn reannotating_the_lincs_plate_gives_the_published_metadata() {
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let published = read_table(
        data_file(&dir, known::LINCS_PLATE).unwrap(),
        &ReadOptions::default(),
    )
    .unwrap();
    let stripped = published
        .keep_metadata(&["Metadata_Plate", "Metadata_Well"])
        .unwrap();
    let map_dir = dir.join(MAPS).join("platemap");
    let mut files: Vec<_> = std::fs::read_dir(&map_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 28);
    let maps = MetadataTable::concat(
        files
            .iter()
            .map(|f| MetadataTable::read(f).unwrap())
            .collect(),
    )
    .unwrap();
    assert_eq!(maps.n_rows(), 28 * 384);
    let barcodes =
        MetadataTable::read(data_file(&dir, &format!("{MAPS}/barcode_platemap.csv")).unwrap())
            .unwrap();
    let moa = MetadataTable::read(data_file(&dir, MOA).unwrap()).unwrap();
    let params = AnnotateParams {
        join_on: AnnotateParams::plate_map_and_well(),
        external_on: vec![KeyPair::new("broad_sample", "Metadata_broad_sample")],
        ..Default::default()
    };
    let (ours, report) = annotate(&stripped, &maps, Some(&barcodes), Some(&moa), &params).unwrap();
    assert_eq!(ours.n_rows(), 384);
    assert_eq!(report.platemap.matched, 384);
    assert_eq!(report.platemap.unused, 27 * 384, "the other 27 plate maps");
    // 360 treated wells find their compound; the 24 DMSO wells have no broad_sample.
    let external = report.external.unwrap();
    assert_eq!((external.matched, external.unmatched), (360, 24));

    // Row by row (the plate map's order is the published file's: A01, A02, …).
    let col = |t: &cellpaint_profiles::ProfileTable, n: &str| t.metadata(n).unwrap().to_vec();
    assert_eq!(
        col(&ours, "Metadata_Well"),
        col(&published, "Metadata_Well")
    );
    assert_eq!(ours.features(), published.features());
    let treated: Vec<bool> = col(&published, "Metadata_pert_type")
        .iter()
        .map(|t| t == "trt")
        .collect();
    assert_eq!(treated.iter().filter(|&&t| t).count(), 360);
    let text_columns = [
        // From the barcode table, every well (its key, the barcode, is Metadata_Plate).
        ("Metadata_Plate_Map_Name", false),
        ("Metadata_Batch_Number", false),
        ("Metadata_Batch_Date", false),
        // From the plate map (its keys, map name and well, are the profiles' columns).
        ("Metadata_solvent", false),
        ("Metadata_broad_sample", true),
        // From the MOA table.
        ("Metadata_broad_id", true),
        ("Metadata_InChIKey14", true),
        ("Metadata_moa", true),
        ("Metadata_broad_date", true),
    ];
    // A table's key columns are not added (pycytominer drops the plate map's when the names
    // differ); the published file kept copies of them.
    assert!(ours.metadata("Metadata_Assay_Plate_Barcode").is_err());
    assert_eq!(
        col(&ours, "Metadata_Plate"),
        col(&published, "Metadata_Assay_Plate_Barcode")
    );
    assert_eq!(
        col(&ours, "Metadata_Plate_Map_Name"),
        col(&published, "Metadata_plate_map_name")
    );
    for (name, treated_only) in text_columns {
        let (a, b) = (col(&ours, name), col(&published, name));
        for r in 0..384 {
            if treated[r] || !treated_only {
                assert_eq!(
                    a[r],
                    b[r],
                    "{name}, well {}",
                    col(&ours, "Metadata_Well")[r]
                );
            }
        }
    }
    for name in ["Metadata_mg_per_ml", "Metadata_mmoles_per_liter"] {
        let (a, b) = (col(&ours, name), col(&published, name));
        for r in (0..384).filter(|&r| treated[r]) {
            assert!(same_number(&a[r], &b[r]), "{name}: {} vs {}", a[r], b[r]);
        }
    }
    // The DMSO wells: the plate map leaves them empty; the published file's "DMSO" and 0
    // come from pycytominer's CMap formatting (annotate_cmap), which we do not do.
    let dmso = (0..384).find(|&r| !treated[r]).unwrap();
    assert_eq!(col(&ours, "Metadata_broad_sample")[dmso], "");
    assert_eq!(col(&published, "Metadata_broad_sample")[dmso], "DMSO");
}
