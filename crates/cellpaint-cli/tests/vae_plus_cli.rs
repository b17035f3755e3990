//! `cellpaint vae-plus`: train (and resume), embed, reconstruct and interpolate on the real
//! BBBC021 crops of the shared data; NSC/NSCB of `embed`-shaped tables (the real pack has one
//! compound, so it cannot give NSC: that is an error, not a number).

mod common;
use common::{fails, run};

use std::path::{Path, PathBuf};

use profiles::data::data_dir_for_tests;
use profiles::{read_table, ProfileTable, ReadOptions};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap()
}

fn crops(dir: &Path) -> PathBuf {
    dir.join("images/bbbc021_singlecell_crops/dev_plates_27801_27821.npz")
}

#[test]
fn trains_resumes_embeds_reconstructs_and_interpolates_bbbc021_crops() {
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let c = crops(&dir);
    let out = tempfile::tempdir().unwrap();
    let o = |n: &str| out.path().join(n);
    // A CPU-sized AE (16 filters, batch 8): 10 iterations, then the same run resumed to 60.
    std::fs::write(
        o("ae.json"),
        r#"{"variant": "ae", "beta": 0, "batch_size": 8, "iterations": 10,
            "iterations_per_record": 10, "arch": {"filters": 16}}"#,
    )
    .unwrap();
    let train = |iterations: &str| {
        run(&[
            "-q",
            "vae-plus",
            "train",
            s(&c),
            "--out",
            s(&o("run")),
            "--config",
            s(&o("ae.json")),
            "--iterations",
            iterations,
        ])
    };
    let mse = || {
        let (stdout, _) = run(&[
            "vae-plus",
            "reconstruct",
            "--model",
            s(&o("run")),
            s(&c),
            "--count",
            "32",
        ]);
        let v = json(&stdout);
        assert_eq!(v["n"], 32);
        v["mse"].as_f64().unwrap()
    };
    train("10");
    let early = mse();
    train("60");
    let late = mse();
    // Measured 0.165 → 0.051.
    assert!(late < 0.6 * early, "reconstruction MSE {early} → {late}");
    let history = std::fs::read_to_string(o("run").join("metrics.jsonl")).unwrap();
    assert_eq!(
        history.lines().count(),
        6,
        "one record per 10 iterations, resumed not restarted"
    );

    run(&[
        "-q",
        "vae-plus",
        "embed",
        "--model",
        s(&o("run")),
        s(&c),
        s(&o("z.csv")),
    ]);
    let z = read_table(o("z.csv"), &ReadOptions::default()).unwrap();
    assert_eq!((z.n_rows(), z.n_features()), (2634, 256));
    assert_eq!(z.metadata("Metadata_compound").unwrap()[0], "DMSO");
    assert_eq!(z.metadata("Metadata_batch").unwrap()[0], "Week4");
    assert!(z.features().iter().all(|v| v.is_finite()));

    let (stdout, _) = run(&[
        "vae-plus",
        "interpolate",
        "--model",
        s(&o("run")),
        s(&c),
        "--from",
        "DMSO",
        "--to",
        "cyclohexamide@50.0",
        "--steps",
        "4",
    ]);
    let v = json(&stdout);
    assert_eq!(v["cosine_to_target"].as_array().unwrap().len(), 5);
    let e = fails(&[
        "vae-plus",
        "interpolate",
        "--model",
        s(&o("run")),
        s(&c),
        "--from",
        "DMSO",
        "--to",
        "taxol",
    ]);
    assert!(
        e.contains("no crop of 'taxol'") && e.contains("cyclohexamide@50.0"),
        "{e}"
    );

    // The pack has one compound besides DMSO: no NSC neighbour exists.
    let e = fails(&["vae-plus", "evaluate", s(&o("z.csv"))]);
    assert!(e.contains("no query has a neighbour"), "{e}");
    // Another variant in this run directory is refused.
    let e = fails(&[
        "vae-plus",
        "train",
        s(&c),
        "--out",
        s(&o("run")),
        "--variant",
        "vae",
        "--iterations",
        "500",
    ]);
    assert!(e.contains("belongs to another run"), "{e}");
}

/// An `embed`-shaped table: 4 MOAs × 2 compounds (one per plate) × 2 concentrations, 2 plates in 2 batches,
/// 3 cells per well; each MOA its own direction when `separable`, else one shared cloud.
fn embeddings(separable: bool) -> ProfileTable {
    use rand::Rng;
    let mut rng = cellpaint_core::rng::seeded_rng(7);
    let mut meta: Vec<Vec<String>> = vec![Vec::new(); 7];
    let mut x = Vec::new();
    let mut push = |m: [&str; 7], centre: usize, rng: &mut cellpaint_core::rng::Rng| {
        for (j, v) in m.iter().enumerate() {
            meta[j].push(v.to_string());
        }
        for k in 0..8 {
            let mean = if separable && k == centre { 3.0 } else { 0.0 };
            x.push(mean + rng.random::<f64>());
        }
    };
    for (p, plate) in ["Week1_1", "Week2_1"].iter().enumerate() {
        let batch = &plate[..5];
        for moa in 0..4 {
            // Each compound on one plate (batch), so NSCB has a neighbour of every MOA.
            for cpd in [p] {
                for conc in ["1.0", "10.0"] {
                    for cell in 0..3 {
                        let well = format!("{moa}{cpd}{conc}");
                        let c = format!("c{moa}{cpd}");
                        let m = format!("moa{moa}");
                        push(
                            [plate, &well, &cell.to_string(), &c, conc, &m, batch],
                            moa,
                            &mut rng,
                        );
                    }
                }
            }
        }
        // Enough control cells per plate for an 8-d whitening (6 leave it singular).
        for cell in 0..30 {
            push(
                [
                    plate,
                    "ctl",
                    &cell.to_string(),
                    "DMSO",
                    "0.0",
                    "DMSO",
                    batch,
                ],
                99,
                &mut rng,
            );
        }
    }
    let n = meta[0].len();
    ProfileTable::new(
        "synthetic",
        [
            "Metadata_plate",
            "Metadata_well",
            "Metadata_site",
            "Metadata_compound",
            "Metadata_concentration",
            "Metadata_moa",
            "Metadata_batch",
        ]
        .map(String::from)
        .to_vec(),
        meta,
        (1..=8).map(|k| format!("z_{k}")).collect(),
        ndarray::Array2::from_shape_vec((n, 8), x).unwrap(),
    )
    .unwrap()
}

#[test]
fn evaluate_gives_nsc_and_nscb_for_the_four_table1_profiles() {
    let out = tempfile::tempdir().unwrap();
    for (separable, name) in [(true, "sep.csv"), (false, "cloud.csv")] {
        let p = out.path().join(name);
        profiles::write_table(&embeddings(separable), &p).unwrap();
        let (stdout, _) = run(&["vae-plus", "evaluate", s(&p)]);
        let v = json(&stdout);
        for col in ["Mean", "Mean+Whitened", "Mean+S.D.", "Mean+S.D.+Whitened"] {
            let nsc = v[col]["nsc"].as_f64().unwrap();
            assert_eq!(v[col]["treatments"], 17, "16 treatments + DMSO");
            assert_eq!(v[col]["nsc_queries"], 16);
            if separable {
                assert_eq!(nsc, 1.0, "{col}: {v}");
                assert_eq!(v[col]["nscb"].as_f64().unwrap(), 1.0, "{col}");
            } else {
                // One cloud: the MOA is not in the profiles (chance 0.25, one query = 0.0625).
                assert!(nsc < 0.6, "{col}: {nsc}");
            }
        }
    }
}
