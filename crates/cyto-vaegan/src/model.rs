//! Encoder, decoder and discriminator of the reference architecture, each a candle module built
//! from a [`VarBuilder`] and the [`ArchConfig`], behind a small trait so one can be swapped.
//!
//! Every convolution is 5×5, stride 1, VALID, 32 filters, initialised N(0, 2/(k²·c_in + c_out));
//! a block is conv → batch norm → (2×2 max-pool) → leaky ReLU. Encoder 68→64→32→28→14→10→5→1
//! (μ ‖ log σ² from a 512-channel 1×1 map); decoder pads by 4 and up-samples ×2 (nearest):
//! 1→5→10→14→28→32→64→68, then a 1×1 convolution to the image channels; discriminator: the
//! encoder's three blocks, a 5×5 convolution to 1×1×64 and a 1×1 logit.

use cellpaint_core::candle::{Module, ModuleT, Result, Tensor, D};
use cellpaint_core::candle_nn::{Init, VarBuilder};
use cellpaint_core::conv::conv2d;
use cellpaint_core::pool::max_pool2d;
use cellpaint_core::BatchNorm2d;

use crate::config::ArchConfig;

/// Maps images `(N, C, 68, 68)` to the posterior's `(μ, log σ²)`, each `(N, latent)`.
pub trait CellEncoder: Send + Sync {
    /// `(μ, log σ²)`; `train` selects batch statistics (training) or running ones.
    fn encode(&self, x: &Tensor, train: bool) -> Result<(Tensor, Tensor)>;
    /// Convolution kernels, for weight decay.
    fn kernels(&self) -> Vec<Tensor>;
}

/// Maps latents `(N, latent)` to images `(N, C, 68, 68)`.
pub trait CellDecoder: Send + Sync {
    /// Images from latents; `train` as in [`CellEncoder::encode`].
    fn decode(&self, z: &Tensor, train: bool) -> Result<Tensor>;
    /// Convolution kernels, for weight decay.
    fn kernels(&self) -> Vec<Tensor>;
}

/// What the discriminator computes on a batch: its hidden layers (the feature-loss targets)
/// and one logit per image (real vs reconstructed).
pub struct Discrimination {
    /// Hidden activations, first layer first.
    pub hidden: Vec<Tensor>,
    /// `(N, 1)` real-vs-reconstruction logits.
    pub logits: Tensor,
}

/// Real-vs-reconstruction classifier whose hidden layers define the learned similarity.
pub trait FeatureDiscriminator: Send + Sync {
    /// How many hidden layers [`FeatureDiscriminator::discriminate`] returns (the reference: 4).
    /// Feature-loss weight γ_i of layer i ramps in at iteration i·T (`feature_weight`), for
    /// every layer there is.
    fn feature_layers(&self) -> usize;
    /// Training mode, with batch-norm moments from the first `stats_rows` images only.
    fn discriminate(&self, x: &Tensor, stats_rows: usize) -> Result<Discrimination>;
    /// Convolution kernels, for weight decay.
    fn kernels(&self) -> Vec<Tensor>;
}

/// A 5×5 VALID convolution without bias (batch norm follows), reference initialisation.
fn kernel(vb: &VarBuilder, c_out: usize, c_in: usize, k: usize) -> Result<Tensor> {
    let stdev = (2.0 / (k * k * c_in + c_out) as f64).sqrt();
    vb.get_with_hints(
        (c_out, c_in, k, k),
        "weight",
        Init::Randn { mean: 0.0, stdev },
    )
}

fn leaky(x: &Tensor, slope: f64) -> Result<Tensor> {
    x.maximum(&(x * slope)?)
}

/// Nearest-neighbour ×2 up-sampling through broadcast and reshape, whose gradient candle
/// derives exactly (each output pixel's gradient summed back to its source).
pub fn upsample2(x: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    x.reshape((n, c, h, 1, w, 1))?
        .broadcast_as((n, c, h, 2, w, 2))?
        .reshape((n, c, 2 * h, 2 * w))
}

/// conv → batch norm → optional 2×2 max-pool → optional leaky ReLU.
#[derive(Clone)]
struct Block {
    weight: Tensor,
    bn: BatchNorm2d,
    pad: usize,
    pool: bool,
    activate: bool,
    slope: f64,
}

impl Block {
    #[allow(clippy::too_many_arguments)]
    fn new(
        arch: &ArchConfig,
        c_in: usize,
        c_out: usize,
        k: usize,
        pad: usize,
        pool: bool,
        activate: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(Self {
            weight: kernel(&vb.pp("conv"), c_out, c_in, k)?,
            bn: BatchNorm2d::new(c_out, arch.bn_eps, arch.bn_momentum, vb.pp("bn"))?,
            pad,
            pool,
            activate,
            slope: arch.leaky_slope,
        })
    }

    /// `stats_rows`: batch-norm moments from the first rows only (training mode).
    fn forward(&self, x: &Tensor, train: bool, stats_rows: Option<usize>) -> Result<Tensor> {
        let y = conv2d(x, &self.weight, self.pad)?;
        let y = match stats_rows {
            Some(rows) if train => self.bn.forward_stats_from(&y, rows, false)?,
            _ => self.bn.forward(&y, train, false)?,
        };
        let y = if self.pool {
            max_pool2d(&y, (2, 2), (2, 2), (0, 0))?
        } else {
            y
        };
        if self.activate {
            leaky(&y, self.slope)
        } else {
            Ok(y)
        }
    }
}

fn check_images(x: &Tensor, arch: &ArchConfig) -> Result<()> {
    let dims = x.dims();
    let s = arch.image_size;
    if dims.len() != 4 || dims[1] != arch.in_channels || dims[2] != s || dims[3] != s {
        cellpaint_core::candle::bail!(
            "expected images of shape (N, {}, {s}, {s}), got {dims:?}",
            arch.in_channels
        );
    }
    Ok(())
}

/// The three pooled blocks shared in shape by the encoder and the discriminator: 68 → 5.
fn trunk(arch: &ArchConfig, vb: &VarBuilder) -> Result<Vec<Block>> {
    let f = arch.filters;
    (0..3)
        .map(|i| {
            let c_in = if i == 0 { arch.in_channels } else { f };
            Block::new(
                arch,
                c_in,
                f,
                arch.kernel,
                0,
                true,
                true,
                vb.pp(format!("block{i}")),
            )
        })
        .collect()
}

/// The reference encoder.
#[derive(Clone)]
pub struct ConvEncoder {
    arch: ArchConfig,
    blocks: Vec<Block>,
}

impl ConvEncoder {
    /// The reference encoder's variables under `vb`.
    pub fn new(arch: &ArchConfig, vb: VarBuilder) -> Result<Self> {
        let mut blocks = trunk(arch, &vb)?;
        // 5×5 → 1×1 with 2·latent channels: μ and log σ², batch-normalised, no activation.
        blocks.push(Block::new(
            arch,
            arch.filters,
            2 * arch.latent,
            arch.kernel,
            0,
            false,
            false,
            vb.pp("block3"),
        )?);
        Ok(Self {
            arch: arch.clone(),
            blocks,
        })
    }
}

impl CellEncoder for ConvEncoder {
    fn encode(&self, x: &Tensor, train: bool) -> Result<(Tensor, Tensor)> {
        check_images(x, &self.arch)?;
        let mut h = x.clone();
        for b in &self.blocks {
            h = b.forward(&h, train, None)?;
        }
        let h = h.flatten_from(1)?;
        let l = self.arch.latent;
        Ok((h.narrow(1, 0, l)?, h.narrow(1, l, l)?))
    }
    fn kernels(&self) -> Vec<Tensor> {
        self.blocks.iter().map(|b| b.weight.clone()).collect()
    }
}

impl ModuleT for ConvEncoder {
    /// `μ ‖ log σ²`, shape `(N, 2·latent)`.
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let (mu, logvar) = self.encode(x, train)?;
        Tensor::cat(&[mu, logvar], D::Minus1)
    }
}

/// The reference decoder: pad 4 → conv → BN → leaky ReLU → ×2 nearest, then a 1×1 convolution.
#[derive(Clone)]
pub struct ConvDecoder {
    arch: ArchConfig,
    blocks: Vec<Block>,
    out_weight: Tensor,
    out_bias: Tensor,
}

impl ConvDecoder {
    /// The reference decoder's variables under `vb`.
    pub fn new(arch: &ArchConfig, vb: VarBuilder) -> Result<Self> {
        let f = arch.filters;
        let pad = arch.kernel - 1;
        let blocks = (0..4)
            .map(|i| {
                let c_in = if i == 0 { arch.latent } else { f };
                Block::new(
                    arch,
                    c_in,
                    f,
                    arch.kernel,
                    pad,
                    false,
                    true,
                    vb.pp(format!("block{i}")),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let out = vb.pp("out");
        Ok(Self {
            arch: arch.clone(),
            blocks,
            out_weight: kernel(&out, arch.in_channels, f, 1)?,
            out_bias: out.get_with_hints(arch.in_channels, "bias", Init::Const(0.0))?,
        })
    }
}

impl CellDecoder for ConvDecoder {
    fn decode(&self, z: &Tensor, train: bool) -> Result<Tensor> {
        let (n, l) = z.dims2()?;
        if l != self.arch.latent {
            cellpaint_core::candle::bail!(
                "expected latents of width {}, got {l}",
                self.arch.latent
            );
        }
        let mut h = z.reshape((n, l, 1, 1))?;
        for (i, b) in self.blocks.iter().enumerate() {
            h = b.forward(&h, train, None)?;
            if i < 3 {
                h = upsample2(&h)?;
            }
        }
        conv2d(&h, &self.out_weight, 0)?.broadcast_add(&self.out_bias.reshape((
            1,
            self.arch.in_channels,
            1,
            1,
        ))?)
    }
    fn kernels(&self) -> Vec<Tensor> {
        let mut k: Vec<Tensor> = self.blocks.iter().map(|b| b.weight.clone()).collect();
        k.push(self.out_weight.clone());
        k
    }
}

impl ModuleT for ConvDecoder {
    fn forward_t(&self, z: &Tensor, train: bool) -> Result<Tensor> {
        self.decode(z, train)
    }
}

/// The reference discriminator.
#[derive(Clone)]
pub struct ConvDiscriminator {
    arch: ArchConfig,
    blocks: Vec<Block>,
    logit_weight: Tensor,
    logit_bias: Tensor,
}

impl ConvDiscriminator {
    /// The reference discriminator's variables under `vb`.
    pub fn new(arch: &ArchConfig, vb: VarBuilder) -> Result<Self> {
        let mut blocks = trunk(arch, &vb)?;
        blocks.push(Block::new(
            arch,
            arch.filters,
            arch.disc_hidden,
            arch.kernel,
            0,
            false,
            true,
            vb.pp("block3"),
        )?);
        let out = vb.pp("logit");
        Ok(Self {
            arch: arch.clone(),
            blocks,
            logit_weight: kernel(&out, 1, arch.disc_hidden, 1)?,
            logit_bias: out.get_with_hints(1, "bias", Init::Const(0.0))?,
        })
    }

    fn run(&self, x: &Tensor, train: bool, stats_rows: Option<usize>) -> Result<Discrimination> {
        check_images(x, &self.arch)?;
        let mut hidden = Vec::with_capacity(self.blocks.len());
        let mut h = x.clone();
        for b in &self.blocks {
            h = b.forward(&h, train, stats_rows)?;
            hidden.push(h.clone());
        }
        let logits = conv2d(&h, &self.logit_weight, 0)?
            .flatten_all()?
            .broadcast_add(&self.logit_bias)?;
        Ok(Discrimination { hidden, logits })
    }
}

impl FeatureDiscriminator for ConvDiscriminator {
    fn feature_layers(&self) -> usize {
        self.blocks.len()
    }
    fn discriminate(&self, x: &Tensor, stats_rows: usize) -> Result<Discrimination> {
        self.run(x, true, Some(stats_rows))
    }
    fn kernels(&self) -> Vec<Tensor> {
        let mut k: Vec<Tensor> = self.blocks.iter().map(|b| b.weight.clone()).collect();
        k.push(self.logit_weight.clone());
        k
    }
}

impl Module for ConvDiscriminator {
    /// Logits in inference mode.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.run(x, false, None)?.logits)
    }
}

/// The three networks; the discriminator only when the feature loss is on.
pub struct VaeGan {
    /// Images to the posterior.
    pub encoder: Box<dyn CellEncoder>,
    /// Latents to images.
    pub decoder: Box<dyn CellDecoder>,
    /// The learned similarity (VAE+ only).
    pub discriminator: Option<Box<dyn FeatureDiscriminator>>,
}

/// Variable-name prefixes of the three networks (optimiser groups, checkpoints).
pub const ENCODER: &str = "encoder";
/// The decoder's prefix.
pub const DECODER: &str = "decoder";
/// The discriminator's prefix.
pub const DISCRIMINATOR: &str = "discriminator";

impl VaeGan {
    /// The reference networks; variables under `encoder.`, `decoder.`, `discriminator.`.
    pub fn reference(arch: &ArchConfig, with_discriminator: bool, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            encoder: Box::new(ConvEncoder::new(arch, vb.pp(ENCODER))?),
            decoder: Box::new(ConvDecoder::new(arch, vb.pp(DECODER))?),
            discriminator: if with_discriminator {
                Some(Box::new(ConvDiscriminator::new(
                    arch,
                    vb.pp(DISCRIMINATOR),
                )?))
            } else {
                None
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cellpaint_core::candle::{DType, Device};
    use cellpaint_core::SeededVarMap;

    fn images(n: usize, c: usize) -> Tensor {
        let v: Vec<f32> = (0..n * c * 68 * 68)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
            .collect();
        Tensor::from_vec(v, (n, c, 68, 68), &Device::Cpu).unwrap()
    }

    #[test]
    fn shapes_follow_the_reference() {
        let arch = ArchConfig::default();
        let map = SeededVarMap::new(0);
        let m = VaeGan::reference(&arch, true, map.var_builder(DType::F32, &Device::Cpu)).unwrap();
        let x = images(3, 3);
        let (mu, logvar) = m.encoder.encode(&x, true).unwrap();
        assert_eq!(mu.dims(), &[3, 256]);
        assert_eq!(logvar.dims(), &[3, 256]);
        let y = m.decoder.decode(&mu, true).unwrap();
        assert_eq!(y.dims(), &[3, 3, 68, 68]);
        let d = m
            .discriminator
            .as_ref()
            .unwrap()
            .discriminate(&x, 2)
            .unwrap();
        let shapes: Vec<Vec<usize>> = d.hidden.iter().map(|h| h.dims().to_vec()).collect();
        assert_eq!(
            shapes,
            vec![
                vec![3, 32, 32, 32],
                vec![3, 32, 14, 14],
                vec![3, 32, 5, 5],
                vec![3, 64, 1, 1]
            ]
        );
        assert_eq!(d.logits.dims(), &[3]);
        // Kernels: 4 encoder, 5 decoder (with the 1×1), 5 discriminator (with the logit).
        assert_eq!(m.encoder.kernels().len(), 4);
        assert_eq!(m.decoder.kernels().len(), 5);
        // Initialisation: N(0, 2/(k²·c_in + c_out)) for the first encoder kernel.
        let k0 = &m.encoder.kernels()[0];
        let v: Vec<f32> = k0.flatten_all().unwrap().to_vec1().unwrap();
        let sd = (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
        let expected = (2.0f32 / (25.0 * 3.0 + 32.0)).sqrt();
        assert!((sd / expected - 1.0).abs() < 0.1, "{sd} vs {expected}");
    }

    #[test]
    fn wrong_channels_or_size_is_an_error() {
        let arch = ArchConfig::default();
        let map = SeededVarMap::new(0);
        let m = VaeGan::reference(&arch, false, map.var_builder(DType::F32, &Device::Cpu)).unwrap();
        let e = m
            .encoder
            .encode(&images(2, 5), false)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("(N, 3, 68, 68)") && e.contains("[2, 5, 68, 68]"),
            "{e}"
        );
        let small = Tensor::zeros((2, 3, 64, 64), DType::F32, &Device::Cpu).unwrap();
        assert!(m.encoder.encode(&small, false).is_err());
        let z = Tensor::zeros((2, 10), DType::F32, &Device::Cpu).unwrap();
        assert!(m
            .decoder
            .decode(&z, false)
            .err()
            .unwrap()
            .to_string()
            .contains("width 256"));
    }

    #[test]
    fn upsample_is_nearest_and_its_gradient_sums() {
        let x = Tensor::arange(1f64, 5.0, &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 2, 2))
            .unwrap();
        let y = upsample2(&x).unwrap();
        assert_eq!(
            y.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
            vec![1., 1., 2., 2., 1., 1., 2., 2., 3., 3., 4., 4., 3., 3., 4., 4.]
        );
        let r =
            cellpaint_core::gradcheck::check_gradients(|t| upsample2(t)?.sqr(), &x, 1e-5).unwrap();
        assert!(r.max_abs_error < 1e-8, "{r:?}");
    }
}
