//! A fitted run, loaded to evaluate or extract from: what `neurozoo eval` and `neurozoo extract
//! RUN` start from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use neurozoo_datasets::nwb::NwbOptions;
use neurozoo_datasets::{Dataset, Tier};
use tch::{nn, Device};

use super::{RunError, RunInfo};
use crate::config::FitConfig;
use crate::eval::{evaluate, Evaluation, TierMetrics};
use crate::model::Model;
use crate::train::load_weights;

/// A complete run of a response model: its `run.json`, config, and model with every
/// recording's readout and the fitted weights.
pub struct Run {
    pub dir: PathBuf,
    pub info: RunInfo,
    pub config: FitConfig,
    pub model: Model,
    // Owns the model's variables.
    _vs: nn::VarStore,
}

/// A recording checked against the run: which readout is its, and the data.
pub struct RunRecording {
    /// Its index among the run's recordings (and readouts).
    pub index: usize,
    pub path: PathBuf,
    pub dataset: Dataset,
    /// Set when these are not the data the run was fitted to (same units and images, other
    /// values): the fitted file and both fingerprints, in a sentence.
    pub other_data: Option<String>,
}

impl Run {
    /// Load the run at `dir` onto `device`; a run without its final model is [`super::Unfinished`].
    pub fn load(dir: &Path, device: Device) -> Result<Run, RunError> {
        let info = super::load_info(dir)?;
        info.check_complete(dir)?;
        let config = super::load_response_config(dir)?;
        let vs = nn::VarStore::new(device);
        let units: Vec<Vec<f32>> = info.recordings.iter().map(|r| vec![1.0; r.data.n_units]).collect();
        let input = info.recordings.first().map(|r| r.data.image_shape).ok_or_else(|| RunError::at(dir, "no recordings in run.json"))?;
        let model = Model::shared(&vs.root(), &config.model, input, &units)?;
        load_weights(&vs, &dir.join(super::MODEL_FILE))?;
        Ok(Run { dir: dir.to_path_buf(), info, config, model, _vs: vs })
    }

    /// Load `data` (checked as `validate` would) and match it to the run's recording of its
    /// name: it must have that recording's units and image shape.
    pub fn recording(&self, data: &Path, nwb: &NwbOptions) -> Result<RunRecording, RunError> {
        let index = self.info.recording_of(&self.dir, data)?;
        let fitted = &self.info.recordings[index].data;
        let dataset = neurozoo_datasets::load_checked(data, nwb)?;
        if dataset.n_units() != fitted.n_units || dataset.image_shape() != fitted.image_shape {
            return Err(RunError::Mismatch(format!(
                "{} has {} units and {:?} images, but {} was fitted to {} units and {:?} images",
                data.display(),
                dataset.n_units(),
                dataset.image_shape(),
                self.dir.display(),
                fitted.n_units,
                fitted.image_shape
            )));
        }
        let other_data = (dataset.fingerprint() != fitted.fingerprint).then(|| {
            format!(
                "{} is not the data {} was fitted to ({}, fingerprint {}; this is {})",
                data.display(),
                self.dir.display(),
                fitted.path,
                fitted.fingerprint,
                dataset.fingerprint()
            )
        });
        Ok(RunRecording { index, path: data.to_path_buf(), dataset, other_data })
    }

    /// The run's metrics on a recording, by tier, with receptive-field recovery on simulations.
    pub fn evaluate(&self, recording: &RunRecording, device: Device) -> Result<Evaluation, RunError> {
        let normalizer = &self.info.recordings[recording.index].normalizer;
        evaluate(&self.model, recording.index, &recording.dataset, normalizer, device, 256).map_err(|e| RunError::at(&recording.path, e))
    }
}

/// The metrics of several recordings' units together, tier by tier (a tier every recording
/// has): each recording's `(units, evaluation)`.
pub fn pooled(evaluations: &[(usize, &Evaluation)]) -> BTreeMap<Tier, TierMetrics> {
    let mut pooled = BTreeMap::new();
    for tier in Tier::ALL {
        let parts: Vec<(usize, &TierMetrics)> = evaluations.iter().filter_map(|(u, ev)| Some((*u, ev.tiers.get(&tier)?))).collect();
        if parts.len() == evaluations.len() {
            pooled.insert(tier, TierMetrics::pool(&parts));
        }
    }
    pooled
}
