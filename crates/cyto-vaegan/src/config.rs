//! The model and training settings, with the paper's values as defaults.

use serde::{Deserialize, Serialize};

use crate::error::{CytoError, Result};

/// The three models the paper compares; each is one [`VaeGanConfig`] preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// Plain autoencoder: β = 0, no sampling, no feature loss.
    Ae,
    /// VAE: β = 1, no feature loss.
    Vae,
    /// VAE+: β = 2 plus the discriminator feature loss switched on layer by layer.
    VaePlus,
}

impl Variant {
    /// AE, VAE and VAE+, in the paper's order.
    pub const ALL: [Variant; 3] = [Variant::Ae, Variant::Vae, Variant::VaePlus];

    /// The paper's name (`AE`, `VAE`, `VAE+`).
    pub fn name(self) -> &'static str {
        match self {
            Variant::Ae => "AE",
            Variant::Vae => "VAE",
            Variant::VaePlus => "VAE+",
        }
    }

    /// A name usable in file names.
    pub fn slug(self) -> &'static str {
        match self {
            Variant::Ae => "ae",
            Variant::Vae => "vae",
            Variant::VaePlus => "vae-plus",
        }
    }
}

impl std::str::FromStr for Variant {
    type Err = CytoError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "ae" => Ok(Variant::Ae),
            "vae" => Ok(Variant::Vae),
            "vae+" | "vae-plus" | "vae_plus" | "vaeplus" => Ok(Variant::VaePlus),
            other => Err(CytoError::Config(format!(
                "unknown variant '{other}' (expected ae, vae or vae+)"
            ))),
        }
    }
}

/// Architecture: input size, convolution widths, latent size (reference code values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchConfig {
    /// Input channels (3 for BBBC021: DNA, β-tubulin, F-actin).
    pub in_channels: usize,
    /// Side of the square input crop; the architecture needs 68.
    pub image_size: usize,
    /// Side of every convolution kernel (5).
    pub kernel: usize,
    /// Filters of every convolution (32).
    pub filters: usize,
    /// Dimension of the latent space (256).
    pub latent: usize,
    /// Width of the discriminator's last hidden (1×1) layer.
    pub disc_hidden: usize,
    /// Negative slope of the leaky ReLUs (0.01).
    pub leaky_slope: f64,
    /// Batch-norm ε (the reference's 1e-8).
    pub bn_eps: f64,
    /// PyTorch convention: running ← (1 − m)·running + m·batch (TF's decay 0.9 ⇔ m = 0.1).
    pub bn_momentum: f64,
}

impl Default for ArchConfig {
    fn default() -> Self {
        Self {
            in_channels: 3,
            image_size: 68,
            kernel: 5,
            filters: 32,
            latent: 256,
            disc_hidden: 64,
            leaky_slope: 0.01,
            bn_eps: 1e-8,
            bn_momentum: 0.1,
        }
    }
}

/// Losses, optimisers and schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VaeGanConfig {
    /// AE, VAE or VAE+.
    pub variant: Variant,
    /// The three networks' architecture.
    pub arch: ArchConfig,
    /// Weight of the KL term.
    pub beta: f64,
    /// Whether the discriminator and its feature loss are used (VAE+ only in the paper).
    pub feature_loss: bool,
    /// Period T of the progressive schedule γ_i(t) = min(1, max(0, t/T − i)).
    pub feature_period: usize,
    /// Samples in each of the two batches B1 (autoencoder) and B2 (real images for D).
    pub batch_size: usize,
    /// Training iterations (the paper: 40,000).
    pub iterations: usize,
    /// Adam (β1 0.9, β2 0.999) for encoder and decoder.
    pub lr_autoencoder: f64,
    /// SGD with momentum for the discriminator.
    pub lr_discriminator: f64,
    /// The discriminator's SGD momentum.
    pub momentum_discriminator: f64,
    /// L2 on every convolution kernel: wd · ½Σw² added to each network's loss.
    pub weight_decay: f64,
    /// Iterations per checkpoint/metrics record ("epoch" of the shared trainer).
    pub iterations_per_record: usize,
}

impl Default for VaeGanConfig {
    fn default() -> Self {
        Self::paper(Variant::VaePlus)
    }
}

impl VaeGanConfig {
    /// The paper's settings for `variant` (β 0 / 1 / 2; feature loss for VAE+ only; T = 2500;
    /// batch 104; Adam 1e-3 and SGD 1e-2 as the paper's text says; weight decay 1e-4;
    /// 40,000 iterations).
    pub fn paper(variant: Variant) -> Self {
        let (beta, feature_loss) = match variant {
            Variant::Ae => (0.0, false),
            Variant::Vae => (1.0, false),
            Variant::VaePlus => (2.0, true),
        };
        Self {
            variant,
            arch: ArchConfig::default(),
            beta,
            feature_loss,
            feature_period: 2500,
            batch_size: 104,
            iterations: 40_000,
            lr_autoencoder: 1e-3,
            lr_discriminator: 1e-2,
            momentum_discriminator: 0.9,
            weight_decay: 1e-4,
            iterations_per_record: 500,
        }
    }

    /// Whether the latent is sampled (VAE, VAE+) or taken as μ (AE).
    pub fn samples_latent(&self) -> bool {
        self.variant != Variant::Ae
    }

    /// A 68-px input with 5×5 kernels, sizes ≥ 1, β and weight decay ≥ 0 (β 0 for the AE), a
    /// batch of at least 2; the error names the setting.
    pub fn check(&self) -> Result<()> {
        let a = &self.arch;
        let bad = |m: String| Err(CytoError::Config(m));
        if a.image_size != 68 || a.kernel != 5 {
            return bad(format!(
                "the architecture is built for 68×68 crops and 5×5 kernels (got {}×{}, kernel {})",
                a.image_size, a.image_size, a.kernel
            ));
        }
        if a.in_channels == 0 || a.filters == 0 || a.latent == 0 || a.disc_hidden == 0 {
            return bad("channels, filters, latent and disc_hidden must be ≥ 1".into());
        }
        if !(a.bn_eps >= 0.0) || !(0.0..=1.0).contains(&a.bn_momentum) || !(a.leaky_slope >= 0.0) {
            return bad("bn_eps ≥ 0, bn_momentum in [0, 1] and leaky_slope ≥ 0 needed".into());
        }
        if !(self.beta >= 0.0) || !(self.weight_decay >= 0.0) {
            return bad(format!(
                "beta and weight_decay must be ≥ 0 (got {}, {})",
                self.beta, self.weight_decay
            ));
        }
        if self.variant == Variant::Ae && self.beta != 0.0 {
            return bad("the AE variant has no KL term: beta must be 0".into());
        }
        if self.batch_size < 2 || self.iterations == 0 || self.iterations_per_record == 0 {
            return bad(format!(
                "batch_size ≥ 2 (batch norm), iterations ≥ 1 and iterations_per_record ≥ 1 needed \
                 (got {}, {}, {})",
                self.batch_size, self.iterations, self.iterations_per_record
            ));
        }
        if self.iterations % self.iterations_per_record != 0 {
            return bad(format!(
                "iterations ({}) must be a multiple of iterations_per_record ({})",
                self.iterations, self.iterations_per_record
            ));
        }
        if self.feature_loss && self.feature_period == 0 {
            return bad("feature_period must be ≥ 1".into());
        }
        for (name, v) in [
            ("lr_autoencoder", self.lr_autoencoder),
            ("lr_discriminator", self.lr_discriminator),
            ("momentum_discriminator", self.momentum_discriminator),
        ] {
            if !(v >= 0.0) || !v.is_finite() {
                return bad(format!("{name} must be a finite number ≥ 0, got {v}"));
            }
        }
        Ok(())
    }
}

/// The progressive weight of discriminator layer `i` (1-based) at iteration `t`:
/// γ_i(t) = min(1, max(0, t/T − i)). Layer 1 starts at t = T and is fully on at 2T.
pub fn feature_weight(layer: usize, t: usize, period: usize) -> f64 {
    (t as f64 / period as f64 - layer as f64).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_the_papers() {
        let ae = VaeGanConfig::paper(Variant::Ae);
        let vae = VaeGanConfig::paper(Variant::Vae);
        let plus = VaeGanConfig::paper(Variant::VaePlus);
        assert_eq!(
            (ae.beta, ae.feature_loss, ae.samples_latent()),
            (0.0, false, false)
        );
        assert_eq!((vae.beta, vae.feature_loss), (1.0, false));
        assert_eq!(
            (plus.beta, plus.feature_loss, plus.feature_period),
            (2.0, true, 2500)
        );
        assert_eq!((plus.batch_size, plus.iterations), (104, 40_000));
        for c in [ae, vae, plus] {
            c.check().unwrap();
        }
        assert_eq!("vae+".parse::<Variant>().unwrap(), Variant::VaePlus);
        assert!("gan".parse::<Variant>().is_err());
    }

    #[test]
    fn gamma_schedule_by_hand() {
        // T = 2500: layer 1 is off until 2500, half on at 3750, on from 5000; layer 4 starts at
        // 10,000 and is on from 12,500.
        let g = |i, t| feature_weight(i, t, 2500);
        assert_eq!(g(1, 0), 0.0);
        assert_eq!(g(1, 2500), 0.0);
        assert_eq!(g(1, 3750), 0.5);
        assert_eq!(g(1, 5000), 1.0);
        assert_eq!(g(1, 40_000), 1.0);
        assert_eq!(g(2, 5000), 0.0);
        assert_eq!(g(2, 6250), 0.5);
        assert_eq!(g(4, 10_000), 0.0);
        assert_eq!(g(4, 11_250), 0.5);
        assert_eq!(g(4, 12_500), 1.0);
    }

    #[test]
    fn invalid_settings_are_named() {
        let mut c = VaeGanConfig::paper(Variant::Vae);
        c.arch.image_size = 64;
        assert!(c.check().unwrap_err().to_string().contains("68×68"));
        let mut c = VaeGanConfig::paper(Variant::Ae);
        c.beta = 1.0;
        assert!(c
            .check()
            .unwrap_err()
            .to_string()
            .contains("beta must be 0"));
        let mut c = VaeGanConfig::paper(Variant::VaePlus);
        c.lr_discriminator = f64::NAN;
        assert!(c
            .check()
            .unwrap_err()
            .to_string()
            .contains("lr_discriminator"));
        let bad: std::result::Result<VaeGanConfig, _> =
            serde_json::from_str(r#"{"variant": "vae", "betta": 2}"#);
        assert!(bad.unwrap_err().to_string().contains("betta"));
    }
}
