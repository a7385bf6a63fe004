//! The one registry of named presets (`neurozoo zoo list`): response models fitted to
//! recordings and sprite-pair models fitted to sprite frame pairs, and the reading of a config
//! file, which starts from the preset it names.

use std::path::Path;

use crate::fit::{
    default_mu_range, default_readout_gamma, default_sigma, Constraint, ConvInit, CoreConfig, FitConfig, GridMeanPredictor, L1Form,
    ModelConfig, OutputNonlinearity, ReadoutConfig, ShifterConfig, TrainConfig,
};
use crate::vae::{VaeConfig, VaeFitConfig, VaeTrainConfig};
use crate::ConfigError;

/// Every preset: (name, one-line description).
pub const PRESETS: [(&str, &str); 7] = [
    ("klindt2017", "CNN core (13/3/3, 48 channels) + factorised what×where readout, Klindt et al. 2017"),
    ("gaussian", "same core + Gaussian 2-D readout (one learned position per neuron), Lurz et al. 2021"),
    ("full", "same core + full linear readout over all features and positions (baseline)"),
    ("ln", "linear-nonlinear baseline: one smooth sparse image filter per neuron + softplus"),
    (
        "sensorium2022",
        "sensorium 2022 baseline: 4-layer depth-separable core (9/7, 64 channels) + Gaussian readout placed from the cortex, behaviour channels, shifter, ELU+1",
    ),
    ("slowvae", "SlowVAE on sprite frame pairs: β-VAE conv net + Laplace transition prior (β 1, γ 10, λ 6), Klindt et al. 2021"),
    ("betavae", "β-VAE baseline on the same frames and net (β 8, γ 0), the reference's comparison"),
];

/// A resolved config, of one of the two kinds of model.
// A few configs per process: their size does not matter, and unboxed they match as plainly.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Preset {
    /// A CNN or LN model of neural responses, fitted to recordings (`neurozoo fit … --data REC`).
    Responses(FitConfig),
    /// SlowVAE or β-VAE, fitted to sprite frame pairs.
    SpritePairs(VaeFitConfig),
}

/// Which family a model belongs to: what decides how it is fitted, evaluated and extracted, and
/// what its `run.json` holds. Written as `responses` or `sprite_pairs` (a sweep's `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// [`Preset::Responses`].
    Responses,
    /// [`Preset::SpritePairs`].
    SpritePairs,
}

impl ModelKind {
    /// The kind as a message names it: "response model", "sprite-pair model".
    pub fn noun(self) -> &'static str {
        match self {
            ModelKind::Responses => "response model",
            ModelKind::SpritePairs => "sprite-pair model",
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ModelKind::Responses => "responses",
            ModelKind::SpritePairs => "sprite_pairs",
        })
    }
}

/// The config of a named preset.
pub fn preset(name: &str) -> Option<Preset> {
    responses(name).map(Preset::Responses).or_else(|| sprite_pairs(name).map(Preset::SpritePairs))
}

impl Preset {
    /// A preset name, or a TOML config file when `model` names one that exists or ends in
    /// `.toml`; a file's relative paths are made relative to its directory.
    pub fn resolve(model: &str) -> Result<Preset, ConfigError> {
        let path = Path::new(model);
        if !(path.exists() || model.ends_with(".toml")) {
            return preset(model).ok_or_else(|| ConfigError::UnknownPreset { name: model.to_string() });
        }
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read { file: path.into(), reason: e.to_string() })?;
        let mut cfg = Preset::from_toml(&text).map_err(|e| ConfigError::File { file: path.into(), error: Box::new(e) })?;
        if let Preset::Responses(c) = &mut cfg {
            c.resolve_files(path.parent().unwrap_or(Path::new("")));
        }
        Ok(cfg)
    }

    /// The config file `file` merged over preset `arch` (the file names what differs, and may
    /// name only that preset): an architecture that a preset almost has, as a checkpoint's.
    pub fn resolve_over(arch: &str, file: &Path) -> Result<Preset, ConfigError> {
        let in_file = |error: ConfigError| ConfigError::File { file: file.into(), error: Box::new(error) };
        let text = std::fs::read_to_string(file).map_err(|e| ConfigError::Read { file: file.into(), reason: e.to_string() })?;
        let mut table: toml::Table = toml::from_str(&text).map_err(|e: toml::de::Error| in_file(ConfigError::Toml(e.to_string())))?;
        match table.insert("preset".into(), toml::Value::String(arch.into())) {
            Some(toml::Value::String(named)) if named != arch => {
                return Err(in_file(ConfigError::Conflict(format!("the file names preset {named:?}, the architecture is {arch:?}"))))
            }
            _ => {}
        }
        let mut cfg = Preset::from_table(table).map_err(in_file)?;
        if let Preset::Responses(c) = &mut cfg {
            c.resolve_files(file.parent().unwrap_or(Path::new("")));
        }
        Ok(cfg)
    }

    /// Parse a TOML config. With `preset = "name"`, the file's tables are merged over that
    /// preset, so a file names only what it changes, and the preset decides the kind; without
    /// one, the file is a complete response-model config.
    pub fn from_toml(text: &str) -> Result<Preset, ConfigError> {
        Preset::from_table(toml::from_str(text).map_err(|e: toml::de::Error| ConfigError::Toml(e.to_string()))?)
    }

    /// [`Preset::from_toml`] of a parsed table.
    pub fn from_table(mut table: toml::Table) -> Result<Preset, ConfigError> {
        let base = match table.remove("preset") {
            None => None,
            Some(toml::Value::String(name)) => Some(preset(&name).ok_or(ConfigError::UnknownPreset { name })?),
            Some(other) => return Err(ConfigError::value("preset", &other, "a preset's name")),
        };
        match base {
            None => FitConfig::merged_over(None, table).map(Preset::Responses),
            Some(Preset::Responses(b)) => FitConfig::merged_over(Some(b), table).map(Preset::Responses),
            Some(Preset::SpritePairs(b)) => {
                let mut merged = toml::Table::try_from(b).map_err(|e| ConfigError::Toml(e.to_string()))?;
                crate::toml_merge::merge(&mut merged, table);
                let cfg: VaeFitConfig = merged.try_into().map_err(|e: toml::de::Error| ConfigError::Toml(e.to_string()))?;
                cfg.check()?;
                Ok(Preset::SpritePairs(cfg))
            }
        }
    }

    pub fn kind(&self) -> ModelKind {
        match self {
            Preset::Responses(_) => ModelKind::Responses,
            Preset::SpritePairs(_) => ModelKind::SpritePairs,
        }
    }

    /// The preset's name, when the config started from one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Preset::Responses(c) => c.preset.as_deref(),
            Preset::SpritePairs(c) => c.preset.as_deref(),
        }
    }

    /// The complete config as TOML, which [`Preset::from_toml`] reads back to the same value.
    pub fn to_toml(&self) -> String {
        match self {
            Preset::Responses(c) => c.to_toml(),
            Preset::SpritePairs(c) => c.to_toml(),
        }
    }

    /// The response model's config, or None for a sprite-pair model.
    pub fn into_responses(self) -> Option<FitConfig> {
        match self {
            Preset::Responses(c) => Some(c),
            Preset::SpritePairs(_) => None,
        }
    }
}

/// A sprite-pair preset.
fn sprite_pairs(name: &str) -> Option<VaeFitConfig> {
    let slowvae = match name {
        "slowvae" => VaeConfig::default(),
        "betavae" => VaeConfig { beta: 8.0, gamma: 0.0, ..VaeConfig::default() },
        _ => return None,
    };
    Some(VaeFitConfig { preset: Some(name.into()), slowvae, train: VaeTrainConfig::default() })
}

/// The factor between the sensorium trainer's loss and neurozoo's: it sums the Poisson loss
/// over a batch of B = 128 and scales it by √(N / B) with N ≈ 6000 trials per recording, where
/// neurozoo averages over the batch; penalty weights taken from it are divided by B·√(N/B).
const SENSORIUM_LOSS_SCALE: f64 = 876.3;

/// A response-model preset.
fn responses(name: &str) -> Option<FitConfig> {
    if name == "sensorium2022" {
        return Some(sensorium2022());
    }
    let readout = match name {
        "klindt2017" => ReadoutConfig::Factorized {
            constraint: Constraint::Abs,
            l1: L1Form::Product,
            gamma: default_readout_gamma(),
            normalize_mask: false,
        },
        "gaussian" => ReadoutConfig::Gaussian {
            init_mu_range: default_mu_range(),
            init_sigma: default_sigma(),
            gamma: default_readout_gamma(),
            grid_mean_predictor: None,
        },
        "full" => ReadoutConfig::Full { gamma: default_readout_gamma(), gamma_laplace: 0.0 },
        "ln" => ReadoutConfig::Full { gamma: 1e-3, gamma_laplace: 1e-2 },
        _ => return None,
    };
    let core = (name != "ln").then(CoreConfig::default);
    Some(FitConfig {
        preset: Some(name.to_string()),
        data: Vec::new(),
        model: ModelConfig {
            core,
            frozen_core: None,
            readout,
            output: OutputNonlinearity::Softplus,
            behavior_channels: false,
            pupil_channels: false,
            shifter: None,
        },
        train: TrainConfig::default(),
    })
}

/// The sensorium 2022 baseline with behaviour and shifter (its starter kit's
/// `1b_model_training_sensorium` config over `stacked_core_full_gauss_readout`'s defaults; values
/// and sources in docs/models.md). Not carried over: the cortex-coordinate `grid_mean_predictor`
/// (readout positions are learned freely here), readout biases starting at zero (here at the
/// mean response, as every neurozoo model), and `ScaleInputs(0.25)` (images are used at the
/// size they are stored).
fn sensorium2022() -> FitConfig {
    FitConfig {
        preset: Some("sensorium2022".into()),
        data: Vec::new(),
        model: ModelConfig {
            core: Some(CoreConfig {
                layers: 4,
                channels: 64,
                input_kernel: 9,
                hidden_kernel: 7,
                pad_input: false,
                pad_hidden: true,
                batch_norm: true,
                final_nonlinearity: true,
                gamma_input: 6.3831 / SENSORIUM_LOSS_SCALE,
                gamma_hidden: 0.0,
                depth_separable: true,
                batch_norm_momentum: 0.9,
                // Not the starter kit's Xavier normal: on simulated recordings this model learned
                // faster from libtorch's default (docs/models.md).
                init: ConvInit::KaimingUniform,
                linear: false,
            }),
            frozen_core: None,
            readout: ReadoutConfig::Gaussian {
                init_mu_range: 0.3,
                init_sigma: 0.1,
                gamma: 0.0076 / SENSORIUM_LOSS_SCALE,
                grid_mean_predictor: Some(GridMeanPredictor {
                    input_dimensions: 2,
                    hidden_layers: 1,
                    hidden_features: 30,
                    final_tanh: true,
                }),
            },
            output: OutputNonlinearity::Elu1,
            behavior_channels: true,
            pupil_channels: false,
            shifter: Some(ShifterConfig { hidden: 5, layers: 3 }),
        },
        train: TrainConfig {
            batch_size: 128,
            lr: 0.009,
            max_epochs: 200,
            patience: 5,
            lr_decay_factor: 0.3,
            lr_decay_steps: 4,
            tolerance: 1e-6,
            seed: 42,
            ..TrainConfig::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SENSORIUM 2022 SOTA model is the sensorium2022 preset without behaviour or shifter:
    /// a file says so, and a run's written config keeps it so when read back over the preset.
    #[test]
    fn a_preset_shifter_switched_off_stays_off_when_written_and_read_back() {
        let text = "preset = \"sensorium2022\"\n[model]\nbehavior_channels = false\nshifter = false\n";
        let cfg = Preset::from_toml(text).unwrap().into_responses().unwrap();
        assert!(cfg.model.shifter.is_none() && !cfg.model.behavior_channels);
        let again = Preset::from_toml(&cfg.to_toml()).unwrap().into_responses().unwrap();
        assert_eq!(again, cfg);
        let with = preset("sensorium2022").unwrap().into_responses().unwrap();
        assert!(with.model.shifter.is_some());
        assert_eq!(Preset::from_toml(&with.to_toml()).unwrap().into_responses().unwrap(), with);
        let err = Preset::from_toml("preset = \"sensorium2022\"\n[model]\nshifter = true\n").unwrap_err().to_string();
        assert!(err.contains("true is not a table"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sota.toml");
        std::fs::write(&file, "[model]\nbehavior_channels = false\nshifter = false\n").unwrap();
        assert_eq!(Preset::resolve_over("sensorium2022", &file).unwrap().into_responses().unwrap(), cfg);
        std::fs::write(&file, "preset = \"ln\"\n").unwrap();
        let err = Preset::resolve_over("sensorium2022", &file).unwrap_err().to_string();
        assert!(err.contains("sota.toml") && err.contains("\"ln\""), "{err}");
    }
}
