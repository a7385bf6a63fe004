//! A run directory: everything `fit` produced and `eval` / `extract` / `--resume` need.
//!
//! ```text
//! RUN/config.toml          the resolved fit config
//! RUN/run.json             versions, data fingerprint, normalisation, device, outcome
//! RUN/model.safetensors    the best weights (batch-norm statistics included)
//! RUN/frozen_core.pt       a copy of the frozen TorchScript core, if the model has one
//! RUN/metrics.{parquet,csv} one row per epoch (written by the command line)
//! RUN/checkpoint/          the state `--resume` continues from
//! ```
//!
//! and the library-level run API, what the commands do as functions taking typed requests and
//! returning typed results (the command line parses, calls and prints). It is generic over the
//! family of models ([`ModelFamily`], in [`family`]): [`family::Fit`] prepares and trains a fit
//! (new or resumed) and [`family::Run`] loads a complete run, for any family; [`fit`] is the
//! response models' family ([`Responses`]), whose runs ([`eval::Run`]) check recordings against
//! themselves and evaluate them, and [`extract`] reads a layer of a run or of a TorchScript
//! network; [`vae`] is the sprite-pair models' ([`SpritePairs`]).
//!
//! ```no_run
//! use neurozoo_zoo::config::preset;
//! use neurozoo_zoo::run::{eval::Run, fit::{Fit, FitRequest}};
//!
//! let request = FitRequest::new(preset("klindt2017").and_then(|p| p.into_responses()).unwrap(), "klindt2017", "v1.h5".into(), "runs/k".into());
//! let fitted = Fit::prepare(request)?.train(|_event| {})?;
//! println!("best validation correlation {:?}", fitted.info.best_validation_correlation);
//! let run = Run::load("runs/k".as_ref(), tch::Device::Cpu)?;
//! let recording = run.recording("v1.h5".as_ref(), &Default::default())?;
//! let evaluation = run.evaluate(&recording, tch::Device::Cpu)?;
//! println!("test correlation {:?}", evaluation.tiers.get(&neurozoo_datasets::Tier::Test).map(|m| m.correlation));
//! # Ok::<(), neurozoo_zoo::run::RunError>(())
//! ```

pub mod ensemble;
mod error;
pub mod eval;
pub mod extract;
pub mod family;
pub mod fit;
#[cfg(test)]
mod mean;
pub mod vae;

use std::path::Path;

use neurozoo_datasets::{Dataset, Images, Tier};
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use crate::config::{FitConfig, Preset};
use crate::model::Inputs;
use crate::train::{Stimuli, TrainData};
use neurozoo_tensor::to_tensor;
use neurozoo_util::files::write_atomic;

pub use error::{reconcile_resume, Operation, ResumeConflict, RunError, Unfinished};
pub use family::{ModelFamily, RunRecord};
pub use fit::{ResponseRecord, Responses};
pub use vae::SpritePairs;
// What readers outside the worker see of run.json: one definition, in the job contract.
pub use neurozoo_job::{RunStatus, RUN_FILE};

pub const CONFIG_FILE: &str = "config.toml";
pub const MODEL_FILE: &str = "model.safetensors";
pub const METRICS_STEM: &str = "metrics";
/// The run's copy of a frozen core, named by the run's config: a run directory is self-contained.
pub const FROZEN_CORE_FILE: &str = "frozen_core.pt";

/// A recording without an input the model reads: behaviour or the pupil position (`key`, the
/// config key that asks for it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the recording has no {what}, which the model reads ({key})")]
pub struct MissingInput {
    pub what: &'static str,
    pub key: &'static str,
}

/// Standardisation learned on the train tier, applied identically at fit and eval time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalizer {
    pub image_mean: f32,
    pub image_std: f32,
    /// Responses are divided by this per unit: the train-tier std, or 1 for units whose std is
    /// below 1% of the mean std (neuralpredictors' NeuroNormalizer), so silent units stay finite.
    pub response_scale: Vec<f32>,
    /// Behaviour is divided by its train-tier std per column (not centred), as
    /// neuralpredictors' `NeuroNormalizer`; present when the recording has behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior_std: Option<Vec<f32>>,
    /// The pupil position is z-scored with its train-tier mean and std per column; present when
    /// the recording has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pupil_mean_std: Option<(Vec<f32>, Vec<f32>)>,
}

/// Per-column train-tier mean and std of an (N, K) array; a zero std becomes 1.
fn column_stats(a: &ndarray::Array2<f32>, train: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let s = neurozoo_datasets::stats::Summary::per_column(a.view(), train);
    (s.iter().map(|c| c.mean as f32).collect(), s.iter().map(|c| if c.std > 0.0 { c.std as f32 } else { 1.0 }).collect())
}

impl Normalizer {
    pub fn from_train(ds: &Dataset) -> Result<Normalizer, neurozoo_datasets::DatasetError> {
        let n = neurozoo_datasets::stats::Normalization::from_train(ds)?;
        let mean_std = n.response_std.iter().sum::<f32>() / n.response_std.len().max(1) as f32;
        let threshold = 0.01 * mean_std;
        let train = ds.tier_indices(Tier::Train);
        Ok(Normalizer {
            image_mean: n.image_mean,
            image_std: if n.image_std > 0.0 { n.image_std } else { 1.0 },
            response_scale: n.response_std.iter().map(|&s| if s > threshold { s } else { 1.0 }).collect(),
            behavior_std: ds.behavior.as_ref().map(|b| column_stats(b, &train).1),
            pupil_mean_std: ds.pupil_center.as_ref().map(|p| column_stats(p, &train)),
        })
    }

    /// The dataset's images (N, C, H, W) on `device` as stored, standardised per batch, with
    /// what `inputs` asks for besides: behaviour and pupil channels, the pupil for a shifter.
    /// A recording without the behaviour or pupil position the model reads is the error.
    pub fn stimuli(&self, ds: &Dataset, device: Device, inputs: &Inputs) -> Result<Stimuli, MissingInput> {
        let raw = match &ds.images {
            Images::U8(a) => to_tensor(a.view(), device),
            Images::F32(a) => to_tensor(a.view(), device),
        };
        let mut stimuli = Stimuli::new(raw, f64::from(self.image_mean), f64::from(self.image_std));
        let missing = |what: &'static str, key: &'static str| MissingInput { what, key };
        let behavior = || -> Result<Tensor, MissingInput> {
            let (b, std) =
                ds.behavior.as_ref().zip(self.behavior_std.as_ref()).ok_or_else(|| missing("behavior", "model.behavior_channels"))?;
            Ok(to_tensor(b.view(), device) / Tensor::from_slice(std).to_device(device))
        };
        let pupil = |why: &'static str| -> Result<Tensor, MissingInput> {
            let (p, (mean, std)) =
                ds.pupil_center.as_ref().zip(self.pupil_mean_std.as_ref()).ok_or_else(|| missing("pupil_center", why))?;
            Ok((to_tensor(p.view(), device) - Tensor::from_slice(mean).to_device(device)) / Tensor::from_slice(std).to_device(device))
        };
        let mut channels = Vec::new();
        if inputs.behavior_channels {
            channels.push(behavior()?);
        }
        if inputs.pupil_channels {
            channels.push(pupil("model.pupil_channels")?);
        }
        if !channels.is_empty() {
            stimuli = stimuli.with_channels(Tensor::cat(&channels, 1));
        }
        if inputs.pupil {
            stimuli = stimuli.with_pupil(pupil("model.shifter")?);
        }
        Ok(stimuli)
    }

    /// Normalised responses (N, U) on `device`.
    pub fn responses(&self, ds: &Dataset, device: Device) -> Tensor {
        let mut responses = to_tensor(ds.responses.view(), device);
        // In place: a second (N, U) copy would be the largest allocation of a field-scale fit.
        let _ = responses.g_div_(&Tensor::from_slice(&self.response_scale).to_device(device));
        responses
    }

    /// Mean normalised train response per unit: where readout biases start.
    pub fn mean_train_response(&self, ds: &Dataset) -> Vec<f32> {
        let train = ds.tier_indices(Tier::Train);
        (0..ds.n_units())
            .map(|u| train.iter().map(|&t| ds.responses[[t, u]]).sum::<f32>() / train.len().max(1) as f32 / self.response_scale[u])
            .collect()
    }

    pub fn train_data(&self, ds: &Dataset, device: Device, inputs: &Inputs) -> Result<TrainData, MissingInput> {
        let idx = |tier| ds.tier_indices(tier).into_iter().map(|i| i as i64).collect();
        Ok(TrainData {
            images: self.stimuli(ds, device, inputs)?,
            responses: self.responses(ds, device),
            train: idx(Tier::Train),
            validation: idx(Tier::Validation),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    pub path: String,
    pub fingerprint: String,
    pub n_trials: usize,
    pub n_units: usize,
    pub image_shape: [usize; 3],
}

impl DataInfo {
    pub fn of(ds: &Dataset, path: &Path) -> DataInfo {
        DataInfo {
            path: path.display().to_string(),
            fingerprint: ds.fingerprint(),
            n_trials: ds.n_trials(),
            n_units: ds.n_units(),
            image_shape: ds.image_shape(),
        }
    }
}

/// One recording a run was fitted to; its place in `RunInfo::recordings` is its readout's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingInfo {
    /// The file's stem (`static22564-2-13-preproc0` for `…/static22564-2-13-preproc0.zip`).
    pub name: String,
    #[serde(flatten)]
    pub data: DataInfo,
    /// Its own train tier's standardisation.
    pub normalizer: Normalizer,
}

/// A recording's name: its file or directory name without the extension (the whole path
/// when it has no name, as `..`).
pub fn recording_name(path: &Path) -> String {
    path.file_stem().map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().to_string())
}

/// The names of several recordings, refusing two of one name: a readout is found by its name.
pub fn recording_names(paths: &[&Path]) -> Result<Vec<String>, RunError> {
    neurozoo_datasets::check_distinct(paths)?;
    let names: Vec<String> = paths.iter().map(|p| recording_name(p)).collect();
    for (i, n) in names.iter().enumerate() {
        if let Some(j) = names[..i].iter().position(|m| m == n) {
            return Err(RunError::Mismatch(format!(
                "{} and {} are both recordings named {n:?}: a model has one readout per recording name (rename one)",
                paths[j].display(),
                paths[i].display()
            )));
        }
    }
    Ok(names)
}

/// `run.json` of a response model.
pub type RunInfo = RunRecord<ResponseRecord>;

/// The process fitting a run.
pub type Fitter = neurozoo_util::process::Process;

impl ResponseRecord {
    /// Which recording (readout) of the run at `dir` `data` is: the only one of a
    /// one-recording run, or the one with the file's name.
    pub fn recording_of(&self, dir: &Path, data: &Path) -> Result<usize, RunError> {
        if self.recordings.len() == 1 {
            return Ok(0);
        }
        let name = recording_name(data);
        self.recordings.iter().position(|r| r.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.recordings.iter().map(|r| r.name.as_str()).collect();
            let problem = format!(
                "{} is recording {name:?}, which the run has no readout for (its recordings: {})",
                data.display(),
                names.join(", ")
            );
            RunError::at(dir, problem)
        })
    }
}

pub fn save_info(dir: &Path, info: &RunInfo) -> Result<(), RunError> {
    info.save(dir)
}

/// A file of the run directory `dir`, read; an error asks whether it is one.
fn read_run_file(dir: &Path, name: &str) -> Result<String, RunError> {
    let path = dir.join(name);
    std::fs::read_to_string(&path).map_err(|e| RunError::at(&path, format!("{e} (is {} a run directory?)", dir.display())))
}

pub fn load_info(dir: &Path) -> Result<RunInfo, RunError> {
    RunInfo::load(dir)
}

/// The run's config (a response or a sprite-pair model), with a frozen core's file resolved
/// against the run directory.
pub fn load_config(dir: &Path) -> Result<Preset, RunError> {
    let file = dir.join(CONFIG_FILE);
    let mut cfg = Preset::from_toml(&read_run_file(dir, CONFIG_FILE)?)
        .map_err(|e| neurozoo_config::ConfigError::File { file, error: Box::new(e) })?;
    if let Preset::Responses(c) = &mut cfg {
        c.resolve_files(dir);
    }
    Ok(cfg)
}

/// [`load_config`] of a response model's run.
pub fn load_response_config(dir: &Path) -> Result<FitConfig, RunError> {
    family::load_family_config::<Responses>(dir)
}

/// Write a new run's config; a frozen core's file is copied into the run first and the config
/// written names the copy, so the run loads the same network wherever it moves.
pub fn save_config(dir: &Path, cfg: &FitConfig) -> Result<(), RunError> {
    let mut saved = cfg.clone();
    if let Some(f) = &mut saved.model.frozen_core {
        let copy = dir.join(FROZEN_CORE_FILE);
        let tmp = copy.with_extension("partial");
        std::fs::copy(&f.file, &tmp)
            .and_then(|_| std::fs::rename(&tmp, &copy))
            .map_err(|e| RunError::at(&f.file, format!("cannot copy to {}: {e}", copy.display())))?;
        f.file = FROZEN_CORE_FILE.into();
    }
    let path = dir.join(CONFIG_FILE);
    write_atomic(&path, saved.to_toml()).map_err(|e| RunError::at(&path, e.message))
}
