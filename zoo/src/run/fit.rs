//! Fitting a response model to one or several recordings, into a new run directory or
//! continuing one: what `neurozoo fit` does for every preset but the sprite-pair models.
//!
//! [`Fit::prepare`] does everything that can refuse the request before training: it resolves
//! the config, loads and checks every recording, builds the model and writes the run directory
//! (config, `run.json` saying "running"). [`Fit::train`] then trains, reporting each batch,
//! epoch and decay, and writes the weights, the metrics table and the final `run.json`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use neurozoo_datasets::nwb::NwbOptions;
use neurozoo_datasets::{Dataset, Tier};
use neurozoo_tables::{write_table, Table};
use tch::{nn, Device};

use super::{DataInfo, Normalizer, RecordingInfo, ResumeConflict, RunError, RunInfo, RunStatus};
use crate::config::FitConfig;
use crate::model::Model;
use crate::train::{self, EpochRecord, Event, TrainData, Trainer};
use crate::{PeakMemory, TorchRuntime};

/// What to fit, and where.
#[derive(Debug, Clone)]
pub struct FitRequest {
    /// The model's config as resolved from a preset or a file, before `seed` and `max_epochs`.
    pub config: FitConfig,
    /// What the model was asked by (a preset's name or a config file), for messages.
    pub model: String,
    /// Overrides of `train.seed` and `train.max_epochs`. On resume the seed must be the run's,
    /// and `max_epochs` may only raise the run's.
    pub seed: Option<u64>,
    pub max_epochs: Option<usize>,
    /// The recordings, one readout each, named by file stem; empty: the config's `[[data]]`.
    pub data: Vec<PathBuf>,
    /// How NWB recordings are read.
    pub nwb: NwbOptions,
    /// The run directory: new or empty, or the run to continue with `resume`.
    pub out: PathBuf,
    pub device: Device,
    pub resume: bool,
}

impl FitRequest {
    /// A new fit of `config` to one recording on the CPU, with the config's seed and length.
    pub fn new(config: FitConfig, model: &str, data: PathBuf, out: PathBuf) -> FitRequest {
        FitRequest {
            config,
            model: model.to_string(),
            seed: None,
            max_epochs: None,
            data: vec![data],
            nwb: NwbOptions::default(),
            out,
            device: Device::Cpu,
            resume: false,
        }
    }
}

/// One recording of a prepared fit, as checked and standardised.
#[derive(Debug, Clone)]
pub struct FitRecording {
    pub path: PathBuf,
    pub name: String,
    pub train_trials: usize,
    pub validation_trials: usize,
    pub units: usize,
    /// The images' dtype as stored (`uint8`, `float32`) and their bytes in memory.
    pub image_dtype: &'static str,
    pub image_bytes: usize,
}

/// A fit ready to train: recordings loaded and checked, model built, run directory written.
pub struct Fit {
    /// The config being fitted (the run's own, on resume).
    pub config: FitConfig,
    pub out: PathBuf,
    pub recordings: Vec<FitRecording>,
    pub model: Model,
    /// A `max_epochs` raised on resume: (the run's, now).
    pub raised: Option<(usize, usize)>,
    pub device: Device,
    vs: nn::VarStore,
    data: Vec<TrainData>,
    info: RunInfo,
    resume: bool,
}

/// A finished call of [`Fit::train`]: the run's `run.json` as written, and every epoch's record.
#[derive(Debug, Clone)]
pub struct FitOutcome {
    pub info: RunInfo,
    pub history: Vec<EpochRecord>,
}

impl Fit {
    /// Check the request, load and check the recordings, build the model and write the run
    /// directory; nothing is written when any of it fails.
    pub fn prepare(request: FitRequest) -> Result<Fit, RunError> {
        let FitRequest { config, model: asked_model, seed, max_epochs, data, nwb, out, device, resume } = request;
        let (cfg, raised) = if resume {
            resume_config(&out, &asked_model, config, seed, max_epochs)?
        } else {
            let mut cfg = config;
            if let Some(seed) = seed {
                cfg.train.seed = seed;
            }
            if let Some(n) = max_epochs {
                cfg.train.max_epochs = n;
            }
            cfg.check()?;
            (cfg, None)
        };
        let paths: Vec<PathBuf> = if data.is_empty() { cfg.data.iter().map(|d| d.path.clone()).collect() } else { data };
        if paths.is_empty() {
            return Err(RunError::NoRecordings);
        }
        let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        let names = super::recording_names(&refs)?;
        let datasets = paths.iter().map(|p| neurozoo_datasets::load_checked(p, &nwb)).collect::<Result<Vec<_>, _>>()?;
        for (p, ds) in paths.iter().zip(&datasets) {
            check_poisson(p, ds)?;
        }
        // One core sees every recording's images: they must have one shape.
        let input = datasets[0].image_shape();
        if let Some((p, ds)) = paths.iter().zip(&datasets).find(|(_, ds)| ds.image_shape() != input) {
            return Err(RunError::Mismatch(format!(
                "{} has {:?} images but {} has {input:?}: recordings fitted together share one core and need one image shape",
                p.display(),
                ds.image_shape(),
                paths[0].display()
            )));
        }
        let mut recordings = Vec::new();
        for ((name, path), ds) in names.iter().zip(&paths).zip(&datasets) {
            let normalizer = Normalizer::from_train(ds).map_err(|e| RunError::at(path, e))?;
            recordings.push(RecordingInfo { name: name.clone(), data: DataInfo::of(ds, path), normalizer });
        }
        if resume {
            check_resumable(&out, &mut recordings)?;
            // A raised max_epochs is now the run's.
            super::save_config(&out, &cfg)?;
        } else {
            neurozoo_util::files::ensure_empty_dir(&out)?;
        }
        tch::manual_seed(cfg.train.seed as i64);
        let vs = nn::VarStore::new(device);
        let mean_responses: Vec<Vec<f32>> = recordings.iter().zip(&datasets).map(|(r, ds)| r.normalizer.mean_train_response(ds)).collect();
        // Built before the run directory exists: a frozen core that does not load leaves nothing.
        let model = Model::shared(&vs.root(), &cfg.model, input, &mean_responses)?;
        for (r, (ds, p)) in datasets.iter().zip(&paths).enumerate() {
            model.set_cortex(r, &ds.units).map_err(|e| RunError::at(p, e))?;
        }
        if let Some(core) = model.core.as_ref().filter(|_| cfg.train.memory_format.channels_last(device.is_cuda())) {
            core.use_channels_last();
        }
        // Also before the run directory exists: a recording without what the model reads leaves
        // nothing. Each recording is dropped once its tensors exist, so that at field scale the
        // data is held about once, not twice (arrays and tensors) at the end of this step.
        let (fit_recordings, data): (Vec<FitRecording>, Vec<TrainData>) = recordings
            .iter()
            .zip(datasets)
            .zip(paths.iter().zip(&names))
            .map(|((r, ds), (path, name))| {
                let d = r.normalizer.train_data(&ds, device, &model.inputs()).map_err(|e| RunError::at(path, e))?;
                let recording = FitRecording {
                    path: path.clone(),
                    name: name.clone(),
                    train_trials: d.train.len(),
                    validation_trials: d.validation.len(),
                    units: ds.n_units(),
                    image_dtype: ds.images.dtype(),
                    image_bytes: ds.images.nbytes(),
                };
                Ok((recording, d))
            })
            .collect::<Result<Vec<_>, RunError>>()?
            .into_iter()
            .unzip();
        if !resume {
            std::fs::create_dir_all(&out).map_err(|e| RunError::at(&out, format!("cannot create: {e}")))?;
            super::save_config(&out, &cfg)?;
        }
        let info = RunInfo {
            neurozoo: env!("CARGO_PKG_VERSION").to_string(),
            libtorch: TorchRuntime::probe().version_full,
            device: format!("{device:?}"),
            recordings,
            status: RunStatus::Running,
            epochs: 0,
            best_epoch: 0,
            best_validation_correlation: None,
            seconds: 0.0,
            memory: PeakMemory::now(device),
            fitter: Some(super::Fitter::this()),
        };
        super::save_info(&out, &info)?;
        Ok(Fit { config: cfg, out, recordings: fit_recordings, model, raised, device, vs, data, info, resume })
    }

    /// Train (from the checkpoint, on resume), telling `on` of every batch, epoch and decay;
    /// then write the best weights, `metrics.{parquet,csv}` and the final `run.json`.
    pub fn train(self, on: impl FnMut(Event<'_>)) -> Result<FitOutcome, RunError> {
        let Fit { config, out, model, vs, data, mut info, resume, .. } = self;
        let start = Instant::now();
        let trainer = Trainer { model: &model, vs: &vs, cfg: &config.train, checkpoint_dir: Some(out.clone()) };
        let schedule = trainer.fit(&data, resume, on)?;
        write_table(&metrics_table(&schedule.history), &out, super::METRICS_STEM).map_err(|e| RunError::at(&out, e))?;
        train::write_safetensors_atomic(&train::named_weights(&vs), &out.join(super::MODEL_FILE))?;
        info.status = if schedule.finished { RunStatus::Complete } else { RunStatus::Running };
        info.epochs = schedule.epoch;
        info.best_epoch = schedule.best_epoch;
        info.best_validation_correlation = Some(schedule.best_score);
        info.seconds = start.elapsed().as_secs_f64();
        info.memory = PeakMemory::now(vs.device());
        info.fitter = None;
        super::save_info(&out, &info)?;
        Ok(FitOutcome { info, history: schedule.history })
    }
}

/// Every response model trains on the Poisson loss, which has no meaning below zero.
fn check_poisson(path: &Path, ds: &Dataset) -> Result<(), RunError> {
    let (negative, min) = ds
        .tier_indices(Tier::Train)
        .iter()
        .flat_map(|&t| ds.responses.row(t))
        .fold((0usize, f32::INFINITY), |(n, min), &r| (n + usize::from(r < 0.0), min.min(r)));
    if negative > 0 {
        return Err(RunError::at(
            path,
            format!("responses has {negative} negative values in the train tier (min {min}): the Poisson loss needs responses ≥ 0"),
        ));
    }
    Ok(())
}

/// The config of the run a resumed fit continues, which the request must agree with: the same
/// model, no other seed; `max_epochs` may only be raised (returned as taken).
fn resume_config(
    out: &Path,
    asked_model: &str,
    asked: FitConfig,
    seed: Option<u64>,
    max_epochs: Option<usize>,
) -> Result<(FitConfig, Option<(usize, usize)>), RunError> {
    let conflict = |conflict| RunError::Resume { run: out.to_path_buf(), conflict };
    let mut saved = super::load_response_config(out).map_err(|e| conflict(ResumeConflict::NotARun(e.to_string())))?;
    let mut asked = asked.model;
    // The run keeps its own copy of a frozen core under another name.
    if let (Some(a), Some(s)) = (asked.frozen_core.as_mut(), saved.model.frozen_core.as_ref()) {
        a.file.clone_from(&s.file);
    }
    if asked != saved.model {
        return Err(conflict(ResumeConflict::OtherModel(asked_model.to_string())));
    }
    let t = &mut saved.train;
    let raised = super::reconcile_resume((seed, t.seed), ("max_epochs", max_epochs, &mut t.max_epochs)).map_err(conflict)?;
    Ok((saved, raised))
}

/// The run at `out` can be continued with these recordings: the same data (by fingerprint,
/// wherever it lies now), in the same order, and it is not complete. Their readouts keep the
/// run's names.
fn check_resumable(out: &Path, recordings: &mut [RecordingInfo]) -> Result<(), RunError> {
    let conflict = |conflict| RunError::Resume { run: out.to_path_buf(), conflict };
    let info = super::load_info(out).map_err(|e| conflict(ResumeConflict::NotARun(e.to_string())))?;
    let key = |r: &[RecordingInfo]| r.iter().map(|r| r.data.fingerprint.clone()).collect::<Vec<_>>();
    if key(&info.recordings) != key(recordings) {
        let list =
            |r: &[RecordingInfo]| r.iter().map(|r| format!("{} ({})", r.data.path, r.data.fingerprint)).collect::<Vec<_>>().join(", ");
        return Err(conflict(ResumeConflict::OtherData { fitted: list(&info.recordings), given: list(recordings) }));
    }
    if info.status == RunStatus::Complete {
        return Err(conflict(ResumeConflict::Complete));
    }
    for (r, fitted) in recordings.iter_mut().zip(&info.recordings) {
        r.name.clone_from(&fitted.name);
    }
    Ok(())
}

fn metrics_table(history: &[EpochRecord]) -> Table {
    let f = |get: fn(&EpochRecord) -> f64| history.iter().map(get).collect();
    Table::new()
        .i64("epoch", history.iter().map(|r| r.epoch as i64).collect())
        .f64("lr", f(|r| r.lr))
        .f64("train_loss", f(|r| r.train_loss))
        .f64("regularizer", f(|r| r.regularizer))
        .f64("validation_correlation", f(|r| r.validation_correlation))
        .bool("best", history.iter().map(|r| r.best).collect())
        .f64("seconds", f(|r| r.seconds))
}
