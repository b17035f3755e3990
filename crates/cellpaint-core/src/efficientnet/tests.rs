use super::*;
use crate::gradcheck::check_gradients;
use crate::init::SeededVarMap;
use candle_core::Var;
use rand::Rng;

fn tiny(in_channels: usize, classes: usize) -> EfficientNetConfig {
    EfficientNetConfig {
        width_mult: 0.25,
        depth_mult: 0.34,
        ..EfficientNetConfig::b0(in_channels, classes)
    }
}

fn input(n: usize, c: usize, hw: usize, seed: u64) -> Tensor {
    let mut rng = crate::rng::seeded_rng(seed);
    let v: Vec<f32> = (0..n * c * hw * hw)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    Tensor::from_vec(v, (n, c, hw, hw), &Device::Cpu).unwrap()
}

#[test]
fn b0_has_torchvisions_shape_and_parameter_count() {
    let map = SeededVarMap::new(0);
    let net = EfficientNet::new(
        EfficientNetConfig::b0(3, 1000),
        map.var_builder(DType::F32, &Device::Cpu),
    )
    .unwrap();
    // torchvision efficientnet_b0: 5,288,548 parameters (running stats are buffers, not counted).
    let params: usize = map
        .named_vars()
        .iter()
        .filter(|(n, _)| !n.ends_with("running_mean") && !n.ends_with("running_var"))
        .map(|(_, v)| v.elem_count())
        .sum();
    assert_eq!(params, 5_288_548);
    assert_eq!(net.config.embedding_dim(), 1280);
    assert!(map
        .named_vars()
        .iter()
        .any(|(n, _)| n == "features.6.0.block.1.0.weight"));
    assert_eq!(
        net.tap_names()
            .iter()
            .filter(|t| t.ends_with("_output"))
            .count(),
        16
    );
}

#[test]
fn five_channel_taps_have_deepprofilers_shapes() {
    let map = SeededVarMap::new(1);
    let net = EfficientNet::new(
        EfficientNetConfig::b0(5, 7),
        map.var_builder(DType::F32, &Device::Cpu),
    )
    .unwrap();
    let x = input(2, 5, 128, 3);
    let out = net
        .forward_taps(&x, false, None, &["block6a_activation", "avg_pool"])
        .unwrap();
    assert_eq!(out.logits.dims(), &[2, 7]);
    assert_eq!(out.taps["block6a_activation"].dims(), &[2, 672, 4, 4]);
    assert_eq!(out.taps["avg_pool"].dims(), &[2, 1280]);
    assert_eq!(
        net.pooled_features(&x, "block6a_activation")
            .unwrap()
            .dims(),
        &[2, 672]
    );
    let e = net
        .forward_taps(&x, false, None, &["block9z_activation"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown EfficientNet tap"), "{e}");
    let e = net.forward(&input(1, 3, 64, 0)).unwrap_err().to_string();
    assert!(e.contains("expects (N, 5, H, W)"), "{e}");
}

#[test]
fn train_mode_updates_running_stats_and_is_seeded() {
    let map = SeededVarMap::new(2);
    let net = EfficientNet::new(tiny(5, 3), map.var_builder(DType::F32, &Device::Cpu)).unwrap();
    let before: Vec<f32> = map.tensors()["features.0.1.running_mean"]
        .to_vec1()
        .unwrap();
    let x = input(4, 5, 32, 1);
    let a = net
        .forward_taps(&x, true, Some(&mut crate::rng::seeded_rng(9)), &[])
        .unwrap()
        .logits;
    let after: Vec<f32> = map.tensors()["features.0.1.running_mean"]
        .to_vec1()
        .unwrap();
    assert_ne!(before, after, "batch norm running mean moved");
    // Same weights, same rng → same dropout / stochastic-depth masks → same logits.
    let map2 = SeededVarMap::new(2);
    let net2 = EfficientNet::new(tiny(5, 3), map2.var_builder(DType::F32, &Device::Cpu)).unwrap();
    let b = net2
        .forward_taps(&x, true, Some(&mut crate::rng::seeded_rng(9)), &[])
        .unwrap()
        .logits;
    let d = crate::gradcheck::max_abs_diff(&a, &b).unwrap();
    assert_eq!(d, 0.0);
}

#[test]
fn gradients_of_a_reduced_width_network() {
    // f64, inference-mode batch norm (batch statistics make finite differences of single
    // elements ill-conditioned); checks every op's backward through the whole network.
    let map = SeededVarMap::new(3);
    let cfg = EfficientNetConfig {
        width_mult: 0.1,
        depth_mult: 0.2,
        ..EfficientNetConfig::b0(2, 3)
    };
    let net = EfficientNet::new(cfg, map.var_builder(DType::F64, &Device::Cpu)).unwrap();
    let x = input(1, 2, 16, 4).to_dtype(DType::F64).unwrap();
    let r = check_gradients(|t| net.forward(t), &x, 1e-5).unwrap();
    assert!(r.max_rel_error < 1e-5, "{r:?}");
}

#[test]
fn a_few_sgd_steps_reduce_the_loss() {
    use crate::optim::{OptimizerConfig, SgdParams};
    let map = SeededVarMap::new(4);
    let net = EfficientNet::new(tiny(5, 2), map.var_builder(DType::F32, &Device::Cpu)).unwrap();
    let vars = map.named_vars().into_iter().map(|(_, v)| v).collect();
    let mut opt = OptimizerConfig::Sgd(SgdParams {
        lr: 0.05,
        momentum: 0.9,
        nesterov: true,
        ..Default::default()
    })
    .build(vars)
    .unwrap();
    // Two classes that differ in mean brightness of channel 0.
    let mut x = input(8, 5, 32, 5);
    let shift: Vec<f32> = (0..8)
        .map(|i| if i % 2 == 0 { 1.5 } else { -1.5 })
        .collect();
    let shift = Tensor::from_vec(shift, (8, 1, 1, 1), &Device::Cpu).unwrap();
    let ch0 = x.narrow(1, 0, 1).unwrap().broadcast_add(&shift).unwrap();
    x = Tensor::cat(&[&ch0, &x.narrow(1, 1, 4).unwrap()], 1).unwrap();
    let y = Tensor::new(&[0u32, 1, 0, 1, 0, 1, 0, 1], &Device::Cpu).unwrap();
    let mut rng = crate::rng::seeded_rng(0);
    let mut losses = Vec::new();
    for _ in 0..8 {
        let logits = net
            .forward_taps(&x, true, Some(&mut rng), &[])
            .unwrap()
            .logits;
        let loss = candle_nn::loss::cross_entropy(&logits, &y).unwrap();
        losses.push(loss.to_scalar::<f32>().unwrap());
        opt.backward_step(&loss).unwrap();
    }
    assert!(losses[7] < losses[0] * 0.8, "{losses:?}");
}

#[test]
fn save_load_and_pretrained_tiling() {
    let dir = tempfile::tempdir().unwrap();
    let map = SeededVarMap::new(5);
    let net = EfficientNet::new(tiny(3, 4), map.var_builder(DType::F32, &Device::Cpu)).unwrap();
    let x = input(1, 3, 32, 2);
    let want = net.forward(&x).unwrap();
    let path = dir.path().join("w.safetensors");
    candle_core::safetensors::save(&map.tensors(), &path).unwrap();
    // Same architecture, other seed, then load: same outputs.
    let map2 = SeededVarMap::new(6);
    let net2 = EfficientNet::new(tiny(3, 4), map2.var_builder(DType::F32, &Device::Cpu)).unwrap();
    let loaded = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let report = weights::load_pretrained(&map2, loaded.clone()).unwrap();
    assert!(!report.tiled_first_conv && report.kept_initial.is_empty());
    let d = (net2.forward(&x).unwrap() - &want)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert_eq!(d, 0.0);
    // A 5-channel, 9-class model from the 3-channel, 4-class weights: first conv tiled, the
    // classifier kept; feeding channel 3 = channel 0 and 4 = channel 1 with the others zero...
    let map5 = SeededVarMap::new(7);
    let _net5 = EfficientNet::new(tiny(5, 9), map5.var_builder(DType::F32, &Device::Cpu)).unwrap();
    let r = weights::load_pretrained(&map5, loaded).unwrap();
    assert!(r.tiled_first_conv);
    assert_eq!(
        r.kept_initial,
        vec![
            "classifier.1.bias".to_string(),
            "classifier.1.weight".to_string()
        ]
    );
    let w5 = &map5.tensors()["features.0.0.weight"];
    let w3 = &map.tensors()["features.0.0.weight"];
    for (i, src) in [0usize, 1, 2, 0, 1].iter().enumerate() {
        let a: Vec<f32> = w5
            .narrow(1, i, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let b: Vec<f32> = w3
            .narrow(1, *src, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(a, b, "channel {i} ← {src}");
    }
}

#[test]
fn timm_names_map_to_torchvision() {
    assert_eq!(
        weights::timm_to_torchvision("conv_stem.weight").unwrap(),
        "features.0.0.weight"
    );
    assert_eq!(
        weights::timm_to_torchvision("blocks.0.0.se.conv_reduce.bias").unwrap(),
        "features.1.0.block.1.fc1.bias"
    );
    assert_eq!(
        weights::timm_to_torchvision("blocks.5.3.conv_pwl.weight").unwrap(),
        "features.6.3.block.3.0.weight"
    );
    assert_eq!(
        weights::timm_to_torchvision("bn2.running_var").unwrap(),
        "features.8.1.running_var"
    );
    assert_eq!(
        weights::timm_to_torchvision("blocks.1.0.bn1.num_batches_tracked"),
        None
    );
}

#[test]
fn squeeze_excitation_folded_into_the_projection_equals_scaling_first() {
    // W·(s⊙x) as per-image weights W·diag(s): same values and the same gradients for x, W
    // and s as the plain composition (broadcast multiply, then the 1×1 convolution).
    let dev = Device::Cpu;
    let x = Var::from_tensor(&input(3, 6, 5, 1).to_dtype(DType::F64).unwrap()).unwrap();
    // 25 pixels ≥ 4 outputs: the folded path.
    let w = Var::from_tensor(
        &input(1, 4 * 6, 1, 2)
            .to_dtype(DType::F64)
            .unwrap()
            .reshape((4, 6, 1, 1))
            .unwrap(),
    )
    .unwrap();
    let s = Var::from_tensor(
        &input(3, 6, 1, 3)
            .to_dtype(DType::F64)
            .unwrap()
            .affine(0.5, 0.5)
            .unwrap(),
    )
    .unwrap();
    let target = input(3, 4, 5, 4).to_dtype(DType::F64).unwrap();
    let run = |fused: bool| {
        let y = if fused {
            pointwise_scaled(x.as_tensor(), w.as_tensor(), s.as_tensor(), true).unwrap()
        } else {
            pointwise(
                &x.as_tensor().broadcast_mul(s.as_tensor()).unwrap(),
                w.as_tensor(),
                true,
            )
            .unwrap()
        };
        let loss = (&y * &target).unwrap().sum_all().unwrap();
        let g = loss.backward().unwrap();
        let grad = |v: &Var| g.get(v.as_tensor()).unwrap().to_device(&dev).unwrap();
        (y, grad(&x), grad(&w), grad(&s))
    };
    let (a, b) = (run(true), run(false));
    for (p, q) in [(&a.0, &b.0), (&a.1, &b.1), (&a.2, &b.2), (&a.3, &b.3)] {
        assert_eq!(p.dims(), q.dims());
        let d = crate::gradcheck::max_abs_diff(p, q).unwrap();
        assert!(d < 1e-12, "{d}");
    }
}

#[test]
fn pointwise_equals_candles_conv2d_per_image_and_over_the_batch() {
    // Every regime: more pixels than output channels (per-image products), fewer in training
    // (one product over the batch) and fewer without training (per-image); values and the
    // gradients of x and the weight.
    for (hw, cout, train) in [(5, 4, true), (2, 9, true), (2, 9, false)] {
        let x = Var::from_tensor(&input(3, 6, hw, 5).to_dtype(DType::F64).unwrap()).unwrap();
        let w = Var::from_tensor(
            &input(1, cout * 6, 1, 6)
                .to_dtype(DType::F64)
                .unwrap()
                .reshape((cout, 6, 1, 1))
                .unwrap(),
        )
        .unwrap();
        let target = input(3, cout, hw, 7).to_dtype(DType::F64).unwrap();
        let run = |ours: bool| {
            let y = if ours {
                pointwise(x.as_tensor(), w.as_tensor(), train).unwrap()
            } else {
                x.as_tensor().conv2d(w.as_tensor(), 0, 1, 1, 1).unwrap()
            };
            let g = (&y * &target)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let x_grad = g.get(x.as_tensor()).unwrap().clone();
            let w_grad = g.get(w.as_tensor()).unwrap().clone();
            (y, x_grad, w_grad)
        };
        let (a, b) = (run(true), run(false));
        for (p, q) in [(&a.0, &b.0), (&a.1, &b.1), (&a.2, &b.2)] {
            assert_eq!(p.dims(), q.dims());
            let d = crate::gradcheck::max_abs_diff(p, q).unwrap();
            assert!(d < 1e-12, "{hw}² pixels, {cout} outputs: {d}");
        }
    }
}
