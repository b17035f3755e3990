//! cytominer-eval's metrics on the real LINCS plate, against its published test values and the
//! reference tables computed with it (reference/_scripts/ref_ce.py), Pearson similarity.

use std::collections::HashMap;
use std::path::Path;

use profiles::data::{data_dir_for_tests, known};
use profiles::{data_file, read_table, ProfileTable, ReadOptions};
use profiling_eval::*;

fn plate() -> Option<(ProfileTable, std::path::PathBuf)> {
    let dir = data_dir_for_tests()?;
    Some((
        read_table(
            data_file(&dir, known::LINCS_PLATE).unwrap(),
            &ReadOptions::default(),
        )
        .unwrap(),
        dir,
    ))
}

fn rows(dir: &Path, name: &str) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(dir.join("reference").join(name)).unwrap();
    let h = r.headers().unwrap().clone();
    r.records()
        .map(|x| {
            h.iter()
                .zip(x.unwrap().iter())
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        })
        .collect()
}

fn cols(c: &[&str]) -> Vec<String> {
    c.iter().map(|s| s.to_string()).collect()
}

#[test]
fn replicate_reproducibility_matches() {
    let Some((t, _)) = plate() else { return };
    let groups = cols(&["Metadata_broad_sample", "Metadata_mg_per_ml"]);
    let r5 = replicate_reproducibility(&t, Similarity::Pearson, &groups, 0.5).unwrap();
    let r95 = replicate_reproducibility(&t, Similarity::Pearson, &groups, 0.95).unwrap();
    eprintln!(
        "replicate reproducibility pearson: q0.5 {} q0.95 {}",
        r5.fraction, r95.fraction
    );
    assert!((r5.fraction - 0.6813725490196079).abs() < 1e-12);
    assert!((r95.fraction - 0.4583333333333333).abs() < 1e-12);
    let s = replicate_reproducibility(&t, Similarity::Spearman, &groups, 0.95).unwrap();
    assert!(
        (s.fraction - 0.46568627450980393).abs() < 1e-12,
        "spearman {}",
        s.fraction
    );
    let moa =
        replicate_reproducibility(&t, Similarity::Pearson, &cols(&["Metadata_moa"]), 0.95).unwrap();
    assert!(
        (moa.fraction - 0.3074186991869919).abs() < 1e-12,
        "moa {}",
        moa.fraction
    );
    let top = moa
        .median_per_group
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    assert_eq!(top.0[0], "PKC activator");
    assert!((top.1 - 0.9357).abs() < 5e-5, "{}", top.1);
    let mean_median =
        r95.median_per_group.iter().map(|g| g.1).sum::<f64>() / r95.median_per_group.len() as f64;
    assert!((mean_median - 0.5407).abs() < 5e-5, "{mean_median}");
}

#[test]
fn enrichment_matches() {
    let Some((t, dir)) = plate() else { return };
    let pct = [0.99, 0.98, 0.97, 0.96, 0.95, 0.9];
    for col in ["Metadata_broad_sample", "Metadata_moa"] {
        let ours = enrichment(&t, Similarity::Pearson, &cols(&[col]), &pct).unwrap();
        let reference = rows(
            &dir,
            &format!("cytominer_eval_enrichment_pearson_{col}.csv"),
        );
        for (o, r) in ours.iter().zip(&reference) {
            let thr: f64 = r["threshold"].parse().unwrap();
            let or: f64 = r["ods_ratio"].parse().unwrap();
            let p: f64 = r["p-value"].parse().unwrap();
            assert!(
                (o.threshold - thr).abs() < 1e-12,
                "{col} {}: threshold {} vs {thr}",
                o.percentile,
                o.threshold
            );
            assert!(
                (o.odds_ratio - or).abs() < 1e-9 * or,
                "{col} {}: odds {} vs {or}",
                o.percentile,
                o.odds_ratio
            );
            assert!(o.p_value <= p.max(1e-300), "{col}: p {} vs {p}", o.p_value);
        }
    }
}

#[test]
fn precision_recall_matches() {
    let Some((t, dir)) = plate() else { return };
    let by = cols(&["Metadata_broad_sample"]);
    let ours = precision_recall(&t, Similarity::Pearson, &by, &by, &[1, 5, 10, 50]).unwrap();
    let reference = rows(
        &dir,
        "cytominer_eval_precision_recall_pearson_by_broad_sample.csv",
    );
    assert_eq!(ours.len(), reference.len());
    for r in &reference {
        let k = r["k"].parse::<f64>().unwrap() as usize;
        let o = ours
            .iter()
            .find(|o| o.k == k && o.key[0] == r["Metadata_broad_sample"])
            .unwrap();
        assert!(
            (o.precision - r["precision"].parse::<f64>().unwrap()).abs() < 1e-12,
            "{r:?}"
        );
        assert!(
            (o.recall - r["recall"].parse::<f64>().unwrap()).abs() < 1e-12,
            "{r:?}"
        );
    }
    // Published counts of groups with precision == 1 at k = 1, 5, 10, 50: 18, 9, 5, 2.
    for (k, want) in [(1, 18), (5, 9), (10, 5), (50, 2)] {
        assert_eq!(
            ours.iter()
                .filter(|o| o.k == k && o.precision == 1.0)
                .count(),
            want,
            "k={k}"
        );
    }
    let moa = precision_recall(
        &t,
        Similarity::Pearson,
        &cols(&["Metadata_moa"]),
        &cols(&["Metadata_broad_sample", "Metadata_Well"]),
        &[1, 5, 10],
    )
    .unwrap();
    let reference = rows(
        &dir,
        "cytominer_eval_precision_recall_pearson_moa_by_well.csv",
    );
    assert_eq!(moa.len(), reference.len());
    for r in &reference {
        let k = r["k"].parse::<f64>().unwrap() as usize;
        let o = moa
            .iter()
            .find(|o| {
                o.k == k && o.key[0] == r["Metadata_broad_sample"] && o.key[1] == r["Metadata_Well"]
            })
            .unwrap();
        let rp: f64 = r["precision"].parse().unwrap();
        let rr: f64 = r["recall"].parse().unwrap();
        assert!(
            (o.precision - rp).abs() < 1e-12
                && ((o.recall - rr).abs() < 1e-12 || (o.recall.is_nan() && rr.is_nan())),
            "{r:?} vs {o:?}"
        );
    }
}

#[test]
fn grit_matches() {
    let Some((t, dir)) = plate() else { return };
    let ours = grit(
        &t,
        Similarity::Pearson,
        "Metadata_broad_sample",
        "Metadata_moa",
        &cols(&["DMSO"]),
        Summary::Mean,
    )
    .unwrap();
    let reference = rows(&dir, "cytominer_eval_grit_mean_moa.csv");
    assert_eq!(ours.len(), reference.len());
    for r in &reference {
        let o = ours
            .iter()
            .find(|o| o.perturbation == r["perturbation"])
            .unwrap();
        match r["grit"].parse::<f64>() {
            Ok(g) => assert!(
                (o.grit - g).abs() < 1e-9,
                "{}: {} vs {g}",
                o.perturbation,
                o.grit
            ),
            Err(_) => assert!(o.grit.is_nan(), "{}: {} vs NaN", o.perturbation, o.grit),
        }
    }
    let top = ours
        .iter()
        .filter(|g| !g.grit.is_nan())
        .max_by(|a, b| a.grit.total_cmp(&b.grit))
        .unwrap();
    assert_eq!(
        (top.perturbation.as_str(), top.group.as_str()),
        ("BRD-A94756469-001-04-7", "ATPase inhibitor")
    );
}

#[test]
fn hit_at_k_matches_published_scores() {
    let Some((t, _)) = plate() else { return };
    // test_hitk.py: MOA "none" for DMSO, then rows without MOA dropped (366 remain).
    let mut t = t;
    let samples = t.metadata("Metadata_broad_sample").unwrap().to_vec();
    let moa: Vec<String> = t
        .metadata("Metadata_moa")
        .unwrap()
        .iter()
        .zip(&samples)
        .map(|(m, s)| {
            if profiles::table::is_missing(m) && s == "DMSO" {
                "none".into()
            } else {
                m.clone()
            }
        })
        .collect();
    t.set_metadata("Metadata_moa", moa.clone()).unwrap();
    let keep: Vec<usize> = (0..t.n_rows())
        .filter(|&r| !profiles::table::is_missing(&moa[r]))
        .collect();
    let t = t.select_rows(&keep);
    assert_eq!(t.n_rows(), 366);
    let h = hit_at_k(
        &t,
        Similarity::Pearson,
        &cols(&["Metadata_moa"]),
        &cols(&["Metadata_broad_sample", "Metadata_Plate", "Metadata_Well"]),
        &[2, 5, 10, 100],
    )
    .unwrap();
    assert_eq!(h.scores, vec![(2, 679), (5, 928), (10, 1061), (100, 0)]);
    assert_eq!(
        (*h.hits.iter().max().unwrap(), *h.hits.iter().min().unwrap()),
        (364, 0)
    );
}
