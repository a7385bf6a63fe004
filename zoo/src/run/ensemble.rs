//! An ensemble of runs: several complete runs of response models fitted to the same recordings
//! (a sweep's seeds, most often) predicting as one, the mean of their rates
//! ([`EnsembleModel`]). What `neurozoo eval`, `extract` and `insilico` do with several runs.
//!
//! The runs must predict the same thing from the same input: the same recordings in the same
//! order, with the same units and image shape, standardised the same way (so fitted to the same
//! data) and reading the same behaviour and pupil inputs. Anything else is refused by name
//! before any work.
//!
//! ```no_run
//! use neurozoo_zoo::run::ensemble::Ensemble;
//!
//! let device = tch::Device::Cpu;
//! let runs = ["runs/seed-1", "runs/seed-2", "runs/seed-3"].map(std::path::PathBuf::from);
//! let ensemble = Ensemble::load(&runs, device)?;
//! let recording = ensemble.recording("v1.h5".as_ref(), &Default::default())?;
//! let evaluation = ensemble.evaluate(&recording, device)?;
//! println!("test correlation {:?}", evaluation.tiers.get(&neurozoo_datasets::Tier::Test).map(|m| m.correlation));
//! # Ok::<(), neurozoo_zoo::run::RunError>(())
//! ```

use std::path::{Path, PathBuf};

use neurozoo_datasets::nwb::NwbOptions;
use tch::Device;

use super::eval::{Run, RunRecording};
use super::{RunError, RunInfo};
use crate::eval::{evaluate, Evaluation};
use crate::model::EnsembleModel;

/// Complete runs of response models that predict together; the first stands for all in what
/// they share (recordings, standardisation).
pub struct Ensemble {
    pub runs: Vec<Run>,
}

impl Ensemble {
    /// Load the runs at `dirs` onto `device` and check that they can predict together.
    pub fn load(dirs: &[PathBuf], device: Device) -> Result<Ensemble, RunError> {
        if dirs.is_empty() {
            return Err(RunError::Mismatch("an ensemble needs at least one run".into()));
        }
        for (i, dir) in dirs.iter().enumerate() {
            if dirs[..i].iter().any(|d| same_dir(d, dir)) {
                return Err(RunError::at(dir, "is given twice: each run of an ensemble counts once"));
            }
        }
        let runs = dirs.iter().map(|d| Run::load(d, device)).collect::<Result<Vec<_>, _>>()?;
        for run in &runs[1..] {
            check_alike(&runs[0], run)?;
        }
        let ensemble = Ensemble { runs };
        if let Err(e) = EnsembleModel::new(ensemble.runs.iter().map(|r| &r.model).collect()) {
            return Err(RunError::Mismatch(format!("{e} ({})", ensemble.name())));
        }
        Ok(ensemble)
    }

    /// The runs' models predicting as one (a single run's is its own model).
    pub fn model(&self) -> EnsembleModel<'_> {
        EnsembleModel::new(self.runs.iter().map(|r| &r.model).collect()).expect("checked when loaded")
    }

    /// What every run shares: the recordings and their standardisation (the first run's record).
    pub fn info(&self) -> &RunInfo {
        &self.runs[0].info
    }

    /// The run's directory, or for several, `ensemble of N runs (A, B, …)`.
    pub fn name(&self) -> String {
        match self.runs.as_slice() {
            [one] => one.dir.display().to_string(),
            many => {
                let dirs: Vec<String> = many.iter().map(|r| r.dir.display().to_string()).collect();
                format!("ensemble of {} runs ({})", many.len(), dirs.join(", "))
            }
        }
    }

    /// `data` checked against the runs' recording of its name ([`Run::recording`]).
    pub fn recording(&self, data: &Path, nwb: &NwbOptions) -> Result<RunRecording, RunError> {
        self.runs[0].recording(data, nwb)
    }

    /// The ensemble's metrics on a recording, by tier: those of its mean prediction.
    pub fn evaluate(&self, recording: &RunRecording, device: Device) -> Result<Evaluation, RunError> {
        let normalizer = &self.info().recordings[recording.index].normalizer;
        evaluate(&self.model(), recording.index, &recording.dataset, normalizer, device, 256).map_err(|e| RunError::at(&recording.path, e))
    }
}

/// Whether two paths name one directory (as written, or once resolved).
fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// `run` predicts what `first` predicts from the same input: refused by name otherwise.
fn check_alike(first: &Run, run: &Run) -> Result<(), RunError> {
    let (a, b) = (first.dir.display(), run.dir.display());
    let names = |r: &Run| r.info.recordings.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
    if names(first) != names(run) {
        return Err(RunError::Mismatch(format!(
            "{a} was fitted to the recordings {:?} and {b} to {:?}: the runs of an ensemble predict the same recordings",
            names(first),
            names(run)
        )));
    }
    for (x, y) in first.info.recordings.iter().zip(&run.info.recordings) {
        if (x.data.n_units, x.data.image_shape) != (y.data.n_units, y.data.image_shape) {
            return Err(RunError::Mismatch(format!(
                "recording {:?}: {a} predicts {} units from {:?} images and {b} {} units from {:?} images: the runs of an \
                 ensemble predict the same units from the same images",
                x.name, x.data.n_units, x.data.image_shape, y.data.n_units, y.data.image_shape
            )));
        }
        if x.normalizer != y.normalizer {
            return Err(RunError::Mismatch(format!(
                "recording {:?}: {a} and {b} standardise its images and responses differently ({a} was fitted to {} with \
                 fingerprint {}, {b} to {} with fingerprint {}): the runs of an ensemble are fitted to the same data",
                x.name, x.data.path, x.data.fingerprint, y.data.path, y.data.fingerprint
            )));
        }
    }
    Ok(())
}
