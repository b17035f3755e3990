//! ResNet-18/34/50 (He et al. 2016, torchvision's "v1.5": the stride of a bottleneck sits on its
//! 3×3 convolution) with any number of input channels and classes: the second registered
//! [`Backbone`]. DeepProfiler also ships ResNet models.
//!
//! Variables are named as torchvision's `resnet18`/`resnet50` (`conv1.weight`, `bn1.*`,
//! `layer1.0.conv1.weight`, `layer2.0.downsample.0.weight`, `fc.weight`), so torchvision
//! weights load directly. Taps are named after torchvision's modules: `maxpool` (the stem's
//! output), `layer1` … `layer4` and each block `layerL.B`, and [`EMBEDDING_TAP`].

use candle_core::{Module, Result, Tensor, D};
use candle_nn::{Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::backbone::{check_forward_input, Backbone, Forward, Taps, EMBEDDING_TAP};
use crate::efficientnet::batchnorm::BatchNorm2d;
use crate::efficientnet::{drop_elements, pointwise};
use crate::rng::Rng;

/// Which ResNet: block kind and blocks per stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResNetDepth {
    /// Basic blocks, 2-2-2-2.
    R18,
    /// Basic blocks, 3-4-6-3.
    R34,
    /// Bottleneck blocks (×4 expansion), 3-4-6-3.
    R50,
}

impl ResNetDepth {
    fn layers(self) -> [usize; 4] {
        match self {
            Self::R18 => [2, 2, 2, 2],
            Self::R34 | Self::R50 => [3, 4, 6, 3],
        }
    }

    fn expansion(self) -> usize {
        match self {
            Self::R50 => 4,
            _ => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::R18 => "resnet18",
            Self::R34 => "resnet34",
            Self::R50 => "resnet50",
        }
    }
}

/// Architecture settings; `new(…)` gives torchvision's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResNetConfig {
    /// Depth and block kind.
    pub depth: ResNetDepth,
    /// Image channels.
    pub in_channels: usize,
    /// Outputs of the classifier.
    pub num_classes: usize,
    /// Multiplier of the stage widths 64-128-256-512 (rounded to multiples of 8, at least 8).
    pub width_mult: f64,
    /// Dropout before the classifier (torchvision: none), in [0, 1).
    pub dropout: f64,
    /// BatchNorm ε.
    pub bn_eps: f64,
    /// BatchNorm momentum (PyTorch's convention: the new batch's weight).
    pub bn_momentum: f64,
}

impl ResNetConfig {
    /// torchvision's ResNet of `depth` (BatchNorm ε 1e-5, momentum 0.1, no dropout).
    pub fn new(depth: ResNetDepth, in_channels: usize, num_classes: usize) -> Self {
        Self {
            depth,
            in_channels,
            num_classes,
            width_mult: 1.0,
            dropout: 0.0,
            bn_eps: 1e-5,
            bn_momentum: 0.1,
        }
    }

    fn planes(&self, base: usize) -> usize {
        (((base as f64 * self.width_mult) / 8.0).round() as usize * 8).max(8)
    }

    /// Width of the pooled embedding (512 for ResNet-18/34, 2048 for ResNet-50).
    pub fn embedding_dim(&self) -> usize {
        self.planes(512) * self.depth.expansion()
    }
}

/// A convolution without bias followed by batch norm; stride-1 1×1 kernels run as one matrix
/// product per image, stride-1 larger ones through [`crate::conv::conv2d`] (fast backward on
/// the CPU), strided ones through candle's conv2d.
#[derive(Debug, Clone)]
struct ConvBn {
    weight: Tensor,
    stride: usize,
    padding: usize,
    bn: BatchNorm2d,
}

impl ConvBn {
    #[allow(clippy::too_many_arguments)]
    fn new(
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        cfg: &ResNetConfig,
        conv: VarBuilder,
        bn: VarBuilder,
    ) -> Result<Self> {
        let weight = conv.get_with_hints(
            (cout, cin, k, k),
            "weight",
            candle_nn::init::DEFAULT_KAIMING_NORMAL,
        )?;
        Ok(Self {
            weight,
            stride,
            padding: (k - 1) / 2,
            bn: BatchNorm2d::new(cout, cfg.bn_eps, cfg.bn_momentum, bn)?,
        })
    }

    /// Convolution and batch norm (no activation: ReLU comes after the residual sum).
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let k = self.weight.dim(2)?;
        let y = match (k, self.stride) {
            (1, 1) => pointwise(x, &self.weight, train)?,
            (_, 1) => crate::conv::conv2d(x, &self.weight, self.padding)?,
            _ => x.conv2d(&self.weight, self.padding, self.stride, 1, 1)?,
        };
        self.bn.forward(&y, train, false)
    }
}

/// A basic (two 3×3) or bottleneck (1×1, 3×3, 1×1) residual block.
#[derive(Debug, Clone)]
struct Block {
    name: String,
    /// `layerL` when this is the stage's last block (its output is that tap too).
    ends_layer: Option<String>,
    convs: Vec<ConvBn>,
    downsample: Option<ConvBn>,
}

impl Block {
    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = x.clone();
        let last = self.convs.len() - 1;
        for (i, c) in self.convs.iter().enumerate() {
            h = c.forward_t(&h, train)?;
            if i < last {
                h = h.relu()?;
            }
        }
        let identity = match &self.downsample {
            Some(d) => d.forward_t(x, train)?,
            None => x.clone(),
        };
        (h + identity)?.relu()
    }
}

/// ResNet-18/34/50 (or a narrower variant).
#[derive(Debug, Clone)]
pub struct ResNet {
    /// The architecture it was built with.
    pub config: ResNetConfig,
    stem: ConvBn,
    blocks: Vec<Block>,
    fc: Linear,
}

impl ResNet {
    /// Builds the network's variables under `vb` (fails on zero channels or classes, or a
    /// dropout outside [0, 1)).
    pub fn new(config: ResNetConfig, vb: VarBuilder) -> Result<Self> {
        if config.in_channels == 0 || config.num_classes == 0 {
            candle_core::bail!("ResNet needs ≥ 1 input channel and ≥ 1 class");
        }
        if !(0.0..1.0).contains(&config.dropout) || !(config.width_mult > 0.0) {
            candle_core::bail!("ResNet needs dropout in [0, 1) and width_mult > 0");
        }
        let stem_out = config.planes(64);
        let stem = ConvBn::new(
            config.in_channels,
            stem_out,
            7,
            2,
            &config,
            vb.pp("conv1"),
            vb.pp("bn1"),
        )?;
        let e = config.depth.expansion();
        let mut cin = stem_out;
        let mut blocks = Vec::new();
        for (li, (&n, base)) in config
            .depth
            .layers()
            .iter()
            .zip([64, 128, 256, 512])
            .enumerate()
        {
            let planes = config.planes(base);
            for bi in 0..n {
                let stride = if li > 0 && bi == 0 { 2 } else { 1 };
                let name = format!("layer{}.{bi}", li + 1);
                let b = vb.pp(&name);
                let conv = |i: usize, ci: usize, co: usize, k: usize, s: usize| {
                    ConvBn::new(
                        ci,
                        co,
                        k,
                        s,
                        &config,
                        b.pp(format!("conv{i}")),
                        b.pp(format!("bn{i}")),
                    )
                };
                let convs = if e == 1 {
                    vec![
                        conv(1, cin, planes, 3, stride)?,
                        conv(2, planes, planes, 3, 1)?,
                    ]
                } else {
                    vec![
                        conv(1, cin, planes, 1, 1)?,
                        conv(2, planes, planes, 3, stride)?,
                        conv(3, planes, planes * e, 1, 1)?,
                    ]
                };
                let downsample = if stride != 1 || cin != planes * e {
                    let d = b.pp("downsample");
                    Some(ConvBn::new(
                        cin,
                        planes * e,
                        1,
                        stride,
                        &config,
                        d.pp("0"),
                        d.pp("1"),
                    )?)
                } else {
                    None
                };
                blocks.push(Block {
                    ends_layer: (bi + 1 == n).then(|| format!("layer{}", li + 1)),
                    name,
                    convs,
                    downsample,
                });
                cin = planes * e;
            }
        }
        let fc = candle_nn::linear(cin, config.num_classes, vb.pp("fc"))?;
        Ok(Self {
            config,
            stem,
            blocks,
            fc,
        })
    }
}

impl Backbone for ResNet {
    fn name(&self) -> &str {
        self.config.depth.name()
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

    fn tap_names(&self) -> Vec<String> {
        let mut v = vec!["maxpool".to_string()];
        for b in &self.blocks {
            v.push(b.name.clone());
        }
        v.extend((1..=4).map(|l| format!("layer{l}")));
        v.push(EMBEDDING_TAP.to_string());
        v
    }

    fn forward_taps(
        &self,
        x: &Tensor,
        train: bool,
        rng: Option<&mut Rng>,
        taps: &[&str],
    ) -> Result<Forward> {
        check_forward_input(
            self.name(),
            || self.tap_names(),
            self.config.in_channels,
            x,
            taps,
        )?;
        let mut t = Taps::new(taps);
        let h = self.stem.forward_t(x, train)?.relu()?;
        let mut h = crate::pool::max_pool2d(&h, (3, 3), (2, 2), (1, 1))?;
        t.offer("maxpool", &h);
        for b in &self.blocks {
            h = b.forward(&h, train)?;
            t.offer(&b.name, &h);
            if let Some(layer) = &b.ends_layer {
                t.offer(layer, &h);
            }
        }
        let mut pooled = h.mean(D::Minus1)?.mean(D::Minus1)?;
        t.offer(EMBEDDING_TAP, &pooled);
        if train && self.config.dropout > 0.0 {
            if let Some(r) = rng {
                pooled = drop_elements(&pooled, self.config.dropout, r)?;
            }
        }
        Ok(Forward {
            logits: self.fc.forward(&pooled)?,
            taps: t.got,
        })
    }
}

impl Module for ResNet {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward_taps(x, false, None, &[])?.logits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeededVarMap;
    use candle_core::{DType, Device};

    /// Every variable's name and shape of the ResNet `cfg` builds.
    fn shapes(cfg: ResNetConfig) -> std::collections::HashMap<String, Vec<usize>> {
        let map = SeededVarMap::new(0);
        ResNet::new(cfg, map.var_builder(DType::F32, &Device::Cpu)).unwrap();
        map.named_vars()
            .into_iter()
            .map(|(k, v)| (k, v.dims().to_vec()))
            .collect()
    }

    #[test]
    fn variables_are_named_and_shaped_as_torchvision() {
        let vars = shapes(ResNetConfig::new(ResNetDepth::R18, 5, 7));
        assert_eq!(vars["conv1.weight"], [64, 5, 7, 7]);
        assert_eq!(vars["layer2.0.downsample.0.weight"], [128, 64, 1, 1]);
        assert_eq!(vars["layer4.1.bn2.running_var"], [512]);
        assert_eq!(vars["fc.weight"], [7, 512]);
        assert!(!vars.contains_key("layer1.0.downsample.0.weight"));
        // torchvision's resnet18 has 62 weight tensors and 40 running statistics: 102 in all.
        assert_eq!(vars.len(), 102);
        let vars = shapes(ResNetConfig::new(ResNetDepth::R50, 3, 10));
        assert_eq!(vars["layer1.0.downsample.0.weight"], [256, 64, 1, 1]);
        assert_eq!(vars["layer3.5.conv3.weight"], [1024, 256, 1, 1]);
        assert_eq!(vars["fc.weight"], [10, 2048]);
    }
}
