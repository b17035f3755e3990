//! A discriminator defined outside the crate, with only the public API, trains VAE+: two hidden
//! layers instead of the reference's four, passed through `VaeGanTask::with_networks` beside the
//! reference encoder and decoder. The feature loss uses exactly the layers it has.

use cellpaint_core::candle::{Result as CResult, Tensor, D};
use cellpaint_core::candle_nn::{Init, VarBuilder};
use cellpaint_core::conv::conv2d;
use cellpaint_core::pool::max_pool2d;
use cellpaint_core::{LrSchedule, TrainConfig, Trainer};
use cyto_vaegan::model::{DECODER, DISCRIMINATOR, ENCODER};
use cyto_vaegan::*;
use ndarray::Array4;

/// conv 5×5 → leaky ReLU → max-pool 2 → conv 5×5 → leaky ReLU → 1×1 logit, averaged.
struct TwoLayerDiscriminator {
    w1: Tensor,
    w2: Tensor,
    logit: Tensor,
}

impl TwoLayerDiscriminator {
    fn new(channels: usize, vb: VarBuilder) -> CResult<Self> {
        let init = |fan_in: usize| Init::Randn {
            mean: 0.0,
            stdev: (2.0 / fan_in as f64).sqrt(),
        };
        Ok(Self {
            w1: vb.get_with_hints((4, channels, 5, 5), "conv1.weight", init(25 * channels))?,
            w2: vb.get_with_hints((4, 4, 5, 5), "conv2.weight", init(100))?,
            logit: vb.get_with_hints((1, 4, 1, 1), "logit.weight", init(4))?,
        })
    }
}

impl FeatureDiscriminator for TwoLayerDiscriminator {
    fn feature_layers(&self) -> usize {
        2
    }
    fn discriminate(&self, x: &Tensor, _stats_rows: usize) -> CResult<Discrimination> {
        let leaky = |t: Tensor| t.maximum(&(&t * 0.2)?);
        let h1 = leaky(conv2d(x, &self.w1, 0)?)?;
        let h2 = leaky(conv2d(
            &max_pool2d(&h1, (2, 2), (2, 2), (0, 0))?,
            &self.w2,
            0,
        )?)?;
        let logits = conv2d(&h2, &self.logit, 0)?
            .mean(D::Minus1)?
            .mean(D::Minus1)?
            .flatten_all()?;
        Ok(Discrimination {
            hidden: vec![h1, h2],
            logits,
        })
    }
    fn kernels(&self) -> Vec<Tensor> {
        vec![self.w1.clone(), self.w2.clone(), self.logit.clone()]
    }
}

/// Seeded crops: treatment k's cells are a disc of radius 10 + 6k over a dim background.
fn crops() -> CropSet {
    let n = 24;
    let mut px = Array4::<f32>::from_elem((n, 3, 68, 68), 100.0);
    let mut meta = Vec::new();
    for i in 0..n {
        let r = 10.0 + 6.0 * (i % 3) as f32;
        for ((_, c, y, x), v) in px.indexed_iter_mut().filter(|((j, ..), _)| *j == i) {
            let d = ((x as f32 - 34.0).powi(2) + (y as f32 - 34.0).powi(2)).sqrt();
            *v += if d < r { 900.0 } else { 0.0 } + ((i * 31 + c * 7 + x * y) % 50) as f32;
        }
        meta.push(CropMeta {
            plate: "P1".into(),
            well: format!("W{}", i % 6),
            site: "1".into(),
            compound: format!("c{}", i % 3),
            concentration: "1".into(),
            moa: format!("m{}", i % 3),
            batch: "b1".into(),
        });
    }
    CropSet::new("seeded", px, meta, &ArchConfig::default()).unwrap()
}

#[test]
fn a_two_layer_discriminator_trains_vae_plus() {
    let config = VaeGanConfig {
        batch_size: 4,
        iterations: 6,
        iterations_per_record: 3,
        feature_period: 1,
        ..VaeGanConfig::paper(Variant::VaePlus)
    };
    let mut task = VaeGanTask::with_networks(
        &config,
        &crops(),
        0,
        &cellpaint_core::candle::Device::Cpu,
        |arch, vb| {
            Ok(VaeGan {
                encoder: Box::new(ConvEncoder::new(arch, vb.pp(ENCODER))?),
                decoder: Box::new(ConvDecoder::new(arch, vb.pp(DECODER))?),
                discriminator: Some(Box::new(TwoLayerDiscriminator::new(
                    arch.in_channels,
                    vb.pp(DISCRIMINATOR),
                )?)),
            })
        },
    )
    .unwrap();
    // A deep copy: the optimiser writes the variables in place.
    let before = task.map.tensors()["discriminator.conv2.weight"]
        .copy()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let summary = Trainer::new(
        TrainConfig {
            epochs: 2,
            seed: 0,
            base_lr: config.lr_autoencoder,
            schedule: LrSchedule::Constant,
            early_stopping: None,
            checkpoint_every: 2,
            quiet: true,
        },
        dir.path(),
    )
    .unwrap()
    .run(&mut task)
    .unwrap();
    let m = summary.last.unwrap().metrics;
    // Iterations 3–5 with T = 1: γ1 and γ2 on; there is no third layer to ask for.
    for k in ["feature_1", "feature_2", "d_loss", "d_accuracy", "loss"] {
        assert!(m.get(k).is_some_and(|v| v.is_finite()), "{k}: {m:?}");
    }
    assert!(!m.contains_key("feature_3"), "{m:?}");
    // The discriminator's own optimiser moved its variables.
    let after = &task.map.tensors()["discriminator.conv2.weight"];
    let moved = (after - &before)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(moved > 0.0);

    // Networks that do not match the config are refused, not trained.
    let e = VaeGanTask::with_networks(
        &config,
        &crops(),
        0,
        &cellpaint_core::candle::Device::Cpu,
        |arch, vb| {
            Ok(VaeGan {
                encoder: Box::new(ConvEncoder::new(arch, vb.pp(ENCODER))?),
                decoder: Box::new(ConvDecoder::new(arch, vb.pp(DECODER))?),
                discriminator: None,
            })
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("lack a discriminator"), "{e}");
}
