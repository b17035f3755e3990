//! mAP against copairs 0.5.5 on the real LINCS plate (settings of reference/_scripts/ref_cp.py).

use std::collections::HashMap;
use std::path::Path;

use ndarray::Axis;
use profiles::data::{data_dir_for_tests, known};
use profiles::{data_file, read_table, ProfileTable, ReadOptions};
use profiling_eval::*;

fn table(dir: &Path, rel: &str) -> ProfileTable {
    read_table(data_file(dir, rel).unwrap(), &ReadOptions::default()).unwrap()
}

/// Rows of a reference CSV as maps column → value.
fn reference_rows(dir: &Path, name: &str) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(dir.join("reference").join(name)).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            headers
                .iter()
                .zip(rec.unwrap().iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// copairs used a 10,000-sample null. Our null is drawn from a different generator, so each
/// p-value carries its own Monte Carlo error; 100,000 samples make ours small enough that a
/// disagreement in significance means a real difference, not two unlucky draws.
fn params(sameby: &str) -> MapParams {
    MapParams {
        sameby: vec![sameby.into()],
        null_size: 100_000,
        threshold: 0.05,
        seed: 0,
    }
}

fn settings() -> MapSettings {
    let p = params("x");
    MapSettings {
        similarity: Similarity::Cosine,
        null_size: p.null_size,
        threshold: p.threshold,
        seed: p.seed,
    }
}

/// copairs' activity recipe (wells of a compound vs DMSO wells) through `activity_map`.
fn activity(t: &ProfileTable) -> (Vec<QueryAp>, Vec<GroupMap>) {
    activity_map(
        t,
        "Metadata_broad_sample",
        &["Metadata_broad_sample=DMSO".parse().unwrap()],
        &settings(),
    )
    .unwrap()
}

/// MOA consistency (same MOA, other compound; DMSO has no MOA) through `consistency_map`.
fn moa(t: &ProfileTable) -> (Vec<usize>, Vec<QueryAp>, Vec<GroupMap>) {
    let s = t.metadata("Metadata_broad_sample").unwrap();
    let m = t.metadata("Metadata_moa").unwrap();
    assert!((0..t.n_rows()).all(|r| s[r] != "DMSO" || profiles::table::is_missing(&m[r])));
    consistency_map(t, "Metadata_moa", "Metadata_broad_sample", &settings()).unwrap()
}

fn compare_maps(
    maps: &[GroupMap],
    reference: &[HashMap<String, String>],
    key: &str,
    label: &str,
) -> f64 {
    assert_eq!(maps.len(), reference.len(), "{label}: number of groups");
    let (mut worst, mut same_call, mut n_exact) = (0.0f64, 0, 0);
    for r in reference {
        let g = maps
            .iter()
            .find(|g| g.key[0] == r[key])
            .unwrap_or_else(|| panic!("{label}: group {} missing", r[key]));
        let want: f64 = r["mean_average_precision"].parse().unwrap();
        let want_n: f64 = r["mean_normalized_average_precision"].parse().unwrap();
        worst = worst
            .max((g.mean_average_precision - want).abs())
            .max((g.mean_normalized_average_precision - want_n).abs());
        same_call += (g.below_corrected_p == (r["below_corrected_p"] == "True")) as usize;
        // The two p-values estimate the same probability: they must agree within the
        // reference's sampling error (5 binomial standard deviations at 10,000 samples).
        let p_ref: f64 = r["p_value"].parse().unwrap();
        let tol = 5.0 * (p_ref * (1.0 - p_ref) / 10_000.0).sqrt() + 2e-4;
        assert!(
            (g.p_value - p_ref).abs() <= tol,
            "{label} {}: p {} vs copairs {p_ref}",
            r[key],
            g.p_value
        );
        if let Some(exact) = g.exact_p_value {
            assert!(
                (exact - p_ref).abs() <= tol,
                "{label} {}: exact p {exact} vs copairs {p_ref}",
                r[key]
            );
            n_exact += 1;
        }
    }
    let agreement = same_call as f64 / reference.len() as f64;
    eprintln!(
        "{label}: {} groups, max |mAP − copairs| = {worst:.2e}, same significance call for {:.1}%, {} exact p-values within copairs' sampling error",
        maps.len(),
        100.0 * agreement,
        n_exact
    );
    assert!(worst < 1e-9, "{label}: max difference {worst}");
    assert!(
        agreement >= 0.95,
        "{label}: significance agreement {agreement}"
    );
    maps.iter().map(|g| g.mean_average_precision).sum::<f64>() / maps.len() as f64
}

#[test]
fn activity_map_equals_copairs_per_well_and_per_compound() {
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let t = table(&dir, known::LINCS_PLATE);
    let (aps, maps) = activity(&t);
    let wells = t.metadata("Metadata_Well").unwrap();
    let reference = reference_rows(&dir, "copairs_raw_activity_ap_per_well.csv");
    let mut worst = 0.0f64;
    for r in &reference {
        let a = aps
            .iter()
            .find(|a| wells[a.row] == r["Metadata_Well"])
            .unwrap();
        assert_eq!(a.n_pos_pairs.to_string(), r["n_pos_pairs"]);
        assert_eq!(a.n_total_pairs.to_string(), r["n_total_pairs"]);
        let want: f64 = r["average_precision"].parse().unwrap();
        worst = worst.max((a.average_precision - want).abs());
    }
    assert!(worst < 1e-9, "per-well AP max diff {worst}");
    let mean = compare_maps(
        &maps,
        &reference_rows(&dir, "copairs_raw_activity_map_per_compound.csv"),
        "Metadata_broad_sample",
        "activity",
    );
    assert!((mean - 0.6178321496708863).abs() < 1e-9, "{mean}");
}

#[test]
fn moa_consistency_equals_copairs() {
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let (_, aps, maps) = moa(&table(&dir, known::LINCS_PLATE));
    assert_eq!(aps.iter().filter(|a| a.n_pos_pairs > 0).count(), 60);
    let mean = compare_maps(
        &maps,
        &reference_rows(&dir, "copairs_raw_moa_map_per_moa.csv"),
        "Metadata_moa",
        "moa",
    );
    assert!((mean - 0.07064828871618657).abs() < 1e-9);
}

#[test]
fn equals_copairs_after_pycytominer_zca_cor_sphering() {
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let t = table(
        &dir,
        "reference/pycytominer_spherize_ZCA-cor_center_eps1e-6_fit_DMSO.csv.gz",
    );
    let (_, maps) = activity(&t);
    let mean = compare_maps(
        &maps,
        &reference_rows(&dir, "copairs_zcacor_activity_map_per_compound.csv"),
        "Metadata_broad_sample",
        "activity after ZCA-cor",
    );
    assert!((mean - 0.8488016480414216).abs() < 1e-9);
    let (_, _, maps) = moa(&t);
    compare_maps(
        &maps,
        &reference_rows(&dir, "copairs_zcacor_moa_map_per_moa.csv"),
        "Metadata_moa",
        "moa after ZCA-cor",
    );
}

#[test]
fn our_sphering_then_our_map_gives_the_reference_activity() {
    // The whole pipeline in Rust: ZCA λ = 0.01 on DMSO, then activity mAP (reference 0.9187).
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let t = table(&dir, known::LINCS_PLATE);
    let rows = t
        .rows_matching(&["Metadata_broad_sample=DMSO".parse().unwrap()])
        .unwrap();
    let fitted = sphering::SpheringParams::new(sphering::SpheringMethod::Zca)
        .lambda(0.01)
        .fit(t.features().select(Axis(0), &rows).view())
        .unwrap();
    let white = t
        .with_features(
            t.feature_names().to_vec(),
            fitted.transform(t.features()).unwrap(),
        )
        .unwrap();
    let (_, maps) = activity(&white);
    let mean = compare_maps(
        &maps,
        &reference_rows(
            &dir,
            "copairs_numpy_ZCA_lambda0.01_activity_map_per_compound.csv",
        ),
        "Metadata_broad_sample",
        "activity after our ZCA",
    );
    assert!((mean - 0.9187012379596291).abs() < 1e-9, "{mean}");
}
