//! EfficientNet-B0 (Tan & Le 2019) with any number of input channels and classes: the backbone
//! of DeepProfiler's Cell Painting CNN and of MOAProfiler.
//!
//! Variables are named as torchvision's `efficientnet_b0` (`features.0.0.weight`, …,
//! `classifier.1.weight`), so torchvision weights load directly and timm weights through
//! [`weights::timm_to_torchvision`]. Intermediate activations are available as *taps* named as
//! Keras does (DeepProfiler's features are `block6a_activation`, spatially averaged).

pub mod batchnorm;
pub mod depthwise;
pub mod weights;

use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{Conv2d, Linear, VarBuilder};

use batchnorm::BatchNorm2d;
use rand::Rng as _;
use serde::{Deserialize, Serialize};

pub use crate::backbone::Forward;
use crate::backbone::{check_forward_input, Backbone, Taps};
use crate::rng::Rng;
pub use depthwise::depthwise_conv2d;

/// Architecture settings; `b0(…)` gives the paper's values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EfficientNetConfig {
    /// Image channels (5 for Cell Painting).
    pub in_channels: usize,
    /// Outputs of the classifier.
    pub num_classes: usize,
    /// Channel multiplier (1.0 for B0; smaller for fast tests), rounded to multiples of 8.
    pub width_mult: f64,
    /// Layer-count multiplier (1.0 for B0).
    pub depth_mult: f64,
    /// Dropout before the classifier (0.2 for B0).
    pub dropout: f64,
    /// Maximum stochastic-depth drop probability, reached by the last block (0.2).
    pub stochastic_depth: f64,
    /// BatchNorm ε.
    pub bn_eps: f64,
    /// BatchNorm momentum (PyTorch's convention: the new batch's weight).
    pub bn_momentum: f64,
    /// Where strided convolutions pad: symmetrically as torchvision, or as TensorFlow's
    /// `"same"` (Keras; DeepProfiler's published model).
    #[serde(default)]
    pub padding: ConvPadding,
}

/// How convolutions pad their input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConvPadding {
    /// (k − 1)/2 on every side (torchvision, timm).
    #[default]
    Symmetric,
    /// TensorFlow's `"same"`: the output is ⌈size / stride⌉ and the padding that needs is
    /// split with the odd pixel at the bottom and right. For a stride-2 convolution on an
    /// even-sized input that is one pixel less at the top and left than `Symmetric` (Keras's
    /// `correct_pad` gives the same), which shifts every window: weights trained in Keras need
    /// this mode.
    TensorflowSame,
}

impl EfficientNetConfig {
    /// EfficientNet-B0 as torchvision builds it (BatchNorm ε 1e-5, momentum 0.1).
    pub fn b0(in_channels: usize, num_classes: usize) -> Self {
        Self {
            in_channels,
            num_classes,
            width_mult: 1.0,
            depth_mult: 1.0,
            dropout: 0.2,
            stochastic_depth: 0.2,
            bn_eps: 1e-5,
            bn_momentum: 0.1,
            padding: ConvPadding::Symmetric,
        }
    }

    /// EfficientNet-B0 as Keras builds it (`tf.keras.applications.EfficientNetB0` and the
    /// `efficientnet` package DeepProfiler used): BatchNorm ε 1e-3 and momentum 0.01 (Keras's
    /// 0.99), TensorFlow's `"same"` padding. Load Keras weights into it with
    /// [`weights::read_keras_h5`].
    pub fn keras_b0(in_channels: usize, num_classes: usize) -> Self {
        Self {
            bn_eps: 1e-3,
            bn_momentum: 0.01,
            padding: ConvPadding::TensorflowSame,
            ..Self::b0(in_channels, num_classes)
        }
    }

    fn channels(&self, c: usize) -> usize {
        make_divisible(c as f64 * self.width_mult, 8)
    }

    /// (expand ratio, kernel, stride, in, out, layers) per stage, after the multipliers.
    pub fn stages(&self) -> Vec<(usize, usize, usize, usize, usize, usize)> {
        const B0: [(usize, usize, usize, usize, usize, usize); 7] = [
            (1, 3, 1, 32, 16, 1),
            (6, 3, 2, 16, 24, 2),
            (6, 5, 2, 24, 40, 2),
            (6, 3, 2, 40, 80, 3),
            (6, 5, 1, 80, 112, 3),
            (6, 5, 2, 112, 192, 4),
            (6, 3, 1, 192, 320, 1),
        ];
        B0.iter()
            .map(|&(e, k, s, i, o, n)| {
                (
                    e,
                    k,
                    s,
                    self.channels(i),
                    self.channels(o),
                    (n as f64 * self.depth_mult).ceil() as usize,
                )
            })
            .collect()
    }

    /// Width of the final embedding (1280 for B0).
    pub fn embedding_dim(&self) -> usize {
        4 * self.stages().last().map(|s| s.4).unwrap_or(320)
    }
}

/// torchvision's `_make_divisible`: nearest multiple of `d`, never below 90% of `v`.
fn make_divisible(v: f64, d: usize) -> usize {
    let d_f = d as f64;
    let mut new = ((v + d_f / 2.0) / d_f).floor() as usize * d;
    new = new.max(d);
    if (new as f64) < 0.9 * v {
        new += d;
    }
    new
}

/// Convolution + batch norm (+ SiLU). 1×1 convolutions run as one matrix product per image
/// (candle's conv2d would first copy the input through im2col); depthwise ones through
/// [`depthwise_conv2d`]; the stem through candle's conv2d.
#[derive(Debug, Clone)]
struct ConvBn {
    weight: Tensor,
    kind: ConvKind,
    bn: BatchNorm2d,
    act: bool,
    padding: ConvPadding,
}

#[derive(Debug, Clone, Copy)]
enum ConvKind {
    Pointwise,
    Depthwise { stride: usize, k: usize },
    Dense { stride: usize, k: usize },
}

/// Pads `x` (N, C, H, W) as `mode` asks for a k × k convolution of `stride`; returns the input
/// to convolve and the symmetric padding the convolution itself should add.
fn pad_for(x: &Tensor, k: usize, stride: usize, mode: ConvPadding) -> Result<(Tensor, usize)> {
    let symmetric = (k - 1) / 2;
    if mode == ConvPadding::Symmetric {
        return Ok((x.clone(), symmetric));
    }
    let split = |size: usize| {
        let out = size.div_ceil(stride);
        let total = ((out - 1) * stride + k).saturating_sub(size);
        (total / 2, total - total / 2)
    };
    let (_, _, h, w) = x.dims4()?;
    let ((top, bottom), (left, right)) = (split(h), split(w));
    if top == bottom && left == right && top == left {
        return Ok((x.clone(), top));
    }
    Ok((
        x.pad_with_zeros(2, top, bottom)?
            .pad_with_zeros(3, left, right)?,
        0,
    ))
}

impl ConvBn {
    #[allow(clippy::too_many_arguments)]
    fn new(
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        groups: usize,
        act: bool,
        cfg: &EfficientNetConfig,
        vb: VarBuilder,
    ) -> Result<Self> {
        let init = candle_nn::init::DEFAULT_KAIMING_NORMAL;
        let (shape, kind) = if groups > 1 {
            ((cout, 1, k, k), ConvKind::Depthwise { stride, k })
        } else if k == 1 && stride == 1 {
            ((cout, cin, 1, 1), ConvKind::Pointwise)
        } else {
            ((cout, cin, k, k), ConvKind::Dense { stride, k })
        };
        let weight = vb.pp("0").get_with_hints(shape, "weight", init)?;
        let bn = BatchNorm2d::new(cout, cfg.bn_eps, cfg.bn_momentum, vb.pp("1"))?;
        Ok(Self {
            weight,
            kind,
            bn,
            act,
            padding: cfg.padding,
        })
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let y = match self.kind {
            ConvKind::Pointwise => pointwise(x, &self.weight, train)?,
            ConvKind::Depthwise { stride, k } => {
                let (x, padding) = pad_for(x, k, stride, self.padding)?;
                depthwise_conv2d(&x, &self.weight, stride, padding)?
            }
            ConvKind::Dense { stride, k } => {
                let (x, padding) = pad_for(x, k, stride, self.padding)?;
                x.conv2d(&self.weight, padding, stride, 1, 1)?
            }
        };
        self.bn.forward(&y, train, self.act)
    }

    /// `forward_t` of `x` scaled per image and channel by `scale` (N, C, 1, 1), the
    /// squeeze-excitation output. A 1×1 convolution in training folds the scale into its
    /// weight where that is cheaper ([`pointwise_scaled`]; W·(s⊙x) = (W·diag s)·x): one
    /// (Cout × C) weight per image instead of a full-size scaled copy of the widest
    /// activation, forward and backward.
    fn forward_scaled(&self, x: &Tensor, scale: &Tensor, train: bool) -> Result<Tensor> {
        let y = match self.kind {
            ConvKind::Pointwise => pointwise_scaled(x, &self.weight, scale, train)?,
            _ => return self.forward_t(&x.broadcast_mul(scale)?, train),
        };
        self.bn.forward(&y, train, self.act)
    }
}

/// [`pointwise`] of `x ⊙ scale` (scale (N, C, 1, 1)). In training, where an image has at
/// least as many pixels as output channels, as per-image weights W·diag(scale_n): the
/// per-image weights are then smaller than the scaled activation, and the backward pass skips
/// a full-size product. Otherwise (and in inference, where both measure the same) scaling
/// first.
pub(crate) fn pointwise_scaled(
    x: &Tensor,
    weight: &Tensor,
    scale: &Tensor,
    train: bool,
) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let cout = weight.dim(0)?;
    if !train || h * w < cout {
        return pointwise(&x.broadcast_mul(scale)?, weight, train);
    }
    let wm = weight
        .reshape((1, cout, c))?
        .broadcast_mul(&scale.reshape((n, 1, c))?)?;
    let xm = x.contiguous()?.reshape((n, c, h * w))?;
    wm.matmul(&xm)?.reshape((n, cout, h, w))
}

/// 1×1 convolution: one (Cout × Cin) · (Cin × HW) product per image, except in training
/// where an image has fewer pixels than output channels (deep in the network): there one
/// product over the whole batch, (Cout × Cin) · (Cin × N·HW), since per-image products would
/// make the backward pass write a (Cout × Cin) weight gradient per image (at 4×4 pixels, 70×
/// the activation's size) only to sum them. Without a backward pass the per-image products
/// are faster (no transposed copies of the activations).
pub(crate) fn pointwise(x: &Tensor, weight: &Tensor, train: bool) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let cout = weight.dim(0)?;
    let wm = weight.reshape((cout, c))?;
    if !train || h * w >= cout {
        let xm = x.contiguous()?.reshape((n, c, h * w))?;
        return wm.broadcast_left(n)?.matmul(&xm)?.reshape((n, cout, h, w));
    }
    let xt = x
        .reshape((n, c, h * w))?
        .transpose(0, 1)?
        .contiguous()?
        .reshape((c, n * h * w))?;
    wm.matmul(&xt)?
        .reshape((cout, n, h * w))?
        .transpose(0, 1)?
        .contiguous()?
        .reshape((n, cout, h, w))
}

/// Squeeze-and-excitation (torchvision `SqueezeExcitation`).
#[derive(Debug, Clone)]
struct SqueezeExcite {
    fc1: Conv2d,
    fc2: Conv2d,
}

impl SqueezeExcite {
    fn new(c: usize, squeeze: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            fc1: candle_nn::conv2d(c, squeeze, 1, Default::default(), vb.pp("fc1"))?,
            fc2: candle_nn::conv2d(squeeze, c, 1, Default::default(), vb.pp("fc2"))?,
        })
    }
    /// The per-image, per-channel scale (N, C, 1, 1) the block multiplies `x` by.
    fn scale(&self, x: &Tensor) -> Result<Tensor> {
        let s = x.mean_keepdim(D::Minus1)?.mean_keepdim(D::Minus2)?;
        let s = candle_nn::ops::silu(&self.fc1.forward(&s)?)?;
        candle_nn::ops::sigmoid(&self.fc2.forward(&s)?)
    }
}

/// Inverted-residual block with squeeze-excitation.
#[derive(Debug, Clone)]
struct MBConv {
    name: String,
    expand: Option<ConvBn>,
    depthwise: ConvBn,
    se: SqueezeExcite,
    project: ConvBn,
    residual: bool,
    drop_prob: f64,
}

impl MBConv {
    fn forward(
        &self,
        x: &Tensor,
        train: bool,
        rng: &mut Option<&mut Rng>,
        taps: &mut Taps,
    ) -> Result<Tensor> {
        let mut h = x.clone();
        if let Some(e) = &self.expand {
            h = e.forward_t(&h, train)?;
            taps.offer(&format!("{}_expand_activation", self.name), &h);
        }
        h = self.depthwise.forward_t(&h, train)?;
        taps.offer(&format!("{}_activation", self.name), &h);
        let scale = self.se.scale(&h)?;
        h = self.project.forward_scaled(&h, &scale, train)?;
        if self.residual {
            if train && self.drop_prob > 0.0 {
                if let Some(rng) = rng.as_deref_mut() {
                    h = drop_rows(&h, self.drop_prob, rng)?;
                }
            }
            h = (h + x)?;
        }
        taps.offer(&format!("{}_output", self.name), &h);
        Ok(h)
    }
}

/// Inverted dropout with a mask of `mask_shape` (broadcast over `x`): entries are zeroed with
/// probability `p`, survivors scaled by 1/(1−p). Per-sample masks give stochastic depth
/// ("row" mode), full-shape masks ordinary dropout.
fn drop_mask(x: &Tensor, mask_shape: &[usize], p: f64, rng: &mut Rng) -> Result<Tensor> {
    let n: usize = mask_shape.iter().product();
    let keep: Vec<f32> = (0..n)
        .map(|_| {
            if rng.random::<f64>() < p {
                0.0
            } else {
                (1.0 / (1.0 - p)) as f32
            }
        })
        .collect();
    let mask = Tensor::from_vec(keep, mask_shape, &Device::Cpu)?
        .to_dtype(x.dtype())?
        .to_device(x.device())?;
    x.broadcast_mul(&mask)
}

fn drop_rows(x: &Tensor, p: f64, rng: &mut Rng) -> Result<Tensor> {
    let mut shape = vec![x.dim(0)?];
    shape.extend(std::iter::repeat_n(1, x.rank() - 1));
    drop_mask(x, &shape, p, rng)
}

pub(crate) fn drop_elements(x: &Tensor, p: f64, rng: &mut Rng) -> Result<Tensor> {
    drop_mask(x, x.dims(), p, rng)
}

/// EfficientNet-B0 (or a scaled variant).
#[derive(Debug, Clone)]
pub struct EfficientNet {
    /// The architecture it was built with.
    pub config: EfficientNetConfig,
    stem: ConvBn,
    blocks: Vec<MBConv>,
    head: ConvBn,
    classifier: Linear,
}

impl EfficientNet {
    /// Builds the network's variables under `vb` (fails on zero channels or classes).
    pub fn new(config: EfficientNetConfig, vb: VarBuilder) -> Result<Self> {
        if config.in_channels == 0 || config.num_classes == 0 {
            candle_core::bail!("EfficientNet needs ≥ 1 input channel and ≥ 1 class");
        }
        if !(0.0..1.0).contains(&config.dropout) || !(0.0..1.0).contains(&config.stochastic_depth) {
            candle_core::bail!("dropout and stochastic depth must be in [0, 1)");
        }
        let f = vb.pp("features");
        let stages = config.stages();
        let stem_out = stages[0].3;
        let stem = ConvBn::new(
            config.in_channels,
            stem_out,
            3,
            2,
            1,
            true,
            &config,
            f.pp("0"),
        )?;
        let total: usize = stages.iter().map(|s| s.5).sum();
        let mut blocks = Vec::with_capacity(total);
        let mut id = 0;
        for (si, &(e, k, s, cin, cout, n)) in stages.iter().enumerate() {
            for li in 0..n {
                let (cin, stride) = if li == 0 { (cin, s) } else { (cout, 1) };
                let vb = f.pp((si + 1).to_string()).pp(li.to_string()).pp("block");
                let cexp = make_divisible(cin as f64 * e as f64, 8);
                let mut idx = 0;
                let expand = if cexp != cin {
                    idx += 1;
                    Some(ConvBn::new(cin, cexp, 1, 1, 1, true, &config, vb.pp("0"))?)
                } else {
                    None
                };
                let depthwise = ConvBn::new(
                    cexp,
                    cexp,
                    k,
                    stride,
                    cexp,
                    true,
                    &config,
                    vb.pp(idx.to_string()),
                )?;
                let se = SqueezeExcite::new(cexp, (cin / 4).max(1), vb.pp((idx + 1).to_string()))?;
                let project = ConvBn::new(
                    cexp,
                    cout,
                    1,
                    1,
                    1,
                    false,
                    &config,
                    vb.pp((idx + 2).to_string()),
                )?;
                blocks.push(MBConv {
                    name: format!("block{}{}", si + 1, (b'a' + li as u8) as char),
                    expand,
                    depthwise,
                    se,
                    project,
                    residual: stride == 1 && cin == cout,
                    drop_prob: config.stochastic_depth * id as f64 / total as f64,
                });
                id += 1;
            }
        }
        let last_in = stages.last().expect("7 stages").4;
        let head = ConvBn::new(
            last_in,
            4 * last_in,
            1,
            1,
            1,
            true,
            &config,
            f.pp((stages.len() + 1).to_string()),
        )?;
        let classifier =
            candle_nn::linear(4 * last_in, config.num_classes, vb.pp("classifier").pp("1"))?;
        Ok(Self {
            config,
            stem,
            blocks,
            head,
            classifier,
        })
    }
}

impl Backbone for EfficientNet {
    fn name(&self) -> &str {
        match self.config.padding {
            ConvPadding::Symmetric => "efficientnet-b0",
            ConvPadding::TensorflowSame => "efficientnet-b0-keras",
        }
    }

    fn in_channels(&self) -> usize {
        self.config.in_channels
    }

    fn num_classes(&self) -> usize {
        self.config.num_classes
    }

    fn embedding_dim(&self) -> usize {
        self.config.embedding_dim()
    }

    /// Names of every tap this network can return.
    fn tap_names(&self) -> Vec<String> {
        let mut v = vec!["stem_activation".to_string()];
        for b in &self.blocks {
            if b.expand.is_some() {
                v.push(format!("{}_expand_activation", b.name));
            }
            v.push(format!("{}_activation", b.name));
            v.push(format!("{}_output", b.name));
        }
        v.extend(["top_activation".to_string(), "avg_pool".to_string()]);
        v
    }

    /// Forward pass returning logits and the named taps. `train` uses batch statistics (and
    /// updates the running ones); with `rng`, training also applies dropout and stochastic
    /// depth, drawn from it so that runs are reproducible.
    fn forward_taps(
        &self,
        x: &Tensor,
        train: bool,
        mut rng: Option<&mut Rng>,
        taps: &[&str],
    ) -> Result<Forward> {
        check_forward_input(
            "EfficientNet",
            || self.tap_names(),
            self.config.in_channels,
            x,
            taps,
        )?;
        let mut t = Taps::new(taps);
        let mut h = self.stem.forward_t(x, train)?;
        t.offer("stem_activation", &h);
        for b in &self.blocks {
            h = b.forward(&h, train, &mut rng, &mut t)?;
        }
        h = self.head.forward_t(&h, train)?;
        t.offer("top_activation", &h);
        let mut pooled = h.mean(D::Minus1)?.mean(D::Minus1)?;
        t.offer("avg_pool", &pooled);
        if train && self.config.dropout > 0.0 {
            if let Some(r) = rng.as_deref_mut() {
                pooled = drop_elements(&pooled, self.config.dropout, r)?;
            }
        }
        let logits = self.classifier.forward(&pooled)?;
        Ok(Forward {
            logits,
            taps: t.got,
        })
    }
}

impl Module for EfficientNet {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward_taps(x, false, None, &[])?.logits)
    }
}

/// The dtype the model is built in by default.
pub const DEFAULT_DTYPE: DType = DType::F32;

#[cfg(test)]
mod tests;
