//! What every family of models shares, written once: a fit prepared into a new run directory or
//! continuing one (the resume checks, the config and `run.json` bookkeeping), training that
//! reports typed events, the weights written, and a complete run loaded back to evaluate or
//! extract from. What differs between families (their config, data, model, training loop,
//! scores and representations) is a [`ModelFamily`]: the response models ([`super::fit::Responses`]),
//! the sprite-pair models ([`super::vae::SpritePairs`]). A new family is one module with one
//! implementation of the trait (a test-only one, `mean`, shows it), and, to be run by the
//! command line, one arm of `ModelKind` where the worker picks it.

use std::fmt::Debug;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};

use neurozoo_config::{ConfigError, Preset};
use neurozoo_datasets::nwb::NwbOptions;
use neurozoo_datasets::representation::RepresentationFile;
use neurozoo_datasets::Tier;
use neurozoo_util::files::write_atomic;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tch::{nn, Device};

use super::{Fitter, ResumeConflict, RunError, RunStatus, Unfinished};
use crate::train::{load_weights, named_weights, write_safetensors_atomic};
use crate::{PeakMemory, TorchRuntime};

/// A family of models: what its runs hold and how it fits, scores and reads out. Everything
/// around it (run directories, resume, `run.json`, weights) is [`Fit`] and [`Run`], generic
/// over the family.
pub trait ModelFamily: Sized + 'static {
    /// The family as a message names it: "response model", "sprite-pair model".
    const NAME: &'static str;
    /// The config key of the training length, which a resumed fit may only raise
    /// (`max_epochs`, `iterations`).
    const LENGTH: &'static str;
    /// The family's fit config (the model and its training).
    type Config: Clone;
    /// The family's part of `run.json`: what it was fitted to and how far it got.
    type Record: Serialize + DeserializeOwned + Clone + Debug + PartialEq;
    /// A fit's data, read and checked, before the model exists.
    type Data;
    /// The model, on a `VarStore` the run owns.
    type Model;
    /// What training needs besides the model (the data on the device) and what [`Self::describe`]
    /// tells of it.
    type Prepared;
    /// What training reports as it goes.
    type Event<'e>: Progress;
    /// What a finished training gives besides `run.json` (the history, the scores).
    type Trained;
    /// A run's scores on one data file.
    type Evaluation;

    /// The family's config in a preset; None when the preset is another family's (or the
    /// family has no presets).
    fn config(preset: Preset) -> Option<Self::Config> {
        let _ = preset;
        None
    }
    /// The config of a run directory `dir` (its `config.toml` as `text`), with the files it
    /// names found in `dir`; None when it is another family's. By default, a preset's.
    fn read_config(text: &str, dir: &Path) -> Result<Option<Self::Config>, ConfigError> {
        let mut preset = Preset::from_toml(text)?;
        if let Preset::Responses(c) = &mut preset {
            c.resolve_files(dir);
        }
        Ok(Self::config(preset))
    }
    /// The config's seed and training length, which a fit request may set.
    fn seed_and_length(config: &mut Self::Config) -> (&mut u64, &mut usize);
    /// Values the fit cannot run with.
    fn check(config: &Self::Config) -> Result<(), ConfigError>;
    /// Whether a resumed fit's config (`asked`) asks for the model the run has (`saved`).
    fn same_model(asked: &Self::Config, saved: &Self::Config) -> bool;
    /// Write the config into the run directory `dir` (with anything it names copied in).
    fn save_config(dir: &Path, config: &Self::Config) -> Result<(), RunError>;

    /// Read and check the data of a fit (`asked`: the model as the user named it, for messages).
    fn load(config: &Self::Config, asked: &str, data: &DataRequest) -> Result<Self::Data, RunError>;
    /// `run.json`'s record of a fit of `data` that has not trained yet.
    fn record(data: &Self::Data) -> Self::Record;
    /// Set when a resumed fit's data are not the run's (by content, wherever they lie now):
    /// (what it was fitted to, what was given). When they are, `given` takes the names the run
    /// knows them by.
    fn other_data(fitted: &Self::Record, given: &mut Self::Data) -> Option<(String, String)>;
    /// Build the model on `vs` (seeded already) and put the data where training reads it. A
    /// model or data that cannot be used is refused here, before the run directory exists.
    fn build(vs: &nn::VarStore, config: &Self::Config, data: Self::Data) -> Result<(Self::Model, Self::Prepared), RunError>;
    /// Lines that say what is about to be fitted.
    fn describe(fit: &Fit<Self>) -> Vec<String>;
    /// Train, from the checkpoint in `training.out` when resuming; write the family's tables
    /// into the run and update `record`. The weights and `run.json` are the caller's.
    fn train(
        training: Training<'_, Self>,
        record: &mut Self::Record,
        on: &mut dyn FnMut(Self::Event<'_>),
    ) -> Result<Trained<Self::Trained>, RunError>;

    /// Epochs trained by the run at `dir`, for a family that counts them (what an interrupted
    /// run's message says).
    fn epochs(record: &Self::Record, dir: &Path) -> Option<usize>;
    /// The model of a complete run, before its weights are loaded.
    fn model(vs: &nn::VarStore, config: &Self::Config, record: &Self::Record, dir: &Path) -> Result<Self::Model, RunError>;
    /// The run's scores on `data`.
    fn evaluate(run: &Run<Self>, data: &Path, options: &EvalOptions) -> Result<Self::Evaluation, RunError>;
    /// Representations by the run of the stimuli in `data`.
    fn extract(run: &Run<Self>, data: &Path, options: &ExtractOptions) -> Result<Extraction, RunError>;
}

/// A training event as a progress bar and a log see it, whatever the family.
pub trait Progress {
    /// Where training is, for a bar: set on events that move it.
    fn position(&self) -> Option<Position>;
    /// The line to log, on events worth one.
    fn line(&self) -> Option<String>;
}

/// How far a bar is: `done` of `total` (batches of epoch `stage`, or steps of the whole fit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub done: u64,
    pub total: u64,
    /// The epoch a per-epoch bar counts the batches of.
    pub stage: Option<usize>,
}

/// The data a fit asks for: files (none: the config's own), and how NWB files are read.
#[derive(Debug, Clone, Copy)]
pub struct DataRequest<'a> {
    pub paths: &'a [PathBuf],
    pub nwb: &'a NwbOptions,
}

/// What [`ModelFamily::train`] works on.
pub struct Training<'a, F: ModelFamily> {
    pub config: &'a F::Config,
    pub model: &'a F::Model,
    pub vs: &'a nn::VarStore,
    pub prepared: &'a F::Prepared,
    /// The run directory, where checkpoints and tables go.
    pub out: &'a Path,
    pub resume: bool,
}

/// A training that ended: what it gives, whether the fit is complete, and its seconds.
pub struct Trained<T> {
    pub value: T,
    pub complete: bool,
    pub seconds: f64,
}

/// How a run is evaluated: how NWB files are read, the BetaVAE/FactorVAE budget of a
/// sprite-pair model (0: none), the device.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub nwb: NwbOptions,
    pub intervention_points: usize,
    pub device: Device,
}

/// What is extracted: `layers` (empty: the family's default), the tiers of the stimuli (empty:
/// all), how NWB files are read, the device.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    pub layers: Vec<String>,
    pub tiers: Vec<Tier>,
    pub nwb: NwbOptions,
    pub device: Device,
}

/// Representations extracted, and a note worth telling (data other than the run's).
pub struct Extraction {
    pub file: RepresentationFile,
    pub note: Option<String>,
}

/// `run.json`: what every run records, and its family's record (`family`, flattened into the
/// same object; its fields are reached through `Deref`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord<T> {
    pub neurozoo: String,
    pub libtorch: Option<String>,
    pub device: String,
    #[serde(flatten)]
    pub family: T,
    pub status: RunStatus,
    pub seconds: f64,
    #[serde(flatten)]
    pub memory: PeakMemory,
    /// The process fitting the run, while it runs: a reader tells a run still being fitted from
    /// one whose process died (interrupted: a kill, a full disk, a crash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fitter: Option<Fitter>,
}

impl<T> Deref for RunRecord<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.family
    }
}

impl<T> DerefMut for RunRecord<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.family
    }
}

impl<T: Serialize + DeserializeOwned> RunRecord<T> {
    /// The record of a fit starting now in this process on `device`.
    pub fn running(device: Device, family: T) -> RunRecord<T> {
        RunRecord {
            neurozoo: env!("CARGO_PKG_VERSION").to_string(),
            libtorch: TorchRuntime::probe().version_full,
            device: format!("{device:?}"),
            family,
            status: RunStatus::Running,
            seconds: 0.0,
            memory: PeakMemory::now(device),
            fitter: Some(Fitter::this()),
        }
    }

    /// The `run.json` of the run directory `dir`.
    pub fn load(dir: &Path) -> Result<RunRecord<T>, RunError> {
        let path = dir.join(super::RUN_FILE);
        serde_json::from_str(&super::read_run_file(dir, super::RUN_FILE)?).map_err(|e| RunError::at(&path, e))
    }

    pub fn save(&self, dir: &Path) -> Result<(), RunError> {
        let path = dir.join(super::RUN_FILE);
        write_atomic(&path, serde_json::to_string_pretty(self).expect("run info serialises")).map_err(|e| RunError::at(&path, e.message))
    }

    /// Why the run at `dir` has no final model yet, if it has none: it is still being fitted, or
    /// its fit was interrupted (after `epochs`, for a family that counts them).
    pub fn check_finished(&self, dir: &Path, epochs: Option<usize>) -> Result<(), Unfinished> {
        match (&self.status, &self.fitter) {
            (RunStatus::Complete, _) => Ok(()),
            (RunStatus::Running, Some(f)) if f.alive() => Err(Unfinished::Fitting { dir: dir.into(), pid: f.pid, host: f.host.clone() }),
            (RunStatus::Running, _) => Err(Unfinished::Interrupted { dir: dir.into(), epochs }),
        }
    }
}

/// The config of the run at `dir`, if it is a run of family `F`.
pub fn load_family_config<F: ModelFamily>(dir: &Path) -> Result<F::Config, RunError> {
    let text = super::read_run_file(dir, super::CONFIG_FILE)?;
    let file = dir.join(super::CONFIG_FILE);
    let config = F::read_config(&text, dir).map_err(|e| ConfigError::File { file, error: Box::new(e) })?;
    config.ok_or_else(|| {
        let other = Preset::from_toml(&text).map_or("another kind of model", |p| p.kind().noun());
        RunError::Mismatch(format!("{} is a {other}'s run, not a {}'s", dir.display(), F::NAME))
    })
}

/// What to fit, and where.
#[derive(Debug, Clone)]
pub struct FitRequest<F: ModelFamily> {
    /// The model's config as resolved from a preset or a file, before `seed` and `length`.
    pub config: F::Config,
    /// What the model was asked by (a preset's name or a config file), for messages.
    pub model: String,
    /// Overrides of the seed and the training length ([`ModelFamily::LENGTH`]). On resume the
    /// seed must be the run's, and the length may only raise the run's.
    pub seed: Option<u64>,
    pub length: Option<usize>,
    /// The data files; empty: what the config names.
    pub data: Vec<PathBuf>,
    /// How NWB recordings are read.
    pub nwb: NwbOptions,
    /// The run directory: new or empty, or the run to continue with `resume`.
    pub out: PathBuf,
    pub device: Device,
    pub resume: bool,
}

/// A training length raised on resume: (the run's, now).
pub type Raised = Option<(usize, usize)>;

/// A fit ready to train: data loaded and checked, model built, run directory written.
pub struct Fit<F: ModelFamily> {
    /// The config being fitted (the run's own, on resume).
    pub config: F::Config,
    /// What the model was asked by.
    pub asked: String,
    pub out: PathBuf,
    pub model: F::Model,
    pub prepared: F::Prepared,
    pub raised: Raised,
    pub device: Device,
    /// On resume, the run's record as the fit found it (where its data were then).
    pub fitted: Option<F::Record>,
    vs: nn::VarStore,
    info: RunRecord<F::Record>,
    resume: bool,
}

/// A finished [`Fit::train`]: `run.json` as written, what training gave, and the model with
/// what it trained on.
pub struct FitOutcome<F: ModelFamily> {
    pub info: RunRecord<F::Record>,
    pub trained: F::Trained,
    pub model: F::Model,
    pub prepared: F::Prepared,
    // Owns the model's variables.
    _vs: nn::VarStore,
}

impl<F: ModelFamily> Fit<F> {
    /// Check the request, load and check the data, build the model and write the run
    /// directory (config, `run.json` saying "running"); nothing is written when any of it fails.
    pub fn prepare(request: FitRequest<F>) -> Result<Fit<F>, RunError> {
        let FitRequest { config, model: asked, seed, length, data, nwb, out, device, resume } = request;
        let conflict = |conflict| RunError::Resume { run: out.clone(), conflict };
        let (mut config, raised) = if resume {
            resume_config::<F>(&out, &asked, config, seed, length)?
        } else {
            let mut config = config;
            let (s, l) = F::seed_and_length(&mut config);
            *s = seed.unwrap_or(*s);
            *l = length.unwrap_or(*l);
            F::check(&config)?;
            (config, None)
        };
        let mut data = F::load(&config, &asked, &DataRequest { paths: &data, nwb: &nwb })?;
        let mut fitted = None;
        if resume {
            let info = RunRecord::<F::Record>::load(&out).map_err(|e| conflict(ResumeConflict::NotARun(e.to_string())))?;
            if let Some((fitted, given)) = F::other_data(&info.family, &mut data) {
                return Err(conflict(ResumeConflict::OtherData { fitted, given }));
            }
            if info.status == RunStatus::Complete {
                return Err(conflict(ResumeConflict::Complete));
            }
            // A raised length is now the run's.
            F::save_config(&out, &config)?;
            fitted = Some(info.family);
        } else {
            neurozoo_util::files::ensure_empty_dir(&out)?;
        }
        let record = F::record(&data);
        tch::manual_seed(*F::seed_and_length(&mut config).0 as i64);
        let vs = nn::VarStore::new(device);
        let (model, prepared) = F::build(&vs, &config, data)?;
        if !resume {
            std::fs::create_dir_all(&out).map_err(|e| RunError::at(&out, format!("cannot create: {e}")))?;
            F::save_config(&out, &config)?;
        }
        let info = RunRecord::running(device, record);
        info.save(&out)?;
        Ok(Fit { config, asked, out, model, prepared, raised, device, fitted, vs, info, resume })
    }

    /// Train (from the checkpoint, on resume), telling `on` of what happens; then write the
    /// family's tables, the best weights and the final `run.json`.
    pub fn train(self, mut on: impl FnMut(F::Event<'_>)) -> Result<FitOutcome<F>, RunError> {
        let Fit { config, out, model, prepared, vs, mut info, resume, .. } = self;
        let training = Training { config: &config, model: &model, vs: &vs, prepared: &prepared, out: &out, resume };
        let trained = F::train(training, &mut info.family, &mut on)?;
        write_safetensors_atomic(&named_weights(&vs), &out.join(super::MODEL_FILE))?;
        info.status = if trained.complete { RunStatus::Complete } else { RunStatus::Running };
        info.seconds = trained.seconds;
        info.memory = PeakMemory::now(vs.device());
        info.fitter = None;
        info.save(&out)?;
        Ok(FitOutcome { info, trained: trained.value, model, prepared, _vs: vs })
    }
}

/// The config of the run a resumed fit continues, which the request must agree with: the same
/// model, no other seed; the length may only be raised (returned as taken).
fn resume_config<F: ModelFamily>(
    out: &Path,
    asked_model: &str,
    asked: F::Config,
    seed: Option<u64>,
    length: Option<usize>,
) -> Result<(F::Config, Raised), RunError> {
    let conflict = |conflict| RunError::Resume { run: out.to_path_buf(), conflict };
    let mut saved = load_family_config::<F>(out).map_err(|e| conflict(ResumeConflict::NotARun(e.to_string())))?;
    if !F::same_model(&asked, &saved) {
        return Err(conflict(ResumeConflict::OtherModel(asked_model.to_string())));
    }
    let (saved_seed, saved_length) = F::seed_and_length(&mut saved);
    let raised = super::reconcile_resume((seed, *saved_seed), (F::LENGTH, length, saved_length)).map_err(conflict)?;
    Ok((saved, raised))
}

/// A complete run: its `run.json`, config, and model with the fitted weights.
pub struct Run<F: ModelFamily> {
    pub dir: PathBuf,
    pub info: RunRecord<F::Record>,
    pub config: F::Config,
    pub model: F::Model,
    // Owns the model's variables.
    _vs: nn::VarStore,
}

impl<F: ModelFamily> Run<F> {
    /// Load the run at `dir` onto `device`; a run without its final model is [`Unfinished`].
    pub fn load(dir: &Path, device: Device) -> Result<Run<F>, RunError> {
        let info = RunRecord::<F::Record>::load(dir)?;
        info.check_finished(dir, F::epochs(&info.family, dir))?;
        let config = load_family_config::<F>(dir)?;
        let vs = nn::VarStore::new(device);
        let model = F::model(&vs, &config, &info.family, dir)?;
        load_weights(&vs, &dir.join(super::MODEL_FILE))?;
        Ok(Run { dir: dir.to_path_buf(), info, config, model, _vs: vs })
    }
}
