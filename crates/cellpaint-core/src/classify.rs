//! Training an image network (any [`Backbone`]) to classify images, shared by the methods that
//! do it (DeepProfiler's single-cell crops, MOAProfiler's whole fields). A method supplies its images through
//! [`ImageSet`] (how one batch is built and augmented) and its epoch sampler as a closure; the
//! task does the rest: seeded augmentation per image, cross-entropy with optional label
//! smoothing plus L2 on kernels, validation accuracy and macro F1 per epoch, checkpointable
//! state for the shared [`Trainer`](crate::Trainer).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, D};

use crate::backbone::{Backbone, BuildBackbone};
use crate::error::{CoreError, Result};
use crate::init::SeededVarMap;
use crate::optim::{AnyOptimizer, OptimizerConfig};
use crate::rng::{derive_seed, Rng};
use crate::train::{Metrics, TrainTask};

/// Images a classifier reads in batches.
pub trait ImageSet {
    /// Number of images.
    fn len(&self) -> usize;
    /// No images.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The images `rows` as one `(N, C, H, W)` tensor. With `augment_seeds` (one per row), each
    /// image is augmented deterministically from its seed.
    fn batch(
        &self,
        rows: &[usize],
        augment_seeds: Option<&[u64]>,
        device: &Device,
    ) -> Result<Tensor>;
}

/// Class names (sorted, unique) and each label's class index.
pub fn encode_labels(labels: &[String]) -> (Vec<String>, Vec<usize>) {
    let mut classes: Vec<String> = labels.to_vec();
    classes.sort();
    classes.dedup();
    let idx = labels
        .iter()
        .map(|l| classes.binary_search(l).expect("present"))
        .collect();
    (classes, idx)
}

/// Cross-entropy against labels smoothed by `eps` (q = (1 − ε)·one-hot + ε/K), batch mean.
pub fn smoothed_cross_entropy(logits: &Tensor, labels: &[usize], eps: f64) -> Result<Tensor> {
    let (n, k) = logits.dims2()?;
    if labels.len() != n || labels.iter().any(|&l| l >= k) {
        return Err(CoreError::Config(format!(
            "{} labels (each < {k}) needed for {n} rows of logits",
            labels.len()
        )));
    }
    let mut q = vec![eps / k as f64; n * k];
    for (i, &l) in labels.iter().enumerate() {
        q[i * k + l] += 1.0 - eps;
    }
    let q = Tensor::from_vec(q, (n, k), logits.device())?.to_dtype(logits.dtype())?;
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    Ok(((q * logp)?.sum_all()? * (-1.0 / n as f64))?)
}

/// Accuracy and macro-averaged F1 of predictions (classes absent from both are skipped).
pub fn accuracy_and_macro_f1(pred: &[usize], truth: &[usize], n_classes: usize) -> (f64, f64) {
    if truth.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let correct = pred.iter().zip(truth).filter(|(p, t)| p == t).count();
    let mut f1s = Vec::new();
    for c in 0..n_classes {
        let (mut tp, mut fp, mut fn_) = (0f64, 0f64, 0f64);
        for (&p, &t) in pred.iter().zip(truth) {
            match (p == c, t == c) {
                (true, true) => tp += 1.0,
                (true, false) => fp += 1.0,
                (false, true) => fn_ += 1.0,
                _ => {}
            }
        }
        if tp + fp + fn_ > 0.0 {
            f1s.push(2.0 * tp / (2.0 * tp + fp + fn_));
        }
    }
    (
        correct as f64 / truth.len() as f64,
        f1s.iter().sum::<f64>() / f1s.len().max(1) as f64,
    )
}

/// `f` of every batch of `set` (no augmentation), its rows concatenated: one per image.
fn map_batches(
    set: &dyn ImageSet,
    batch_size: usize,
    device: &Device,
    f: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(set.len());
    for rows in batches(set.len(), batch_size) {
        let x = set.batch(&rows, None, device)?;
        out.extend(f(&x)?.to_dtype(DType::F32)?.to_vec2::<f32>()?);
    }
    Ok(out)
}

/// Runs `net` in inference mode over `set` in batches of `batch_size`: class probabilities
/// (softmax of the logits), one row per image.
pub fn predict_probabilities(
    net: &dyn Backbone,
    set: &dyn ImageSet,
    batch_size: usize,
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    map_batches(set, batch_size, device, |x| {
        let logits = net.forward_taps(x, false, None, &[])?.logits;
        Ok(candle_nn::ops::softmax(&logits, D::Minus1)?)
    })
}

/// Spatially averaged `tap` for every image of `set` (inference mode), one row per image.
pub fn pooled_features(
    net: &dyn Backbone,
    set: &dyn ImageSet,
    tap: &str,
    batch_size: usize,
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    map_batches(
        set,
        batch_size,
        device,
        |x| Ok(net.pooled_features(x, tap)?),
    )
}

/// Index of the largest value (the first on ties).
pub fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| {
            if x > bv {
                (i, x)
            } else {
                (bi, bv)
            }
        })
        .0
}

fn batches(n: usize, size: usize) -> impl Iterator<Item = Vec<usize>> {
    let size = size.max(1);
    (0..n)
        .step_by(size)
        .map(move |s| (s..(s + size).min(n)).collect())
}

/// The loss a [`ClassifierTask`] minimises (besides its L2 term): logits and class indices in,
/// a scalar out. [`SmoothedCrossEntropy`] is the default; a method developer's own loss is one
/// impl, passed with [`ClassifierTask::with_loss`].
pub trait ClassifierLoss: Send + Sync {
    /// Short name, recorded nowhere but useful in messages.
    fn name(&self) -> &str;
    /// The batch's loss: `logits` `(N, K)`, `labels` N class indices below K.
    fn loss(&self, logits: &Tensor, labels: &[usize]) -> Result<Tensor>;
}

impl<L: ClassifierLoss + ?Sized> ClassifierLoss for Box<L> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn loss(&self, logits: &Tensor, labels: &[usize]) -> Result<Tensor> {
        (**self).loss(logits, labels)
    }
}

/// Cross-entropy against labels smoothed by `label_smoothing` ([`smoothed_cross_entropy`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SmoothedCrossEntropy {
    /// ε in [0, 1): q = (1 − ε)·one-hot + ε/K.
    pub label_smoothing: f64,
}

impl ClassifierLoss for SmoothedCrossEntropy {
    fn name(&self) -> &str {
        "cross-entropy"
    }
    fn loss(&self, logits: &Tensor, labels: &[usize]) -> Result<Tensor> {
        smoothed_cross_entropy(logits, labels, self.label_smoothing)
    }
}

/// Loss and batch settings of [`ClassifierTask`]. Build with `Default` and the `with_*`
/// methods (fields may be added; the struct cannot be written out outside this crate).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct ClassifierSettings {
    /// Images per step.
    pub batch_size: usize,
    /// ε of label smoothing (0: plain cross-entropy).
    pub label_smoothing: f64,
    /// λ of the ½λ·Σw² penalty on kernels (convolutions and the classifier), added to the loss.
    pub l2_kernels: f64,
    /// Augment training images (through [`ImageSet::batch`]).
    pub augment: bool,
}

impl Default for ClassifierSettings {
    /// Batch 32, plain cross-entropy, no L2, augmentation on.
    fn default() -> Self {
        Self {
            batch_size: 32,
            label_smoothing: 0.0,
            l2_kernels: 0.0,
            augment: true,
        }
    }
}

impl ClassifierSettings {
    /// Images per step.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }
    /// ε of label smoothing of the default loss.
    pub fn with_label_smoothing(mut self, eps: f64) -> Self {
        self.label_smoothing = eps;
        self
    }
    /// λ of the ½λ·Σw² penalty on kernels.
    pub fn with_l2_kernels(mut self, l2: f64) -> Self {
        self.l2_kernels = l2;
        self
    }
    /// Augment training images.
    pub fn with_augment(mut self, augment: bool) -> Self {
        self.augment = augment;
        self
    }
}

/// Draws one epoch's training rows from the training labels.
pub type EpochSampler<'a> = Box<dyn Fn(&[usize], &mut Rng) -> Vec<usize> + 'a>;

/// A classifier's training run (any backbone), as a [`TrainTask`].
pub struct ClassifierTask<'a> {
    /// The network's variables (saved in checkpoints, read for features).
    pub map: SeededVarMap,
    /// The network being trained.
    pub net: Box<dyn Backbone>,
    opt: AnyOptimizer,
    settings: ClassifierSettings,
    loss: Box<dyn ClassifierLoss + 'a>,
    train: &'a dyn ImageSet,
    train_labels: Vec<usize>,
    val: Option<(&'a dyn ImageSet, Vec<usize>)>,
    sampler: EpochSampler<'a>,
    order: Vec<usize>,
    epoch_len: usize,
    seed: u64,
    device: Device,
}

impl<'a> ClassifierTask<'a> {
    /// The network `network` builds (a [`BackboneSpec`](crate::BackboneSpec), an
    /// [`EfficientNetConfig`](crate::EfficientNetConfig), or a caller's own), initialised from
    /// `seed`, trained by `optimizer` on `train` (labels are class indices below the network's
    /// `num_classes`), validated on `val`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        network: &dyn BuildBackbone,
        optimizer: OptimizerConfig,
        settings: ClassifierSettings,
        train: (&'a dyn ImageSet, Vec<usize>),
        val: Option<(&'a dyn ImageSet, Vec<usize>)>,
        sampler: EpochSampler<'a>,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        if train.0.is_empty() || settings.batch_size == 0 {
            return Err(CoreError::Config(
                "training needs at least one image and a batch size ≥ 1".into(),
            ));
        }
        if !(0.0..1.0).contains(&settings.label_smoothing) || !(settings.l2_kernels >= 0.0) {
            return Err(CoreError::Config(format!(
                "label smoothing must be in [0, 1) and L2 ≥ 0, got {} and {}",
                settings.label_smoothing, settings.l2_kernels
            )));
        }
        let map = SeededVarMap::new(seed);
        let net = network.build(map.var_builder(DType::F32, device))?;
        let k = net.num_classes();
        let mut sets = vec![("training", &train)];
        sets.extend(val.as_ref().map(|v| ("validation", v)));
        for (what, (set, labels)) in sets {
            if set.len() != labels.len() || labels.iter().any(|&l| l >= k) {
                return Err(CoreError::Config(format!(
                    "{what} set: {} images, {} labels, each label must be < {k}",
                    set.len(),
                    labels.len()
                )));
            }
        }
        let opt = optimizer.build(map.named_vars().into_iter().map(|(_, v)| v).collect())?;
        let epoch_len = sampler(&train.1, &mut crate::rng::seeded_rng(0)).len();
        Ok(Self {
            map,
            net,
            opt,
            settings,
            loss: Box::new(SmoothedCrossEntropy {
                label_smoothing: settings.label_smoothing,
            }),
            train: train.0,
            train_labels: train.1,
            val,
            sampler,
            order: Vec::new(),
            epoch_len,
            seed,
            device: device.clone(),
        })
    }

    /// Minimise `loss` instead of the default [`SmoothedCrossEntropy`] (whose ε then goes
    /// unused). The `loss` metric of each epoch is this loss.
    pub fn with_loss(mut self, loss: impl ClassifierLoss + 'a) -> Self {
        self.loss = Box::new(loss);
        self
    }

    /// Kernels (convolutions and the classifier; not batch-norm scales) for the L2 term.
    fn kernels(&self) -> Vec<Tensor> {
        self.map
            .named_vars()
            .into_iter()
            .filter(|(k, v)| k.ends_with("weight") && v.rank() >= 2)
            .map(|(_, v)| v.as_tensor().clone())
            .collect()
    }
}

impl TrainTask for ClassifierTask<'_> {
    fn steps_per_epoch(&self) -> usize {
        self.epoch_len.div_ceil(self.settings.batch_size)
    }

    fn train_step(&mut self, epoch: usize, step: usize, rng: &mut Rng) -> Result<Metrics> {
        if step == 0 {
            self.order = (self.sampler)(&self.train_labels, rng);
        }
        let b = self.settings.batch_size;
        let rows: Vec<usize> = self.order
            [(step * b).min(self.order.len())..((step + 1) * b).min(self.order.len())]
            .to_vec();
        if rows.is_empty() {
            return Ok(Metrics::new());
        }
        let seeds: Vec<u64> = (0..rows.len())
            .map(|k| derive_seed(self.seed, &format!("augment/{epoch}/{step}/{k}")))
            .collect();
        let x = self
            .train
            .batch(
                &rows,
                self.settings.augment.then_some(&seeds[..]),
                &self.device,
            )
            .map_err(|e| CoreError::at(format!("epoch {epoch}, step {step}"), e))?;
        let labels: Vec<usize> = rows.iter().map(|&i| self.train_labels[i]).collect();
        let logits = self.net.forward_taps(&x, true, Some(rng), &[])?.logits;
        let ce = self.loss.loss(&logits, &labels)?;
        let mut loss = ce.clone();
        if self.settings.l2_kernels > 0.0 {
            let mut total: Option<Tensor> = None;
            for k in self.kernels() {
                let s = k.sqr()?.sum_all()?;
                total = Some(match total {
                    None => s,
                    Some(t) => (t + s)?,
                });
            }
            if let Some(t) = total {
                loss = (loss + (t * (0.5 * self.settings.l2_kernels))?)?;
            }
        }
        self.opt.backward_step(&loss)?;
        let pred: Vec<u32> = logits.argmax(D::Minus1)?.to_dtype(DType::U32)?.to_vec1()?;
        let correct = pred
            .iter()
            .zip(&labels)
            .filter(|(p, l)| **p as usize == **l)
            .count();
        let mut m = Metrics::new();
        m.insert("loss".into(), ce.to_scalar::<f32>()? as f64);
        m.insert("accuracy".into(), correct as f64 / labels.len() as f64);
        Ok(m)
    }

    fn validate(&mut self, _epoch: usize) -> Result<Metrics> {
        let mut m = Metrics::new();
        if let Some((val, truth)) = &self.val {
            let probs = predict_probabilities(
                self.net.as_ref(),
                *val,
                self.settings.batch_size,
                &self.device,
            )?;
            let pred: Vec<usize> = probs.iter().map(|p| argmax(p)).collect();
            let (acc, f1) = accuracy_and_macro_f1(&pred, truth, self.net.num_classes());
            m.insert("val_accuracy".into(), acc);
            m.insert("val_macro_f1".into(), f1);
        }
        Ok(m)
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.opt.set_learning_rate(lr);
    }

    fn state(&self) -> Result<HashMap<String, Tensor>> {
        let mut s = self.map.tensors();
        s.extend(self.opt.state()?);
        Ok(s)
    }

    fn load_state(&mut self, state: HashMap<String, Tensor>) -> Result<()> {
        self.map.load_tensors(&state)?;
        self.opt.load_state(&state)
    }

    fn device(&self) -> Device {
        self.device.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_and_f1_by_hand() {
        // class 0: tp 1, fn 1 → F1 2/3; class 1: tp 2, fp 1 → F1 0.8.
        let (acc, f1) = accuracy_and_macro_f1(&[0, 1, 1, 1], &[0, 0, 1, 1], 2);
        assert!((acc - 0.75).abs() < 1e-12);
        assert!((f1 - (2.0 / 3.0 + 0.8) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn wrong_labels_are_an_error() {
        let z = Tensor::zeros((2, 3), DType::F32, &Device::Cpu).unwrap();
        assert!(smoothed_cross_entropy(&z, &[0, 3], 0.0).is_err());
        assert!(smoothed_cross_entropy(&z, &[0], 0.0).is_err());
    }

    /// Images whose every batch fails to read, as a missing file would.
    struct Unreadable;

    impl ImageSet for Unreadable {
        fn len(&self) -> usize {
            4
        }
        fn batch(&self, _: &[usize], _: Option<&[u64]>, _: &Device) -> Result<Tensor> {
            Err(CoreError::Io {
                path: "crops/plate1.npz".into(),
                cause: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            })
        }
    }

    #[test]
    fn a_data_error_in_training_keeps_its_kind_and_place() {
        let spec = crate::BackboneSpec {
            width_mult: 0.1,
            ..crate::BackboneSpec::new("resnet18", 1, 2)
        };
        let mut task = ClassifierTask::new(
            &spec,
            OptimizerConfig::Sgd(Default::default()),
            ClassifierSettings::default().with_batch_size(2),
            (&Unreadable, vec![0, 1, 0, 1]),
            None,
            Box::new(|l: &[usize], _: &mut Rng| (0..l.len()).collect()),
            0,
            &Device::Cpu,
        )
        .unwrap();
        let e = task
            .train_step(0, 0, &mut crate::rng::seeded_rng(0))
            .unwrap_err();
        assert!(
            matches!(&e, CoreError::At { at, cause } if at == "epoch 0, step 0"
                && matches!(**cause, CoreError::Io { .. })),
            "{e:?}"
        );
        assert!(e.to_string().contains("crops/plate1.npz"), "{e}");
    }

    #[test]
    fn settings_out_of_range_are_refused() {
        let spec = crate::BackboneSpec::new("resnet18", 1, 2);
        for settings in [
            ClassifierSettings::default().with_label_smoothing(1.0),
            ClassifierSettings::default().with_l2_kernels(-1.0),
            ClassifierSettings::default().with_batch_size(0),
        ] {
            let r = ClassifierTask::new(
                &spec,
                OptimizerConfig::Sgd(Default::default()),
                settings,
                (&Unreadable, vec![0, 1, 0, 1]),
                None,
                Box::new(|l: &[usize], _: &mut Rng| (0..l.len()).collect()),
                0,
                &Device::Cpu,
            );
            assert!(matches!(r, Err(CoreError::Config(_))), "{settings:?}");
        }
    }

    #[test]
    fn argmax_takes_first_on_ties() {
        assert_eq!(argmax(&[0.1, 0.5, 0.5]), 1);
        assert_eq!(argmax(&[]), 0);
    }
}
