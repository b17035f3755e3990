//! The quick moa-profiler reproduction runs end to end on a simulated screen and writes what it
//! promises, its networks learn, and a second run resumes both from their checkpoints.

#[global_allocator]
static GLOBAL: cellpaint_core::Allocator = cellpaint_core::Allocator;

mod common;

#[test]
fn quick_moa_profiler_reproduction_writes_report_figures_and_claims() {
    let out = tempfile::tempdir().unwrap();
    let opts = reproduce::Options::quick(out.path());
    reproduce::reproduce("moa-profiler", &opts).unwrap();
    let (report, claims) = common::check_outputs(
        out.path(),
        &["Figure 3a", "Figure 3b–f", "Figure 4b–c", "Real-image path"],
    );
    assert!(claims.len() >= 9, "{claims:?}");
    assert!(claims.iter().any(|c| c.holds.is_none()));
    // The quick tier learns (measured: training 0.39, validation 0.44 after 24 epochs against
    // chance 0.14; docs/reproduce-moa-profiler.md).
    let learns = claims
        .iter()
        .find(|c| c.id == "network-learns-well-holdout")
        .expect("network-learns claim");
    assert_eq!(learns.holds, Some(true), "{learns:?}");
    assert!(claims
        .iter()
        .any(|c| c.id == "network-learns-compound-holdout"));
    for id in [
        "figure3a-classification-above-random",
        "figure3b-enrichment-mp-highest",
        "figure3f-three-group-order",
        "figure4-holdout-above-random",
    ] {
        assert!(claims.iter().any(|c| c.id == id), "missing claim {id}");
    }
    let read = |f: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out.path().join(f)).unwrap()).unwrap()
    };
    let (metrics, config) = (read("metrics.json"), read("config.json"));
    let epochs = config["model"]["epochs"].as_u64().unwrap() as usize;
    assert_eq!(
        metrics["figure3a"]["curve"].as_array().unwrap().len(),
        epochs
    );
    let auprc = metrics["figure3a"]["auprc"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&auprc));
    for m in ["cp", "dp", "mp"] {
        let f = &metrics["figure3"][m];
        // Ten percentiles; kNN for every k = 1 … n − 2 of the evaluated wells.
        assert_eq!(f["enrichment"].as_array().unwrap().len(), 10, "{m}");
        let n = f["n_wells"].as_u64().unwrap() as usize;
        assert_eq!(f["knn"].as_array().unwrap().len(), n - 2, "{m}");
        let h = &metrics["figure4"][m];
        assert_eq!(
            h["n_compounds"], h["n_moas"],
            "one held-out compound per MOA"
        );
    }
    // The classical features measured from the pixels carry the MOA: CP's kNN F1 is at least
    // twice chance (6 MOAs on the quick screen), and the simulator's latent-derived profiles
    // (the reference line) are far above it.
    let chance = 1.0 / 6.0;
    let cp_knn = metrics["figure3"]["cp"]["knn_best_f1"][1].as_f64().unwrap();
    assert!(cp_knn >= 2.0 * chance, "measured classical kNN F1 {cp_knn}");
    let reference = &metrics["figure3"]["simulator_latent_reference"];
    let ref_knn = reference["knn_best_f1"][1].as_f64().unwrap();
    assert!(ref_knn > 0.5, "simulator profiles' kNN F1 {ref_knn}");
    if profiles::data::data_dir_for_tests()
        .is_some_and(|d| d.join("images/cellpainting_5ch").is_dir())
    {
        assert_eq!(metrics["real_field"]["finite"], true);
        assert!(report.contains("all finite: true"));
    }
    // Each network's run directory is claimed by its fingerprint, with a `last` checkpoint.
    let runs: Vec<_> = std::fs::read_dir(out.path().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "one run directory per settings: {runs:?}");
    for run in ["well-holdout", "compound-holdout"] {
        let dir = runs[0].join(run);
        assert!(dir.join("fingerprint.json").is_file(), "{}", dir.display());
        assert!(
            dir.join("checkpoints/last.json").is_file(),
            "{}",
            dir.display()
        );
    }
    // Resume: both networks come back from their checkpoints with the same numbers.
    reproduce::reproduce("moa-profiler", &opts).unwrap();
    let again = read("metrics.json");
    assert_eq!(again["figure3"], metrics["figure3"]);
    assert_eq!(again["figure4"], metrics["figure4"]);
}
