//! The shared classifier learns, on both registered backbone families: on a small seeded image
//! task (each class a blob in its own channel, at a random place, over noise) training must
//! reach a stated accuracy. Fails if a gradient, the optimiser step or the batch path breaks.

#[global_allocator]
static GLOBAL: cellpaint_core::Allocator = cellpaint_core::Allocator;

use cellpaint_core::candle::{Device, Tensor};
use cellpaint_core::candle_nn::{self, VarBuilder};
use cellpaint_core::classify::{ClassifierLoss, ClassifierSettings, ClassifierTask, ImageSet};
use cellpaint_core::rng::{permutation, seeded_rng, Rng};
use cellpaint_core::{
    Backbone, BackboneSpec, BuildBackbone, EfficientNetConfig, Forward, LrSchedule,
    OptimizerConfig, Result, SgdParams, TrainConfig, Trainer, EMBEDDING_TAP,
};
use rand::Rng as _;

/// Seeded images `(C, S, S)`: class k lights a disc of radius 3..6 in channel k + 1 (channel 0
/// holds the disc for every class, like a nucleus stain), uniform noise everywhere.
struct Blobs {
    images: Vec<Vec<f32>>,
    labels: Vec<usize>,
    channels: usize,
    size: usize,
}

impl Blobs {
    fn new(n: usize, classes: usize, size: usize, seed: u64) -> Self {
        let mut rng = seeded_rng(seed);
        let channels = classes + 1;
        let (mut images, mut labels) = (Vec::new(), Vec::new());
        for i in 0..n {
            let k = i % classes;
            let r = rng.random_range(3.0..6.0f32);
            let (cx, cy) = (
                rng.random_range(r..size as f32 - r),
                rng.random_range(r..size as f32 - r),
            );
            let mut img = vec![0f32; channels * size * size];
            for c in 0..channels {
                for y in 0..size {
                    for x in 0..size {
                        let d2 = (x as f32 - cx).powi(2) + (y as f32 - cy).powi(2);
                        let on = d2 < r * r && (c == 0 || c == k + 1);
                        img[(c * size + y) * size + x] =
                            if on { 1.0 } else { 0.0 } + rng.random_range(-0.3..0.3f32);
                    }
                }
            }
            images.push(img);
            labels.push(k);
        }
        Self {
            images,
            labels,
            channels,
            size,
        }
    }
}

impl ImageSet for Blobs {
    fn len(&self) -> usize {
        self.images.len()
    }
    fn batch(&self, rows: &[usize], _seeds: Option<&[u64]>, device: &Device) -> Result<Tensor> {
        let data: Vec<f32> = rows
            .iter()
            .flat_map(|&r| self.images[r].iter().copied())
            .collect();
        Ok(Tensor::from_vec(
            data,
            (rows.len(), self.channels, self.size, self.size),
            device,
        )?)
    }
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const CLASSES: usize = 4;

#[test]
fn efficientnet_classifier_learns_a_seeded_image_task() {
    let width = env("LEARN_WIDTH", 0.25f64);
    learns(
        &EfficientNetConfig {
            width_mult: width,
            dropout: env("LEARN_DROPOUT", 0.2f64),
            stochastic_depth: env("LEARN_SD", 0.2f64),
            ..EfficientNetConfig::b0(CLASSES + 1, CLASSES)
        },
        // Rate 0.03 for 10 epochs, from a sweep (2026-12-03): at the former 0.05 for 6 epochs
        // the end point swung between 0.41 and 0.71 training accuracy with rounding-level
        // changes in batch norm (an exp within 2 ulp of the library's; rates 0.03–0.07 × 2
        // builds: 4 of 10 runs under the bar; this build 0.64 / 0.50). At 0.03 / 10 epochs this
        // build ends at 0.74 / 0.75, and batches of 24 or 40, 224 or 288 images, 8 or 12 epochs
        // end at 0.65–0.81 training accuracy except batch 40 (0.51 / 0.50, at the bar): some
        // trajectories stay on a plateau where the network tells two of the four classes apart,
        // so the margin is wider than before but not against every perturbation.
        env("LEARN_EPOCHS", 10usize),
        0.03,
    );
}

/// The second backbone, picked by its registered name as a config does.
#[test]
fn resnet18_classifier_learns_the_same_task() {
    learns(
        &BackboneSpec {
            width_mult: 0.25,
            ..BackboneSpec::new("resnet18", CLASSES + 1, CLASSES)
        },
        env("LEARN_EPOCHS", 4usize),
        0.05,
    );
}

/// A method developer's own backbone, defined outside the crate with only the public API: one
/// 3×3 convolution, ReLU, global average pool and a linear classifier.
#[derive(Debug)]
struct TinyConvNet {
    conv: candle_nn::Conv2d,
    fc: candle_nn::Linear,
    channels: usize,
    classes: usize,
}

impl Backbone for TinyConvNet {
    fn name(&self) -> &str {
        "tiny-conv"
    }
    fn in_channels(&self) -> usize {
        self.channels
    }
    fn num_classes(&self) -> usize {
        self.classes
    }
    fn embedding_dim(&self) -> usize {
        16
    }
    fn tap_names(&self) -> Vec<String> {
        vec!["conv".into(), EMBEDDING_TAP.into()]
    }
    fn forward_taps(
        &self,
        x: &Tensor,
        _train: bool,
        _rng: Option<&mut Rng>,
        taps: &[&str],
    ) -> cellpaint_core::candle::Result<Forward> {
        use cellpaint_core::candle::Module;
        let h = self.conv.forward(x)?.relu()?;
        let pooled = h.mean((2, 3))?;
        let mut got = std::collections::HashMap::new();
        for (name, t) in [("conv", &h), (EMBEDDING_TAP, &pooled)] {
            if taps.contains(&name) {
                got.insert(name.to_string(), t.clone());
            }
        }
        Ok(Forward {
            logits: self.fc.forward(&pooled)?,
            taps: got,
        })
    }
}

/// The classifier trains a backbone it has never heard of, passed in as a builder closure.
#[test]
fn a_backbone_defined_outside_the_crate_trains_through_the_classifier() {
    learns(&tiny_conv_net, env("LEARN_EPOCHS", 6usize), 0.05);
}

/// Builds [`TinyConvNet`]: a closure (or fn) from a `VarBuilder` is a `BuildBackbone`.
fn tiny_conv_net(vb: VarBuilder) -> cellpaint_core::candle::Result<Box<dyn Backbone>> {
    let cfg = candle_nn::Conv2dConfig {
        padding: 1,
        ..Default::default()
    };
    Ok(Box::new(TinyConvNet {
        conv: candle_nn::conv2d(CLASSES + 1, 16, 3, cfg, vb.pp("conv"))?,
        fc: candle_nn::linear(16, CLASSES, vb.pp("fc"))?,
        channels: CLASSES + 1,
        classes: CLASSES,
    }))
}

/// A method developer's own loss: the Brier score, Σ_k (softmax_k − onehot_k)², batch mean.
struct Brier;

impl ClassifierLoss for Brier {
    fn name(&self) -> &str {
        "brier"
    }
    fn loss(&self, logits: &Tensor, labels: &[usize]) -> Result<Tensor> {
        let (n, k) = logits.dims2()?;
        let mut onehot = vec![0f32; n * k];
        for (i, &l) in labels.iter().enumerate() {
            onehot[i * k + l] = 1.0;
        }
        let onehot = Tensor::from_vec(onehot, (n, k), logits.device())?;
        let p = candle_nn::ops::softmax(logits, 1)?;
        Ok(((p - onehot)?.sqr()?.sum_all()? / n as f64)?)
    }
}

/// The classifier minimises a loss it has never heard of, passed with `with_loss`: the recorded
/// loss is the Brier score (≤ 0.75 for 4 classes at the start, where cross-entropy is ≈ ln 4 =
/// 1.39), and the network learns under it.
#[test]
fn a_loss_defined_outside_the_crate_trains_the_classifier() {
    let history = learns_with(
        &tiny_conv_net,
        env("LEARN_EPOCHS", 6usize),
        0.05,
        Some(Box::new(Brier)),
    );
    let first = history[0]["metrics"]["loss"].as_f64().unwrap();
    let last = history.last().unwrap()["metrics"]["loss"].as_f64().unwrap();
    assert!(
        first <= 0.8 && last < first,
        "Brier loss {first:.3} → {last:.3}"
    );
}

fn learns(network: &dyn BuildBackbone, epochs: usize, lr: f64) {
    learns_with(network, epochs, lr, None);
}

/// Trains `network` on the blob task (with `loss`, or the default cross-entropy), asserts
/// training and validation accuracy ≥ 2× chance, and returns the epochs' records.
fn learns_with(
    network: &dyn BuildBackbone,
    epochs: usize,
    lr: f64,
    loss: Option<Box<dyn ClassifierLoss>>,
) -> Vec<serde_json::Value> {
    let classes = CLASSES;
    let size = env("LEARN_SIZE", 32usize);
    let lr = env("LEARN_LR", lr);
    let batch = env("LEARN_BATCH", 32usize);
    let n = env("LEARN_N", 256usize);
    let train = Blobs::new(n, classes, size, 1);
    let val = Blobs::new(64, classes, size, 2);
    let dev = Device::Cpu;
    let mut task = ClassifierTask::new(
        network,
        OptimizerConfig::Sgd(SgdParams {
            lr,
            momentum: 0.9,
            nesterov: true,
            ..SgdParams::default()
        }),
        ClassifierSettings::default()
            .with_batch_size(batch)
            .with_augment(false),
        (&train, train.labels.clone()),
        Some((&val, val.labels.clone())),
        Box::new(|labels: &[usize], rng: &mut Rng| permutation(labels.len(), rng)),
        0,
        &dev,
    )
    .unwrap();
    if let Some(loss) = loss {
        task = task.with_loss(loss);
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Trainer::new(
        TrainConfig {
            epochs,
            seed: 0,
            base_lr: lr,
            schedule: if env("LEARN_COSINE", 0usize) == 1 {
                LrSchedule::Cosine {
                    total_epochs: epochs,
                    warmup_epochs: 1,
                    warmup: Default::default(),
                    min_lr: 0.0,
                }
            } else {
                LrSchedule::Constant
            },
            early_stopping: None,
            checkpoint_every: epochs,
            quiet: true,
        },
        dir.path(),
    )
    .unwrap()
    .run(&mut task)
    .unwrap();
    let history = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    eprintln!("{history}");
    let last = s.last.unwrap().metrics;
    let chance = 1.0 / classes as f64;
    assert!(
        last["accuracy"] >= 2.0 * chance && last["val_accuracy"] >= 2.0 * chance,
        "training {:.3} and validation {:.3} accuracy, chance {chance:.3}",
        last["accuracy"],
        last["val_accuracy"]
    );
    history
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
