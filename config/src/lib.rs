//! Fit configs and the one registry of named presets, with no libtorch in sight: the front end,
//! sweeps and the model zoo all read configs through this crate.
//!
//! A config is a preset or a TOML file that names a preset and what it changes; the preset
//! decides the kind of model:
//!
//! ```
//! use neurozoo_config::Preset;
//!
//! let cfg = Preset::from_toml("preset = \"klindt2017\"\n[train]\nlr = 0.002\n")?;
//! let Preset::Responses(fit) = &cfg else { panic!("klindt2017 is a response model") };
//! assert_eq!(fit.train.lr, 0.002);
//! assert_eq!(fit.model.core.as_ref().unwrap().channels, 48); // the preset's, unchanged
//! assert!(matches!(Preset::from_toml("preset = \"slowvae\"")?, Preset::SpritePairs(_)));
//! // A complete config written by `fit` reads back to the same value.
//! assert_eq!(Preset::from_toml(&cfg.to_toml())?, cfg);
//! # Ok::<(), neurozoo_config::ConfigError>(())
//! ```

mod device;
mod error;
mod fit;
pub mod presets;
pub mod toml_merge;
mod vae;

pub use device::{DeviceChoice, UnknownDevice};
pub use error::ConfigError;
pub use fit::*;
pub use presets::{preset, ModelKind, Preset, PRESETS};
pub use vae::*;
