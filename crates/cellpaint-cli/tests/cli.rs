//! The `cellpaint` binary end to end: real plate, bad input, no data directory.

mod common;
use common::cellpaint;

use std::path::Path;

use profiles::data::{data_dir_for_tests, known};
use profiles::{read_table, ReadOptions};

#[test]
fn sphere_command_reproduces_the_numpy_reference() {
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let o = out.path().join("sphered.csv.gz");
    let status = cellpaint()
        .args(["--quiet", "sphere"])
        .arg(dir.join(known::LINCS_PLATE))
        .arg(&o)
        .args([
            "--method",
            "ZCA",
            "--lambda",
            "0.01",
            "--fit-on",
            "Metadata_broad_sample=DMSO",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let ours = read_table(&o, &ReadOptions::default()).unwrap();
    let reference = read_table(
        dir.join("reference/numpy_sphering_ZCA_lambda0.01_fit_DMSO.csv.gz"),
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(
        ours.metadata_names()[0],
        "Metadata_plate_map_name",
        "metadata first, in input order"
    );
    let mut worst = 0.0f64;
    for (c, name) in ours.feature_names().iter().enumerate() {
        let rc = reference.feature_index(name).unwrap();
        for r in 0..ours.n_rows() {
            worst = worst.max((ours.features()[[r, c]] - reference.features()[[r, rc]]).abs());
        }
    }
    assert!(worst < 1e-4, "max abs diff {worst}");
    let run: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("sphered.csv.gz.run.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(run["controls"]["n_controls"], 24);
    assert_eq!(
        run["params"]["regularization"]["eigenvalue"]["lambda"],
        0.01
    );
}

#[test]
fn bad_input_exits_nonzero_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "Metadata_Well,f1,f2\nA01,1,2\nA02,3\n").unwrap();
    let out = cellpaint()
        .arg("normalize")
        .arg(&bad)
        .arg(dir.path().join("o.csv"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("bad.csv, line 3") && err.contains("expected 3 fields"),
        "{err}"
    );
    assert!(
        !dir.path().join("o.csv").exists(),
        "nothing written on failure"
    );
    let out = cellpaint()
        .args(["sphere"])
        .arg(&bad)
        .arg(dir.path().join("o.csv"))
        .args(["--fit-on", "Metadata_Well"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("COLUMN=VALUE"));
    // A NaN for sphering: the file line (not a 0-based row) and the column's name.
    let nan = dir.path().join("nan.csv");
    std::fs::write(
        &nan,
        "Metadata_Well,f1,f2\nA01,1,2\nA02,3,4\nA03,2,NaN\nA04,1,1\n",
    )
    .unwrap();
    let err = common::fails(&[
        "sphere",
        nan.to_str().unwrap(),
        dir.path().join("s.csv").to_str().unwrap(),
        "--fit-on",
        "Metadata_Well=A01",
    ]);
    assert!(
        err.contains("nan.csv, line 4, column 'f2': NaN is not a finite number"),
        "{err}"
    );
}

#[test]
fn an_output_equal_to_the_input_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let plate = tmp.path().join("plate.csv");
    std::fs::write(&plate, "Metadata_Well,f1,f2\nA01,1,2\nA02,3,5\nA03,2,2\n").unwrap();
    let before = std::fs::read(&plate).unwrap();
    let sub = tmp.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let same_by_another_name = sub.join("..").join("plate.csv");
    for out in [&plate, &same_by_another_name] {
        let err = common::fails(&[
            "aggregate",
            plate.to_str().unwrap(),
            out.to_str().unwrap(),
            "--strata",
            "Metadata_Well",
        ]);
        assert!(err.contains("the output is the input"), "{err}");
    }
    assert_eq!(std::fs::read(&plate).unwrap(), before);
}

#[test]
fn pipeline_without_data_runs_on_the_seeded_plate() {
    let cwd = tempfile::tempdir().unwrap();
    let run = |out: &Path| {
        let o = cellpaint()
            .current_dir(cwd.path())
            .env_remove(profiles::DATA_ENV)
            .args(["pipeline", "--out"])
            .arg(out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stderr).contains("synthetic plate"));
        std::fs::read(out.join("profiles_sphered.csv.gz")).unwrap()
    };
    let a = run(&cwd.path().join("a"));
    let b = run(&cwd.path().join("b"));
    assert_eq!(a, b, "same seed, same output");
    let missing = cellpaint()
        .args(["pipeline", "--data", "/no/such/dir"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--data does not exist"));
}

#[test]
fn aggregate_the_hand_checked_fixture() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tiny_cells.csv");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("wells.tsv");
    let s = cellpaint()
        .args(["-q", "aggregate"])
        .arg(&fixture)
        .arg(&out)
        .args(["--strata", "Metadata_Plate,Metadata_Well"])
        .status()
        .unwrap();
    assert!(s.success());
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        text,
        "Metadata_Plate\tMetadata_Well\tCells_AreaShape_Area\tNuclei_Intensity_MeanIntensity_DNA\n\
         P1\tA01\t100\t0.5\nP1\tA02\t210\t1\nP2\tA01\t50\t0.1\n"
    );
}

/// `cellpaint eval activity PLATE` by compound against the DMSO wells.
fn eval_activity(plate: &Path) -> std::process::Command {
    let mut c = cellpaint();
    c.args(["eval", "activity"]).arg(plate).args([
        "--by",
        "Metadata_broad_sample",
        "--controls",
        "Metadata_broad_sample=DMSO",
    ]);
    c
}

#[test]
fn eval_activity_reproduces_copairs_mean_map() {
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let out = eval_activity(&dir.join(known::LINCS_PLATE))
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        (v["mean_map"].as_f64().unwrap() - 0.6178321496708863).abs() < 1e-9,
        "{v}"
    );
    assert_eq!(v["groups"], 58);
    // One NaN in the real plate: refused with file, line and column (it used to move the
    // mean mAP from 0.6178 to 0.6236 with exit 0); --drop-na-features drops that column.
    let mut t = profiles::read_table(dir.join(known::LINCS_PLATE), &Default::default()).unwrap();
    let name = t.feature_names()[7].clone();
    t.features_mut()[[3, 7]] = f64::NAN;
    let tmp = tempfile::tempdir().unwrap();
    let nan_plate = tmp.path().join("nan.csv");
    profiles::write_table(&t, &nan_plate).unwrap();
    let activity = |extra: &[&str]| {
        eval_activity(&nan_plate)
            .arg("--json")
            .args(extra)
            .output()
            .unwrap()
    };
    let refused = activity(&[]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        err.contains("nan.csv, line 5, column '")
            && err.contains(&name)
            && err.contains("--drop-na-features"),
        "{err}"
    );
    // A closed pipe ends quietly; a full disk is a one-line error, never a panic.
    let mut child = eval_activity(&dir.join(known::LINCS_PLATE))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let closed = child.wait_with_output().unwrap();
    assert!(
        closed.status.success(),
        "{}",
        String::from_utf8_lossy(&closed.stderr)
    );
    assert!(
        closed.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&closed.stderr)
    );
    if std::path::Path::new("/dev/full").exists() {
        let full = eval_activity(&dir.join(known::LINCS_PLATE))
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&full.stderr);
        assert_eq!(full.status.code(), Some(1), "{err}");
        assert!(
            err.lines().count() == 1
                && err.contains("writing to standard output")
                && !err.contains("panicked"),
            "{err}"
        );
    }
    let dropped = activity(&["--drop-na-features"]);
    assert!(
        dropped.status.success(),
        "{}",
        String::from_utf8_lossy(&dropped.stderr)
    );
    assert!(String::from_utf8_lossy(&dropped.stderr).contains("dropped 1 of"));
    let v: serde_json::Value = serde_json::from_slice(&dropped.stdout).unwrap();
    assert!(v["mean_map"].as_f64().unwrap().is_finite());
    let bad = cellpaint()
        .args(["eval", "map"])
        .arg(dir.join(known::LINCS_PLATE))
        .args([
            "--pos-sameby",
            "Metadata_moa",
            "--neg-diffby",
            "Metadata_moa",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--keep 'Metadata_moa!='"));
    let ok = cellpaint()
        .args(["eval", "map"])
        .arg(dir.join(known::LINCS_PLATE))
        .args([
            "--pos-sameby",
            "Metadata_moa",
            "--pos-diffby",
            "Metadata_broad_sample",
            "--neg-diffby",
            "Metadata_moa",
            "--keep",
            "Metadata_moa!=",
            "--json",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert!(
        (v["mean_map"].as_f64().unwrap() - 0.07064828871618657).abs() < 1e-9,
        "{v}"
    );
}

#[test]
fn annotate_command_puts_the_plate_map_and_moa_back_on_the_lincs_plate() {
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let meta = dir.join("profiles/lincs_cp/lincs-cell-painting/metadata");
    let maps = meta.join("platemaps/2016_04_01_a549_48hr_batch1");
    let published = read_table(dir.join(known::LINCS_PLATE), &ReadOptions::default()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let stripped = out.path().join("stripped.csv");
    profiles::write_table(
        &published
            .keep_metadata(&["Metadata_Plate", "Metadata_Well"])
            .unwrap(),
        &stripped,
    )
    .unwrap();
    let o = out.path().join("annotated.csv");
    let run = cellpaint()
        .args(["--quiet", "annotate"])
        .arg(&stripped)
        .arg(&o)
        .arg("--platemap")
        .arg(maps.join("platemap"))
        .arg("--barcode-platemap")
        .arg(maps.join("barcode_platemap.csv"))
        .arg("--external")
        .arg(meta.join("moa/repurposing_info_external_moa_map_resolved.tsv"))
        .args(["--external-on", "broad_sample=Metadata_broad_sample"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let ours = read_table(&o, &ReadOptions::default()).unwrap();
    assert_eq!(ours.n_rows(), 384);
    let treated: Vec<usize> = (0..384)
        .filter(|&r| published.metadata("Metadata_pert_type").unwrap()[r] == "trt")
        .collect();
    for name in [
        "Metadata_moa",
        "Metadata_broad_sample",
        "Metadata_Batch_Date",
    ] {
        for &r in &treated {
            assert_eq!(
                ours.metadata(name).unwrap()[r],
                published.metadata(name).unwrap()[r],
                "{name}"
            );
        }
    }
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("annotated.csv.run.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["report"]["platemap"]["unused"], 27 * 384);
    assert_eq!(record["report"]["external"]["matched"], 360);

    // A plate map without the well column named in --join-on: one line naming file and column.
    let bad = out.path().join("map.csv");
    std::fs::write(&bad, "plate_map_name,well,broad_sample\nX,A01,DMSO\n").unwrap();
    let run = cellpaint()
        .args(["--quiet", "annotate"])
        .arg(&stripped)
        .arg(out.path().join("never.csv"))
        .arg("--platemap")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "{}: no column 'Metadata_well_position'",
            bad.display()
        )),
        "{err}"
    );
    assert!(!out.path().join("never.csv").exists());
}

/// The Parquet pipeline a JUMP user runs: the real LINCS plate as Parquet, normalized and
/// feature-selected with Parquet out, gives the same table as the CSV pipeline; and a real
/// CellProfiler single-cell Parquet (CytoTable, NF1) aggregates to its well with
/// `--metadata-prefix Metadata_,Image_`.
#[test]
fn a_parquet_pipeline_equals_the_csv_pipeline() {
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let plate = read_table(dir.join(known::LINCS_PLATE), &ReadOptions::default()).unwrap();
    let as_parquet = tmp.path().join("plate.parquet");
    profiles::write_table(&plate, &as_parquet).unwrap();
    let run = |input: &Path, ext: &str| {
        let norm = tmp.path().join(format!("norm{ext}"));
        let sel = tmp.path().join(format!("selected{ext}"));
        let s = cellpaint()
            .args(["-q", "normalize"])
            .arg(input)
            .arg(&norm)
            .args(["--fit-on", "Metadata_broad_sample=DMSO"])
            .status()
            .unwrap();
        assert!(s.success());
        let s = cellpaint()
            .args(["-q", "feature-select"])
            .arg(&norm)
            .arg(&sel)
            .args(["--corr-threshold", "0.5"])
            .status()
            .unwrap();
        assert!(s.success());
        read_table(&sel, &ReadOptions::default()).unwrap()
    };
    let from_csv = run(&dir.join(known::LINCS_PLATE), ".csv");
    let from_parquet = run(&as_parquet, ".parquet");
    assert!(
        from_csv.n_features() > 20 && from_csv.n_features() < plate.n_features(),
        "{} of {} features kept",
        from_csv.n_features(),
        plate.n_features()
    );
    assert_eq!(from_csv.feature_names(), from_parquet.feature_names());
    assert_eq!(from_csv.metadata_names(), from_parquet.metadata_names());
    for n in from_csv.metadata_names() {
        assert_eq!(
            from_csv.metadata(n).unwrap(),
            from_parquet.metadata(n).unwrap()
        );
    }
    // The CSV holds the shortest decimal of each value, so it reads back to the same f64.
    assert_eq!(from_csv.features(), from_parquet.features());

    let cells = dir.join("images/nf1_schwann_3ch/Plate_2_with_image_data_shrunken.parquet");
    let wells = tmp.path().join("wells.parquet");
    let s = cellpaint()
        .args(["-q", "aggregate"])
        .arg(&cells)
        .arg(&wells)
        .args(["--metadata-prefix", "Metadata_,Image_"])
        .args(["--strata", "Image_Metadata_Plate_x,Image_Metadata_Well_x"])
        .status()
        .unwrap();
    assert!(s.success());
    let opts = ReadOptions {
        metadata: profiles::io::MetadataColumns::Prefixes(vec![
            "Metadata_".into(),
            "Image_".into(),
        ]),
        ..Default::default()
    };
    let single = read_table(&cells, &opts).unwrap();
    let wells = read_table(&wells, &opts).unwrap();
    let n_wells = {
        let mut w: Vec<&String> = single
            .metadata("Image_Metadata_Well_x")
            .unwrap()
            .iter()
            .collect();
        w.sort();
        w.dedup();
        w.len()
    };
    assert_eq!(wells.n_rows(), n_wells);
    assert_eq!(wells.n_features(), single.n_features());
    // Without the Image_ prefix its text columns are refused, naming the column.
    let out = cellpaint()
        .args(["-q", "aggregate"])
        .arg(&cells)
        .arg(tmp.path().join("x.csv"))
        .args(["--strata", "Metadata_ImageNumber"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Plate_2_with_image_data_shrunken.parquet") && err.contains("Image_"),
        "{err}"
    );
}

/// `cellpaint aggregate cells.sqlite wells.parquet`: a CellProfiler database (seeded, with
/// cytominer-database's table names) streamed to well medians.
#[test]
fn aggregate_reads_a_cellprofiler_database() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("cells.sqlite");
    profiles::sqlite::write_synthetic_database(&db, 600, 12, 6, 3).unwrap();
    let out = tmp.path().join("wells.parquet");
    let s = cellpaint()
        .args(["-q", "aggregate"])
        .arg(&db)
        .arg(&out)
        .status()
        .unwrap();
    assert!(s.success());
    let wells = read_table(&out, &ReadOptions::default()).unwrap();
    let direct =
        profiles::sqlite::aggregate_sqlite(&db, &profiles::sqlite::SqliteAggregate::default())
            .unwrap();
    assert_eq!(wells.n_rows(), 6);
    assert_eq!(
        wells.n_features(),
        14,
        "12 features and the 2 cytoplasm parent columns"
    );
    assert_eq!(wells.features(), direct.features());
    assert_eq!(wells.metadata_names(), ["Metadata_Plate", "Metadata_Well"]);
    let run: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("wells.parquet.run.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(run["compartments"][1], "Cytoplasm");
}

/// `simulate calibrate` against the real LINCS plate: the real side is the plate summary that
/// equals copairs (profiling-eval's plate_summary_lincs test: activity mAP 0.6178), the
/// simulated side a plate of the tiny preset processed the same way, each statistic with a
/// verdict; the JSON and the printed table say the same.
#[test]
fn simulate_calibrate_puts_the_real_plate_beside_a_simulated_one() {
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("calibration.json");
    let out = cellpaint()
        .args([
            "simulate",
            "calibrate",
            "--preset",
            "tiny",
            "--seed",
            "3",
            "--against",
        ])
        .arg(dir.join(known::LINCS_PLATE))
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let real = &report["real_summary"];
    assert!((real["activity_map"].as_f64().unwrap() - 0.6178321496708864).abs() < 1e-12);
    assert_eq!(real["wells"], 384);
    let rows = report["comparison"].as_array().unwrap();
    assert_eq!(rows.len(), 12);
    // LINCS has no cell counts: that row has no verdict; every other row has one.
    let judged = rows.iter().filter(|r| r["within"].is_boolean()).count();
    assert_eq!(judged, 11);
    assert_eq!(report["compared"], 11);
    let within = rows.iter().filter(|r| r["within"] == true).count();
    assert_eq!(report["within_tolerance"], within);
    assert!(
        text.contains(&format!("{within} of 11 statistics within tolerance")),
        "{text}"
    );
    let sim = &report["simulated_summary"];
    assert!(sim["wells"].as_u64().unwrap() > 10 && sim["effective_rank"].as_f64().unwrap() > 1.0);
}

/// `feature-select` with pycytominer 1.7's variance and frequency tests and their settings on
/// the real LINCS plate drops the features pycytominer 1.7.1 drops
/// (fixtures/feature_select_reference.json, scripts/feature_select_reference.py).
#[test]
fn feature_select_variance_and_frequency_options_drop_what_pycytominer_drops() {
    let Some(dir) = data_dir_for_tests() else {
        return;
    };
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../fixtures/feature_select_reference.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let expected = &reference["cases"]["plate (no NaN: numpy.corrcoef)"];
    let plate = read_table(dir.join(known::LINCS_PLATE), &ReadOptions::default()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for (args, key) in [
        (
            vec!["--operations", "variance_threshold", "--min-variance", "2"],
            "variance_threshold min_variance=2",
        ),
        (
            vec![
                "--operations",
                "frequency_threshold",
                "--freq-cut",
                "0.2",
                "--unique-cut",
                "0.5",
            ],
            "frequency_threshold freq_cut=0.2 unique_cut=0.5",
        ),
    ] {
        let out = tmp.path().join("selected.csv");
        let s = cellpaint()
            .args(["-q", "feature-select"])
            .arg(dir.join(known::LINCS_PLATE))
            .arg(&out)
            .args(&args)
            .status()
            .unwrap();
        assert!(s.success(), "{args:?}");
        let kept: std::collections::HashSet<String> = read_table(&out, &ReadOptions::default())
            .unwrap()
            .feature_names()
            .iter()
            .cloned()
            .collect();
        let mut dropped: Vec<String> = plate
            .feature_names()
            .iter()
            .filter(|n| !kept.contains(*n))
            .cloned()
            .collect();
        dropped.sort();
        let theirs: Vec<String> = expected[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert!(!theirs.is_empty(), "{key}");
        assert_eq!(dropped, theirs, "{key}");
    }
}
