//! `cellpaint profile-vae`: train, embed, simulate, traverse on the real LINCS plate; latent
//! arithmetic on a seeded simulated screen (the real plate has no A|B compound whose parts are
//! on it); the run directory's resume rules; config errors.

mod common;
use common::{fails, run};

use std::path::Path;

use profiles::data::{data_dir_for_tests, known};
use profiles::{read_table, ReadOptions};

fn table(p: &Path) -> profiles::ProfileTable {
    read_table(p, &ReadOptions::default()).unwrap()
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn trains_embeds_simulates_and_traverses_on_the_lincs_plate() {
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let plate = dir.join(known::LINCS_PLATE);
    let out = tempfile::tempdir().unwrap();
    let o = |n: &str| out.path().join(n);
    let train = |dir: &Path| {
        run(&[
            "-q",
            "profile-vae",
            "train",
            s(&plate),
            "--out",
            s(dir),
            "--epochs",
            "20",
        ])
    };
    train(&o("run"));

    // It learned: the validation reconstruction error fell over the 20 epochs.
    let history = std::fs::read_to_string(o("run").join("metrics.jsonl")).unwrap();
    let recon: Vec<f64> = history
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["metrics"]["val_recon"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert_eq!(recon.len(), 20);
    assert!(
        recon[19] < 0.5 * recon[0],
        "validation reconstruction {} → {}",
        recon[0],
        recon[19]
    );
    let r = json(&o("run").join("train.run.json"));
    assert_eq!(r["profiles"], 384);
    assert_eq!(r["features"], 454);
    assert_eq!(r["settings"]["variant"], "beta");
    assert_eq!(r["settings"]["latent"], 10);

    run(&[
        "-q",
        "profile-vae",
        "embed",
        "--model",
        s(&o("run")),
        s(&plate),
        s(&o("z.csv")),
    ]);
    let z = table(&o("z.csv"));
    assert_eq!((z.n_rows(), z.n_features()), (384, 10));
    assert_eq!(z.feature_names()[0], "latent_1");
    assert_eq!(
        z.metadata("Metadata_broad_sample").unwrap(),
        table(&plate).metadata("Metadata_broad_sample").unwrap()
    );
    assert!(z.features().iter().all(|v| v.is_finite()));
    assert!(o("z.csv.run.json").exists());

    // Same seed, same data → the same model and embedding.
    train(&o("again"));
    run(&[
        "-q",
        "profile-vae",
        "embed",
        "--model",
        s(&o("again")),
        s(&plate),
        s(&o("z2.csv")),
    ]);
    assert_eq!(table(&o("z2.csv")).features(), z.features());

    run(&[
        "-q",
        "profile-vae",
        "simulate",
        "--model",
        s(&o("run")),
        "-n",
        "7",
        s(&o("sim.csv")),
    ]);
    let sim = table(&o("sim.csv"));
    assert_eq!((sim.n_rows(), sim.n_features()), (7, 454));
    assert_eq!(sim.feature_names(), table(&plate).feature_names());

    run(&[
        "-q",
        "profile-vae",
        "traverse",
        "--model",
        s(&o("run")),
        s(&o("trav.csv")),
        "--groups",
        s(&o("groups.json")),
    ]);
    let t = table(&o("trav.csv"));
    assert_eq!((t.n_rows(), t.n_features()), (10, 454));
    assert!(t.features().iter().any(|v| v.abs() > 1e-3));
    assert!(json(&o("groups.json"))["groups"]
        .as_array()
        .is_some_and(|g| !g.is_empty()));

    // The plate has A|B annotations but never both parts: said, not an empty table.
    let e = fails(&[
        "profile-vae",
        "arithmetic",
        "--model",
        s(&o("run")),
        s(&plate),
        s(&o("a.csv")),
    ]);
    assert!(e.contains("no A|B label"), "{e}");
    // Another variant in the same run directory is refused before anything is written.
    let e = fails(&[
        "profile-vae",
        "train",
        s(&plate),
        "--out",
        s(&o("run")),
        "--epochs",
        "20",
        "--variant",
        "mmd",
    ]);
    assert!(e.contains("belongs to another run"), "{e}");
    // A table without the training features.
    let e = fails(&[
        "profile-vae",
        "embed",
        "--model",
        s(&o("run")),
        s(&o("z.csv")),
        s(&o("x.csv")),
    ]);
    assert!(e.contains("no feature column"), "{e}");
}

#[test]
fn latent_arithmetic_beats_shuffled_labels_on_a_simulated_screen() {
    let out = tempfile::tempdir().unwrap();
    let o = |n: &str| out.path().join(n);
    run(&[
        "-q",
        "simulate",
        "profiles",
        "-o",
        s(&o("screen.csv")),
        "--seed",
        "0",
    ]);
    run(&[
        "-q",
        "profile-vae",
        "train",
        s(&o("screen.csv")),
        "--out",
        s(&o("run")),
        "--epochs",
        "30",
    ]);
    run(&[
        "-q",
        "profile-vae",
        "arithmetic",
        "--model",
        s(&o("run")),
        s(&o("screen.csv")),
        s(&o("lsa.csv")),
    ]);
    let a = table(&o("lsa.csv"));
    assert_eq!(a.n_rows(), 6, "the screen's six A|B compounds");
    let r = json(&o("lsa.csv.run.json"));
    let (real, null) = (
        r["mean_l2"].as_f64().unwrap(),
        r["mean_l2_shuffled"].as_f64().unwrap(),
    );
    // Measured 7.35 against 8.05 (seed 0, 30 epochs).
    assert!(
        real < 0.95 * null,
        "A − DMSO + B: {real} vs shuffled {null}"
    );
    assert!(r["mean_pearson"].as_f64().unwrap() > 0.7);
}

#[test]
fn bad_settings_name_the_file_line_and_column() {
    let out = tempfile::tempdir().unwrap();
    let cfg = out.path().join("vae.json");
    std::fs::write(&cfg, "{\n \"latent\": 10,\n \"latnt\": 3}").unwrap();
    let p = out.path().join("p.csv");
    std::fs::write(&p, "Metadata_x,f1,f2\na,1,2\nb,3,4\n").unwrap();
    let e = fails(&[
        "profile-vae",
        "train",
        s(&p),
        "--out",
        s(&out.path().join("r")),
        "--config",
        s(&cfg),
    ]);
    assert!(
        e.contains("vae.json, line 3: column 8: unknown field `latnt`"),
        "{e}"
    );
    std::fs::write(&cfg, "{\"latent\": 0}").unwrap();
    let e = fails(&[
        "profile-vae",
        "train",
        s(&p),
        "--out",
        s(&out.path().join("r")),
        "--config",
        s(&cfg),
    ]);
    assert!(e.contains("latent"), "{e}");
    std::fs::write(&p, "Metadata_x,f1,f2\na,1,\nb,3,4\n").unwrap();
    let e = fails(&[
        "profile-vae",
        "train",
        s(&p),
        "--out",
        s(&out.path().join("r")),
    ]);
    assert!(e.contains("line 2") && e.contains("f2"), "{e}");
    assert!(
        !out.path().join("r").exists(),
        "nothing written for bad input"
    );
}
