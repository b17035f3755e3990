//! Feature selection against pycytominer 1.7.1 on the real LINCS plate SQ00015054: every
//! operation alone, at pycytominer's defaults and at settings that exclude many features, on
//! the plate (no NaN: pycytominer correlates with `numpy.corrcoef`) and on a copy with NaN
//! holes (pandas' pairwise-complete `DataFrame.corr`). The excluded features must be the same
//! names. Fixture: `scripts/feature_select_reference.py` → fixtures/feature_select_reference.json.

use std::collections::BTreeMap;

use cellpaint_profiles::data::{data_dir_for_tests, known};
use cellpaint_profiles::*;

fn reference() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/feature_select_reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// "correlation_threshold threshold=0.7" → parameters with that one operation and setting.
fn params_for(key: &str) -> FeatureSelectParams {
    let mut parts = key.split(' ');
    let op: FeatureSelectOp = parts.next().unwrap().parse().unwrap();
    let mut p = FeatureSelectParams {
        operations: vec![op],
        ..Default::default()
    };
    for setting in parts {
        let (name, value) = setting.split_once('=').unwrap();
        match name {
            "min_variance" => p.min_variance = value.parse().unwrap(),
            "freq_cut" => p.freq_cut = value.parse().unwrap(),
            "unique_cut" => p.unique_cut = value.parse().unwrap(),
            "threshold" => p.corr_threshold = value.parse().unwrap(),
            "method" => p.corr_method = value.parse().unwrap(),
            "na_cutoff" => p.na_cutoff = value.parse().unwrap(),
            "outlier_cutoff" => p.outlier_cutoff = value.parse().unwrap(),
            other => panic!("unknown setting {other} in {key}"),
        }
    }
    p
}

#[test]
fn every_operation_excludes_what_pycytominer_excludes() {
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let path = data_file(&dir, known::LINCS_PLATE).unwrap();
    let plate = read_table(path, &ReadOptions::default()).unwrap();
    // The script's holes: row i, feature j is NaN iff (31 i + 17 j) mod 101 = 0.
    let mut holes = plate.clone();
    for ((i, j), v) in holes.features_mut().indexed_iter_mut() {
        if (31 * i + 17 * j) % 101 == 0 {
            *v = f64::NAN;
        }
    }
    let reference = reference();
    let cases = reference["cases"].as_object().unwrap();
    let mut compared = BTreeMap::new();
    for (case, table) in [
        ("plate (no NaN: numpy.corrcoef)", &plate),
        (
            "plate with NaN holes (pairwise-complete DataFrame.corr)",
            &holes,
        ),
    ] {
        let expected = cases[case].as_object().unwrap();
        for (key, names) in expected {
            let params = params_for(key);
            let (_, report) = feature_select(table, &params).unwrap();
            let mut ours = report.excluded[&params.operations[0]].clone();
            ours.sort();
            let theirs: Vec<String> = names
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_string())
                .collect();
            assert_eq!(ours, theirs, "{case}: {key}");
            compared.insert(format!("{case}: {key}"), theirs.len());
        }
    }
    // The settings exclude something in most cases, so equality is not between empty lists.
    assert_eq!(compared.len(), 22, "{compared:#?}");
    assert!(
        compared.values().filter(|&&n| n > 0).count() >= 12,
        "{compared:#?}"
    );
    assert_eq!(
        compared["plate (no NaN: numpy.corrcoef): correlation_threshold threshold=0.7"],
        322
    );
}
