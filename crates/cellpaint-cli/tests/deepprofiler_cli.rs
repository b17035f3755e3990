//! `cellpaint deepprofiler train|profile|evaluate` end to end on crops of a simulated screen.

mod common;
use common::{fails, run};

#[test]
fn train_profile_evaluate_on_simulated_crops() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let p = |x: &str| d.join(x).to_str().unwrap().to_string();
    run(&[
        "-q",
        "simulate",
        "images",
        "--seed",
        "3",
        "--max-wells-per-plate",
        "4",
        "-o",
        &p("sim"),
    ]);
    run(&[
        "-q",
        "prepare",
        "crops",
        "--index",
        &p("sim/index.csv"),
        "--locations",
        "locations/{plate}/{well}_s{site}.csv",
        "--target",
        "Metadata_broad_sample",
        "--box-size",
        "32",
        "--border",
        "pad",
        "-o",
        &p("sc"),
    ]);
    std::fs::write(
        d.join("cfg.json"),
        r#"{"dataset": {"locations": {"box_size": 32}},
            "train": {"model": {"epochs": 1, "batch_size": 16, "input_size": 32, "width_mult": 0.25,
                                "lr_schedule": {"kind": "constant"}}}}"#,
    )
    .unwrap();
    let (_, err) = run(&[
        "deepprofiler",
        "train",
        "--config",
        &p("cfg.json"),
        "--crops",
        &p("sc"),
        "--out",
        &p("run"),
    ]);
    assert!(err.contains("train") && err.contains("validate"), "{err}");
    assert!(d.join("run/model.safetensors").is_file() && d.join("run/metrics.jsonl").is_file());
    let (_, err) = run(&[
        "deepprofiler",
        "profile",
        "--model",
        &p("run"),
        "--crops",
        &p("sc"),
        "--out",
        &p("prof"),
        "--annotations",
        &p("sim/index.csv"),
    ]);
    assert!(err.contains("treatments"), "{err}");
    let t = profiles::read_table(d.join("prof/treatments.csv"), &Default::default()).unwrap();
    // block6a_activation: 6 × (112 channels × 0.25, rounded up to a multiple of 8 = 32).
    assert_eq!(t.n_features(), 192);
    let (out, _) = run(&["deepprofiler", "evaluate", &p("prof/treatments.csv")]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let map = v["mAP"].as_f64().unwrap();
    assert!(
        (0.0..=1.0).contains(&map) && v["queries"].as_u64().unwrap() >= 2,
        "{v}"
    );

    // The same run on the second backbone, picked by name; its profile layer is a ResNet one.
    std::fs::write(
        d.join("resnet.json"),
        r#"{"dataset": {"locations": {"box_size": 32}},
            "train": {"model": {"backbone": "resnet18", "epochs": 1, "batch_size": 16,
                                "input_size": 32, "width_mult": 0.25,
                                "lr_schedule": {"kind": "constant"}}},
            "profile": {"feature_layer": "layer4"}}"#,
    )
    .unwrap();
    run(&[
        "-q",
        "deepprofiler",
        "train",
        "--config",
        &p("resnet.json"),
        "--crops",
        &p("sc"),
        "--out",
        &p("run-resnet"),
    ]);
    let meta = std::fs::read_to_string(d.join("run-resnet/model.json")).unwrap();
    assert!(meta.contains(r#""backbone": "resnet18""#), "{meta}");
    run(&[
        "-q",
        "deepprofiler",
        "profile",
        "--model",
        &p("run-resnet"),
        "--crops",
        &p("sc"),
        "--out",
        &p("prof-resnet"),
        "--annotations",
        &p("sim/index.csv"),
    ]);
    let t =
        profiles::read_table(d.join("prof-resnet/treatments.csv"), &Default::default()).unwrap();
    // layer4 of ResNet-18 at width 0.25: 512 × 0.25 = 128 channels.
    assert_eq!(t.n_features(), 128);

    // No training: a Keras HDF5 weight file (a width-0.1 EfficientNet-B0 with 5 channels and
    // 7 classes, saved by Keras; the layout of DeepProfiler's published model).
    let mut h5 = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(
            std::fs::File::open(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../fixtures/keras_efficientnet_tiny.h5.gz"
            ))
            .unwrap(),
        ),
        &mut h5,
    )
    .unwrap();
    std::fs::write(d.join("keras.h5"), h5).unwrap();
    std::fs::write(
        d.join("keras.json"),
        r#"{"dataset": {"locations": {"box_size": 32}},
            "train": {"model": {"input_size": 32, "width_mult": 0.1}}}"#,
    )
    .unwrap();
    let (_, err) = run(&[
        "deepprofiler",
        "profile",
        "--weights",
        &p("keras.h5"),
        "--config",
        &p("keras.json"),
        "--crops",
        &p("sc"),
        "--out",
        &p("prof-keras"),
        "--annotations",
        &p("sim/index.csv"),
    ]);
    assert!(err.contains("5 channels, 7 classes"), "{err}");
    let t = profiles::read_table(d.join("prof-keras/treatments.csv"), &Default::default()).unwrap();
    // block6a_activation: 6 × 16 (112 × 0.1, rounded as Keras and torchvision round) = 96.
    assert_eq!(t.n_features(), 96);
    let run_json = std::fs::read_to_string(d.join("prof-keras/profile.run.json")).unwrap();
    assert!(
        run_json.contains("efficientnet-b0-keras") && run_json.contains("keras.h5"),
        "{run_json}"
    );
    // The file at another width is refused, naming the file and the first mismatched tensor.
    let err = fails(&[
        "deepprofiler",
        "profile",
        "--weights",
        &p("keras.h5"),
        "--crops",
        &p("sc"),
        "--out",
        &p("prof-keras2"),
    ]);
    assert!(err.contains("keras.h5") && err.contains("shape"), "{err}");

    // A misspelt key in our config, and a DeepProfiler config with keys we do not support.
    std::fs::write(d.join("bad.json"), r#"{"train": {"model": {"epoch": 1}}}"#).unwrap();
    let err = fails(&[
        "deepprofiler",
        "train",
        "--config",
        &p("bad.json"),
        "--crops",
        &p("sc"),
        "--out",
        &p("run2"),
    ]);
    assert!(err.contains("bad.json") && err.contains("epoch"), "{err}");
    std::fs::write(
        d.join("dp.json"),
        r#"{"train": {"model": {"name": "efficientnet", "epochs": 1, "params": {"batch_size": 16}},
                      "comet_ml": {"track": false}},
            "paths": {"images": "/x"}}"#,
    )
    .unwrap();
    let err = fails(&[
        "deepprofiler",
        "train",
        "--deepprofiler-config",
        "--config",
        &p("dp.json"),
        "--crops",
        &p("missing"),
        "--out",
        &p("run3"),
    ]);
    assert!(
        err.contains("train.comet_ml.track") && err.contains("paths.images"),
        "{err}"
    );
    assert!(
        err.contains("sc-metadata.csv"),
        "missing crops named: {err}"
    );
}
