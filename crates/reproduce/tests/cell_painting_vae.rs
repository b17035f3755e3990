//! The quick reproduction of the cell-painting-vae paper runs end to end and writes what it
//! promises: report.md with the paper's numbers beside ours, figures, metrics and claims.

#[global_allocator]
static GLOBAL: cellpaint_core::Allocator = cellpaint_core::Allocator;

mod common;

use reproduce::report::{sig, Report};

#[test]
fn markdown_tables_escape_pipes_and_numbers_keep_significant_digits() {
    let mut r = Report::new("t");
    r.table(&["a|b", "x"], &[vec!["A|B", "1"]]);
    assert!(r.text().contains("| a\\|b | x |"), "{}", r.text());
    assert!(r.text().contains("| A\\|B | 1 |"));
    assert_eq!(sig(0.0038712, 3), "0.00387");
    assert_eq!(sig(12.3456, 3), "12.3");
    assert_eq!(sig(1554.2, 4), "1554");
    assert_eq!(sig(f64::NAN, 3), "NaN");
}

#[test]
fn quick_reproduction_writes_report_figures_and_claims() {
    let out = tempfile::tempdir().unwrap();
    let opts = reproduce::Options::quick(out.path());
    reproduce::reproduce("cell-painting-vae", &opts).unwrap();
    let (_, claims) = common::check_outputs(
        out.path(),
        &[
            "Table 1",
            "Table 2",
            "Figures 2/S4",
            "Figures S5, 3 and S7",
            "Figures 4, S8, S9, S11",
            "Figure S12",
            "Claims",
        ],
    );
    assert!(claims.len() >= 15, "{} claims", claims.len());
    assert!(claims
        .iter()
        .all(|c| !c.paper.is_empty() && !c.ours.is_empty()));
    // The simulated screen's A|B compounds are additive: the arithmetic beats shuffled labels
    // in raw feature space for most targets, and every VAE beats its shuffled-data twin.
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("metrics.json")).unwrap())
            .unwrap();
    let raw = metrics["lsa.simulated"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["model"] == "raw")
        .unwrap();
    assert!(raw["mean_l2"].as_f64().unwrap() < raw["mean_l2_shuffled"].as_f64().unwrap());
    for c in claims
        .iter()
        .filter(|c| c.id.starts_with("table1.simulated"))
    {
        assert_eq!(c.holds, Some(true), "{c:?}");
    }
    // The resolved settings are written beside the outputs.
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["quick"], true);
    // Run again into the same directory: every model resumes from its final checkpoint instead
    // of retraining, and the verdicts are identical.
    let first = std::fs::read_to_string(out.path().join("claims.json")).unwrap();
    let t = std::time::Instant::now();
    reproduce::reproduce("cell-painting-vae", &opts).unwrap();
    let again = std::fs::read_to_string(out.path().join("claims.json")).unwrap();
    assert_eq!(first, again);
    eprintln!("second run (resumed): {:.1} s", t.elapsed().as_secs_f64());
    assert!(reproduce::reproduce("no-such-paper", &opts).is_err());
}
