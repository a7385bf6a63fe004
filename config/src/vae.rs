//! The configs of the sprite-pair models, SlowVAE and its β-VAE baseline.

use crate::ConfigError;
use serde::{Deserialize, Serialize};

/// The model and its loss weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaeConfig {
    /// Latent dimensions. Default 10.
    pub z_dim: i64,
    /// Weight of the KL to N(0, I). Default 1.
    pub beta: f64,
    /// Weight of the temporal (Laplace transition) term; 0 gives a β-VAE. Default 10.
    pub gamma: f64,
    /// λ of the Laplace transition prior. Default 6.
    pub rate_prior: f64,
}

impl Default for VaeConfig {
    /// The reference's defaults (β = 1, γ = 10, λ = 6: "best parameters found by UDR").
    fn default() -> Self {
        VaeConfig { z_dim: 10, beta: 1.0, gamma: 10.0, rate_prior: 6.0 }
    }
}

impl VaeConfig {
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.z_dim < 1 {
            return Err(ConfigError::value("slowvae.z_dim", &self.z_dim, "at least 1"));
        }
        for (key, v) in [("slowvae.beta", self.beta), ("slowvae.gamma", self.gamma)] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(ConfigError::value(key, &v, "a finite number ≥ 0"));
            }
        }
        if !(self.rate_prior > 0.0 && self.rate_prior.is_finite()) {
            return Err(ConfigError::value("slowvae.rate_prior", &self.rate_prior, "a finite number > 0"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaeTrainConfig {
    /// Adam steps. Default 300 000 (the reference's runs; a CPU run needs far fewer).
    pub iterations: usize,
    /// Frame pairs per step (2 × frames). Default 32.
    pub batch_pairs: usize,
    /// Adam learning rate. Default 1e-4.
    pub lr: f64,
    /// Seed of initialisation, pair order and posterior samples. Default 0.
    pub seed: u64,
    /// Steps between rows of the training table. Default 500.
    pub log_every: usize,
    /// Precision of the encoder and decoder in training steps. Default `fp32`.
    pub precision: crate::Precision,
}

impl Default for VaeTrainConfig {
    fn default() -> Self {
        VaeTrainConfig { iterations: 300_000, batch_pairs: 32, lr: 1e-4, seed: 0, log_every: 500, precision: crate::Precision::Fp32 }
    }
}

/// Everything `neurozoo fit slowvae` needs besides the data; written, resolved, into the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaeFitConfig {
    #[serde(default)]
    pub preset: Option<String>,
    #[serde(default)]
    pub slowvae: VaeConfig,
    #[serde(default)]
    pub train: VaeTrainConfig,
}

impl VaeFitConfig {
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("configs serialise")
    }

    pub fn check(&self) -> Result<(), ConfigError> {
        self.slowvae.check()?;
        let t = &self.train;
        if !(t.lr > 0.0 && t.lr < 1.0) {
            return Err(ConfigError::value("train.lr", &t.lr, "in (0, 1)"));
        }
        crate::fit::check_seed(t.seed)?;
        for (key, value) in [("train.iterations", t.iterations), ("train.batch_pairs", t.batch_pairs), ("train.log_every", t.log_every)] {
            if value == 0 {
                return Err(ConfigError::value(key, &value, "at least 1"));
            }
        }
        Ok(())
    }
}
