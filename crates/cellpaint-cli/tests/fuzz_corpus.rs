//! Replays the fuzz targets (fuzz/src/lib.rs) in the normal `cargo test`: on each target's
//! generated seeds and on every committed regression input under fuzz/regressions/<target>/,
//! the inputs that once crashed a parser or broke the error contract. A parser change that
//! brings one back fails here in seconds, without libFuzzer.

#[path = "../../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod targets;

use std::path::Path;

#[test]
fn seeds_and_regressions_keep_the_input_contract() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    let mut replayed = 0;
    for (name, target) in targets::TARGETS {
        for (seed, bytes) in targets::seeds(name) {
            eprintln!("{name}: seed {seed}");
            target(&bytes);
            replayed += 1;
        }
        let dir = root.join(name);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files {
            eprintln!("{name}: {}", f.display());
            target(&std::fs::read(&f).unwrap());
            replayed += 1;
        }
    }
    assert!(
        replayed >= 2 * targets::TARGETS.len(),
        "only {replayed} inputs replayed"
    );
}

/// `CELLPAINT_FUZZ_SEEDS=DIR` writes each target's seeds to `DIR/<target>/`, the fuzzers'
/// starting corpus (scripts/fuzz.sh); without it this test does nothing.
#[test]
fn write_seed_corpus_when_asked() {
    let Some(root) = std::env::var_os("CELLPAINT_FUZZ_SEEDS") else {
        return;
    };
    for (name, _) in targets::TARGETS {
        let dir = Path::new(&root).join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (seed, bytes) in targets::seeds(name) {
            std::fs::write(dir.join(format!("seed-{seed}")), bytes).unwrap();
        }
    }
}

/// The seeds are valid inputs (so the fuzzers start deep in each parser, and a writer and its
/// reader agree).
#[test]
fn every_seed_parses() {
    let s = tempfile::tempdir().unwrap();
    for (name, _) in targets::TARGETS {
        for (seed, bytes) in targets::seeds(name) {
            let what = format!("{name} seed {seed}");
            let file = |n: &str, b: &[u8]| {
                let p = s.path().join(n);
                std::fs::write(&p, b).unwrap();
                p
            };
            match *name {
                "delimited" => {
                    let ext = ["csv", "tsv", "txt"][bytes[0] as usize % 3];
                    let t = profiles::read_table(
                        file(&format!("t.{ext}"), &bytes[1..]),
                        &Default::default(),
                    );
                    assert_eq!(t.expect(&what).n_rows(), 3, "{what}");
                }
                "gct" => {
                    profiles::read_table(file("t.gct", &bytes), &Default::default()).expect(&what);
                }
                "gctx" => {
                    let t = profiles::read_table(file("t.gctx", &bytes), &Default::default())
                        .expect(&what);
                    assert_eq!((t.n_rows(), t.n_features()), (42, 50), "{what}");
                }
                "keras_h5" => {
                    let (weights, unused) =
                        cellpaint_core::efficientnet::weights::read_keras_h5(&file("w.h5", &bytes))
                            .expect(&what);
                    assert!(weights.len() > 100 && unused.is_empty(), "{what}");
                }
                "tiff" => {
                    let p = file("t.tif", &bytes);
                    if seed == "f32" {
                        cell_images::io::read_tiff_f32(&p).expect(&what);
                    } else {
                        assert_eq!(
                            cell_images::io::read_tiff_pages(&p, None)
                                .expect(&what)
                                .len(),
                            2,
                            "{what}"
                        );
                    }
                }
                "png" => {
                    cell_images::io::read_image(file("t.png", &bytes)).expect(&what);
                }
                "npz" => {
                    cell_images::read_npz_crops(file("t.npz", &bytes), "crops").expect(&what);
                }
                "config_json" => {
                    let text = std::str::from_utf8(&bytes).unwrap();
                    match seed.as_str() {
                        "deepprofiler" => drop(
                            deepprofiler_wsl::config::DeepProfilerConfig::from_json(text, "c")
                                .expect(&what),
                        ),
                        "moa_profiler" => drop(
                            moa_profiler::config::MoaProfilerConfig::from_json_file(&file(
                                "m.json", &bytes,
                            ))
                            .expect(&what),
                        ),
                        "deepprofiler_native" => {
                            let (_, unsupported) = deepprofiler_wsl::config::DeepProfilerConfig::from_deepprofiler_json(text, "c").expect(&what);
                            assert!(
                                unsupported.iter().any(|k| k.contains("comet_ml")),
                                "{unsupported:?}"
                            );
                        }
                        _ => {
                            let d = s.path().join("fp");
                            std::fs::create_dir_all(&d).unwrap();
                            std::fs::write(d.join("fingerprint.json"), &bytes).unwrap();
                            assert!(cellpaint_core::Fingerprint::read(&d)
                                .expect(&what)
                                .is_some());
                        }
                    }
                }
                "checkpoint" | "image_index" | "locations" => {} // checked below through their readers
                other => panic!("seed check missing for {other}"),
            }
        }
    }
    let idx = targets::seeds("image_index");
    let p = s.path().join("index.csv");
    std::fs::write(&p, &idx[0].1).unwrap();
    let index = cell_images::ImageIndex::read(&p, &["DNA", "RNA"], None).unwrap();
    assert_eq!(index.fields.len(), 2);
    let loc = targets::seeds("locations");
    std::fs::write(&p, &loc[0].1).unwrap();
    assert_eq!(
        cell_images::read_locations(&p).unwrap(),
        vec![(10.5, 20.0), (3.0, 4.25)]
    );
}
