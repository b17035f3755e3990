//! The quick deepprofiler reproduction runs end to end on a simulated screen and writes what it
//! promises; a second run resumes every network.

#[global_allocator]
static GLOBAL: cellpaint_core::Allocator = cellpaint_core::Allocator;

mod common;

#[test]
fn quick_deepprofiler_reproduction_writes_report_figures_and_claims() {
    let out = tempfile::tempdir().unwrap();
    let opts = reproduce::Options::quick(out.path());
    reproduce::reproduce("deepprofiler", &opts).unwrap();
    let (report, claims) = common::check_outputs(
        out.path(),
        &[
            "Figure 2",
            "Figure 3",
            "Figure 5A",
            "Figure 6B",
            "Supplementary Figure 2B",
        ],
    );
    assert!(claims.len() >= 9 && claims.iter().any(|c| c.holds.is_none()));
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("metrics.json")).unwrap())
            .unwrap();
    // One learning-curve point per epoch for both schemes; mAPs are fractions.
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("config.json")).unwrap())
            .unwrap();
    let epochs = config["model"]["train"]["model"]["epochs"]
        .as_u64()
        .unwrap() as usize;
    for scheme in ["lco", "lpo"] {
        assert_eq!(
            metrics["figure2"][scheme]["curve"]
                .as_array()
                .unwrap()
                .len(),
            epochs
        );
        let map = metrics["figure2"][scheme]["map"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&map), "{scheme}: {map}");
    }
    assert_eq!(metrics["supp2b"].as_array().unwrap().len(), 7);
    // Classical features measured from the pixels lead Figure 5A, the simulator's profiles beside.
    let fig5 = metrics["figure5a"].as_array().unwrap();
    assert_eq!(fig5.len(), 4);
    assert_eq!(fig5[0][0], "classical features (measured)");
    let measured_map = fig5[0][1].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&measured_map), "{measured_map}");
    assert!(metrics["measured_features"].as_u64().unwrap() >= 100);
    // The real 5-channel field goes through detection, cropping and the network.
    if profiles::data::data_dir_for_tests()
        .is_some_and(|d| d.join("images/cellpainting_5ch").is_dir())
    {
        let r = &metrics["real_field"];
        assert!(r["crops"].as_u64().unwrap() >= 20, "{r}");
        assert!(r["finite"].as_bool().unwrap(), "{r}");
        assert!(report.contains("Real-image path"));
    }
    // Resume: the same numbers from the checkpoints.
    reproduce::reproduce("deepprofiler", &opts).unwrap();
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("metrics.json")).unwrap())
            .unwrap();
    assert_eq!(again["figure5a"], metrics["figure5a"]);
}
