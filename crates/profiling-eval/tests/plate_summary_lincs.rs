//! The plate summary of the real LINCS plate (SQ00015054, normalized and feature-selected):
//! its activity mAP (raw and after ZCA sphering on DMSO, λ = 0.01) equals copairs' on the same
//! plate (the reference tables of reference/_scripts/ref_cp.py), as does its MOA consistency
//! mAP.

use profiles::data::{data_dir_for_tests, known};
use profiles::{data_file, read_table, ReadOptions};
use profiling_eval::*;

/// Mean and fraction significant of copairs' per-compound activity table.
fn copairs_activity(dir: &std::path::Path, file: &str) -> (f64, f64) {
    let mut r = csv::Reader::from_path(dir.join("reference").join(file)).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    let (m, s) = (col("mean_average_precision"), col("below_corrected_p"));
    let rows: Vec<(f64, bool)> = r
        .records()
        .map(|x| {
            let x = x.unwrap();
            (x[m].parse().unwrap(), &x[s] == "True")
        })
        .collect();
    let n = rows.len() as f64;
    (
        rows.iter().map(|r| r.0).sum::<f64>() / n,
        rows.iter().filter(|r| r.1).count() as f64 / n,
    )
}

#[test]
fn the_lincs_plates_summary_agrees_with_copairs_and_cytominer_eval() {
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let table = read_table(
        data_file(&dir, known::LINCS_PLATE).unwrap(),
        &ReadOptions::default(),
    )
    .unwrap();
    let s = summarise_plate(&table, &PlateSummaryParams::default()).unwrap();
    eprintln!("{s:#?}");
    assert_eq!((s.wells, s.control_wells, s.features), (384, 24, 454));
    let (raw, raw_sig) = copairs_activity(&dir, "copairs_raw_activity_map_per_compound.csv");
    assert!(
        (s.activity_map - raw).abs() < 1e-12,
        "{} vs copairs {raw}",
        s.activity_map
    );
    // Significance rests on a sampled null (ours and copairs' come from different generators):
    // a compound at the edge may fall either way. At most two of the 58 do.
    let one = 1.0 / 58.0;
    assert!(
        (s.activity_significant - raw_sig).abs() <= 2.0 * one + 1e-12,
        "{} vs {raw_sig}",
        s.activity_significant
    );
    let (zca, zca_sig) = copairs_activity(
        &dir,
        "copairs_numpy_ZCA_lambda0.01_activity_map_per_compound.csv",
    );
    assert!(
        (s.activity_map_sphered - zca).abs() < 1e-9,
        "{} vs copairs {zca}",
        s.activity_map_sphered
    );
    assert!((s.activity_significant_sphered - zca_sig).abs() <= 2.0 * one + 1e-12);
    // MOA consistency over wells: copairs' 0.0706 (reference/copairs_pycytominer_reference_values.json).
    let moa = s.moa_consistency_map.unwrap();
    assert!((moa - 0.07064828871618657).abs() < 1e-12, "{moa}");
}
