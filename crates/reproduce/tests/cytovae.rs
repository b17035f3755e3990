//! The quick cytovae reproduction runs end to end on the real BBBC021 crops (when the data
//! directory is there) and simulated crops, and writes what it promises.

#[global_allocator]
static GLOBAL: cellpaint_core::Allocator = cellpaint_core::Allocator;

mod common;

#[test]
fn quick_cytovae_reproduction_writes_report_figures_and_claims() {
    let out = tempfile::tempdir().unwrap();
    let opts = reproduce::Options::quick(out.path());
    reproduce::reproduce("cytovae", &opts).unwrap();
    let real = profiles::data::data_dir_for_tests().is_some_and(|d| {
        d.join("images/bbbc021_singlecell_crops/dev_plates_27801_27821.npz")
            .exists()
    });
    let mut sections = vec!["Table 1: NSC / NSCB", "Training time on this machine"];
    if real {
        sections.extend([
            "Figure 2: reconstructions",
            "Figure 3: control",
            "Leave-one-plate-out",
        ]);
    }
    let (_, claims) = common::check_outputs(out.path(), &sections);
    let ids: std::collections::BTreeSet<&str> = claims.iter().map(|c| c.id.as_str()).collect();
    assert!(ids.contains("table1-vaeplus-beats-vae-nsc"));
    assert!(
        claims.iter().any(|c| c.holds.is_none()),
        "untestable claims say so"
    );
    if real {
        assert!(claims.len() >= 10, "{} claims", claims.len());
    }
    // Table 1 accuracies are fractions of the simulated treatments; metrics say so.
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("metrics.json")).unwrap())
            .unwrap();
    for model in metrics["table1"]["nsc"].as_array().unwrap() {
        for v in model.as_array().unwrap() {
            let v = v.as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{v}");
        }
    }
    // The same networks untrained are scored beside them (training's own control).
    for slug in ["ae", "vae", "vae-plus"] {
        let nsc = metrics["table1_untrained"][slug]["nsc"].as_array().unwrap();
        assert_eq!(nsc.len(), 4, "{slug}");
        assert!(nsc
            .iter()
            .all(|v| (0.0..=1.0).contains(&v.as_f64().unwrap())));
    }
    // A second run into the same directory resumes every model and reaches the same table.
    reproduce::reproduce("cytovae", &opts).unwrap();
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("metrics.json")).unwrap())
            .unwrap();
    assert_eq!(again["table1"], metrics["table1"]);
}
