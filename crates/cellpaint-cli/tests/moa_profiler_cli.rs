//! `cellpaint moa-profiler train|embed|evaluate` end to end on the fields of a simulated screen.

mod common;
use common::{fails, run};

#[test]
fn train_embed_evaluate_on_simulated_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let p = |x: &str| d.join(x).to_str().unwrap().to_string();
    std::fs::write(
        d.join("sim.json"),
        r#"{"n_batches": 1, "replicates": 4, "n_moas": 3, "compounds_per_moa": 2,
            "n_combinations": 0, "doses": [10.0], "control_wells_per_plate": 4,
            "sites_per_well": 2, "image_size": 64, "mean_cells_per_site": 12.0}"#,
    )
    .unwrap();
    run(&[
        "-q",
        "simulate",
        "images",
        "--config",
        &p("sim.json"),
        "-o",
        &p("sim"),
    ]);
    std::fs::write(
        d.join("cfg.json"),
        r#"{"image_size": 32, "width_mult": 0.25, "epochs": 2, "batch_size": 8}"#,
    )
    .unwrap();
    for (split, run_dir) in [("well", "run"), ("compound", "run_cpd")] {
        let (_, err) = run(&[
            "moa-profiler",
            "train",
            "--index",
            &p("sim/index.csv"),
            "--config",
            &p("cfg.json"),
            "--split",
            split,
            "--out",
            &p(run_dir),
        ]);
        assert!(
            err.contains("test wells") && err.contains("best epoch"),
            "{err}"
        );
        assert!(d.join(run_dir).join("model.safetensors").is_file());
        let split_file: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(d.join(run_dir).join("split.json")).unwrap(),
        )
        .unwrap();
        assert!(!split_file["test"].as_array().unwrap().is_empty());
        let out_dir = format!("{run_dir}_emb");
        run(&[
            "-q",
            "moa-profiler",
            "embed",
            "--model",
            &p(run_dir),
            "--index",
            &p("sim/index.csv"),
            "--out",
            &p(&out_dir),
        ]);
        let wells =
            profiles::read_table(d.join(&out_dir).join("wells.csv"), &Default::default()).unwrap();
        // 1280 × 0.25 pooled features, less any constant over a plate's DMSO wells.
        assert!(
            (100..=320).contains(&wells.n_features()),
            "{}",
            wells.n_features()
        );
        let (out, _) = run(&[
            "moa-profiler",
            "evaluate",
            "--wells",
            &p(&format!("{out_dir}/wells.csv")),
            "--fields",
            &p(&format!("{out_dir}/fields.csv")),
            "--out",
            &p(&format!("{out_dir}/metrics.json")),
        ]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let acc = v["field_classification"]["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc), "{v}");
        assert_eq!(v["field_classification"]["n_classes"].as_u64(), Some(3));
        if split == "compound" {
            // One held-out compound per MOA (3 MOAs with 2 compounds each).
            assert_eq!(
                v["compound_holdout"]["n_compounds"].as_u64(),
                Some(3),
                "{v}"
            );
        } else {
            assert!(v.get("compound_holdout").is_none(), "{v}");
            assert!(v["embedding"]["knn"].as_array().is_some(), "{v}");
        }
    }

    // A used run directory with another split (the issue's example: 4 of 8 new test wells
    // landed in the old training set): refused before a byte is written; --restart retrains.
    let train_into = |split: &str, extra: &[&str]| {
        let mut args = vec![
            "moa-profiler",
            "train",
            "--index",
            &p("sim/index.csv"),
            "--config",
            &p("cfg.json"),
            "--split",
            split,
            "--out",
            &p("run"),
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let split_before = std::fs::read(d.join("run/split.json")).unwrap();
    let model_before = std::fs::read(d.join("run/model.safetensors")).unwrap();
    let args = train_into("compound", &[]);
    let err = fails(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        err.contains("belongs to another run")
            && err.contains("data.split")
            && err.contains("--restart"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(d.join("run/split.json")).unwrap(),
        split_before
    );
    assert_eq!(
        std::fs::read(d.join("run/model.safetensors")).unwrap(),
        model_before
    );
    let args = train_into("compound", &["--restart", "-q"]);
    run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let split_after: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("run/split.json")).unwrap()).unwrap();
    assert_eq!(split_after["kind"], "compound");

    // A misspelt config key, and an index without the compound column.
    std::fs::write(d.join("bad.json"), r#"{"epoch": 1}"#).unwrap();
    let err = fails(&[
        "moa-profiler",
        "train",
        "--index",
        &p("sim/index.csv"),
        "--config",
        &p("bad.json"),
        "--out",
        &p("x"),
    ]);
    assert!(err.contains("bad.json") && err.contains("epoch"), "{err}");
    let index = std::fs::read_to_string(d.join("sim/index.csv")).unwrap();
    std::fs::write(
        d.join("sim/noc.csv"),
        index.replace("Metadata_broad_sample", "Metadata_other"),
    )
    .unwrap();
    let err = fails(&[
        "moa-profiler",
        "train",
        "--index",
        &p("sim/noc.csv"),
        "--config",
        &p("cfg.json"),
        "--out",
        &p("y"),
    ]);
    assert!(
        err.contains("noc.csv") && err.contains("Metadata_broad_sample"),
        "{err}"
    );
}
