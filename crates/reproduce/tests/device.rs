//! Every op and every network on the test device against the CPU, and a short training of each
//! network type there. The device is `CELLPAINT_TEST_DEVICE` (`cpu` when unset, `cuda` on a GPU
//! machine: `scripts/gpu-check.sh`). A device this build cannot open fails the tests; it never
//! falls back to the CPU.
//!
//! On the CPU the ops are checked against candle's own compositions (our CPU kernels are the
//! fast path there), the networks against themselves (so only finiteness and shapes), and each
//! training must lower its loss. On CUDA every comparison is CUDA against the CPU result, to the
//! tolerance stated beside it; each line printed is one comparison, for docs/gpu.md.

use std::collections::HashMap;

use cellpaint_core::candle::{DType, Device, Tensor, Var, D};
use cellpaint_core::classify::{ClassifierSettings, ClassifierTask, ImageSet};
use cellpaint_core::efficientnet::depthwise::{depthwise_conv2d, depthwise_conv2d_composed};
use cellpaint_core::rng::seeded_rng;
use cellpaint_core::{
    Backbone, BatchNorm2d, DeviceChoice, EfficientNet, EfficientNetConfig, OptimizerConfig,
    SeededVarMap, SgdParams, TrainTask,
};
use cyto_vaegan::{ArchConfig, CropMeta, CropSet, VaeGan, VaeGanConfig, VaeGanTask, Variant};
use ndarray::{Array2, Array4};
use profile_vae::{Vae, VaeConfig, VaeTask};

fn test_device() -> Device {
    let name = std::env::var("CELLPAINT_TEST_DEVICE").unwrap_or_else(|_| "cpu".into());
    let choice: DeviceChoice = name
        .parse()
        .unwrap_or_else(|e| panic!("CELLPAINT_TEST_DEVICE: {e}"));
    choice
        .device()
        .unwrap_or_else(|e| panic!("CELLPAINT_TEST_DEVICE={name}: {e}"))
}

/// Seeded values in [−scale, scale), as a CPU tensor.
fn values(shape: &[usize], seed: u64, scale: f32) -> Tensor {
    let n: usize = shape.iter().product();
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// A tensor's values, from any device.
fn cpu_values(t: &Tensor) -> Vec<f32> {
    t.flatten_all()
        .unwrap()
        .to_device(&Device::Cpu)
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// max|a − b| / max(max|b|, 1e-3): the error relative to the reference's scale.
fn relative_error(a: &Tensor, b: &Tensor) -> f64 {
    let (a, b) = (cpu_values(a), cpu_values(b));
    assert_eq!(a.len(), b.len(), "sizes differ");
    assert!(
        a.iter().all(|x| x.is_finite()),
        "non-finite values on the device"
    );
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    let scale = b.iter().map(|y| y.abs()).fold(1e-3f32, f32::max);
    f64::from(diff / scale)
}

fn report(what: &str, device: &Device, err: f64, tol: f64) {
    println!(
        "device-check {:<44} {:>5}: relative error {err:.2e} (tolerance {tol:.0e})",
        what,
        if device.is_cpu() { "cpu" } else { "cuda" }
    );
    assert!(err <= tol, "{what}: relative error {err:.3e} > {tol:.0e}");
}

/// An op's output and the gradients of Σ(out · r) with respect to its inputs.
fn with_gradients(
    inputs: &[Tensor],
    device: &Device,
    op: impl Fn(&[Tensor]) -> Tensor,
) -> (Tensor, Vec<Tensor>) {
    let vars: Vec<Var> = inputs
        .iter()
        .map(|t| Var::from_tensor(&t.to_device(device).unwrap()).unwrap())
        .collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let out = op(&ts);
    let r = values(out.dims(), 99, 1.0).to_device(device).unwrap();
    let grads = (&out * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let g = vars
        .iter()
        .map(|v| grads.get(v.as_tensor()).expect("gradient").clone())
        .collect();
    (out, g)
}

/// `op` on the test device against `reference` on the CPU: values and every input's gradient.
fn compare_op(
    what: &str,
    inputs: &[Tensor],
    tol: f64,
    op: impl Fn(&[Tensor]) -> Tensor,
    reference: impl Fn(&[Tensor]) -> Tensor,
) {
    let device = test_device();
    let (y, gy) = with_gradients(inputs, &device, op);
    let (r, gr) = with_gradients(inputs, &Device::Cpu, reference);
    report(
        &format!("{what}: forward"),
        &device,
        relative_error(&y, &r),
        tol,
    );
    for (k, (a, b)) in gy.iter().zip(&gr).enumerate() {
        report(
            &format!("{what}: gradient {k}"),
            &device,
            relative_error(a, b),
            tol,
        );
    }
}

#[test]
fn ops_match_the_cpu() {
    println!(
        "device-check our CUDA kernels: {}",
        if cellpaint_core::device::cuda_kernels() {
            "on"
        } else {
            "off (compositions)"
        }
    );
    let x = values(&[2, 6, 13, 11], 1, 2.0);
    for (k, stride, pad) in [(3, 1, 1), (5, 2, 2), (3, 2, 1)] {
        let w = values(&[6, 1, k, k], 2, 0.5);
        // Our kernel (the CPU's; CUDA's with CELLPAINT_CUDA_KERNELS=1), then the composition.
        compare_op(
            &format!("depthwise {k}×{k} stride {stride}"),
            &[x.clone(), w.clone()],
            1e-5,
            |t| depthwise_conv2d(&t[0], &t[1], stride, pad).unwrap(),
            |t| depthwise_conv2d_composed(&t[0], &t[1], stride, pad).unwrap(),
        );
        compare_op(
            &format!("depthwise {k}×{k} stride {stride}, composition"),
            &[x.clone(), w],
            1e-5,
            |t| depthwise_conv2d_composed(&t[0], &t[1], stride, pad).unwrap(),
            |t| depthwise_conv2d(&t[0], &t[1], stride, pad).unwrap(),
        );
    }
    let w = values(&[4, 6, 5, 5], 3, 0.3);
    compare_op(
        "conv2d 5×5 pad 2 (im2col on the CPU)",
        &[x.clone(), w],
        1e-5,
        |t| cellpaint_core::conv::conv2d(&t[0], &t[1], 2).unwrap(),
        |t| t[0].conv2d(&t[1], 2, 1, 1, 1).unwrap(),
    );
    // VAE+'s first layer at its size: 3 → 32 channels, 5×5, no padding, 68×68.
    compare_op(
        "conv2d 5×5, 4×3×68×68 → 32 (VAE+ layer 1)",
        &[
            values(&[4, 3, 68, 68], 5, 1.0),
            values(&[32, 3, 5, 5], 6, 0.2),
        ],
        1e-5,
        |t| cellpaint_core::conv::conv2d(&t[0], &t[1], 0).unwrap(),
        |t| t[0].conv2d(&t[1], 0, 1, 1, 1).unwrap(),
    );
    compare_op(
        "max-pool 2×2 stride 2, then leaky ReLU (VAE+ blocks)",
        &[values(&[4, 8, 32, 32], 7, 1.0)],
        1e-6,
        |t| {
            let y = cellpaint_core::pool::max_pool2d(&t[0], (2, 2), (2, 2), (0, 0)).unwrap();
            y.maximum(&(&y * 0.2).unwrap()).unwrap()
        },
        |t| {
            let y = cellpaint_core::pool::max_pool2d(&t[0], (2, 2), (2, 2), (0, 0)).unwrap();
            y.maximum(&(&y * 0.2).unwrap()).unwrap()
        },
    );
    compare_op(
        "nearest ×2 up-sampling (VAE+ decoder)",
        &[values(&[2, 4, 9, 9], 8, 1.0)],
        1e-6,
        |t| cyto_vaegan::model::upsample2(&t[0]).unwrap(),
        |t| t[0].upsample_nearest2d(18, 18).unwrap(),
    );
    compare_op(
        "max-pool 3×3 stride 2 pad 1",
        &[x.clone()],
        1e-6,
        |t| cellpaint_core::pool::max_pool2d(&t[0], (3, 3), (2, 2), (1, 1)).unwrap(),
        |t| cellpaint_core::pool::max_pool2d(&t[0], (3, 3), (2, 2), (1, 1)).unwrap(),
    );
    // Batch norm in training mode (+ SiLU): the fused CPU op against candle ops written out.
    let bn = |t: &[Tensor], fused: bool| {
        let map = SeededVarMap::new(4);
        let bn =
            BatchNorm2d::new(6, 1e-3, 0.1, map.var_builder(DType::F32, t[0].device())).unwrap();
        if fused {
            return bn.forward(&t[0], true, true).unwrap();
        }
        let mean = t[0]
            .mean_keepdim(D::Minus1)
            .unwrap()
            .mean_keepdim(D::Minus2)
            .unwrap()
            .mean_keepdim(0)
            .unwrap();
        let centred = t[0].broadcast_sub(&mean).unwrap();
        let var = centred
            .sqr()
            .unwrap()
            .mean_keepdim(D::Minus1)
            .unwrap()
            .mean_keepdim(D::Minus2)
            .unwrap()
            .mean_keepdim(0)
            .unwrap();
        centred
            .broadcast_div(&(var + 1e-3).unwrap().sqrt().unwrap())
            .unwrap()
            .silu()
            .unwrap()
    };
    compare_op(
        "batch norm (training) + SiLU",
        &[x.clone()],
        1e-4,
        |t| bn(t, true),
        |t| bn(t, false),
    );
}

/// A network's loss on a device in a dtype, built from a seeded map.
type Build = dyn Fn(&SeededVarMap, &Device, DType) -> Box<dyn Fn() -> Tensor>;

/// Loss and every variable's gradient of one network's forward/backward, by variable name.
fn network_gradients(
    device: &Device,
    dtype: DType,
    build: &Build,
) -> (Tensor, HashMap<String, Tensor>) {
    let map = SeededVarMap::new(7);
    let loss = build(&map, device, dtype)();
    let grads = loss.backward().unwrap();
    let g = map
        .named_vars()
        .into_iter()
        .filter_map(|(name, v)| {
            // Batch norms' running statistics, updated by the training-mode forward pass,
            // are compared beside the gradients.
            let value = if name.contains("running_") {
                Some(v.as_tensor().clone())
            } else {
                grads.get(v.as_tensor()).cloned()
            };
            value.map(|g| (name, g.to_dtype(DType::F32).unwrap()))
        })
        .collect();
    (loss.to_dtype(DType::F32).unwrap(), g)
}

/// The test device's f32 loss and gradients against the CPU in f64 (the truth here). A
/// gradient that is a difference of large terms (a kernel feeding a batch norm) has an f32
/// error well above f32's epsilon on any device, so each is allowed `tol` plus 10× the error
/// the CPU's own f32 result has on it; the CPU's must stay within 5 %.
fn compare_network(what: &str, tol: f64, build: &Build) {
    let device = test_device();
    let (loss, grads) = network_gradients(&device, DType::F32, build);
    // The same computation again on the device: it must give the same numbers.
    let (_, again) = network_gradients(&device, DType::F32, build);
    let repeat = grads
        .iter()
        .map(|(name, g)| (relative_error(&again[name], g), name))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .expect("gradients");
    println!(
        "device-check {what}: repeated on the device, worst {}: {:.2e}",
        repeat.1, repeat.0
    );
    report(&format!("{what}: repeated"), &device, repeat.0, 1e-6);
    let (cpu_loss, cpu_grads) = network_gradients(&Device::Cpu, DType::F32, build);
    let (truth_loss, truth) = network_gradients(&Device::Cpu, DType::F64, build);
    let cpu_err = relative_error(&cpu_loss, &truth_loss);
    report(
        &format!("{what}: loss"),
        &device,
        relative_error(&loss, &truth_loss),
        tol + 10.0 * cpu_err,
    );
    assert_eq!(
        grads.len(),
        truth.len(),
        "{what}: gradients of different variables"
    );
    assert!(!grads.is_empty(), "{what}: no gradients");
    let mut worst = (f64::NEG_INFINITY, 0.0, 0.0, String::new());
    for (name, t) in &truth {
        let (dev_err, cpu_err) = (
            relative_error(&grads[name], t),
            relative_error(&cpu_grads[name], t),
        );
        assert!(
            cpu_err <= 0.05,
            "{what}: {name}: the CPU's f32 gradient is {cpu_err:.2e} off f64"
        );
        let margin = dev_err - (tol + 10.0 * cpu_err);
        if margin > 0.0 {
            println!(
                "device-check {what}: {name}: {dev_err:.2e} against f64 (CPU f32 {cpu_err:.2e})"
            );
        }
        if margin > worst.0 {
            worst = (margin, dev_err, cpu_err, name.clone());
        }
    }
    let (_, dev_err, cpu_err, name) = worst;
    println!(
        "device-check {what}: of {} gradients and running statistics, nearest its tolerance against f64: {name}: {dev_err:.2e} (CPU f32 {cpu_err:.2e})",
        grads.len()
    );
    report(
        &format!("{what}: gradients"),
        &device,
        dev_err,
        tol + 10.0 * cpu_err,
    );
}

#[test]
fn networks_match_the_cpu() {
    compare_network(
        "EfficientNet-B0, 2×5×64×64, training",
        1e-4,
        &|map, dev, dt| {
            let net =
                EfficientNet::new(EfficientNetConfig::b0(5, 7), map.var_builder(dt, dev)).unwrap();
            let x = values(&[2, 5, 64, 64], 11, 1.0)
                .to_dtype(dt)
                .unwrap()
                .to_device(dev)
                .unwrap();
            let y = Tensor::new(&[1u32, 4], dev).unwrap();
            Box::new(move || {
                let logits = net.forward_taps(&x, true, None, &[]).unwrap().logits;
                cellpaint_core::candle_nn::loss::cross_entropy(&logits, &y).unwrap()
            })
        },
    );
    compare_network(
        "VAE+ encoder, decoder, discriminator, 4×3×68×68",
        1e-4,
        &|map, dev, dt| {
            let arch = ArchConfig::default();
            let m = VaeGan::reference(&arch, true, map.var_builder(dt, dev)).unwrap();
            let x = ((values(&[4, 3, 68, 68], 12, 0.5) + 0.5).unwrap())
                .to_dtype(dt)
                .unwrap()
                .to_device(dev)
                .unwrap();
            Box::new(move || {
                let (mu, logvar) = m.encoder.encode(&x, true).unwrap();
                let y = m.decoder.decode(&mu, true).unwrap();
                let both = Tensor::cat(&[&x, &y], 0).unwrap();
                let d = m
                    .discriminator
                    .as_ref()
                    .unwrap()
                    .discriminate(&both, 4)
                    .unwrap();
                let mut loss = ((&x - &y).unwrap().sqr().unwrap().mean_all().unwrap()
                    + logvar.exp().unwrap().mean_all().unwrap())
                .unwrap();
                for h in d.hidden.iter().chain([&d.logits]) {
                    loss = (loss + h.sqr().unwrap().mean_all().unwrap()).unwrap();
                }
                loss
            })
        },
    );
    compare_network(
        "profile VAE (β, batch norm), 16×40",
        1e-4,
        &|map, dev, dt| {
            let m = Vae::new(VaeConfig::beta_vae(40, 0.5), map.var_builder(dt, dev)).unwrap();
            let x = ((values(&[16, 40], 13, 0.5) + 0.5).unwrap())
                .to_dtype(dt)
                .unwrap()
                .to_device(dev)
                .unwrap();
            let latent = m.config.latent;
            let eps = values(&[16, latent], 14, 1.0)
                .to_dtype(dt)
                .unwrap()
                .to_device(dev)
                .unwrap();
            Box::new(move || {
                let out = m.forward(&x, true, &eps).unwrap();
                (Vae::reconstruction_loss(&x, &out.reconstruction).unwrap()
                    + out.logvar.exp().unwrap().mean_all().unwrap())
                .unwrap()
            })
        },
    );
}

/// A fixed set of images for the classifier's training check.
struct Images(Tensor);

impl ImageSet for Images {
    fn len(&self) -> usize {
        self.0.dim(0).unwrap()
    }
    fn batch(
        &self,
        rows: &[usize],
        _: Option<&[u64]>,
        device: &Device,
    ) -> cellpaint_core::Result<Tensor> {
        let idx: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
        let idx = Tensor::new(idx.as_slice(), &Device::Cpu)?;
        Ok(self.0.index_select(&idx, 0)?.to_device(device)?)
    }
}

/// `steps` training steps of `task`, each step's loss.
fn train(task: &mut dyn TrainTask, steps: usize) -> Vec<f64> {
    let mut rng = seeded_rng(5);
    let per_epoch = task.steps_per_epoch();
    (0..steps)
        .map(|s| {
            let m = task
                .train_step(s / per_epoch, s % per_epoch, &mut rng)
                .unwrap();
            m["loss"]
        })
        .collect()
}

/// The device's losses against the CPU's: the first step to `tol` (same seeded start, same
/// data); every loss finite; the last below the first.
fn check_training(what: &str, tol: f64, run: &dyn Fn(&Device) -> Vec<f64>) {
    let device = test_device();
    let losses = run(&device);
    println!("device-check {what}: losses {losses:.4?}");
    assert!(
        losses.iter().all(|l| l.is_finite()),
        "{what}: non-finite loss {losses:?}"
    );
    assert!(
        losses.last() < losses.first(),
        "{what}: training did not lower the loss: {losses:?}"
    );
    if !device.is_cpu() {
        let cpu = run(&Device::Cpu);
        let err = (losses[0] - cpu[0]).abs() / cpu[0].abs().max(1e-3);
        report(&format!("{what}: first loss"), &device, err, tol);
    }
}

#[test]
fn each_network_type_trains_on_the_device() {
    check_training("EfficientNet-B0 classifier, 8×5×32×32", 1e-3, &|dev| {
        let images = Images(values(&[8, 5, 32, 32], 21, 1.0));
        let labels: Vec<usize> = (0..8).map(|i| i % 2).collect();
        let mut task = ClassifierTask::new(
            &EfficientNetConfig::b0(5, 2),
            OptimizerConfig::Sgd(SgdParams {
                lr: 0.01,
                momentum: 0.0,
                ..Default::default()
            }),
            ClassifierSettings::default()
                .with_batch_size(8)
                .with_augment(false),
            (&images, labels),
            None,
            Box::new(|labels: &[usize], _: &mut _| (0..labels.len()).collect()),
            3,
            dev,
        )
        .unwrap();
        train(&mut task, 6)
    });
    check_training(
        "VAE+ (discriminator on), batches of 4 crops 3×68×68",
        1e-3,
        &|dev| {
            let arch = ArchConfig::default();
            let n = 8;
            let px: Vec<f32> = values(&[n, 3, 68, 68], 22, 0.5)
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let pixels =
                Array4::from_shape_vec((n, 3, 68, 68), px.iter().map(|v| v + 0.5).collect())
                    .unwrap();
            let meta = (0..n)
                .map(|i| CropMeta {
                    plate: "P".into(),
                    well: format!("W{}", i % 4),
                    site: "1".into(),
                    compound: format!("c{}", i % 2),
                    concentration: "1".into(),
                    moa: format!("m{}", i % 2),
                    batch: "b".into(),
                })
                .collect();
            let crops = CropSet::new("seeded", pixels, meta, &arch).unwrap();
            let config = VaeGanConfig {
                batch_size: 4,
                iterations: 6,
                iterations_per_record: 6,
                // γ stays ≈ 0 for these steps, so the loss is comparable step to step; the
                // discriminator still trains and its features are still computed.
                feature_period: 10_000,
                ..VaeGanConfig::paper(Variant::VaePlus)
            };
            let mut task = VaeGanTask::new(&config, &crops, 3, dev).unwrap();
            train(&mut task, 6)
        },
    );
    check_training("profile VAE (β), 64×40", 1e-4, &|dev| {
        let x = Array2::from_shape_fn((64, 40), |(i, j)| ((i * 7 + j * 3) % 11) as f64 / 10.0);
        let mut task = VaeTask::on_device(
            VaeConfig::beta_vae(40, 0.5),
            x.view(),
            None,
            16,
            1e-3,
            3,
            dev,
        )
        .unwrap();
        train(&mut task, 12)
    });
}
