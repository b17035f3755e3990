//! Our EfficientNet-B0 against torchvision's on the same weights and input
//! (fixtures/efficientnet_b0_reference.json, made by scripts/efficientnet_reference.py).
//! Weights and input come from a formula both sides evaluate exactly
//! ([`cellpaint_core::testing::formula`]), so no weight file is committed; batch-norm statistics
//! are calibrated by one training-mode pass, as in the script.

use cellpaint_core::candle::{DType, Device, Tensor};
use cellpaint_core::testing::{assert_forward_matches, formula, set_formula_weights};
use cellpaint_core::{Backbone, EfficientNet, EfficientNetConfig, SeededVarMap};

#[test]
fn matches_torchvision_efficientnet_b0_with_five_channels() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/efficientnet_b0_reference.json"
    );
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cfg = EfficientNetConfig {
        bn_momentum: 1.0,
        dropout: 0.0,
        stochastic_depth: 0.0,
        ..EfficientNetConfig::b0(5, 7)
    };
    let map = SeededVarMap::new(0);
    let net = EfficientNet::new(cfg, map.var_builder(DType::F32, &Device::Cpu)).unwrap();
    set_formula_weights(&map).unwrap();
    let x = Tensor::from_vec(
        formula("input", 2 * 5 * 128 * 128, -1.0, 1.0),
        (2, 5, 128, 128),
        &Device::Cpu,
    )
    .unwrap();
    net.forward_taps(&x, true, None, &[]).unwrap(); // calibrate batch-norm statistics
    let out = net
        .forward_taps(&x, false, None, &["block6a_activation", "avg_pool"])
        .unwrap();
    assert_forward_matches(&out, "block6a_activation", &reference, 1e-4);
}
