//! The pipeline on seeded synthetic crops: training (balanced sampling, augmentation, Nesterov
//! SGD, validation), determinism, resume, features streamed per site, profiles, evaluation.

#[global_allocator]
static GLOBAL: cellpaint_core::Allocator = cellpaint_core::Allocator;

use cellpaint_core::candle::Device;
use deepprofiler_wsl::aggregate::profiles_from_cells;
use deepprofiler_wsl::config::{DeepProfilerConfig, MetadataConfig, Partition};
use deepprofiler_wsl::crops::toy_crops;
use deepprofiler_wsl::features::{extract_to_disk, read_features};
use deepprofiler_wsl::split::partition;
use deepprofiler_wsl::train::{accuracy_and_macro_f1, smoothed_cross_entropy};
use deepprofiler_wsl::{train_classifier, CellCrops, FittedClassifier};

fn config(epochs: usize) -> DeepProfilerConfig {
    let mut c = DeepProfilerConfig::default();
    c.train.model.epochs = epochs;
    c.train.model.batch_size = 8;
    c.train.model.input_size = 32;
    c.train.model.width_mult = 0.25;
    c.train.model.learning_rate = 0.05;
    c.train.model.lr_schedule = cellpaint_core::LrSchedule::Constant;
    c.dataset.locations.box_size = 32;
    c
}

#[test]
fn losses_and_scores_by_hand() {
    // Uniform logits over 4 classes: CE = ln 4 for any smoothing.
    let z = cellpaint_core::candle::Tensor::zeros(
        (2, 4),
        cellpaint_core::candle::DType::F64,
        &Device::Cpu,
    )
    .unwrap();
    for eps in [0.0, 0.1] {
        let l = smoothed_cross_entropy(&z, &[0, 3], eps)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert!((l - 4f64.ln()).abs() < 1e-12);
    }
    // Confident logits: smoothing raises the loss of a correct prediction.
    let z = cellpaint_core::candle::Tensor::new(&[[10.0f64, 0.0]], &Device::Cpu).unwrap();
    let plain = smoothed_cross_entropy(&z, &[0], 0.0)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    let smooth = smoothed_cross_entropy(&z, &[0], 0.2)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert!(plain < 1e-4 && smooth > 0.9, "{plain} {smooth}");
    // Accuracy 3/4; F1 class 0: tp 1, fp 0, fn 1 → 2/3; class 1: tp 2, fp 1, fn 0 → 4/5.
    let (acc, f1) = accuracy_and_macro_f1(&[0, 1, 1, 1], &[0, 0, 1, 1], 2);
    assert_eq!(acc, 0.75);
    assert!((f1 - (2.0 / 3.0 + 0.8) / 2.0).abs() < 1e-12);
}

#[test]
fn trains_deterministically_resumes_and_profiles() {
    let all = toy_crops(1);
    let cfg = config(2);
    let m = &cfg.dataset.metadata;
    let (tr, va) = partition(
        &all.cells,
        m,
        &Partition::LeaveCellsOut {
            train_fraction: 0.6,
        },
        0,
    )
    .unwrap();
    let (train, val) = (all.subset(&tr), all.subset(&va));
    let dir = tempfile::tempdir().unwrap();
    let dev = Device::Cpu;
    let a = train_classifier(
        &cfg,
        &train,
        Some(&val),
        &dir.path().join("a"),
        3,
        true,
        &dev,
    )
    .unwrap();
    let rec = a.summary.clone().unwrap().last.unwrap();
    for k in ["loss", "accuracy", "val_accuracy", "val_macro_f1"] {
        assert!(rec.metrics[k].is_finite(), "{k}: {:?}", rec.metrics);
    }
    assert_eq!(a.meta.classes, vec!["DMSO", "t1", "t2", "t3"]);
    let fa = a.features(&all, "block6a_activation").unwrap();
    assert_eq!(fa.nrows(), all.len());
    // Same seed: the same network (augmentations and batches are seeded).
    let b = train_classifier(
        &cfg,
        &train,
        Some(&val),
        &dir.path().join("b"),
        3,
        true,
        &dev,
    )
    .unwrap();
    assert_eq!(b.features(&all, "block6a_activation").unwrap(), fa);
    // Resume: one epoch, then on to two in the same directory.
    let r = dir.path().join("resume");
    train_classifier(&config(1), &train, Some(&val), &r, 3, true, &dev).unwrap();
    let resumed = train_classifier(&cfg, &train, Some(&val), &r, 3, true, &dev).unwrap();
    assert_eq!(
        resumed.summary.as_ref().unwrap().resumed_from_epoch,
        Some(1)
    );
    assert_eq!(resumed.features(&all, "block6a_activation").unwrap(), fa);
    // Save / load.
    let loaded = FittedClassifier::load(&dir.path().join("a"), &dev).unwrap();
    assert_eq!(loaded.features(&all, "block6a_activation").unwrap(), fa);

    // Features per site on disk, read back in any order, and the profile chain.
    let out = dir.path().join("features");
    let cells = extract_to_disk(&a, &all, "block6a_activation", m, &out).unwrap();
    assert_eq!(cells.n_rows(), all.len());
    let n_files = walk(&out);
    assert_eq!(
        n_files,
        2 * 4 * 2 + 1,
        "one file per site, and the fingerprint"
    );
    let again = extract_to_disk(&a, &all, "block6a_activation", m, &out).unwrap();
    assert_eq!(
        again.features(),
        cells.features(),
        "existing sites are read back"
    );
    // Files of another model or tap are never reused: recomputed.
    let random =
        FittedClassifier::random(&a.meta.config, a.meta.classes.clone(), 5, 99, &dev).unwrap();
    let other = extract_to_disk(&random, &all, "block6a_activation", m, &out).unwrap();
    assert_ne!(other.features(), cells.features());
    assert_eq!(
        other.features().mapv(|v| v as f32),
        random.features(&all, "block6a_activation").unwrap()
    );
    let top = extract_to_disk(&a, &all, "block7a_activation", m, &out).unwrap();
    assert_ne!(top.n_features(), cells.n_features());
    assert_eq!(walk(&out), 2 * 4 * 2 + 1, "stale files were removed");
    let back = extract_to_disk(&a, &all, "block6a_activation", m, &out).unwrap();
    assert_eq!(back.features(), cells.features());
    assert_eq!(read_features(&out).unwrap().n_rows(), all.len());
    let treatments = profiles_from_cells(&cells, m, Some(0.01)).unwrap();
    assert_eq!(treatments.n_rows(), 4);
    let map = profiling_eval::interpolated_map(
        &treatments,
        profiling_eval::Similarity::Cosine,
        &m.moa_field,
        Some('|'),
        11,
    )
    .unwrap();
    assert!(
        map.map.is_finite() && (0.0..=1.0).contains(&map.map),
        "{map:?}"
    );
}

fn walk(d: &std::path::Path) -> usize {
    std::fs::read_dir(d)
        .unwrap()
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                walk(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[test]
fn bad_input_is_named() {
    let all = toy_crops(2);
    let mut bad = all.pixels.clone();
    bad[[3, 1, 0, 0]] = f32::NAN;
    let e = CellCrops::new(bad, all.cells.clone(), &MetadataConfig::default()).unwrap_err();
    assert!(e.to_string().contains("crop 3"), "{e}");
    let e = CellCrops::new(
        all.pixels.clone(),
        all.cells.select_rows(&[0, 1]),
        &MetadataConfig::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("2 metadata rows"), "{e}");
    // Validation labels unseen in training are an error naming the row.
    let cfg = config(1);
    let m = &cfg.dataset.metadata;
    let labels = all.cells.metadata(&m.label_field).unwrap();
    let t1: Vec<usize> = (0..all.len()).filter(|&i| labels[i] != "t3").collect();
    let t3: Vec<usize> = (0..all.len()).filter(|&i| labels[i] == "t3").collect();
    let dir = tempfile::tempdir().unwrap();
    let e = train_classifier(
        &cfg,
        &all.subset(&t1),
        Some(&all.subset(&t3)),
        dir.path(),
        0,
        true,
        &Device::Cpu,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("row 0") && e.contains("'t3'"), "{e}");
    // One class only (crops exported with the default target): an error naming the column.
    let e = train_classifier(
        &cfg,
        &all.subset(&t3),
        None,
        &dir.path().join("one"),
        0,
        true,
        &Device::Cpu,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("at least 2 classes") && e.contains(&m.label_field) && e.contains("--target"),
        "{e}"
    );
}
