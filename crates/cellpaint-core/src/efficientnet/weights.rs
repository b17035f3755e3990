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

/// Renames one Keras EfficientNet-B0 variable (`layer`, `variable` as in
/// `stem_conv/kernel:0`) to torchvision's; `None` for variables the model has no use for.
///
/// | Keras (`tf.keras.applications`, the `efficientnet` package) | torchvision (ours) |
/// |---|---|
/// | `stem_conv`, `stem_bn` | `features.0.0`, `features.0.1` |
/// | `block1a_dwconv`, `_bn`, `_se_reduce`, `_se_expand`, `_project_conv`, `_project_bn` | `features.1.0.block.0.0`, `.0.1`, `.1.fc1`, `.1.fc2`, `.2.0`, `.2.1` |
/// | `block{s}{l}_expand_conv`, `_expand_bn`, `_dwconv`, `_bn`, `_se_reduce`, `_se_expand`, `_project_conv`, `_project_bn` | `features.s.(l−a).block.0.0`, `.0.1`, `.1.0`, `.1.1`, `.2.fc1`, `.2.fc2`, `.3.0`, `.3.1` |
/// | `top_conv`, `top_bn` | `features.8.0`, `features.8.1` |
/// | `predictions` (Keras), `probs` (`efficientnet`) | `classifier.1` |
///
/// Variables: `kernel`/`depthwise_kernel` → `weight`, `bias`, and batch norm's `gamma`,
/// `beta`, `moving_mean`, `moving_variance` → `weight`, `bias`, `running_mean`, `running_var`.
pub fn keras_to_torchvision(layer: &str, variable: &str) -> Option<String> {
    let param = match variable.trim_end_matches(":0") {
        "kernel" | "depthwise_kernel" | "gamma" => "weight",
        "bias" | "beta" => "bias",
        "moving_mean" => "running_mean",
        "moving_variance" => "running_var",
        _ => return None,
    };
    let top = match layer {
        "stem_conv" => Some("features.0.0"),
        "stem_bn" => Some("features.0.1"),
        "top_conv" => Some("features.8.0"),
        "top_bn" => Some("features.8.1"),
        "predictions" | "probs" => Some("classifier.1"),
        _ => None,
    };
    if let Some(t) = top {
        return Some(format!("{t}.{param}"));
    }
    let rest = layer.strip_prefix("block")?;
    let digits = rest.find(|c: char| !c.is_ascii_digit())?;
    let stage: usize = rest[..digits].parse().ok()?;
    let mut chars = rest[digits..].chars();
    let letter = chars.next().filter(|c| c.is_ascii_lowercase())?;
    let sub = chars.as_str().strip_prefix('_')?;
    let index = letter as usize - 'a' as usize;
    let inner = if stage == 1 {
        match sub {
            "dwconv" => "0.0",
            "bn" => "0.1",
            "se_reduce" => "1.fc1",
            "se_expand" => "1.fc2",
            "project_conv" => "2.0",
            "project_bn" => "2.1",
            _ => return None,
        }
    } else {
        match sub {
            "expand_conv" => "0.0",
            "expand_bn" => "0.1",
            "dwconv" => "1.0",
            "bn" => "1.1",
            "se_reduce" => "2.fc1",
            "se_expand" => "2.fc2",
            "project_conv" => "3.0",
            "project_bn" => "3.1",
            _ => return None,
        }
    };
    Some(format!("features.{stage}.{index}.block.{inner}.{param}"))
}

/// Reads the weights of a Keras EfficientNet-B0 saved as HDF5 (Keras 2's `save_weights` or
/// `save` to `.h5`/`.hdf5`, the format of DeepProfiler's published `Cell_Painting_CNN_v1.hdf5`),
/// named and laid out as torchvision's, for [`load_pretrained`] into a model built with
/// [`super::EfficientNetConfig::keras_b0`] (Keras pads and normalizes differently).
///
/// Kernels are transposed from Keras's (kh, kw, in, out) to (out, in, kh, kw), depthwise ones
/// (`*_dwconv` layers)
/// from (kh, kw, c, 1) to (c, 1, kh, kw), the dense classifier from (in, out) to (out, in).
/// A variable's layer is the group that holds it, wherever it sits (a model nested in a model
/// keeps its layers one group deeper). Keras's `normalization` layer must be the identity
/// (mean 0, variance 1, as built without ImageNet weights): its statistics belong to the input
/// scaling, which is the caller's. Variables of other layers are returned unnamed in the second
/// value, for the report.
pub fn read_keras_h5(path: &std::path::Path) -> Result<(HashMap<String, Tensor>, Vec<String>)> {
    let file = profiles::hdf5::Hdf5File::open(path)?;
    let label = path.display();
    let mut named = HashMap::new();
    let mut unused = Vec::new();
    // A whole saved model keeps its weights under model_weights/ (beside optimizer state).
    let root = if file.members("/")?.iter().any(|m| m == "model_weights") {
        "/model_weights"
    } else {
        "/"
    };
    for dataset in file.datasets_under(root)? {
        let mut parts = dataset.rsplit('/');
        let variable = parts.next().unwrap_or_default();
        let layer = parts.next().unwrap_or_default();
        if layer.starts_with("normalization") {
            let values = file.dataset(&dataset)?.read_f64()?;
            let identity = match variable.trim_end_matches(":0") {
                "mean" => values.iter().all(|&v| v == 0.0),
                "variance" => values.iter().all(|&v| v == 1.0),
                _ => true,
            };
            if !identity {
                return Err(CoreError::Config(format!(
                    "{label}: {dataset} is not the identity; scale the input as the model's \
                     Keras normalization layer did (x − mean) / √variance and save its \
                     weights without it"
                )));
            }
            continue;
        }
        let Some(name) = keras_to_torchvision(layer, variable) else {
            unused.push(dataset);
            continue;
        };
        let d = file.dataset(&dataset)?;
        let shape = d.shape.clone();
        let values: Vec<f32> = d.read_f64()?.into_iter().map(|v| v as f32).collect();
        let t = Tensor::from_vec(values, shape.as_slice(), &Device::Cpu)?;
        // Keras 2 names a depthwise kernel `depthwise_kernel`, Keras 3 `kernel`.
        let depthwise = variable.starts_with("depthwise_kernel") || layer.ends_with("_dwconv");
        let t = match (variable.trim_end_matches(":0"), shape.len()) {
            (_, 4) if depthwise => t.permute((2, 3, 0, 1))?,
            ("kernel", 4) => t.permute((3, 2, 0, 1))?,
            ("kernel", 2) => t.t()?,
            (_, 1) => t,
            _ => {
                return Err(CoreError::Config(format!(
                    "{label}: {dataset} has shape {shape:?}, not a Keras kernel or vector"
                )))
            }
        };
        if named.insert(name.clone(), t.contiguous()?).is_some() {
            return Err(CoreError::Config(format!(
                "{label}: two variables map to '{name}' (the second is {dataset}); a file \
                 holding more than one EfficientNet is not supported"
            )));
        }
    }
    if named.is_empty() {
        return Err(CoreError::Config(format!(
            "{label}: no Keras EfficientNet layer (stem_conv, block1a_dwconv, …) found; \
             expected the Keras 2 HDF5 layout (model.save_weights to .h5)"
        )));
    }
    Ok((named, unused))
}
