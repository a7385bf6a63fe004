//! Models in from PyTorch and out to it. In: a neuralpredictors `state_dict` (what
//! `torch.save` writes, read by [`neurozoo_pth`] without Python) becomes an ordinary run
//! directory ([`import_checkpoint`]). Out: a run becomes a `state_dict.pth` under
//! neuralpredictors' names and a `model.py` that loads it strictly ([`export_run`]); both
//! directions read the one name table of [`neuralpredictors`].
//!
//! The architecture comes from a response-model config (a preset with any changes), the image
//! size from the request: a checkpoint holds weights, not hyperparameters. Every key is checked
//! against that architecture before anything is written; missing, unexpected and mis-shaped
//! keys are refused together, each named. The run directory has what `fit` writes
//! (`config.toml`, `run.json`, `model.safetensors`) plus `imported.json`, this module's
//! [`ImportReport`]: the checkpoint's path and sha256 and what was mapped.
//!
//! An imported run has no data statistics: it takes its inputs as already normalised, as the
//! model saw them in training (images z-scored with the dataset's mean and std, behaviour
//! divided by its std, the pupil position z-scored), and its responses unscaled. Each data key
//! of the checkpoint becomes a recording of that name; cortical coordinates are kept (they are
//! the readout's `cortex` variable).
//!
//! ```no_run
//! use neurozoo_zoo::config::preset;
//! use neurozoo_zoo::exchange::{import_checkpoint, ImportRequest};
//!
//! // The SENSORIUM 2022 SOTA model: the sensorium2022 preset without behaviour or shifter.
//! let mut config = preset("sensorium2022").and_then(|p| p.into_responses()).unwrap();
//! config.model.behavior_channels = false;
//! config.model.shifter = None;
//! let report = import_checkpoint(&ImportRequest {
//!     checkpoint: "sensorium_sota_model.pth".into(),
//!     config,
//!     image_shape: [1, 36, 64],
//!     out: "runs/sota".into(),
//! })?;
//! println!("{} tensors from {} (sha256 {})", report.mapped.len(), report.checkpoint.display(), report.sha256);
//! # Ok::<(), neurozoo_zoo::exchange::ImportError>(())
//! ```

mod export;
pub mod neuralpredictors;

pub use export::{export_run, ExportError, ExportReport, ExportRequest, EXPORT_FILE, MODEL_PY_FILE, STATE_DICT_FILE};

use std::path::{Path, PathBuf};

use neurozoo_util::files::{write_atomic, write_whole};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tch::{nn, Device, Kind, Tensor};

use self::neuralpredictors::{is_non_parameter, source, Layout};
use crate::config::{FitConfig, ReadoutConfig};
use crate::model::{Model, ModelError};
use crate::run::{save_config, save_info, DataInfo, Normalizer, RecordingInfo, ResponseRecord, RunInfo, RunStatus};
use crate::train::{named_weights, write_safetensors_atomic};

/// The file of an imported run that says where it came from.
pub const IMPORT_FILE: &str = "imported.json";

/// What to import.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRequest {
    /// A `torch.save` file of a neuralpredictors model's `state_dict` (or of a dict holding it
    /// under `model_state_dict`, `state_dict` or `model`).
    pub checkpoint: PathBuf,
    /// The architecture: a resolved response-model config.
    pub config: FitConfig,
    /// (C, H, W) of the images, without behaviour or pupil channels.
    pub image_shape: [usize; 3],
    /// The run directory to create: new or empty.
    pub out: PathBuf,
}

/// What an import did: also the run's `imported.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportReport {
    pub checkpoint: PathBuf,
    /// The preset the architecture started from.
    pub preset: Option<String>,
    /// Of the checkpoint file, hex.
    pub sha256: String,
    /// The dict key the state_dict was nested under, if any.
    pub nested_under: Option<String>,
    /// The checkpoint's data keys, the run's recordings, with their numbers of neurons.
    pub recordings: Vec<(String, usize)>,
    /// (checkpoint key, zoo variable), in the checkpoint's order.
    pub mapped: Vec<(String, String)>,
    /// Zoo variables set to zero because the checkpoint's layer had no bias.
    pub zero: Vec<String>,
    /// Checkpoint keys that are not model parameters (regulariser buffers, batch-norm counters).
    pub not_parameters: Vec<String>,
    /// How the run takes its inputs.
    pub inputs: String,
}

/// The inputs an imported run takes, in its report's words.
const INPUTS: &str = "as already normalised: images z-scored with the training data's mean and std, behaviour divided by its \
                      std, pupil position z-scored; responses unscaled (the checkpoint holds no data statistics)";

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Checkpoint(#[from] neurozoo_pth::PthError),
    /// An architecture with no neuralpredictors counterpart.
    #[error("cannot import into this architecture: {0}")]
    Unsupported(String),
    /// Keys that do not fit the architecture, each named, one per line.
    #[error("{} does not fit the architecture (nothing was written):\n  {}", file.display(), problems.join("\n  "))]
    Mismatch { file: PathBuf, problems: Vec<String> },
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{}: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
}

/// Import a checkpoint as [`ImportRequest`] says; the run directory appears whole or not at all.
pub fn import_checkpoint(request: &ImportRequest) -> Result<ImportReport, ImportError> {
    let cfg = &request.config;
    if cfg.model.frozen_core.is_some() {
        return Err(ImportError::Unsupported("a frozen TorchScript core has no neuralpredictors state_dict".into()));
    }
    if let ReadoutConfig::Full { .. } = cfg.model.readout {
        return Err(ImportError::Unsupported(
            "zoo's full readout (a dense (C, h, w) filter per neuron) has no neuralpredictors counterpart".into(),
        ));
    }
    let file = &request.checkpoint;
    let bytes = std::fs::read(file).map_err(|e| neurozoo_pth::PthError::Io { file: file.clone(), reason: e.to_string() })?;
    let sha256 = format!("{:x}", Sha256::digest(&bytes));
    let sd = neurozoo_pth::read(&bytes, file)?;
    let mismatch = |problems: Vec<String>| ImportError::Mismatch { file: file.clone(), problems };

    // Data keys in the checkpoint's order; each readout's bias gives its number of neurons.
    let mut keys: Vec<String> = Vec::new();
    for name in sd.names() {
        if let Some(key) = name.strip_prefix("readout.").and_then(|r| r.split('.').next()) {
            if !keys.iter().any(|k| k == key) {
                keys.push(key.to_string());
            }
        }
    }
    if keys.is_empty() {
        return Err(mismatch(vec!["no readout.<data_key>.* keys: not a neuralpredictors encoder's state_dict".into()]));
    }
    let units = keys
        .iter()
        .map(|k| match sd.get(&format!("readout.{k}.bias")).map(|t| t.shape.as_slice()) {
            Some(&[u]) => Ok(u),
            Some(s) => Err(format!("readout.{k}.bias has shape {s:?}, not (neurons,)")),
            None => Err(format!("readout.{k}.bias is missing: it gives the number of neurons")),
        })
        .collect::<Result<Vec<usize>, String>>()
        .map_err(|p| mismatch(vec![p]))?;

    let vs = nn::VarStore::new(Device::Cpu);
    let mean_responses: Vec<Vec<f32>> = units.iter().map(|&u| vec![1.0; u]).collect();
    let model = Model::shared(&vs.root(), &cfg.model, request.image_shape, &mean_responses)?;

    // Every variable's source, checked before anything is set.
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let mut problems = Vec::new();
    // Keys that a variable asks for and the checkpoint has, whatever their shape.
    let mut found = std::collections::HashSet::new();
    let mut plan = Vec::new();
    let mut zero = Vec::new();
    for (name, var) in &vars {
        let Some(src) = source(name, &var.size(), &cfg.model.readout, &keys) else {
            return Err(ImportError::Unsupported(format!("zoo's {name} has no neuralpredictors counterpart")));
        };
        if sd.get(&src.key).is_some() {
            found.insert(src.key.clone());
        }
        match sd.get(&src.key) {
            None if src.zero_if_absent => zero.push(name.clone()),
            None => problems.push(format!("missing {} {:?} (for {name})", src.key, src.shape)),
            Some(t) if t.shape.iter().map(|&d| d as i64).ne(src.shape.iter().copied()) => {
                problems.push(format!("{} is {:?}, the architecture wants {:?}", src.key, t.shape, src.shape))
            }
            Some(t) => plan.push((src, name.clone(), var.shallow_clone(), t)),
        }
    }
    let mut not_parameters = Vec::new();
    for key in sd.names() {
        if is_non_parameter(key) {
            not_parameters.push(key.to_string());
        } else if !found.contains(key) {
            problems.push(format!("unexpected {key}"));
        }
    }
    if !problems.is_empty() {
        return Err(mismatch(problems));
    }

    let mut mapped = Vec::with_capacity(plan.len());
    for (src, name, var, t) in &plan {
        let value = to_tensor(t).to_kind(Kind::Float);
        let value = match src.layout {
            Layout::Same | Layout::Reshape => value.reshape(var.size()),
            Layout::ChannelsByUnits => value.reshape([src.shape[1], src.shape[3]]).tr(),
        };
        tch::no_grad(|| var.shallow_clone().copy_(&value));
        mapped.push((src.key.clone(), name.clone()));
    }
    for name in &zero {
        let var = &vars.iter().find(|(n, _)| n == name).expect("a variable of the store").1;
        tch::no_grad(|| {
            let _ = var.shallow_clone().zero_();
        });
    }
    // The checkpoint's order, as a reader of the report expects.
    let order = |k: &str| sd.names().position(|n| n == k);
    mapped.sort_by_key(|(k, _)| order(k));
    drop(model);

    let report = ImportReport {
        checkpoint: file.clone(),
        preset: cfg.preset.clone(),
        sha256: sha256.clone(),
        nested_under: sd.nested_under.clone(),
        recordings: keys.iter().cloned().zip(units.iter().copied()).collect(),
        mapped,
        zero,
        not_parameters,
        inputs: INPUTS.to_string(),
    };
    write_run(request, &report, &named_weights(&vs))?;
    Ok(report)
}

/// A pth tensor as a tch one, of its own dtype.
fn to_tensor(t: &neurozoo_pth::Tensor) -> Tensor {
    use neurozoo_pth::DType;
    let kind = match t.dtype {
        DType::F64 => Kind::Double,
        DType::F32 => Kind::Float,
        DType::F16 => Kind::Half,
        DType::BF16 => Kind::BFloat16,
        DType::I64 => Kind::Int64,
        DType::I32 => Kind::Int,
        DType::I16 => Kind::Int16,
        DType::I8 => Kind::Int8,
        DType::U8 => Kind::Uint8,
        DType::Bool => Kind::Bool,
    };
    let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
    Tensor::from_data_size(&t.data, &shape, kind)
}

/// The config as the run saves it. A config read back from TOML is merged over the preset it
/// names, so a part the preset has and the config removed (the sensorium2022 preset's shifter,
/// for the SENSORIUM rather than SENSORIUM+ model) would come back: such a config is saved
/// whole, without its preset's name (the report keeps the name).
fn saved_config(cfg: &FitConfig) -> FitConfig {
    let reads_back = crate::config::Preset::from_toml(&cfg.to_toml()).ok().and_then(|p| p.into_responses()).as_ref() == Some(cfg);
    if reads_back {
        cfg.clone()
    } else {
        FitConfig { preset: None, ..cfg.clone() }
    }
}

/// The run directory, written beside `out` and renamed into place.
fn write_run(request: &ImportRequest, report: &ImportReport, weights: &[(String, Tensor)]) -> Result<(), ImportError> {
    let err = |path: &Path, reason: String| ImportError::Write { path: path.to_path_buf(), reason };
    write_whole(&request.out, err, |tmp| {
        let cfg = &saved_config(&request.config);
        let recordings = report
            .recordings
            .iter()
            .map(|(key, units)| RecordingInfo {
                name: key.clone(),
                data: DataInfo {
                    path: report.checkpoint.display().to_string(),
                    fingerprint: format!("sha256:{}", report.sha256),
                    n_trials: 0,
                    n_units: *units,
                    image_shape: request.image_shape,
                },
                normalizer: Normalizer {
                    image_mean: 0.0,
                    image_std: 1.0,
                    response_scale: vec![1.0; *units],
                    behavior_std: cfg.model.behavior_channels.then(|| vec![1.0; 3]),
                    pupil_mean_std: (cfg.model.pupil_channels || cfg.model.shifter.is_some()).then(|| (vec![0.0; 2], vec![1.0; 2])),
                },
            })
            .collect();
        let info = RunInfo {
            neurozoo: env!("CARGO_PKG_VERSION").to_string(),
            libtorch: crate::TorchRuntime::probe().version_full,
            device: format!("{:?}", Device::Cpu),
            family: ResponseRecord { recordings, epochs: 0, best_epoch: 0, best_validation_correlation: None },
            status: RunStatus::Complete,
            seconds: 0.0,
            memory: Default::default(),
            fitter: None,
        };
        save_config(tmp, cfg).map_err(|e| err(tmp, e.to_string()))?;
        save_info(tmp, &info).map_err(|e| err(tmp, e.to_string()))?;
        write_safetensors_atomic(weights, &tmp.join(crate::run::MODEL_FILE))?;
        let json = serde_json::to_string_pretty(report).expect("the report serialises");
        write_atomic(&tmp.join(IMPORT_FILE), json).map_err(|e| err(tmp, e.to_string()))
    })
}
