use std::path::PathBuf;

use neurozoo_datasets::DatasetError;

/// What can go wrong creating, resuming, fitting, evaluating or extracting from a run. Every
/// message names the file or directory at fault; none names a command-line flag (the command
/// line says which of its flags a [`ResumeConflict`] or an [`Unfinished`] run is about).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A recording that cannot be read, or that `validate` finds errors in.
    #[error(transparent)]
    Data(#[from] DatasetError),
    /// A file or directory that is not what the run needs: a recording the model cannot take,
    /// a run directory that is not one, an output that cannot be written.
    #[error("{}: {problem}", path.display())]
    At { path: PathBuf, problem: String },
    /// A resumed fit that asks for another model, seed or data than the run has.
    #[error("cannot resume {}: {conflict}", run.display())]
    Resume { run: PathBuf, conflict: ResumeConflict },
    /// A run without its final model.
    #[error(transparent)]
    Unfinished(#[from] Unfinished),
    /// The directory for a new run holds something (or is a file).
    #[error(transparent)]
    Output(#[from] neurozoo_util::files::OutputDirError),
    /// Recordings that do not go together, or a recording the run was not fitted to the shape
    /// of (units, images): a sentence naming both.
    #[error("{0}")]
    Mismatch(String),
    /// A config value the fit cannot run with.
    #[error(transparent)]
    Config(#[from] neurozoo_config::ConfigError),
    /// A model that cannot be built from the config, or loaded.
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    /// Training that cannot go on (diverged, no data, a damaged checkpoint).
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
    #[error("no recordings to fit: give one or more, or a [[data]] list in the config")]
    NoRecordings,
    /// An operation the run's family of models has no meaning for.
    #[error("{} is a {family}: {operation}", run.display())]
    Unsupported { run: PathBuf, family: &'static str, operation: Operation },
    /// A file a sprite-pair model cannot fit (`preset`), with why.
    #[error("{error}: {preset} fits sprite frame pairs (make them with `neurozoo data simulate sprites`)")]
    NotSpritePairs { preset: String, error: DatasetError },
}

impl RunError {
    pub(crate) fn at(path: impl Into<PathBuf>, problem: impl std::fmt::Display) -> RunError {
        RunError::At { path: path.into(), problem: problem.to_string() }
    }
}

/// What a family of models may not support, said as what it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Operation {
    #[error("in-silico experiments run on response models")]
    Insilico,
}

/// How a resumed fit conflicts with the run it continues.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResumeConflict {
    /// The model asked for (as it was named) is not the run's.
    #[error("{0} is not the model it was fitted with (see its config.toml)")]
    OtherModel(String),
    #[error("seed {asked} conflicts with the run's seed {saved}")]
    Seed { asked: u64, saved: u64 },
    /// A training length (`key`: `max_epochs`, `iterations`) below the run's.
    #[error("{key} {asked} is below the run's {saved}; a resumed run can only be given more")]
    Lowered { key: &'static str, asked: usize, saved: usize },
    /// Other recordings (each `path (fingerprint)`) than the run was fitted to.
    #[error("it was fitted to {fitted}, not to {given}")]
    OtherData { fitted: String, given: String },
    #[error("it is already complete")]
    Complete,
    /// The directory holds no run of this kind.
    #[error("{0}")]
    NotARun(String),
}

/// A run without its final model: being fitted, or interrupted (resuming the fit continues it).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Unfinished {
    #[error("{} is still being fitted (process {pid} on {host}): wait for it to finish", dir.display())]
    Fitting { dir: PathBuf, pid: u32, host: String },
    /// Interrupted after `epochs` epochs (a sprite-pair run counts steps and says none).
    #[error("{} was interrupted {}: resuming its fit continues it", dir.display(), epochs.map_or("before it finished".into(), |e| format!("after {e} epoch(s)")))]
    Interrupted { dir: PathBuf, epochs: Option<usize> },
}

/// Check a resumed fit's seed and training length against the run's, for either kind of model:
/// another seed is refused, a training length may only be raised. Returns the raise taken,
/// `(from, to)`, which `limit` now holds.
pub fn reconcile_resume(
    seed: (Option<u64>, u64),
    limit: (&'static str, Option<usize>, &mut usize),
) -> Result<Option<(usize, usize)>, ResumeConflict> {
    if let (Some(asked), saved) = seed {
        if asked != saved {
            return Err(ResumeConflict::Seed { asked, saved });
        }
    }
    let (key, asked, saved) = limit;
    match asked {
        Some(n) if n < *saved => Err(ResumeConflict::Lowered { key, asked: n, saved: *saved }),
        Some(n) if n > *saved => Ok(Some((std::mem::replace(saved, n), n))),
        _ => Ok(None),
    }
}
