//! The contract between the `neurozoo` front end and the `neurozoo-torch` worker: the [`Job`]
//! the front end (and a sweep, and the demo) hands over, and the results read back — a run's
//! [`RunInfo`] and the eval reports.
//!
//! The front end parses the command line; what reaches the worker is a versioned JSON job on
//! its standard input, never the user's arguments, so the two binaries share this crate and
//! nothing else of each other. A worker refuses a job of another [`JOB_VERSION`] by name
//! instead of misreading it (a `neurozoo` and a `neurozoo-torch` of two installations).
//!
//! ```
//! use neurozoo_job::{FitJob, Job, JOB_VERSION};
//!
//! let job = Job::Fit(FitJob::new("klindt2017", vec!["v1.h5".into()], "runs/k".into()));
//! let text = job.to_json()?;
//! assert!(text.contains(&format!(r#""version":{JOB_VERSION}"#)) && text.contains(r#""command":"fit""#));
//! assert_eq!(Job::from_json(&text)?, job);
//! // Another version is refused before its fields are read.
//! let err = Job::from_json(r#"{"version": 99, "command": "fit"}"#).unwrap_err();
//! assert!(err.to_string().contains("version 99"));
//! # Ok::<(), neurozoo_job::JobError>(())
//! ```

mod run;

use std::path::{Path, PathBuf};

use neurozoo_config::DeviceChoice;
use neurozoo_datasets::nwb::NwbOptions;
use neurozoo_datasets::Tier;
use serde::{Deserialize, Serialize};

pub use neurozoo_config::ModelKind;
pub use neurozoo_metrics::report::{EvalReport, TierMetrics};
pub use run::{PooledEvalReport, RunFileError, RunInfo, RunStatus, Trained, RUN_FILE};

/// The job format's version: raised whenever a job's fields change meaning, so that a worker
/// never runs a job it would misread.
pub const JOB_VERSION: u32 = 2;

/// A model command for the worker. The front end has checked what needs no libtorch (the
/// arguments, an output file it must not overwrite); the worker checks the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Job {
    Fit(FitJob),
    Eval(EvalJob),
    Extract(ExtractJob),
    Import(ImportJob),
    Export(ExportJob),
    Insilico(InsilicoJob),
}

/// `neurozoo fit`: a new run, or more training of an interrupted one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitJob {
    /// A preset's name or a config file, as the user gave it (messages name it so).
    pub model: String,
    /// Recordings; empty: the config's `[[data]]` list.
    pub data: Vec<PathBuf>,
    pub out: PathBuf,
    pub device: DeviceChoice,
    /// Overrides of the config's seed and length.
    pub seed: Option<u64>,
    pub max_epochs: Option<usize>,
    pub iterations: Option<usize>,
    pub resume: bool,
    /// libtorch intra-op threads; None: libtorch's choice.
    pub threads: Option<u32>,
    pub nwb: NwbOptions,
}

impl FitJob {
    /// A fit of `model` to `data` into `out` with every option at its command-line default.
    pub fn new(model: impl Into<String>, data: Vec<PathBuf>, out: PathBuf) -> FitJob {
        FitJob {
            model: model.into(),
            data,
            out,
            device: DeviceChoice::default(),
            seed: None,
            max_epochs: None,
            iterations: None,
            resume: false,
            threads: None,
            nwb: NwbOptions::default(),
        }
    }
}

/// `neurozoo eval`: the report goes to the worker's standard output, as text or, with `json`,
/// as one JSON object ([`EvalReport`], [`PooledEvalReport`] for several recordings, the
/// disentanglement scores of a sprite-pair run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalJob {
    /// One run, or several response-model runs evaluated as an ensemble (and each alone).
    pub runs: Vec<PathBuf>,
    pub data: Vec<PathBuf>,
    pub device: DeviceChoice,
    pub json: bool,
    /// Sprite-pair runs: training points of the BetaVAE and FactorVAE scores (0 skips them).
    pub intervention_points: usize,
    /// Response models: draw what the model learned into this new or empty directory.
    pub figures: Option<PathBuf>,
    pub nwb: NwbOptions,
}

impl EvalJob {
    /// An evaluation of `run` on `data` with every option at its command-line default.
    pub fn new(run: PathBuf, data: Vec<PathBuf>) -> EvalJob {
        EvalJob {
            runs: vec![run],
            data,
            device: DeviceChoice::default(),
            json: false,
            intervention_points: EvalJob::DEFAULT_INTERVENTION_POINTS,
            figures: None,
            nwb: NwbOptions::default(),
        }
    }

    /// `--intervention-points`' default.
    pub const DEFAULT_INTERVENTION_POINTS: usize = 1000;
}

/// `neurozoo extract RUN`: a fitted model's (or a TorchScript file's) representation file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractJob {
    /// A run directory, several (an ensemble: its predicted rates), or a TorchScript file used
    /// as it is.
    pub runs: Vec<PathBuf>,
    pub data: PathBuf,
    pub out: PathBuf,
    /// Comma-separated layers as the user wrote them; None: the model's default.
    pub layer: Option<String>,
    /// Only the images first shown in these tiers; empty: all.
    pub tiers: Vec<Tier>,
    pub device: DeviceChoice,
    pub nwb: NwbOptions,
}

/// `neurozoo import`: a PyTorch checkpoint (a neuralpredictors `state_dict`) becomes a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportJob {
    pub checkpoint: PathBuf,
    /// The preset the architecture starts from.
    pub arch: String,
    /// A model TOML merged over `arch` (what the checkpoint's builder changed).
    pub config: Option<PathBuf>,
    /// (C, H, W) of the images the model was trained on, without behaviour or pupil channels.
    pub image_shape: [usize; 3],
    pub out: PathBuf,
}

/// `neurozoo export`: a run as a neuralpredictors `state_dict` and the `model.py` that loads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportJob {
    pub run: PathBuf,
    pub out: PathBuf,
}

/// `neurozoo insilico mei|tuning`: an experiment on a fitted response model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InsilicoJob {
    pub experiment: Experiment,
    /// A run, or several predicting as an ensemble.
    pub runs: Vec<PathBuf>,
    /// The recording whose units are asked for; None: the run's only one.
    pub recording: Option<String>,
    /// Its data: the training images give the default norm, value range and held inputs.
    pub data: Option<PathBuf>,
    /// Unit ids of the recording; empty: all.
    pub units: Vec<i64>,
    /// L2 norm of each image in z-scored pixels (MEI budget, grating contrast); None: the mean
    /// of the training images'.
    pub norm: Option<f64>,
    /// Pixel range of MEIs; None: the training images'.
    pub range: Option<(f64, f64)>,
    pub seed: u64,
    /// Units optimised together (MEIs) or stimuli per forward pass (tuning); None: the
    /// experiment's default.
    pub batch_size: Option<usize>,
    pub device: DeviceChoice,
    pub out: PathBuf,
}

/// Which in-silico experiment, with its own settings (None: the experiment's default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Experiment {
    Mei { steps: Option<usize>, lr: Option<f64>, blur: Option<f64>, jitter: Option<usize>, smoothness: Option<f64> },
    Tuning { orientations: Option<usize>, spatial_frequencies: Option<usize>, phases: Option<usize> },
}

/// Why a job cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("cannot hand the job to neurozoo-torch: {0}")]
    Unwritable(String),
    #[error("the job is not one neurozoo-torch reads: {0}")]
    Malformed(String),
    #[error(
        "the job is format version {found}, this neurozoo-torch reads version {JOB_VERSION}: \
         run the neurozoo and neurozoo-torch of one installation"
    )]
    Version { found: u32 },
}

/// A job as written: the version beside the command and its fields.
#[derive(Serialize, Deserialize)]
struct Versioned<J> {
    version: u32,
    #[serde(flatten)]
    job: J,
}

impl Job {
    /// One line of JSON; a path that is not UTF-8 cannot be written in it, nor a number that is
    /// not finite.
    pub fn to_json(&self) -> Result<String, JobError> {
        let text =
            serde_json::to_string(&Versioned { version: JOB_VERSION, job: self }).map_err(|e| JobError::Unwritable(e.to_string()))?;
        // JSON has no NaN or infinity and serde_json writes them as null, which would reach the
        // worker as "not given": a job that does not read back as itself is not handed over.
        if Job::from_json(&text).ok().as_ref() != Some(self) {
            return Err(JobError::Unwritable("a number that is not finite (NaN or infinite) cannot be handed to the worker".into()));
        }
        Ok(text)
    }

    /// What the job writes: a run directory (new, or continued by `fit --resume`), an output
    /// file or directory, eval's figures; None: it only prints.
    pub fn output(&self) -> Option<&Path> {
        match self {
            Job::Fit(j) => Some(&j.out),
            Job::Eval(j) => j.figures.as_deref(),
            Job::Extract(j) => Some(&j.out),
            Job::Import(j) => Some(&j.out),
            Job::Export(j) => Some(&j.out),
            Job::Insilico(j) => Some(&j.out),
        }
    }

    /// What the job reads, which its output must stay out of: runs, recordings and file trees,
    /// checkpoints and config files.
    pub fn inputs(&self) -> Vec<&Path> {
        match self {
            Job::Fit(j) => j.data.iter().map(PathBuf::as_path).collect(),
            Job::Eval(j) => j.runs.iter().chain(&j.data).map(PathBuf::as_path).collect(),
            Job::Extract(j) => j.runs.iter().chain([&j.data]).map(PathBuf::as_path).collect(),
            Job::Import(j) => std::iter::once(j.checkpoint.as_path()).chain(j.config.as_deref()).collect(),
            Job::Export(j) => vec![&j.run],
            Job::Insilico(j) => j.runs.iter().map(PathBuf::as_path).chain(j.data.as_deref()).collect(),
        }
    }

    /// The job as a short command line, for whoever finds its output locked.
    pub fn describe(&self) -> String {
        let command = match self {
            Job::Fit(j) if j.resume => "fit --resume",
            Job::Fit(_) => "fit",
            Job::Eval(_) => "eval",
            Job::Extract(_) => "extract",
            Job::Import(_) => "import",
            Job::Export(_) => "export",
            Job::Insilico(_) => "insilico",
        };
        let flag = if matches!(self, Job::Eval(_)) { "--figures" } else { "--out" };
        match self.output() {
            Some(out) => format!("neurozoo {command} … {flag} {}", out.display()),
            None => format!("neurozoo {command}"),
        }
    }

    /// Read a job written by [`Job::to_json`] of the same version.
    pub fn from_json(text: &str) -> Result<Job, JobError> {
        // The version first, alone: another version's fields may not parse as this one's.
        #[derive(Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        let v: VersionOnly = serde_json::from_str(text).map_err(|e| JobError::Malformed(e.to_string()))?;
        if v.version != JOB_VERSION {
            return Err(JobError::Version { found: v.version });
        }
        let job: Versioned<Job> = serde_json::from_str(text).map_err(|e| JobError::Malformed(e.to_string()))?;
        Ok(job.job)
    }
}

#[cfg(test)]
mod tests {
    use neurozoo_datasets::nwb::Split;

    use super::*;

    #[test]
    fn every_job_reads_back_as_written() {
        let nwb = NwbOptions {
            series: Some("processing/ophys/DfOverF/rrs".into()),
            window: (0.1, 0.4),
            split: Split::Images { validation: 0.2, test: 0.1 },
            split_seed: 3,
            ..NwbOptions::default()
        };
        let fit = FitJob {
            device: DeviceChoice::Cuda,
            seed: Some(7),
            max_epochs: Some(3),
            resume: true,
            threads: Some(2),
            nwb: nwb.clone(),
            ..FitJob::new("cfg.toml", vec!["a.h5".into(), "b.nwb".into()], "run".into())
        };
        let eval = EvalJob {
            json: true,
            figures: Some("figs".into()),
            nwb,
            runs: vec!["seed-1".into(), "seed-2".into()],
            ..EvalJob::new("run".into(), vec!["a.h5".into()])
        };
        let extract = ExtractJob {
            runs: vec!["net.pt".into()],
            data: "a.h5".into(),
            out: "r.h5".into(),
            layer: Some("core.0,predicted".into()),
            tiers: vec![Tier::Validation, Tier::FinalTest],
            device: DeviceChoice::Cpu,
            nwb: NwbOptions::default(),
        };
        for job in [Job::Fit(fit), Job::Eval(eval), Job::Extract(extract)] {
            assert_eq!(Job::from_json(&job.to_json().unwrap()).unwrap(), job);
        }
    }

    #[test]
    fn a_path_that_is_not_utf8_is_an_error_not_a_panic() {
        use std::os::unix::ffi::OsStrExt;
        let out = PathBuf::from(std::ffi::OsStr::from_bytes(b"run\xff"));
        let err = Job::Fit(FitJob::new("ln", vec![], out)).to_json().unwrap_err();
        assert!(matches!(&err, JobError::Unwritable(m) if m.contains("UTF-8")), "{err}");
    }

    #[test]
    fn a_number_that_is_not_finite_is_an_error_not_a_default() {
        let job = Job::Insilico(InsilicoJob {
            experiment: Experiment::Mei { steps: None, lr: Some(f64::INFINITY), blur: None, jitter: None, smoothness: None },
            runs: vec!["a".into(), "b".into()],
            recording: None,
            data: None,
            units: vec![],
            norm: Some(f64::NAN),
            range: None,
            seed: 0,
            batch_size: Some(64),
            device: DeviceChoice::Cpu,
            out: "meis".into(),
        });
        let err = job.to_json().unwrap_err();
        assert!(matches!(&err, JobError::Unwritable(m) if m.contains("not finite")), "{err}");
    }

    #[test]
    fn a_job_without_a_version_or_with_an_unknown_command_is_refused() {
        let err = Job::from_json(r#"{"command": "fit"}"#).unwrap_err();
        assert!(matches!(&err, JobError::Malformed(m) if m.contains("version")), "{err}");
        let err = Job::from_json(r#"{"version": 2, "command": "train"}"#).unwrap_err();
        assert!(matches!(&err, JobError::Malformed(m) if m.contains("train")), "{err}");
        // A job of the format before ensembles (one `run`) is refused by its version.
        let err = Job::from_json(r#"{"version": 1, "command": "eval", "run": "r"}"#).unwrap_err();
        assert!(matches!(err, JobError::Version { found: 1 }), "{err}");
    }
}
