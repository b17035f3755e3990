//! Loading EfficientNet-B0 weights named as torchvision or timm, with DeepProfiler's tiling of
//! the first convolution for more than 3 input channels (channel i ← ImageNet channel i mod 3).
//!
//! | timm | torchvision (ours) |
//! |---|---|
//! | `conv_stem`, `bn1` | `features.0.0`, `features.0.1` |
//! | `blocks.0.i.conv_dw`, `bn1`, `se.conv_reduce`, `se.conv_expand`, `conv_pw`, `bn2` | `features.1.i.block.0.0`, `.0.1`, `.1.fc1`, `.1.fc2`, `.2.0`, `.2.1` |
//! | `blocks.s.i.conv_pw`, `bn1`, `conv_dw`, `bn2`, `se.conv_reduce`, `se.conv_expand`, `conv_pwl`, `bn3` | `features.(s+1).i.block.0.0`, `.0.1`, `.1.0`, `.1.1`, `.2.fc1`, `.2.fc2`, `.3.0`, `.3.1` |
//! | `conv_head`, `bn2` | `features.8.0`, `features.8.1` |
//! | `classifier` | `classifier.1` |
//!
//! `num_batches_tracked` buffers are ignored. Convert a PyTorch `.pth` to safetensors once
//! (`scripts/efficientnet_reference.py` shows how) and load it with
//! `candle_core::safetensors::load`.

use std::collections::HashMap;

use candle_core::{Device, Tensor};

use crate::error::{CoreError, Result};
use crate::init::SeededVarMap;

/// What a load did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoadReport {
    /// Tensors copied into the model.
    pub loaded: usize,
    /// The first convolution was tiled from fewer input channels.
    pub tiled_first_conv: bool,
    /// Model variables left at their initial values (the classifier when the class count
    /// differs).
    pub kept_initial: Vec<String>,
    /// Source tensors the model has no use for.
    pub unused: Vec<String>,
}

/// Renames one timm EfficientNet-B0 key to torchvision's; `None` for keys to ignore.
pub fn timm_to_torchvision(key: &str) -> Option<String> {
    if key.ends_with("num_batches_tracked") {
        return None;
    }
    let (module, param) = key.rsplit_once('.')?;
    let top = |m: &str| -> Option<&str> {
        Some(match m {
            "conv_stem" => "features.0.0",
            "bn1" => "features.0.1",
            "conv_head" => "features.8.0",
            "bn2" => "features.8.1",
            "classifier" => "classifier.1",
            _ => return None,
        })
    };
    if let Some(t) = top(module) {
        return Some(format!("{t}.{param}"));
    }
    let rest = module.strip_prefix("blocks.")?;
    let mut parts = rest.splitn(3, '.');
    let stage: usize = parts.next()?.parse().ok()?;
    let layer: usize = parts.next()?.parse().ok()?;
    let sub = parts.next()?;
    let inner = if stage == 0 {
        match sub {
            "conv_dw" => "0.0",
            "bn1" => "0.1",
            "se.conv_reduce" => "1.fc1",
            "se.conv_expand" => "1.fc2",
            "conv_pw" => "2.0",
            "bn2" => "2.1",
            _ => return None,
        }
    } else {
        match sub {
            "conv_pw" => "0.0",
            "bn1" => "0.1",
            "conv_dw" => "1.0",
            "bn2" => "1.1",
            "se.conv_reduce" => "2.fc1",
            "se.conv_expand" => "2.fc2",
            "conv_pwl" => "3.0",
            "bn3" => "3.1",
            _ => return None,
        }
    };
    Some(format!(
        "features.{}.{layer}.block.{inner}.{param}",
        stage + 1
    ))
}

/// Copies `source` (torchvision- or timm-named) into the model variables of `map`.
pub fn load_pretrained(map: &SeededVarMap, source: HashMap<String, Tensor>) -> Result<LoadReport> {
    let timm = source
        .keys()
        .any(|k| k.starts_with("conv_stem") || k.starts_with("blocks."));
    let mut named: HashMap<String, Tensor> = HashMap::new();
    let mut report = LoadReport::default();
    for (k, t) in source {
        let name = if timm {
            timm_to_torchvision(&k)
        } else if k.ends_with("num_batches_tracked") {
            None
        } else {
            Some(k.clone())
        };
        match name {
            Some(n) => {
                named.insert(n, t);
            }
            None if !k.ends_with("num_batches_tracked") => report.unused.push(k),
            None => {}
        }
    }
    let vars = map.named_vars();
    for (name, var) in &vars {
        let Some(src) = named.remove(name) else {
            if name.starts_with("classifier") {
                report.kept_initial.push(name.clone());
                continue;
            }
            return Err(CoreError::Config(format!(
                "pretrained weights lack '{name}' (shape {:?})",
                var.shape()
            )));
        };
        let src = src.to_dtype(var.dtype())?;
        let value = if src.shape() == var.shape() {
            src
        } else if name == "features.0.0.weight"
            && src.rank() == 4
            && src.dim(0)? == var.dim(0)?
            && src.dims()[2..] == var.dims()[2..]
        {
            // DeepProfiler: input channel i takes the filters of ImageNet channel i mod 3.
            let (have, want) = (src.dim(1)?, var.dim(1)?);
            let idx: Vec<u32> = (0..want).map(|i| (i % have) as u32).collect();
            report.tiled_first_conv = true;
            src.index_select(&Tensor::new(idx.as_slice(), &Device::Cpu)?, 1)?
        } else if name.starts_with("classifier") {
            report.kept_initial.push(name.clone());
            continue;
        } else {
            return Err(CoreError::Config(format!(
                "pretrained '{name}' has shape {:?}, the model expects {:?}",
                src.shape(),
                var.shape()
            )));
        };
        var.set(&value.to_device(var.device())?)?;
        report.loaded += 1;
    }
    report.unused.extend(named.into_keys());
    report.unused.sort();
    Ok(report)
}
