//! A fitted run, loaded to evaluate or extract from: what `neurozoo eval` and `neurozoo extract
//! RUN` start from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use neurozoo_datasets::nwb::NwbOptions;
use neurozoo_datasets::{Dataset, Tier};
use tch::Device;

use super::{Responses, RunError};
use crate::eval::{evaluate, Evaluation, TierMetrics};

/// A complete run of a response model: its `run.json`, config, and model with every
/// recording's readout and the fitted weights.
pub type Run = super::family::Run<Responses>;

/// A recording's scores by the run, with the recording as checked against it.
pub struct ResponseEvaluation {
    pub recording: RunRecording,
    pub evaluation: Evaluation,
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
