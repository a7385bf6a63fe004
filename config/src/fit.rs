//! The fit configuration of the response models (TOML).
//!
//! Every field has a default, so a config file names only what it changes:
//!
//! ```toml
//! preset = "klindt2017"
//! [train]
//! max_epochs = 20
//! ```
//!
//! A frozen TorchScript core replaces the preset's trainable one (see [`FrozenCoreConfig`]):
//!
//! ```toml
//! preset = "klindt2017"
//! [model.frozen_core]
//! file = "cnn.pt"   # relative to this file's directory
//! layer = "conv2"   # default "forward"
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::toml_merge::merge;
use crate::ConfigError;

/// Everything `neurozoo fit` needs besides the data: written back, fully resolved, into the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitConfig {
    /// The preset this config started from, if any.
    #[serde(default)]
    pub preset: Option<String>,
    pub model: ModelConfig,
    #[serde(default)]
    pub train: TrainConfig,
    /// Recordings to fit when the command line names none, `[[data]]` tables with a `path`
    /// (relative to the config file's directory); several share one core.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<DataSource>,
}

/// One `[[data]]` entry of a fit config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSource {
    /// A static HDF5 file, an NWB file or a file tree (directory or `.zip`).
    pub path: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The convolutional core; none for the LN baseline, whose readout sees the image itself.
    #[serde(default)]
    pub core: Option<CoreConfig>,
    /// A pretrained network, fixed, in place of `core`; only the readout learns.
    #[serde(default)]
    pub frozen_core: Option<FrozenCoreConfig>,
    pub readout: ReadoutConfig,
    /// Default softplus (the "elu" of Klindt et al.'s code is log(1 + eˣ)).
    #[serde(default)]
    pub output: OutputNonlinearity,
    /// Behaviour (pupil dilation, its change, running speed), divided by its train-tier std,
    /// as constant extra image channels: neuralpredictors' `AddBehaviorAsChannels` after its
    /// `NeuroNormalizer`. Default false.
    #[serde(default)]
    pub behavior_channels: bool,
    /// The pupil position, z-scored, as two more constant channels
    /// (`AddPupilCenterAsChannels`). Default false.
    #[serde(default)]
    pub pupil_channels: bool,
    /// One shifter network per recording: the pupil position moves every readout position of
    /// that recording (the sensorium baseline's eye-movement correction; Gaussian readout only).
    /// `false` (as written for a model without one) switches a preset's shifter off.
    #[serde(default, with = "crate::toml_merge::off_when_none")]
    pub shifter: Option<ShifterConfig>,
}

/// neuralpredictors' `MLPShifter`: `layers` linear layers, each followed by tanh, from the
/// pupil position (2) through `hidden` units to a shift (2) in grid units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShifterConfig {
    /// Default 5 (sensorium's `hidden_channels_shifter`).
    pub hidden: usize,
    /// Default 3 (sensorium's `shift_layers`).
    pub layers: usize,
}

impl Default for ShifterConfig {
    fn default() -> Self {
        ShifterConfig { hidden: 5, layers: 3 }
    }
}

/// Stacked 2-D convolutions: a large first kernel, then small ones; batch norm and ELU between.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoreConfig {
    /// Number of convolutional layers. Default 3.
    pub layers: usize,
    /// Channels of every layer. Default 48.
    pub channels: usize,
    /// First-layer kernel size. Default 13.
    pub input_kernel: usize,
    /// Kernel size of the other layers. Default 3.
    pub hidden_kernel: usize,
    /// Zero-pad the first layer to keep the image size. Default false ("valid", as Klindt).
    pub pad_input: bool,
    /// Zero-pad the other layers. Default true ("same").
    pub pad_hidden: bool,
    /// Batch norm after every convolution. Default true.
    pub batch_norm: bool,
    /// ELU after the last layer too. Default false: the readout sees batch-normalised
    /// features, as in Klindt et al.'s code.
    pub final_nonlinearity: bool,
    /// Weight of the Laplacian smoothness penalty on first-layer filters (LaplaceL2norm).
    /// Default 0.015: Klindt et al.'s 3e-4 per filter, summed over the 48 first-layer filters.
    pub gamma_input: f64,
    /// Weight of the group-sparsity penalty on the other layers' filters (neuralpredictors'
    /// mean over filters and layers). Default 1.15: Klindt et al.'s 2.5e-4, which summed over
    /// the 48 × 48 filters of each of 2 layers. Depth-separable layers have no filter groups
    /// and take no part.
    pub gamma_hidden: f64,
    /// Hidden layers as neuralpredictors' `DepthSeparableConv2d` (1×1, per-channel k×k, 1×1,
    /// with biases), as the sensorium baseline. Default false.
    pub depth_separable: bool,
    /// Batch-norm momentum in PyTorch's sense (the weight of the new batch). Default 0.1.
    pub batch_norm_momentum: f64,
    /// How the convolution weights start. Default `kaiming_uniform`.
    pub init: ConvInit,
    /// No ELU in any layer, `final_nonlinearity` notwithstanding: neuralpredictors'
    /// `linear=True`, the core of the sensorium 2022 LN baseline (whose only nonlinearity is the
    /// output's). Default false; written to a config only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub linear: bool,
}

/// The initial convolution weights of a core. Batch norm makes the forward pass indifferent to
/// their scale, but Adam's steps are about the learning rate whatever the weights' size, so
/// smaller weights move relatively faster at first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConvInit {
    /// libtorch's (and PyTorch's) own default: Kaiming uniform with a = √5, biases
    /// U(±1/√fan_in).
    #[default]
    KaimingUniform,
    /// N(0, 2 / (fan_in + fan_out)), biases 0: what neuralpredictors' cores do to every
    /// convolution. Its first-layer filters start about 3× smaller than Kaiming's.
    XavierNormal,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            layers: 3,
            channels: 48,
            input_kernel: 13,
            hidden_kernel: 3,
            pad_input: false,
            pad_hidden: true,
            batch_norm: true,
            final_nonlinearity: false,
            gamma_input: 0.015,
            gamma_hidden: 1.15,
            depth_separable: false,
            batch_norm_momentum: 0.1,
            init: ConvInit::KaimingUniform,
            linear: false,
        }
    }
}

/// neuralpredictors' cortex `grid_mean_predictor`: an MLP from each neuron's cortical position
/// (the first `input_dimensions` columns of `cell_motor_coordinates`, centred and divided by
/// their largest absolute value per recording) to its readout position. Neighbouring neurons
/// get neighbouring positions (retinotopy), and the MLP's weights are all that is learned.
/// Defaults are neuralpredictors'; the sensorium 2022 baseline uses 1 hidden layer of 30, tanh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridMeanPredictor {
    /// Coordinate columns used. Default 2 (x, y on the cortex).
    #[serde(default = "default_grid_inputs")]
    pub input_dimensions: usize,
    /// Hidden layers, each followed by ELU. Default 0 (an affine map).
    #[serde(default)]
    pub hidden_layers: usize,
    /// Width of the hidden layers. Default 20.
    #[serde(default = "default_grid_features")]
    pub hidden_features: usize,
    /// tanh on the output, keeping positions inside the feature map. Default false.
    #[serde(default)]
    pub final_tanh: bool,
}

fn default_grid_inputs() -> usize {
    2
}

fn default_grid_features() -> usize {
    20
}

/// A user's PyTorch network saved with `torch.jit.save`, used as a fixed core: its weights are
/// not trained, it runs in evaluation mode, and it sees the same normalised images as any core.
///
/// A layer is a method of the module that takes the image batch (B, C, H, W) and returns a
/// feature map (B, C', h, w): `forward`, or any method exported with `@torch.jit.export`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrozenCoreConfig {
    /// The TorchScript file; a relative path is relative to the directory of the config file
    /// that names it. `neurozoo fit` copies it into the run, whose config then names the copy.
    pub file: PathBuf,
    /// The method whose output the readout sees. Default "forward".
    #[serde(default = "default_frozen_layer")]
    pub layer: String,
}

fn default_frozen_layer() -> String {
    "forward".into()
}

/// How the factorised readout keeps its weights positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Constraint {
    /// Use |w| (Klindt et al. 2017).
    #[default]
    Abs,
    /// Unconstrained.
    Free,
}

/// The factorised readout's L1 penalty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum L1Form {
    /// γ Σₙ (Σ|maskₙ|)(Σ|featuresₙ|), as Klindt et al. 2017.
    #[default]
    Product,
    /// γ (Σ|mask| + Σ|features|), as openretina.
    Separate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReadoutConfig {
    /// "What × where": a spatial mask and a feature vector per neuron (Klindt et al. 2017).
    Factorized {
        #[serde(default)]
        constraint: Constraint,
        #[serde(default)]
        l1: L1Form,
        /// L1 weight. Default 2e-4.
        #[serde(default = "default_readout_gamma")]
        gamma: f64,
        /// Divide each mask by its L2 norm. Default false.
        #[serde(default)]
        normalize_mask: bool,
    },
    /// One learned position per neuron, sampled around during training (Lurz et al. 2021).
    Gaussian {
        /// Initial positions uniform in ±this, in grid units [-1, 1]. Default 0.2.
        #[serde(default = "default_mu_range")]
        init_mu_range: f64,
        /// Initial entries of the position covariance's square root, uniform in ±this.
        /// Default 0.5.
        #[serde(default = "default_sigma")]
        init_sigma: f64,
        /// L1 weight on the features. Default 2e-4.
        #[serde(default = "default_readout_gamma")]
        gamma: f64,
        /// Predict the positions from the neurons' cortical coordinates instead of learning one
        /// per neuron (`[model.readout.grid_mean_predictor]`). Default off.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        grid_mean_predictor: Option<GridMeanPredictor>,
    },
    /// A dense weight per neuron over every feature and position.
    Full {
        /// L1 weight. Default 2e-4.
        #[serde(default = "default_readout_gamma")]
        gamma: f64,
        /// LaplaceL2norm smoothness of each neuron's weights over space (for the LN model,
        /// whose weights are image filters). Default 0.
        #[serde(default)]
        gamma_laplace: f64,
    },
}

pub(crate) fn default_readout_gamma() -> f64 {
    2e-4
}
pub(crate) fn default_mu_range() -> f64 {
    0.2
}
pub(crate) fn default_sigma() -> f64 {
    0.5
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OutputNonlinearity {
    /// log(1 + eˣ).
    #[default]
    Softplus,
    /// ELU(x) + 1.
    Elu1,
}

/// Optimisation: Poisson loss, Adam, early stopping on validation correlation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Default 64.
    pub batch_size: usize,
    /// Initial Adam learning rate. Default 0.005.
    pub lr: f64,
    /// Default 100.
    pub max_epochs: usize,
    /// Epochs without improvement of validation correlation before the learning rate decays
    /// (and the best weights are restored). Default 5.
    pub patience: usize,
    /// Learning-rate factor at each decay. Default 0.3.
    pub lr_decay_factor: f64,
    /// Decays before training stops. Default 3.
    pub lr_decay_steps: usize,
    /// Improvement smaller than this does not count. Default 1e-6.
    pub tolerance: f64,
    /// Seed of initialisation, minibatch order and readout sampling. Default 0.
    pub seed: u64,
    /// Memory layout of the convolution weights and activations. Default `auto`.
    pub memory_format: MemoryFormat,
    /// Precision of the training steps' forward passes. Default `fp32`.
    pub precision: Precision,
}

/// Floating-point precision of a training step's forward pass. Weights, optimiser state, loss,
/// penalties, validation and evaluation stay f32 in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// Everything in f32.
    #[default]
    Fp32,
    /// Mixed precision as `torch.autocast(dtype=torch.bfloat16)`: convolutions and matrix
    /// products in bfloat16 (f32's range, 8 bits of mantissa), on the CPU or CUDA. No loss
    /// scaling is needed, unlike fp16.
    Bf16,
}

/// How convolution weights (and so the activations libtorch computes from them) lie in memory.
/// The layout changes speed only: both give the same loss to float rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MemoryFormat {
    /// Channels-last on the CPU, where oneDNN's convolutions run faster in it (`bench/fit.sh`);
    /// contiguous on CUDA, where it has not been measured yet.
    #[default]
    Auto,
    /// NHWC: PyTorch's `torch.channels_last`.
    ChannelsLast,
    /// NCHW, PyTorch's default.
    Contiguous,
}

impl MemoryFormat {
    /// Whether convolutions on `cuda` (or the CPU) run channels-last.
    pub fn channels_last(self, cuda: bool) -> bool {
        match self {
            MemoryFormat::Auto => !cuda,
            MemoryFormat::ChannelsLast => true,
            MemoryFormat::Contiguous => false,
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            batch_size: 64,
            lr: 0.005,
            max_epochs: 100,
            patience: 5,
            lr_decay_factor: 0.3,
            lr_decay_steps: 3,
            tolerance: 1e-6,
            seed: 0,
            memory_format: MemoryFormat::Auto,
            precision: Precision::Fp32,
        }
    }
}

impl FitConfig {
    /// Parse a TOML config of a response model; see [`crate::Preset::from_toml`], which also
    /// takes the sprite-pair models' configs.
    pub fn from_toml(text: &str) -> Result<FitConfig, ConfigError> {
        match crate::Preset::from_toml(text)? {
            crate::Preset::Responses(cfg) => Ok(cfg),
            crate::Preset::SpritePairs(cfg) => Err(ConfigError::NotResponses(cfg.preset.unwrap_or_default())),
        }
    }

    /// `table` (a config without its `preset` key) merged over `base`, the preset's config: a
    /// `model.frozen_core` replaces the preset's `model.core` (naming both is an error).
    pub(crate) fn merged_over(base: Option<FitConfig>, table: toml::Table) -> Result<FitConfig, ConfigError> {
        let model = table.get("model").and_then(toml::Value::as_table);
        let frozen = model.is_some_and(|m| m.contains_key("frozen_core"));
        if frozen && model.is_some_and(|m| m.contains_key("core")) {
            return Err(both_cores());
        }
        let name = base.as_ref().and_then(|b| b.preset.clone());
        let mut merged = match base {
            Some(b) => toml::Table::try_from(b).map_err(|e| ConfigError::Toml(e.to_string()))?,
            None => toml::Table::new(),
        };
        if frozen {
            if let Some(toml::Value::Table(m)) = merged.get_mut("model") {
                m.remove("core");
            }
        }
        merge(&mut merged, table);
        if let Some(p) = name {
            merged.insert("preset".into(), toml::Value::String(p));
        }
        let cfg = merged.try_into::<FitConfig>().map_err(|e| ConfigError::Toml(e.to_string()))?;
        cfg.check()?;
        Ok(cfg)
    }

    /// Values a fit cannot run with, named by their TOML key.
    pub fn check(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, value: &dyn std::fmt::Display, wanted: &str| Err(ConfigError::value(key, value, wanted));
        let t = &self.train;
        if !(t.lr > 0.0 && t.lr < 1.0) {
            return bad("train.lr", &t.lr, "in (0, 1)");
        }
        if !(t.lr_decay_factor > 0.0 && t.lr_decay_factor < 1.0) {
            return bad("train.lr_decay_factor", &t.lr_decay_factor, "in (0, 1)");
        }
        for (key, value) in [
            ("train.batch_size", t.batch_size),
            ("train.max_epochs", t.max_epochs),
            ("train.patience", t.patience),
            ("train.lr_decay_steps", t.lr_decay_steps),
        ] {
            if value == 0 {
                return bad(key, &value, "at least 1");
            }
        }
        if !(t.tolerance >= 0.0 && t.tolerance.is_finite()) {
            return bad("train.tolerance", &t.tolerance, "a finite number ≥ 0");
        }
        check_seed(t.seed)?;
        if self.model.core.is_some() && self.model.frozen_core.is_some() {
            return Err(both_cores());
        }
        let m = &self.model;
        if m.frozen_core.is_some() && (m.behavior_channels || m.pupil_channels) {
            return Err(ConfigError::Conflict(
                "model.behavior_channels and model.pupil_channels add image channels, which a frozen TorchScript core was not trained on"
                    .into(),
            ));
        }
        if let Some(s) = &m.shifter {
            if !matches!(m.readout, ReadoutConfig::Gaussian { .. }) {
                return Err(ConfigError::Conflict(
                    "model.shifter moves readout positions: it needs model.readout.kind = \"gaussian\"".into(),
                ));
            }
            for (key, value) in [("model.shifter.hidden", s.hidden), ("model.shifter.layers", s.layers)] {
                if value == 0 {
                    return bad(key, &value, "at least 1");
                }
            }
        }
        if let Some(f) = &self.model.frozen_core {
            if f.layer.is_empty() {
                return bad(
                    "model.frozen_core.layer",
                    &"\"\"",
                    "a method of the module (\"forward\" or one exported with @torch.jit.export)",
                );
            }
        }
        let mut gammas = vec![];
        if let Some(c) = &self.model.core {
            for (key, value) in [("model.core.layers", c.layers), ("model.core.channels", c.channels)] {
                if value == 0 {
                    return bad(key, &value, "at least 1");
                }
            }
            for (key, value) in [("model.core.input_kernel", c.input_kernel), ("model.core.hidden_kernel", c.hidden_kernel)] {
                if value % 2 == 0 {
                    return bad(key, &value, "odd (a kernel has a centre pixel)");
                }
            }
            gammas.extend([("model.core.gamma_input", c.gamma_input), ("model.core.gamma_hidden", c.gamma_hidden)]);
        }
        match &self.model.readout {
            ReadoutConfig::Factorized { gamma, .. } => gammas.push(("model.readout.gamma", *gamma)),
            ReadoutConfig::Gaussian { gamma, init_mu_range, init_sigma, grid_mean_predictor } => {
                gammas.push(("model.readout.gamma", *gamma));
                if let Some(g) = grid_mean_predictor {
                    if !(1..=3).contains(&g.input_dimensions) {
                        return bad(
                            "model.readout.grid_mean_predictor.input_dimensions",
                            &g.input_dimensions,
                            "1, 2 or 3 (columns of cell_motor_coordinates)",
                        );
                    }
                    if g.hidden_layers > 0 && g.hidden_features == 0 {
                        return bad("model.readout.grid_mean_predictor.hidden_features", &g.hidden_features, "at least 1");
                    }
                }
                if !(*init_mu_range > 0.0 && *init_mu_range <= 1.0) {
                    return bad("model.readout.init_mu_range", init_mu_range, "in (0, 1] (grid units)");
                }
                if !(*init_sigma > 0.0 && init_sigma.is_finite()) {
                    return bad("model.readout.init_sigma", init_sigma, "a finite number > 0");
                }
            }
            ReadoutConfig::Full { gamma, gamma_laplace } => {
                gammas.extend([("model.readout.gamma", *gamma), ("model.readout.gamma_laplace", *gamma_laplace)])
            }
        }
        for (key, value) in gammas {
            if !(value >= 0.0 && value.is_finite()) {
                return bad(key, &value, "a finite number ≥ 0");
            }
        }
        Ok(())
    }

    /// Make a relative `model.frozen_core.file` and `[[data]]` paths relative to `dir`
    /// instead: the directory of the config file that named them.
    pub fn resolve_files(&mut self, dir: &Path) {
        let paths = self.model.frozen_core.iter_mut().map(|f| &mut f.file).chain(self.data.iter_mut().map(|d| &mut d.path));
        for p in paths.filter(|p| p.is_relative()) {
            *p = dir.join(&*p);
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("configs serialise")
    }
}

pub(crate) fn both_cores() -> ConfigError {
    ConfigError::Conflict("model.core and model.frozen_core are both set: a model has one core (keep model.core to train one, model.frozen_core to use a fixed TorchScript network)".into())
}

/// A seed the run's config.toml can hold: TOML integers are signed 64-bit, so a larger one would
/// be written but never read back.
pub(crate) fn check_seed(seed: u64) -> Result<(), ConfigError> {
    if i64::try_from(seed).is_err() {
        return Err(ConfigError::value("train.seed", &seed, &format!("at most {} (a config file's integers are signed 64-bit)", i64::MAX)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_no_config_file_can_hold_is_refused_by_key() {
        let mut cfg = FitConfig::from_toml("preset = \"ln\"").unwrap();
        cfg.train.seed = u64::MAX;
        let err = cfg.check().unwrap_err().to_string();
        assert!(err.contains("train.seed") && err.contains("18446744073709551615") && err.contains("9223372036854775807"), "{err}");
        cfg.train.seed = i64::MAX as u64;
        cfg.check().unwrap();
    }
}
