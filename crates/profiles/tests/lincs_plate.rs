//! The profile operations on the real LINCS plate SQ00015054 (384 wells × 454 features).

use cellpaint_profiles::data::{data_dir_for_tests, known};
use cellpaint_profiles::*;

fn plate() -> Option<ProfileTable> {
    let dir = data_dir_for_tests()?;
    let path = data_file(&dir, known::LINCS_PLATE).unwrap();
    Some(read_table(path, &ReadOptions::default()).unwrap())
}

#[test]
fn reads_the_plate_as_described() {
    let Some(t) = plate() else { return };
    assert_eq!(
        (t.n_rows(), t.n_features(), t.metadata_names().len()),
        (384, 454, 26)
    );
    let samples = t.metadata("Metadata_broad_sample").unwrap();
    assert_eq!(samples.iter().filter(|s| *s == "DMSO").count(), 24);
    assert!(t.features().iter().all(|v| v.is_finite()));
}

#[test]
fn mad_robustize_on_all_wells_is_identity_on_level_4b() {
    // The file was robust-z normalized against all wells (median 0, 1.4826·MAD = 1), so doing
    // it again must give the same numbers back, up to the CSV's printed precision.
    let Some(t) = plate() else { return };
    let out = normalize(&t, &NormalizeParams::default()).unwrap();
    let worst = out
        .features()
        .iter()
        .zip(t.features().iter())
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0, f64::max);
    assert!(worst < 1e-3, "max relative change {worst}");
}

#[test]
fn standardize_on_dmso_gives_dmso_mean_0_sd_1() {
    let Some(t) = plate() else { return };
    let p = NormalizeParams::new(NormalizeMethod::Standardize)
        .fit_on("Metadata_broad_sample=DMSO".parse().unwrap())
        .per("Metadata_Plate");
    let out = normalize(&t, &p).unwrap();
    let dmso = out.select_rows(&out.rows_matching(&p.fit_on).unwrap());
    for c in 0..dmso.n_features() {
        let (m, s) = cellpaint_profiles::stats::mean_std(dmso.features().column(c).iter().copied());
        assert!(
            m.abs() < 1e-12 && (s - 1.0).abs() < 1e-12,
            "feature {c}: mean {m} sd {s}"
        );
    }
    let missing = NormalizeParams::new(NormalizeMethod::Standardize)
        .fit_on("Metadata_broad_sample=NOT-ON-PLATE".parse().unwrap());
    let e = normalize(&t, &missing).unwrap_err().to_string();
    assert!(
        e.contains("SQ00015054") && e.contains("no control rows"),
        "{e}"
    );
}

#[test]
fn feature_select_on_level_4b() {
    // Level 4b was already feature-selected upstream: blocklist and NaN columns are gone.
    let Some(t) = plate() else { return };
    let (out, report) = feature_select(&t, &FeatureSelectParams::default()).unwrap();
    assert!(report.excluded[&FeatureSelectOp::Blocklist].is_empty());
    assert!(report.excluded[&FeatureSelectOp::DropNaColumns].is_empty());
    assert_eq!(report.n_after, out.n_features());
    eprintln!(
        "variance_threshold dropped {}, correlation_threshold dropped {}, kept {} of {}",
        report.excluded[&FeatureSelectOp::VarianceThreshold].len(),
        report.excluded[&FeatureSelectOp::CorrelationThreshold].len(),
        report.n_after,
        report.n_before
    );
    // What is left has no pair above the threshold.
    let c = cellpaint_profiles::feature_select::feature_correlations(
        out.features(),
        CorrelationMethod::Pearson,
    );
    for i in 0..c.nrows() {
        for j in 0..i {
            assert!(c[[i, j]] <= 0.9, "pair ({i}, {j}) r = {}", c[[i, j]]);
        }
    }
    // A low outlier cut-off drops exactly the features with a large value.
    let p = FeatureSelectParams {
        operations: vec![FeatureSelectOp::DropOutliers],
        outlier_cutoff: 50.0,
        ..Default::default()
    };
    let (_, r) = feature_select(&t, &p).unwrap();
    let expect = (0..t.n_features())
        .filter(|&c| t.features().column(c).iter().any(|v| v.abs() > 50.0))
        .count();
    assert_eq!(r.excluded[&FeatureSelectOp::DropOutliers].len(), expect);
}

#[test]
fn aggregate_and_consensus_by_compound() {
    let Some(t) = plate() else { return };
    let by = ["Metadata_broad_sample"];
    let med = aggregate(&t, &by, AggregateOp::Median).unwrap();
    assert_eq!(med.n_rows(), 59, "58 compounds + DMSO");
    let names = med.metadata("Metadata_broad_sample").unwrap();
    assert!(names.windows(2).all(|w| w[0] < w[1]), "groups sorted");
    // DMSO median of the first feature, by hand from the 24 wells.
    let rows = t
        .rows_matching(&["Metadata_broad_sample=DMSO".parse().unwrap()])
        .unwrap();
    let mut v: Vec<f64> = rows.iter().map(|&r| t.features()[[r, 0]]).collect();
    v.sort_by(f64::total_cmp);
    let dmso = names.iter().position(|n| n == "DMSO").unwrap();
    assert_eq!(med.features()[[dmso, 0]], (v[11] + v[12]) / 2.0);
    let modz = consensus(&t, &by, ConsensusOp::modz()).unwrap();
    assert_eq!(modz.n_rows(), 59);
    // MODZ weights sum to 1 (to rounding), so a weighted mean stays within the replicates' range.
    let dmso_rows = t.select_rows(&rows);
    for c in 0..t.n_features() {
        let col = dmso_rows.features().column(c).to_vec();
        let (lo, hi) = col
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        let m = modz.features()[[dmso, c]];
        assert!(m >= lo - 1e-3 * lo.abs().max(1.0) && m <= hi + 1e-3 * hi.abs().max(1.0));
    }
}

#[test]
fn reads_the_real_l1000_gct() {
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let t = read_table(
        data_file(&dir, known::L1000_PLATE).unwrap(),
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!((t.n_rows(), t.n_features()), (377, 978));
    assert_eq!(
        t.metadata_names().len(),
        36,
        "cid + 35 column-metadata fields"
    );
    let pert = t.metadata("Metadata_pert_type").unwrap();
    assert_eq!(pert.iter().filter(|p| *p == "ctl_vehicle").count(), 26);
    let (lo, hi) = t
        .features()
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(lo > 3.0 && hi < 16.0, "log2 expression range {lo}..{hi}");
}

/// A table of several write chunks (one gzip member each) reads back exactly, and the bytes
/// do not depend on the number of threads.
#[test]
fn a_multi_chunk_gz_table_round_trips_and_is_thread_independent() {
    let plate = cellpaint_profiles::SyntheticPlate {
        n_controls: 600,
        n_compounds: 600,
        n_doses: 4,
        n_features: 300,
        ..Default::default()
    }
    .generate();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv.gz");
    cellpaint_profiles::write_table(&plate, &path).unwrap();
    let back =
        cellpaint_profiles::read_table(&path, &cellpaint_profiles::ReadOptions::default()).unwrap();
    assert_eq!(back.features(), plate.features());
    assert_eq!(back.metadata_names(), plate.metadata_names());
    let one = dir.path().join("one.csv.gz");
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| cellpaint_profiles::write_table(&plate, &one).unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&one).unwrap());
    // More than one gzip member: the format's magic appears again after the first.
    let bytes = std::fs::read(&path).unwrap();
    let members = bytes
        .windows(3)
        .filter(|w| *w == [0x1f, 0x8b, 0x08])
        .count();
    assert!(members >= 2, "{members} gzip members");
}
