//! `cellpaint simulate`, `prepare` and `detect-nuclei` end to end on a simulated screen.

mod common;
use common::cellpaint;

use profiles::{read_table, ReadOptions};

#[test]
fn simulate_then_prepare_then_crop() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Profiles: same seed, same bytes; truth beside them.
    for name in ["a.csv.gz", "b.csv.gz"] {
        let ok = cellpaint()
            .args([
                "-q", "simulate", "profiles", "--preset", "tiny", "--seed", "9", "-o",
            ])
            .arg(d.join(name))
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let a = read_table(d.join("a.csv.gz"), &ReadOptions::default()).unwrap();
    let b = read_table(d.join("b.csv.gz"), &ReadOptions::default()).unwrap();
    assert_eq!(a.features(), b.features());
    assert!(d.join("a.truth.json").is_file());

    // Images → illumination → compression → crops at the true nucleus locations.
    let sim = d.join("sim");
    let ok = cellpaint()
        .args([
            "-q",
            "simulate",
            "images",
            "--seed",
            "3",
            "--max-wells-per-plate",
            "4",
            "-o",
        ])
        .arg(&sim)
        .status()
        .unwrap();
    assert!(ok.success());
    let index = sim.join("index.csv");
    let run = |args: &[&str]| {
        let out = cellpaint().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let idx = index.to_str().unwrap();
    let illum = d.join("illum");
    run(&[
        "prepare",
        "illum",
        "--index",
        idx,
        "-o",
        illum.to_str().unwrap(),
    ]);
    assert!(illum.join("SIM_B1_M1_R1.illum.tiff").is_file());
    let msg = run(&[
        "prepare",
        "compress",
        "--index",
        idx,
        "--illum",
        illum.to_str().unwrap(),
        "-o",
        d.join("png").to_str().unwrap(),
    ]);
    assert!(msg.contains("compressed 40 files"), "{msg}");
    let sc = d.join("sc");
    let msg = run(&[
        "prepare",
        "crops",
        "--index",
        idx,
        "--illum",
        illum.to_str().unwrap(),
        "--locations",
        "locations/{plate}/{well}_s{site}.csv",
        "--target",
        "Metadata_broad_sample",
        "--box-size",
        "32",
        "--border",
        "pad",
        "-o",
        sc.to_str().unwrap(),
    ]);
    assert!(msg.contains("single-cell crops"), "{msg}");
    let meta = std::fs::read_to_string(sc.join("sc-metadata.csv")).unwrap();
    let n_true: usize = walk_csv_rows(&sim.join("locations"));
    assert_eq!(
        meta.lines().count() - 1,
        n_true,
        "padding keeps every located cell"
    );

    // A box larger than the field is refused before anything is allocated (it once asked for
    // 200 GB), naming the field and its index line.
    let out = cellpaint()
        .args([
            "prepare",
            "crops",
            "--index",
            idx,
            "--locations",
            "locations/{plate}/{well}_s{site}.csv",
            "--box-size",
            "100000",
            "--border",
            "pad",
            "-o",
            d.join("huge").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("box_size 100000 is larger than the")
            && err.contains("line 2")
            && err.lines().count() == 1,
        "{err}"
    );

    // detect-nuclei on one simulated DNA image, and a clear error for a missing file.
    let dna = std::fs::read_dir(sim.join("images/SIM_B1_M1_R1"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_DNA.tiff"))
        .unwrap();
    run(&[
        "detect-nuclei",
        dna.to_str().unwrap(),
        "-o",
        d.join("n.csv").to_str().unwrap(),
        "--min-distance",
        "6",
        "--min-area",
        "20",
    ]);
    let n = cell_images::read_locations(d.join("n.csv")).unwrap();
    assert!(!n.is_empty());
    let out = cellpaint()
        .args(["detect-nuclei", "missing.tiff", "-o", "x.csv"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("missing.tiff") && err.lines().count() == 1,
        "{err}"
    );
}

fn walk_csv_rows(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            n += walk_csv_rows(&p);
        } else {
            n += std::fs::read_to_string(&p).unwrap().lines().count() - 1;
        }
    }
    n
}

#[test]
fn simulated_images_come_with_their_true_objects_which_measure_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    common::run(&[
        "-q",
        "simulate",
        "images",
        "--seed",
        "5",
        "--max-wells-per-plate",
        "2",
        "-o",
        sim.to_str().unwrap(),
    ]);
    let out = tmp.path().join("measured");
    common::run(&[
        "-q",
        "measure",
        "--index",
        sim.join("index.csv").to_str().unwrap(),
        "--objects",
        "Nuclei,Cells,Cytoplasm",
        "--texture-scale",
        "0",
        "-o",
        out.to_str().unwrap(),
    ]);
    let nuclei = read_table(out.join("Nuclei.csv.gz"), &ReadOptions::default()).unwrap();
    let cytoplasm = read_table(out.join("Cytoplasm.csv.gz"), &ReadOptions::default()).unwrap();
    // Every drawn nucleus (the locations files) is an object, but for the few a neighbour
    // covers entirely.
    let drawn: usize = std::fs::read_dir(sim.join("locations"))
        .unwrap()
        .flat_map(|plate| std::fs::read_dir(plate.unwrap().path()).unwrap())
        .map(|f| {
            cell_images::read_locations(f.unwrap().path())
                .unwrap()
                .len()
        })
        .sum();
    let n = nuclei.n_rows();
    assert!(
        n <= drawn && n as f64 >= 0.9 * drawn as f64,
        "{n} objects, {drawn} drawn"
    );
    assert!(cytoplasm.n_rows() > 0);
    // 25 AreaShape + 5 channels × 19 Intensity + 10 pairs × 9 Correlation + 5 channels × (16
    // Granularity + 12 RadialDistribution); texture skipped.
    assert_eq!(
        nuclei.feature_names().len(),
        25 + 5 * 19 + 10 * 9 + 5 * (16 + 12)
    );
}
