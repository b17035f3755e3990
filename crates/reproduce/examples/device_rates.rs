//! Step rates of the image networks on one device, to predict paper-scale wall times:
//! `cargo run --release -p reproduce --example device_rates -- device=cuda out=FILE.json`.
//!
//! - `efficientnet`: EfficientNet-B0 (5 channels) training step (forward, backward, SGD with
//!   Nesterov momentum) and inference, at batch 32 of 128×128 crops (DeepProfiler's input and
//!   `scripts/bench_efficientnet_torch.py`'s shapes) and on 1080×1080 fields (MOAProfiler's).
//! - `deepprofiler`, `moa_profiler`, `vae_plus`: a fixed number of steps of each method's own
//!   training task at the paper's settings (network, optimiser, loss, batch size, input size)
//!   on seeded images already on the device: the network's step, not data loading or
//!   augmentation.
//!
//! Keys: `device` (cpu, cuda; default cpu), `out` (JSON file), `steps` (timed steps per case,
//! default 5), `cases` (comma-separated names; default all), `smoke=1` (every case at tiny sizes:
//! checks the code paths on a CPU). A case that fails (e.g. out of memory at a paper batch size)
//! is recorded with its error and the others still run.

use std::time::Instant;

use anyhow::Result;
use cellpaint_core::candle::{DType, Device, Tensor};
use cellpaint_core::classify::{ClassifierSettings, ClassifierTask, ImageSet};
use cellpaint_core::rng::seeded_rng;
use cellpaint_core::{
    Backbone, EfficientNet, EfficientNetConfig, OptimizerConfig, SeededVarMap, SgdParams, TrainTask,
};
use cyto_vaegan::{CropMeta, CropSet, VaeGanConfig, VaeGanTask, Variant};
use serde_json::{json, Value};

#[global_allocator]
static GLOBAL: cellpaint_core::Allocator = cellpaint_core::Allocator;

/// Shapes of one run: the paper's, or tiny ones for a smoke test.
struct Sizes {
    smoke: bool,
    steps: usize,
}

impl Sizes {
    fn batch(&self, paper: usize) -> usize {
        if self.smoke {
            2
        } else {
            paper
        }
    }
    fn side(&self, paper: usize) -> usize {
        if self.smoke {
            64.min(paper)
        } else {
            paper
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Seconds of `f`, after the device has finished its queued work.
fn timed(dev: &Device, f: &mut dyn FnMut() -> Result<()>) -> Result<f64> {
    dev.synchronize()?;
    let t = Instant::now();
    f()?;
    dev.synchronize()?;
    Ok(t.elapsed().as_secs_f64())
}

/// Median seconds of `steps` calls of `f`, after one untimed warm-up call.
fn rate(dev: &Device, steps: usize, f: &mut dyn FnMut() -> Result<()>) -> Result<f64> {
    timed(dev, f)?;
    let times = (0..steps)
        .map(|_| timed(dev, f))
        .collect::<Result<Vec<_>>>()?;
    Ok(median(times))
}

fn randn(shape: (usize, usize, usize, usize), seed: u64, dev: &Device) -> Result<Tensor> {
    let n = shape.0 * shape.1 * shape.2 * shape.3;
    let mut rng = seeded_rng(seed);
    let v: Vec<f32> = (0..n)
        .map(|_| profiles::synthetic::standard_normal(&mut rng) as f32)
        .collect();
    Ok(Tensor::from_vec(v, shape, &Device::Cpu)?.to_device(dev)?)
}

/// EfficientNet-B0 training step and inference at `batch` images of `side`².
fn efficientnet(dev: &Device, sizes: &Sizes, batch: usize, side: usize) -> Result<Value> {
    let (batch, side) = (sizes.batch(batch), sizes.side(side));
    let map = SeededVarMap::new(0);
    let net = EfficientNet::new(
        EfficientNetConfig::b0(5, 10),
        map.var_builder(DType::F32, dev),
    )?;
    let vars = map.named_vars().into_iter().map(|(_, v)| v).collect();
    let mut opt = OptimizerConfig::Sgd(SgdParams {
        lr: 0.005,
        momentum: 0.9,
        nesterov: true,
        ..Default::default()
    })
    .build(vars)?;
    let x = randn((batch, 5, side, side), 1, dev)?;
    let labels: Vec<u32> = (0..batch as u32).map(|i| i % 10).collect();
    let y = Tensor::from_vec(labels, batch, dev)?;
    let mut rng = seeded_rng(0);
    let train = rate(dev, sizes.steps, &mut || {
        let logits = net.forward_taps(&x, true, Some(&mut rng), &[])?.logits;
        let loss = cellpaint_core::candle_nn::loss::cross_entropy(&logits, &y)?;
        opt.backward_step(&loss)?;
        Ok(())
    })?;
    let infer = rate(dev, sizes.steps, &mut || {
        net.forward_taps(&x, false, None, &[])?;
        Ok(())
    })?;
    Ok(json!({
        "batch": batch, "side": side,
        "train_step_s": train, "train_images_per_s": batch as f64 / train,
        "infer_batch_s": infer, "infer_images_per_s": batch as f64 / infer,
    }))
}

/// Images already on the device, served by row.
struct DeviceImages(Tensor);

impl ImageSet for DeviceImages {
    fn len(&self) -> usize {
        self.0.dim(0).unwrap_or(0)
    }
    fn batch(
        &self,
        rows: &[usize],
        _: Option<&[u64]>,
        device: &Device,
    ) -> cellpaint_core::Result<Tensor> {
        let idx: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
        let idx = Tensor::from_vec(idx, rows.len(), self.0.device())?;
        Ok(self.0.index_select(&idx, 0)?.to_device(device)?)
    }
}

/// Seconds per step of `task`, the median of `steps` after one warm-up step.
fn task_rate(dev: &Device, steps: usize, task: &mut dyn TrainTask) -> Result<(f64, f64)> {
    let mut rng = seeded_rng(1);
    let per_epoch = task.steps_per_epoch().max(1);
    let mut s = 0;
    let mut loss = f64::NAN;
    let secs = rate(dev, steps, &mut || {
        let m = task.train_step(s / per_epoch, s % per_epoch, &mut rng)?;
        loss = m.get("loss").copied().unwrap_or(f64::NAN);
        s += 1;
        Ok(())
    })?;
    Ok((secs, loss))
}

/// A method's EfficientNet classifier task: `images` distinct images, `classes` classes.
#[allow(clippy::too_many_arguments)]
fn classifier_case(
    dev: &Device,
    sizes: &Sizes,
    network: EfficientNetConfig,
    optimizer: OptimizerConfig,
    settings: ClassifierSettings,
    side: usize,
    what: &str,
) -> Result<Value> {
    let side = sizes.side(side);
    let settings = settings
        .with_batch_size(sizes.batch(settings.batch_size))
        .with_augment(false);
    let n = settings.batch_size * 2;
    let classes = network.num_classes;
    let images = DeviceImages(randn((n, network.in_channels, side, side), 2, dev)?);
    let labels: Vec<usize> = (0..n).map(|i| i % classes).collect();
    let mut task = ClassifierTask::new(
        &network,
        optimizer,
        settings,
        (&images, labels),
        None,
        Box::new(|l: &[usize], _: &mut _| (0..l.len()).collect()),
        0,
        dev,
    )?;
    let (secs, loss) = task_rate(dev, sizes.steps, &mut task)?;
    Ok(json!({
        "what": what, "batch": settings.batch_size, "side": side,
        "step_s": secs, "steps_per_s": 1.0 / secs, "images_per_s": settings.batch_size as f64 / secs,
        "last_loss": loss,
    }))
}

fn deepprofiler(dev: &Device, sizes: &Sizes) -> Result<Value> {
    let m = deepprofiler_wsl::DeepProfilerConfig::default().train.model;
    classifier_case(
        dev,
        sizes,
        EfficientNetConfig {
            width_mult: m.width_mult,
            ..EfficientNetConfig::b0(5, 100)
        },
        OptimizerConfig::Sgd(SgdParams {
            lr: m.learning_rate,
            momentum: m.momentum,
            nesterov: m.nesterov,
            ..Default::default()
        }),
        ClassifierSettings::default()
            .with_batch_size(m.batch_size)
            .with_label_smoothing(m.label_smoothing)
            .with_l2_kernels(m.l2)
            .with_augment(false),
        m.input_size,
        "DeepProfiler CNN-1: B0 on 5-channel crops, paper batch and input size, 100 classes",
    )
}

fn moa_profiler(dev: &Device, sizes: &Sizes, batch: usize) -> Result<Value> {
    let c = moa_profiler::MoaProfilerConfig::default();
    classifier_case(
        dev,
        sizes,
        EfficientNetConfig {
            width_mult: c.width_mult,
            dropout: c.dropout,
            ..EfficientNetConfig::b0(5, 30)
        },
        OptimizerConfig::Sgd(SgdParams {
            lr: c.learning_rate,
            momentum: c.momentum,
            nesterov: c.nesterov,
            weight_decay: c.weight_decay,
            ..Default::default()
        }),
        ClassifierSettings::default()
            .with_batch_size(batch)
            .with_augment(false),
        c.image_size,
        "MOAProfiler: B0 on whole 5-channel fields at the paper's side, 30 classes",
    )
}

fn vae_plus(dev: &Device, sizes: &Sizes) -> Result<Value> {
    let config = VaeGanConfig {
        batch_size: sizes.batch(VaeGanConfig::paper(Variant::VaePlus).batch_size),
        ..VaeGanConfig::paper(Variant::VaePlus)
    };
    let n = config.batch_size * 2;
    let mut rng = seeded_rng(3);
    let pixels = ndarray::Array4::from_shape_simple_fn((n, 3, 68, 68), || {
        rand::Rng::random::<f32>(&mut rng)
    });
    let meta = (0..n)
        .map(|i| CropMeta {
            plate: "P".into(),
            well: format!("W{}", i % 8),
            site: "1".into(),
            compound: format!("c{}", i % 4),
            concentration: "1".into(),
            moa: format!("m{}", i % 4),
            batch: "b".into(),
        })
        .collect();
    let crops = CropSet::new("seeded", pixels, meta, &config.arch)?;
    let mut task = VaeGanTask::new(&config, &crops, 0, dev)?;
    let (secs, loss) = task_rate(dev, sizes.steps, &mut task)?;
    Ok(json!({
        "what": "VAE+: encoder, decoder and discriminator step at the paper's batch (B1 and B2)",
        "batch": config.batch_size, "step_s": secs, "steps_per_s": 1.0 / secs,
        "paper_iterations": config.iterations,
        "predicted_paper_hours": config.iterations as f64 * secs / 3600.0,
        "last_loss": loss,
    }))
}

fn main() -> Result<()> {
    // Before any thread starts (candle otherwise re-reads /proc/cpuinfo per matrix product).
    cellpaint_core::threads::fix_thread_counts();
    let args = reproduce::KeyValues::from_args();
    let choice = args.device()?;
    let dev = choice.device()?;
    let sizes = Sizes {
        smoke: args.get("smoke", 0.0)? > 0.0,
        steps: args.get("steps", 5.0)? as usize,
    };
    let wanted: Option<Vec<String>> = args
        .0
        .get("cases")
        .map(|c| c.split(',').map(str::to_string).collect());
    type Case<'a> = (&'a str, Box<dyn Fn() -> Result<Value> + 'a>);
    let cases: Vec<Case> = vec![
        (
            "efficientnet_crops",
            Box::new(|| efficientnet(&dev, &sizes, 32, 128)),
        ),
        ("deepprofiler", Box::new(|| deepprofiler(&dev, &sizes))),
        ("vae_plus", Box::new(|| vae_plus(&dev, &sizes))),
        (
            "efficientnet_fields_b8",
            Box::new(|| efficientnet(&dev, &sizes, 8, 1080)),
        ),
        (
            "moa_profiler_b8",
            Box::new(|| moa_profiler(&dev, &sizes, 8)),
        ),
        (
            "moa_profiler_paper",
            Box::new(|| moa_profiler(&dev, &sizes, 56)),
        ),
    ];
    let mut results = serde_json::Map::new();
    results.insert("device".into(), json!(choice.to_string()));
    results.insert("smoke".into(), json!(sizes.smoke));
    results.insert("timed_steps".into(), json!(sizes.steps));
    for (name, run) in &cases {
        if wanted
            .as_ref()
            .is_some_and(|w| !w.iter().any(|c| c == name))
        {
            continue;
        }
        let t = Instant::now();
        let value = match run() {
            Ok(v) => v,
            // The first line: candle appends a backtrace when RUST_BACKTRACE is set.
            Err(e) => json!({ "error": format!("{e:#}").lines().next().unwrap_or("").to_string() }),
        };
        eprintln!(
            "device_rates {name} ({:.1} s): {value}",
            t.elapsed().as_secs_f64()
        );
        results.insert(name.to_string(), value);
        if let Some(out) = args.0.get("out") {
            // Rewritten after every case, so that a run cut short keeps what it measured.
            cellpaint_core::profiles::write_json(
                std::path::Path::new(out),
                &Value::Object(results.clone()),
            )?;
        }
    }
    println!("{}", serde_json::to_string_pretty(&Value::Object(results))?);
    Ok(())
}
