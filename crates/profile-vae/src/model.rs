//! The dense VAE and its regularisers.

use cellpaint_core::candle::{Module, Result as CResult, Tensor, D};
use cellpaint_core::candle_nn::{self, BatchNorm, BatchNormConfig, Linear, ModuleT, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::error::{Result, VaeError};

/// Hidden-layer activation: the paper's leaky ReLU max(x, 0.3x), or ReLU (the other reference
/// variant).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// max(0, x).
    Relu,
    /// x for x > 0, `slope`·x otherwise.
    LeakyRelu {
        /// The negative slope.
        slope: f64,
    },
}

/// Output layer: linear (paper) or sigmoid (inputs are in [0, 1]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// No activation.
    Linear,
    /// The logistic function.
    Sigmoid,
}

/// Architecture and loss weights. Defaults follow the paper's Cell Painting level-5 models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaeConfig {
    /// Features per profile.
    pub input_dim: usize,
    /// Encoder hidden widths; the decoder mirrors them.
    pub hidden: Vec<usize>,
    /// Latent dimensions.
    pub latent: usize,
    /// Batch norm after each encoder hidden layer.
    pub encoder_batch_norm: bool,
    /// Hidden-layer activation.
    pub activation: Activation,
    /// Output layer.
    pub output: Output,
    /// Weight of the KL term (1 = vanilla VAE, other values = β-VAE, 0 for the MMD-VAE).
    pub beta: f64,
    /// Weight of the MMD term (0 unless MMD-VAE).
    pub mmd_lambda: f64,
}

impl VaeConfig {
    /// Vanilla VAE: 250 hidden, 10 latent, β = 1.
    pub fn vanilla(input_dim: usize) -> Self {
        Self {
            input_dim,
            hidden: vec![250],
            latent: 10,
            encoder_batch_norm: true,
            activation: Activation::LeakyRelu { slope: 0.3 },
            output: Output::Linear,
            beta: 1.0,
            mmd_lambda: 0.0,
        }
    }
    /// β-VAE (paper's level-5 choice: β = 0.3).
    pub fn beta_vae(input_dim: usize, beta: f64) -> Self {
        Self {
            beta,
            ..Self::vanilla(input_dim)
        }
    }
    /// MMD-VAE (paper's level-5 choice: λ = 1000, β = 0).
    pub fn mmd_vae(input_dim: usize, mmd_lambda: f64) -> Self {
        Self {
            beta: 0.0,
            mmd_lambda,
            ..Self::vanilla(input_dim)
        }
    }

    /// Sizes ≥ 1 and weights ≥ 0; the error names the setting.
    pub fn check(&self) -> Result<()> {
        if self.input_dim == 0 || self.latent == 0 || self.hidden.contains(&0) {
            return Err(VaeError::Config(
                "input_dim, latent and every hidden width must be ≥ 1".into(),
            ));
        }
        if !(self.beta >= 0.0) || !(self.mmd_lambda >= 0.0) {
            return Err(VaeError::Config(format!(
                "beta and mmd_lambda must be ≥ 0 (got {}, {})",
                self.beta, self.mmd_lambda
            )));
        }
        Ok(())
    }

    /// The loss terms this configuration uses.
    pub fn regularisers(&self) -> Vec<Box<dyn Regulariser>> {
        let mut r: Vec<Box<dyn Regulariser>> = Vec::new();
        if self.beta > 0.0 {
            r.push(Box::new(Kl { beta: self.beta }));
        }
        if self.mmd_lambda > 0.0 {
            r.push(Box::new(Mmd {
                lambda: self.mmd_lambda,
            }));
        }
        r
    }
}

/// A latent-space penalty added to the reconstruction loss. Implement it in one file to try a
/// new regulariser.
pub trait Regulariser: Send + Sync {
    /// Short name for metrics (`kl`, `mmd`).
    fn name(&self) -> &'static str;
    /// Weighted, batch-mean penalty. `prior` holds as many N(0, I) draws as `z` has rows.
    fn loss(&self, mu: &Tensor, logvar: &Tensor, z: &Tensor, prior: &Tensor) -> CResult<Tensor>;
}

/// β · KL(q(z|x) ‖ N(0, I)), summed over latents, averaged over the batch.
pub struct Kl {
    /// β.
    pub beta: f64,
}

impl Regulariser for Kl {
    fn name(&self) -> &'static str {
        "kl"
    }
    fn loss(&self, mu: &Tensor, logvar: &Tensor, _z: &Tensor, _prior: &Tensor) -> CResult<Tensor> {
        let kl = ((logvar.exp()? + mu.sqr()?)? - logvar)? - 1.0;
        kl?.sum(D::Minus1)?.mean_all()? * (0.5 * self.beta)
    }
}

/// λ · MMD between the batch's z and prior draws, with the reference's Gaussian kernel
/// k(x, y) = exp(−‖x − y‖² / dim²), biased estimate (diagonals included).
pub struct Mmd {
    /// λ.
    pub lambda: f64,
}

/// Mean of the kernel matrix between the rows of `a` and `b`.
fn kernel_mean(a: &Tensor, b: &Tensor) -> CResult<Tensor> {
    let dim = a.dim(1)? as f64;
    let aa = a.sqr()?.sum_keepdim(1)?;
    let bb = b.sqr()?.sum_keepdim(1)?.t()?;
    let d2 = (aa.broadcast_add(&bb)? - (a.matmul(&b.t()?)? * 2.0)?)?.relu()?;
    (d2 / -(dim * dim))?.exp()?.mean_all()
}

/// The MMD itself (unweighted), exposed for tests and diagnostics.
pub fn mmd(x: &Tensor, y: &Tensor) -> CResult<Tensor> {
    (kernel_mean(x, x)? + kernel_mean(y, y)?)? - (kernel_mean(x, y)? * 2.0)?
}

impl Regulariser for Mmd {
    fn name(&self) -> &'static str {
        "mmd"
    }
    fn loss(&self, _mu: &Tensor, _logvar: &Tensor, z: &Tensor, prior: &Tensor) -> CResult<Tensor> {
        mmd(z, prior)? * self.lambda
    }
}

/// What one forward pass produces.
pub struct VaeOutput {
    /// `(N, input_dim)`.
    pub reconstruction: Tensor,
    /// Posterior means `(N, latent)`.
    pub mu: Tensor,
    /// Posterior log variances `(N, latent)`.
    pub logvar: Tensor,
    /// μ + σ·ε with the ε given (zeros give μ).
    pub z: Tensor,
}

/// Dense VAE: encoder (dense → [batch norm] → activation)×, μ and log σ² heads; decoder mirrors
/// the hidden layers; output linear or sigmoid.
pub struct Vae {
    /// The architecture it was built with.
    pub config: VaeConfig,
    encoder: Vec<(Linear, Option<BatchNorm>)>,
    mu: Linear,
    logvar: Linear,
    decoder: Vec<Linear>,
    out: Linear,
}

impl Vae {
    /// Checks `config` and builds the variables under `vb`.
    pub fn new(config: VaeConfig, vb: VarBuilder) -> Result<Self> {
        config.check()?;
        let mut encoder = Vec::new();
        let mut width = config.input_dim;
        for (i, &h) in config.hidden.iter().enumerate() {
            let vb = vb.pp(format!("encoder.{i}"));
            let lin = candle_nn::linear(width, h, vb.pp("dense"))?;
            let bn = if config.encoder_batch_norm {
                // Keras defaults: momentum 0.99 (PyTorch's 0.01), ε 1e-3.
                Some(candle_nn::batch_norm(
                    h,
                    BatchNormConfig {
                        eps: 1e-3,
                        momentum: 0.01,
                        ..Default::default()
                    },
                    vb.pp("bn"),
                )?)
            } else {
                None
            };
            encoder.push((lin, bn));
            width = h;
        }
        let mu = candle_nn::linear(width, config.latent, vb.pp("z_mean"))?;
        let logvar = candle_nn::linear(width, config.latent, vb.pp("z_log_var"))?;
        let mut decoder = Vec::new();
        let mut width = config.latent;
        for (i, &h) in config.hidden.iter().rev().enumerate() {
            decoder.push(candle_nn::linear(width, h, vb.pp(format!("decoder.{i}")))?);
            width = h;
        }
        let out = candle_nn::linear(width, config.input_dim, vb.pp("decoder.out"))?;
        Ok(Self {
            config,
            encoder,
            mu,
            logvar,
            decoder,
            out,
        })
    }

    fn act(&self, x: &Tensor) -> CResult<Tensor> {
        match self.config.activation {
            Activation::Relu => x.relu(),
            Activation::LeakyRelu { slope } => x.maximum(&(x * slope)?),
        }
    }

    /// (μ, log σ²) of q(z | x).
    pub fn encode(&self, x: &Tensor, train: bool) -> CResult<(Tensor, Tensor)> {
        if x.dim(1)? != self.config.input_dim {
            cellpaint_core::candle::bail!(
                "VAE expects {} features, got {}",
                self.config.input_dim,
                x.dim(1)?
            );
        }
        let mut h = x.clone();
        for (lin, bn) in &self.encoder {
            h = lin.forward(&h)?;
            if let Some(bn) = bn {
                h = bn.forward_t(&h, train)?;
            }
            h = self.act(&h)?;
        }
        Ok((self.mu.forward(&h)?, self.logvar.forward(&h)?))
    }

    /// Profiles (in scaled units) from latents.
    pub fn decode(&self, z: &Tensor) -> CResult<Tensor> {
        let mut h = z.clone();
        for lin in &self.decoder {
            h = self.act(&lin.forward(&h)?)?;
        }
        let y = self.out.forward(&h)?;
        match self.config.output {
            Output::Linear => Ok(y),
            Output::Sigmoid => candle_nn::ops::sigmoid(&y),
        }
    }

    /// Encode, sample z = μ + σ·ε with the given standard-normal `eps`, decode.
    pub fn forward(&self, x: &Tensor, train: bool, eps: &Tensor) -> CResult<VaeOutput> {
        let (mu, logvar) = self.encode(x, train)?;
        let z = (&mu + ((&logvar * 0.5)?.exp()? * eps)?)?;
        let reconstruction = self.decode(&z)?;
        Ok(VaeOutput {
            reconstruction,
            mu,
            logvar,
            z,
        })
    }

    /// Per-sample sum of squared errors, averaged over the batch (Keras mse × input_dim).
    pub fn reconstruction_loss(x: &Tensor, reconstruction: &Tensor) -> CResult<Tensor> {
        (x - reconstruction)?.sqr()?.sum(D::Minus1)?.mean_all()
    }
}
