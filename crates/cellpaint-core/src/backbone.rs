//! The image network a classifier trains and a method reads features from, behind one small
//! trait, and the registry that lets a config pick one by name.
//!
//! A new backbone is one file (a struct implementing [`Backbone`] and a `build` function) plus
//! one line in [`BACKBONES`]; the shared classifier, DeepProfiler's features and MOAProfiler's
//! embeddings then take it from `"backbone": "<name>"` in their configs. A backbone that should
//! not be registered (an experiment, a test) is passed to
//! [`ClassifierTask::new`](crate::classify::ClassifierTask::new) through [`BuildBackbone`].
//!
//! ```
//! use cellpaint_core::candle::{DType, Device, Tensor};
//! use cellpaint_core::{Backbone, BackboneSpec, BuildBackbone, SeededVarMap, EMBEDDING_TAP};
//!
//! // What a config's `"backbone": "resnet18"` builds: ResNet-18 at half width, 5 channels in.
//! let spec = BackboneSpec { width_mult: 0.5, ..BackboneSpec::new("resnet18", 5, 10) };
//! let map = SeededVarMap::new(0);
//! let net = spec.build(map.var_builder(DType::F32, &Device::Cpu))?;
//! let x = Tensor::zeros((2, 5, 64, 64), DType::F32, &Device::Cpu)?;
//! let out = net.forward_taps(&x, false, None, &["layer3", EMBEDDING_TAP])?;
//! assert_eq!(out.logits.dims(), &[2, 10]);
//! assert_eq!(out.taps[EMBEDDING_TAP].dims(), &[2, net.embedding_dim()]); // 256
//! assert_eq!(net.pooled_features(&x, "layer3")?.dims(), &[2, 128]);
//! # Ok::<(), cellpaint_core::candle::Error>(())
//! ```

use std::collections::HashMap;

use candle_core::{Result, Tensor, D};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use crate::efficientnet::{EfficientNet, EfficientNetConfig};
use crate::error::CoreError;
use crate::resnet::{ResNet, ResNetConfig, ResNetDepth};
use crate::rng::Rng;

/// Result of a forward pass: logits and the requested taps.
#[derive(Debug, Clone)]
pub struct Forward {
    /// `(N, num_classes)`, before softmax.
    pub logits: Tensor,
    /// The requested intermediate activations by layer name (e.g. `block6a_activation`).
    pub taps: HashMap<String, Tensor>,
}

/// The tap every backbone offers: the spatially averaged last feature map, `(N, embedding_dim)`,
/// the input of the classifier.
pub const EMBEDDING_TAP: &str = "avg_pool";

/// An image network with a linear classifier on top: `(N, C, H, W)` in, logits and named
/// intermediate activations ("taps") out.
///
/// Variables are created under the [`VarBuilder`] the backbone is built from, named as the
/// reference implementation names them (torchvision's module paths), so published weights load.
pub trait Backbone: std::fmt::Debug + Send + Sync {
    /// The registered name (`efficientnet-b0`, `resnet18`, …) or the implementer's own.
    fn name(&self) -> &str;
    /// Image channels it reads.
    fn in_channels(&self) -> usize;
    /// Classifier outputs.
    fn num_classes(&self) -> usize;
    /// Width of [`EMBEDDING_TAP`].
    fn embedding_dim(&self) -> usize;
    /// Every tap [`Backbone::forward_taps`] can return (must include [`EMBEDDING_TAP`]).
    fn tap_names(&self) -> Vec<String>;
    /// Forward pass returning logits and the taps named in `taps`. `train` selects training
    /// mode (batch statistics, updated running ones); with `rng`, training also draws dropout
    /// and the like from it, so runs are reproducible.
    fn forward_taps(
        &self,
        x: &Tensor,
        train: bool,
        rng: Option<&mut Rng>,
        taps: &[&str],
    ) -> Result<Forward>;

    /// Spatially averaged `tap` in inference mode, `(N, width)` (a rank-2 tap is returned as is).
    fn pooled_features(&self, x: &Tensor, tap: &str) -> Result<Tensor> {
        let out = self.forward_taps(x, false, None, &[tap])?;
        let t = out.taps.get(tap).ok_or_else(|| {
            candle_core::Error::Msg(format!("{} has no tap '{tap}'", self.name()))
        })?;
        if t.rank() == 4 {
            t.mean(D::Minus1)?.mean(D::Minus1)
        } else {
            Ok(t.clone())
        }
    }

    /// The pooled embedding ([`EMBEDDING_TAP`]) in inference mode.
    fn embedding(&self, x: &Tensor) -> Result<Tensor> {
        self.pooled_features(x, EMBEDDING_TAP)
    }
}

/// Collects the requested intermediate activations during a forward pass.
pub(crate) struct Taps<'a> {
    wanted: &'a [&'a str],
    pub(crate) got: HashMap<String, Tensor>,
}

impl<'a> Taps<'a> {
    pub(crate) fn new(wanted: &'a [&'a str]) -> Self {
        Self {
            wanted,
            got: HashMap::new(),
        }
    }

    pub(crate) fn offer(&mut self, name: &str, t: &Tensor) {
        if self.wanted.contains(&name) {
            self.got.insert(name.to_string(), t.clone());
        }
    }
}

/// Checks `taps` against a backbone's tap names (listed only when taps are requested: the
/// plain training forward asks for none) and `x` against its input channels: the shared
/// preamble of every [`Backbone::forward_taps`].
pub fn check_forward_input(
    backbone: &str,
    names: impl FnOnce() -> Vec<String>,
    in_channels: usize,
    x: &Tensor,
    taps: &[&str],
) -> Result<()> {
    if !taps.is_empty() {
        let names = names();
        if let Some(bad) = taps.iter().find(|t| !names.iter().any(|n| n == *t)) {
            candle_core::bail!(
                "unknown {backbone} tap '{bad}' (e.g. {}, {EMBEDDING_TAP})",
                names.get(names.len() / 2).map_or("", String::as_str)
            );
        }
    }
    if x.rank() != 4 || x.dim(1)? != in_channels {
        candle_core::bail!(
            "{backbone} expects (N, {in_channels}, H, W) input, got {:?}",
            x.shape()
        );
    }
    Ok(())
}

/// Something that builds a backbone's variables under a [`VarBuilder`]: a [`BackboneSpec`]
/// (by registered name), an architecture's own config, or a method developer's type.
pub trait BuildBackbone {
    /// Builds the network; its variables are created (initialised by the builder's map) under `vb`.
    fn build(&self, vb: VarBuilder) -> Result<Box<dyn Backbone>>;
}

impl<F: Fn(VarBuilder) -> Result<Box<dyn Backbone>>> BuildBackbone for F {
    fn build(&self, vb: VarBuilder) -> Result<Box<dyn Backbone>> {
        self(vb)
    }
}

/// Which backbone, by registered name, with the settings every backbone shares: what methods'
/// configs carry (`"backbone": "resnet18"`) and what their run directories record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackboneSpec {
    /// A name from [`BACKBONES`].
    pub name: String,
    /// Image channels.
    pub in_channels: usize,
    /// Classifier outputs.
    pub num_classes: usize,
    /// Channel multiplier (1.0 = the published network; smaller for CPU tiers and tests).
    pub width_mult: f64,
    /// Dropout before the classifier, in [0, 1); `None`: the published architecture's own
    /// (EfficientNet-B0 0.2, ResNet none).
    pub dropout: Option<f64>,
}

impl BackboneSpec {
    /// `name` at full width with its published dropout.
    pub fn new(name: &str, in_channels: usize, num_classes: usize) -> Self {
        Self {
            name: name.to_string(),
            in_channels,
            num_classes,
            width_mult: 1.0,
            dropout: None,
        }
    }
}

impl BuildBackbone for BackboneSpec {
    fn build(&self, vb: VarBuilder) -> Result<Box<dyn Backbone>> {
        let build = BACKBONES
            .iter()
            .find(|(n, _)| *n == self.name)
            .map(|(_, b)| b)
            .ok_or_else(|| candle_core::Error::Msg(unknown_backbone(&self.name)))?;
        build(self, vb)
    }
}

/// Builds a registered backbone from its spec.
pub type BuildFn = fn(&BackboneSpec, VarBuilder) -> Result<Box<dyn Backbone>>;

/// Every backbone a config can name. Adding one: its file and one line here.
pub const BACKBONES: &[(&str, BuildFn)] = &[
    ("efficientnet-b0", efficientnet_b0),
    ("efficientnet-b0-keras", efficientnet_b0_keras),
    ("resnet18", |s, vb| resnet(ResNetDepth::R18, s, vb)),
    ("resnet34", |s, vb| resnet(ResNetDepth::R34, s, vb)),
    ("resnet50", |s, vb| resnet(ResNetDepth::R50, s, vb)),
];

/// The registered names, in registry order.
pub fn backbone_names() -> Vec<&'static str> {
    BACKBONES.iter().map(|(n, _)| *n).collect()
}

/// A backbone name that is not in [`BACKBONES`]; its message lists the registered ones.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", unknown_backbone(.0))]
pub struct UnknownBackbone(pub String);

/// Is `name` registered?
pub fn check_backbone_name(name: &str) -> std::result::Result<(), UnknownBackbone> {
    if BACKBONES.iter().any(|(n, _)| *n == name) {
        Ok(())
    } else {
        Err(UnknownBackbone(name.to_string()))
    }
}

/// The taps of the registered backbone `name` (they do not depend on width, channels or
/// classes: it is built at its narrowest on the CPU to ask), so a config naming a feature layer
/// can be checked before anything runs.
pub fn backbone_tap_names(name: &str) -> crate::Result<Vec<String>> {
    check_backbone_name(name).map_err(|e| CoreError::Config(e.to_string()))?;
    let spec = BackboneSpec {
        width_mult: 0.01,
        ..BackboneSpec::new(name, 1, 1)
    };
    let map = crate::SeededVarMap::new(0);
    let vb = map.var_builder(candle_core::DType::F32, &candle_core::Device::Cpu);
    Ok(spec.build(vb)?.tap_names())
}

fn unknown_backbone(name: &str) -> String {
    format!(
        "unknown backbone '{name}' (known: {})",
        backbone_names().join(", ")
    )
}

fn efficientnet_b0(s: &BackboneSpec, vb: VarBuilder) -> Result<Box<dyn Backbone>> {
    efficientnet(EfficientNetConfig::b0(s.in_channels, s.num_classes), s, vb)
}

/// EfficientNet-B0 as Keras builds it (padding, batch-norm ε): for Keras weights such as
/// DeepProfiler's published Cell Painting CNN.
fn efficientnet_b0_keras(s: &BackboneSpec, vb: VarBuilder) -> Result<Box<dyn Backbone>> {
    efficientnet(
        EfficientNetConfig::keras_b0(s.in_channels, s.num_classes),
        s,
        vb,
    )
}

/// `published` at the spec's width and dropout.
fn efficientnet(
    published: EfficientNetConfig,
    s: &BackboneSpec,
    vb: VarBuilder,
) -> Result<Box<dyn Backbone>> {
    let config = EfficientNetConfig {
        width_mult: s.width_mult,
        dropout: s.dropout.unwrap_or(published.dropout),
        ..published
    };
    Ok(Box::new(EfficientNet::new(config, vb)?))
}

fn resnet(depth: ResNetDepth, s: &BackboneSpec, vb: VarBuilder) -> Result<Box<dyn Backbone>> {
    let published = ResNetConfig::new(depth, s.in_channels, s.num_classes);
    let config = ResNetConfig {
        width_mult: s.width_mult,
        dropout: s.dropout.unwrap_or(published.dropout),
        ..published
    };
    Ok(Box::new(ResNet::new(config, vb)?))
}

impl BuildBackbone for EfficientNetConfig {
    fn build(&self, vb: VarBuilder) -> Result<Box<dyn Backbone>> {
        Ok(Box::new(EfficientNet::new(self.clone(), vb)?))
    }
}

impl BuildBackbone for ResNetConfig {
    fn build(&self, vb: VarBuilder) -> Result<Box<dyn Backbone>> {
        Ok(Box::new(ResNet::new(self.clone(), vb)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeededVarMap;
    use candle_core::{DType, Device};

    #[test]
    fn every_registered_backbone_builds_and_offers_its_embedding() {
        let x = Tensor::ones((2, 3, 64, 64), DType::F32, &Device::Cpu).unwrap();
        for name in backbone_names() {
            let spec = BackboneSpec {
                width_mult: 0.25,
                ..BackboneSpec::new(name, 3, 4)
            };
            let map = SeededVarMap::new(1);
            let net = spec
                .build(map.var_builder(DType::F32, &Device::Cpu))
                .unwrap();
            assert_eq!(net.name(), name);
            assert!(net.tap_names().iter().any(|t| t == EMBEDDING_TAP), "{name}");
            let out = net.forward_taps(&x, true, None, &[EMBEDDING_TAP]).unwrap();
            assert_eq!(out.logits.dims(), &[2, 4], "{name}");
            assert_eq!(
                out.taps[EMBEDDING_TAP].dims(),
                &[2, net.embedding_dim()],
                "{name}"
            );
            assert!(net.forward_taps(&x, false, None, &["nope"]).is_err());
        }
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let e = check_backbone_name("vit-b16").unwrap_err().to_string();
        assert!(
            e.contains("resnet18") && e.contains("efficientnet-b0"),
            "{e}"
        );
        let map = SeededVarMap::new(0);
        let vb = map.var_builder(DType::F32, &Device::Cpu);
        assert!(BackboneSpec::new("vit-b16", 3, 2).build(vb).is_err());
    }
}
