//! Our ResNet-18 against torchvision's `resnet18` on the same weights and input
//! (fixtures/resnet18_reference.json, made by scripts/resnet_reference.py), with 5 input
//! channels: weights and input from the formula both sides evaluate
//! ([`cellpaint_core::testing::formula`]); batch-norm statistics calibrated by one
//! training-mode pass with momentum 1, then compared in inference mode.

use cellpaint_core::candle::{DType, Device, Tensor};
use cellpaint_core::testing::{assert_forward_matches, formula, set_formula_weights};
use cellpaint_core::{Backbone, ResNet, ResNetConfig, ResNetDepth, SeededVarMap};

#[test]
fn matches_torchvision_resnet18_with_five_channels() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/resnet18_reference.json"
    );
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cfg = ResNetConfig {
        bn_momentum: 1.0,
        ..ResNetConfig::new(ResNetDepth::R18, 5, 7)
    };
    let map = SeededVarMap::new(0);
    let net = ResNet::new(cfg, map.var_builder(DType::F32, &Device::Cpu)).unwrap();
    set_formula_weights(&map).unwrap();
    let x = Tensor::from_vec(
        formula("input", 2 * 5 * 96 * 96, -1.0, 1.0),
        (2, 5, 96, 96),
        &Device::Cpu,
    )
    .unwrap();
    net.forward_taps(&x, true, None, &[]).unwrap(); // calibrate batch-norm statistics
    let out = net
        .forward_taps(&x, false, None, &["layer3", "avg_pool"])
        .unwrap();
    assert_forward_matches(&out, "layer3", &reference, 1e-4);
}
