//! MOAProfiler's settings, defaults equal to the paper's (Methods; reference code §4).

use cellpaint_core::{
    backbone::check_backbone_name, BackboneSpec, LrSchedule, OptimizerConfig, SgdParams,
};
use serde::{Deserialize, Serialize};

use crate::error::{MoaError, Result};

/// Everything a MOAProfiler run is set up with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MoaProfilerConfig {
    /// Side the fields are resized to before the network (the paper: 1080, full resolution;
    /// CPU runs downscale).
    pub image_size: usize,
    /// The network, by registered name (`efficientnet-b0`, the paper's; `resnet18`, …; see
    /// `cellpaint_core::BACKBONES`).
    pub backbone: String,
    /// Channel multiplier of the backbone (1.0: the published network).
    pub width_mult: f64,
    /// Dropout before the classifier.
    pub dropout: f64,
    /// Training epochs.
    pub epochs: usize,
    /// Fields per step.
    pub batch_size: usize,
    /// SGD's base rate.
    pub learning_rate: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// SGD weight decay (L2, coupled).
    pub weight_decay: f64,
    /// Epochs (as fractions of `epochs`) at which the rate is multiplied by `gamma`.
    pub milestones: Vec<f64>,
    /// Factor applied at each milestone.
    pub gamma: f64,
    /// Random rot90 (k ∈ 0..3) and horizontal flips.
    pub rotate_flip: bool,
    /// Per-channel brightness and contrast factors in [1 − j, 1 + j] (the paper: 0.3 for
    /// LINCS, 0 for JUMP1).
    pub color_jitter: f64,
    /// The control compound: a class, but left out of the metrics.
    pub control: String,
    /// Metadata column of the image index naming each well's compound.
    pub compound_column: String,
    /// Metadata column naming each well's MOA.
    pub moa_column: String,
}

impl Default for MoaProfilerConfig {
    fn default() -> Self {
        Self {
            image_size: 1080,
            backbone: "efficientnet-b0".into(),
            width_mult: 1.0,
            dropout: 0.2,
            epochs: 100,
            batch_size: 56,
            learning_rate: 0.1,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 1e-4,
            milestones: vec![0.5, 0.75],
            gamma: 0.1,
            rotate_flip: true,
            color_jitter: 0.3,
            control: "DMSO".into(),
            compound_column: "Metadata_broad_sample".into(),
            moa_column: "Metadata_moa".into(),
        }
    }
}

/// The largest field side a config may ask for: a batch of 5-channel float fields is
/// allocated from it, so `image_size 100000` would ask for hundreds of GB.
pub const MAX_IMAGE_SIZE: usize = 8192;

impl MoaProfilerConfig {
    /// Reads a JSON config (unknown keys are an error naming them), checked.
    pub fn from_json_file(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| MoaError::data(path.display().to_string(), e.to_string()))?;
        let c: Self = profiles::io::parse_json_object(&text, &path.display().to_string())?;
        c.check()
            .map_err(|e| MoaError::data(path.display().to_string(), e.to_string()))?;
        Ok(c)
    }

    /// Sizes, rates, milestones and jitter within their ranges; the error names the setting.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(MoaError::Config(m));
        if !(32..=MAX_IMAGE_SIZE).contains(&self.image_size) {
            return bad(format!(
                "image_size must be in 32..={MAX_IMAGE_SIZE} (EfficientNet downsamples 32×; \
                 the largest Cell Painting fields are 2160 px), got {}",
                self.image_size
            ));
        }
        check_backbone_name(&self.backbone)
            .map_err(|e| MoaError::Config(format!("backbone: {e}")))?;
        if !(self.width_mult > 0.0) || !(0.0..1.0).contains(&self.dropout) {
            return bad(format!(
                "width_mult must be > 0 and dropout in [0, 1), got {} and {}",
                self.width_mult, self.dropout
            ));
        }
        if self.epochs == 0 || self.batch_size == 0 {
            return bad("epochs and batch_size must be ≥ 1".into());
        }
        if !(0.0..=1.0).contains(&self.color_jitter) {
            return bad(format!(
                "color_jitter must be in [0, 1], got {}",
                self.color_jitter
            ));
        }
        if self.milestones.iter().any(|m| !(0.0..=1.0).contains(m)) {
            return bad(format!(
                "milestones are fractions of the epochs in [0, 1], got {:?}",
                self.milestones
            ));
        }
        if self.control.is_empty() {
            return bad("the control compound needs a name".into());
        }
        self.optimizer()
            .build(Vec::new())
            .map_err(|e| MoaError::Config(e.to_string()))?;
        self.schedule()
            .check()
            .map_err(|e| MoaError::Config(e.to_string()))
    }

    /// SGD with Nesterov momentum and (coupled) weight decay, as PyTorch's.
    pub fn optimizer(&self) -> OptimizerConfig {
        OptimizerConfig::Sgd(SgdParams {
            lr: self.learning_rate,
            momentum: self.momentum,
            nesterov: self.nesterov,
            weight_decay: self.weight_decay,
            ..SgdParams::default()
        })
    }

    /// Multi-step schedule at the milestone epochs (50 and 75 of 100 in the paper).
    pub fn schedule(&self) -> LrSchedule {
        LrSchedule::MultiStep {
            milestones: self
                .milestones
                .iter()
                .map(|f| (f * self.epochs as f64).round() as usize)
                .collect(),
            gamma: self.gamma,
        }
    }

    /// The network for `channels` inputs and `classes` outputs.
    pub fn network(&self, channels: usize, classes: usize) -> BackboneSpec {
        BackboneSpec {
            width_mult: self.width_mult,
            dropout: Some(self.dropout),
            ..BackboneSpec::new(&self.backbone, channels, classes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_papers() {
        let c = MoaProfilerConfig::default();
        c.check().unwrap();
        assert_eq!(
            c.schedule(),
            LrSchedule::MultiStep {
                milestones: vec![50, 75],
                gamma: 0.1
            }
        );
        assert_eq!((c.batch_size, c.epochs, c.image_size), (56, 100, 1080));
        let spec = c.network(5, 59);
        assert_eq!(spec.name, "efficientnet-b0");
        let map = cellpaint_core::SeededVarMap::new(0);
        let vb = map.var_builder(
            cellpaint_core::candle::DType::F32,
            &cellpaint_core::candle::Device::Cpu,
        );
        use cellpaint_core::BuildBackbone;
        assert_eq!(spec.build(vb).unwrap().embedding_dim(), 1280);
    }

    #[test]
    fn the_backbone_is_picked_by_name() {
        let c: MoaProfilerConfig = serde_json::from_str(r#"{"backbone": "resnet18"}"#).unwrap();
        c.check().unwrap();
        assert_eq!(c.network(5, 3).name, "resnet18");
        let c: MoaProfilerConfig = serde_json::from_str(r#"{"backbone": "vgg16"}"#).unwrap();
        let e = c.check().unwrap_err().to_string();
        assert!(
            e.contains("unknown backbone 'vgg16'") && e.contains("resnet50"),
            "{e}"
        );
    }

    #[test]
    fn bad_settings_are_errors() {
        for c in [
            MoaProfilerConfig {
                image_size: 8,
                ..Default::default()
            },
            // Would allocate hundreds of GB per batch.
            MoaProfilerConfig {
                image_size: 100_000,
                ..Default::default()
            },
            MoaProfilerConfig {
                color_jitter: 2.0,
                ..Default::default()
            },
            MoaProfilerConfig {
                momentum: 0.0,
                ..Default::default()
            },
            MoaProfilerConfig {
                milestones: vec![1.5],
                ..Default::default()
            },
        ] {
            assert!(c.check().is_err(), "{c:?}");
        }
        let e = serde_json::from_str::<MoaProfilerConfig>(r#"{"epoch": 3}"#).unwrap_err();
        assert!(e.to_string().contains("epoch"));
    }
}
