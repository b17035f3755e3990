//! Our EfficientNet built as Keras builds it (`EfficientNetConfig::keras_b0`) against Keras's
//! EfficientNetB0 (fixtures/keras_efficientnet_reference.json, scripts/keras_reference.py):
//! on the formula weights of the torchvision test (set by name, no file), and through a real
//! Keras HDF5 weight file (a width-0.1 EfficientNet-B0, fixtures/keras_efficientnet_tiny.h5.gz)
//! read by `read_keras_h5`.

use std::io::Read as _;

use cellpaint_core::candle::{DType, Device, Tensor};
use cellpaint_core::efficientnet::weights::{load_pretrained, read_keras_h5};
use cellpaint_core::testing::{
    assert_forward_matches, assert_matches_reference, formula, max_abs_diff_json,
    set_formula_weights,
};
use cellpaint_core::{Backbone, ConvPadding, EfficientNet, EfficientNetConfig, SeededVarMap};

fn reference() -> serde_json::Value {
    serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/keras_efficientnet_reference.json"
    )))
    .unwrap()
}

fn input(size: usize) -> Tensor {
    Tensor::from_vec(
        formula("input", 2 * 5 * size * size, -1.0, 1.0),
        (2, 5, size, size),
        &Device::Cpu,
    )
    .unwrap()
}

#[test]
fn matches_keras_efficientnet_b0_with_five_channels() {
    let reference = &reference()["b0"];
    let cfg = EfficientNetConfig::keras_b0(5, 7);
    assert_eq!(
        (cfg.bn_eps, cfg.padding),
        (1e-3, ConvPadding::TensorflowSame)
    );
    let map = SeededVarMap::new(0);
    let net = EfficientNet::new(cfg, map.var_builder(DType::F32, &Device::Cpu)).unwrap();
    set_formula_weights(&map).unwrap();
    let out = net
        .forward_taps(
            &input(128),
            false,
            None,
            &["block6a_activation", "avg_pool"],
        )
        .unwrap();
    assert_forward_matches(&out, "block6a_activation", reference, 1e-5);
    // torchvision's padding is not Keras's network: 50× beyond the tolerance above.
    let torch_padded = EfficientNetConfig {
        padding: ConvPadding::Symmetric,
        ..EfficientNetConfig::keras_b0(5, 7)
    };
    let map = SeededVarMap::new(0);
    let net = EfficientNet::new(torch_padded, map.var_builder(DType::F32, &Device::Cpu)).unwrap();
    set_formula_weights(&map).unwrap();
    let logits = net
        .forward_taps(&input(128), false, None, &[])
        .unwrap()
        .logits;
    let (worst, _) = max_abs_diff_json(&logits, &reference["logits"]).unwrap();
    assert!(
        worst > 1e-4,
        "symmetric padding should differ, max diff {worst}"
    );
}

#[test]
fn a_keras_hdf5_weight_file_loads_and_gives_keras_outputs() {
    let reference = &reference()["tiny"];
    let mut gz = Vec::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/keras_efficientnet_tiny.h5.gz"
        ))
        .unwrap(),
    )
    .read_to_end(&mut gz)
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.h5");
    std::fs::write(&path, &gz).unwrap();
    let (weights, unused) = read_keras_h5(&path).unwrap();
    assert!(unused.is_empty(), "{unused:?}");
    let cfg = EfficientNetConfig {
        width_mult: 0.1,
        ..EfficientNetConfig::keras_b0(5, 7)
    };
    let map = SeededVarMap::new(0);
    let net = EfficientNet::new(cfg, map.var_builder(DType::F32, &Device::Cpu)).unwrap();
    let n_vars = map.named_vars().len();
    let report = load_pretrained(&map, weights).unwrap();
    assert_eq!(report.loaded, n_vars, "{report:?}");
    assert!(
        report.unused.is_empty() && report.kept_initial.is_empty(),
        "{report:?}"
    );
    let out = net
        .forward_taps(&input(32), false, None, &["avg_pool"])
        .unwrap();
    assert_matches_reference(
        vec![
            (
                "logits",
                max_abs_diff_json(&out.logits, &reference["logits"]),
            ),
            (
                "avg_pool",
                max_abs_diff_json(&out.taps["avg_pool"], &reference["avg_pool"]),
            ),
        ],
        1e-5,
    );
    // A file that is not a Keras EfficientNet is a one-line error naming it.
    let gctx = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/l1000_cut_cmappy.gctx"
    );
    let e = read_keras_h5(std::path::Path::new(gctx))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("l1000_cut_cmappy.gctx") && e.contains("no Keras EfficientNet"),
        "{e}"
    );
}

/// The full-size file (16 MB, not committed): `python3 scripts/keras_reference.py --save-b0
/// B0.h5`, then `CELLPAINT_KERAS_B0_H5=B0.h5 cargo test --release --test keras_reference`.
#[test]
fn the_full_keras_b0_weight_file_when_given() {
    let Some(path) = std::env::var_os("CELLPAINT_KERAS_B0_H5") else {
        return;
    };
    let (weights, unused) = read_keras_h5(std::path::Path::new(&path)).unwrap();
    assert!(unused.is_empty(), "{unused:?}");
    let map = SeededVarMap::new(0);
    let net = EfficientNet::new(
        EfficientNetConfig::keras_b0(5, 7),
        map.var_builder(DType::F32, &Device::Cpu),
    )
    .unwrap();
    let report = load_pretrained(&map, weights).unwrap();
    assert_eq!(report.loaded, map.named_vars().len(), "{report:?}");
    let out = net.forward_taps(&input(128), false, None, &[]).unwrap();
    assert_matches_reference(
        vec![(
            "logits (B0 from HDF5)",
            max_abs_diff_json(&out.logits, &reference()["b0"]["logits"]),
        )],
        1e-5,
    );
}
