use std::path::PathBuf;

/// What is wrong with a config. Every message names the TOML key, or the file, at fault; none
/// names a command-line flag.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A value a model cannot be fitted with: its key, the value, and what was wanted.
    #[error("{key} = {value}: must be {wanted}")]
    Value { key: String, value: String, wanted: String },
    /// Keys that cannot be set together, in a sentence naming them.
    #[error("{0}")]
    Conflict(String),
    /// TOML that does not parse, or does not fit the config (an unknown key, a wrong type).
    #[error("{0}")]
    Toml(String),
    #[error("unknown preset {name:?} (presets: {})", crate::PRESETS.map(|(n, _)| n).join(", "))]
    UnknownPreset { name: String },
    /// A sprite-pair model's config where a response model's is needed.
    #[error("preset {0:?} is a sprite-pair model, not a response model")]
    NotResponses(String),
    /// A dotted key that does not lead to a value (`train.lr.x`).
    #[error("{key:?}: {problem}")]
    Key { key: String, problem: String },
    #[error("cannot read config {}: {reason}", file.display())]
    Read { file: PathBuf, reason: String },
    /// An error in a config file.
    #[error("{}: {error}", file.display())]
    File { file: PathBuf, error: Box<ConfigError> },
}

impl ConfigError {
    /// The error of `key = value`, which must be `wanted`.
    pub fn value(key: &str, value: &dyn std::fmt::Display, wanted: &str) -> ConfigError {
        ConfigError::Value { key: key.to_string(), value: value.to_string(), wanted: wanted.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use crate::{ConfigError, Preset};

    /// A bad value is an error a program can act on: key, value and what was wanted, apart.
    #[test]
    fn a_bad_value_carries_its_key_value_and_what_was_wanted() {
        let err = Preset::from_toml("preset = \"klindt2017\"\n[model.core]\ninput_kernel = 12\n").unwrap_err();
        assert_eq!(
            err,
            ConfigError::Value {
                key: "model.core.input_kernel".into(),
                value: "12".into(),
                wanted: "odd (a kernel has a centre pixel)".into()
            }
        );
        let err = Preset::from_toml("preset = \"slowvae\"\n[slowvae]\nz_dim = 0\n").unwrap_err();
        assert_eq!(err.to_string(), "slowvae.z_dim = 0: must be at least 1");
        assert!(matches!(Preset::resolve("nosuch"), Err(ConfigError::UnknownPreset { name }) if name == "nosuch"));
        let dir = std::env::temp_dir().join(format!("neurozoo-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.toml");
        std::fs::write(&file, "preset = \"gaussian\"\n[train]\nlr = 2.0\n").unwrap();
        let err = Preset::resolve(file.to_str().unwrap()).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            matches!(&err, ConfigError::File { error, .. } if matches!(**error, ConfigError::Value { ref key, .. } if key == "train.lr")),
            "{err:?}"
        );
        assert!(err.to_string().ends_with("bad.toml: train.lr = 2: must be in (0, 1)"), "{err}");
    }
}
