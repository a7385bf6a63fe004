//! The response models as a [`ModelFamily`]: fitted to one or several recordings, one readout
//! each and a shared core; what `neurozoo fit` does for every preset but the sprite-pair models.
//!
//! [`Fit::prepare`] does everything that can refuse the request before training: it resolves
//! the config, loads and checks every recording, builds the model and writes the run directory
//! (config, `run.json` saying "running"). [`Fit::train`] then trains, reporting each batch,
//! epoch and decay, and writes the weights, the metrics table and the final `run.json`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use neurozoo_config::{ConfigError, Preset};
use neurozoo_datasets::nwb::NwbOptions;
use neurozoo_datasets::{Dataset, Tier};
use neurozoo_tables::{write_table, Table};
use serde::{Deserialize, Serialize};
use tch::{nn, Device};

use super::eval::ResponseEvaluation;
use super::family::{DataRequest, EvalOptions, ExtractOptions, Extraction, ModelFamily, Position, Progress, Run, Trained, Training};
use super::{DataInfo, Normalizer, RecordingInfo, RunError};
use crate::config::FitConfig;
use crate::model::Model;
use crate::train::{EpochRecord, Event, TrainData, Trainer};

pub use super::family::{Fit, FitOutcome, FitRequest};

/// The response models (CNN and LN cores with factorised or Gaussian readouts).
#[derive(Debug, Clone, Copy)]
pub struct Responses;

/// A response model's part of `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseRecord {
    /// The recordings, one readout each, in order.
    pub recordings: Vec<RecordingInfo>,
    pub epochs: usize,
    pub best_epoch: usize,
    /// None until the first epoch ends.
    pub best_validation_correlation: Option<f64>,
}

impl FitRequest<Responses> {
    /// A new fit of `config` to one recording on the CPU, with the config's seed and length.
    pub fn new(config: FitConfig, model: &str, data: PathBuf, out: PathBuf) -> FitRequest<Responses> {
        FitRequest {
            config,
            model: model.to_string(),
            seed: None,
            length: None,
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

/// The recordings of a fit, read and checked, with their standardisation.
pub struct Recordings {
    paths: Vec<PathBuf>,
    names: Vec<String>,
    datasets: Vec<Dataset>,
    infos: Vec<RecordingInfo>,
}

/// The recordings of a fit on the device, and what they are.
pub struct Prepared {
    pub recordings: Vec<FitRecording>,
    data: Vec<TrainData>,
}

impl Progress for Event<'_> {
    fn position(&self) -> Option<Position> {
        match *self {
            Event::Batch { epoch, done, total } => Some(Position { done: done as u64, total: total as u64, stage: Some(epoch) }),
            _ => None,
        }
    }

    fn line(&self) -> Option<String> {
        match *self {
            Event::Batch { .. } => None,
            Event::Epoch(r) => Some(format!(
                "epoch {:>3}  loss {:.4}  validation correlation {:.4}{}  lr {:.2e}  {:.1} s",
                r.epoch,
                r.train_loss,
                r.validation_correlation,
                if r.best { " *" } else { "  " },
                r.lr,
                r.seconds
            )),
            Event::Decay { epoch, restored_epoch, stop: true, .. } => Some(format!(
                "epoch {epoch:>3}  no improvement after the last learning-rate decay: restored epoch {restored_epoch}, stopping"
            )),
            Event::Decay { epoch, lr, restored_epoch, stop: false } => {
                Some(format!("epoch {epoch:>3}  no improvement: restored epoch {restored_epoch}, learning rate now {lr:.2e}"))
            }
        }
    }
}

impl ModelFamily for Responses {
    const NAME: &'static str = "response model";
    const LENGTH: &'static str = "max_epochs";
    type Config = FitConfig;
    type Record = ResponseRecord;
    type Data = Recordings;
    type Model = Model;
    type Prepared = Prepared;
    type Event<'e> = Event<'e>;
    /// Every epoch's record.
    type Trained = Vec<EpochRecord>;
    type Evaluation = ResponseEvaluation;

    fn config(preset: Preset) -> Option<FitConfig> {
        preset.into_responses()
    }

    fn seed_and_length(config: &mut FitConfig) -> (&mut u64, &mut usize) {
        (&mut config.train.seed, &mut config.train.max_epochs)
    }

    fn check(config: &FitConfig) -> Result<(), ConfigError> {
        config.check()
    }

    fn same_model(asked: &FitConfig, saved: &FitConfig) -> bool {
        let mut asked = asked.model.clone();
        // The run keeps its own copy of a frozen core under another name.
        if let (Some(a), Some(s)) = (asked.frozen_core.as_mut(), saved.model.frozen_core.as_ref()) {
            a.file.clone_from(&s.file);
        }
        asked == saved.model
    }

    fn save_config(dir: &Path, config: &FitConfig) -> Result<(), RunError> {
        super::save_config(dir, config)
    }

    fn load(config: &FitConfig, _asked: &str, data: &DataRequest) -> Result<Recordings, RunError> {
        let paths: Vec<PathBuf> =
            if data.paths.is_empty() { config.data.iter().map(|d| d.path.clone()).collect() } else { data.paths.to_vec() };
        if paths.is_empty() {
            return Err(RunError::NoRecordings);
        }
        let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        let names = super::recording_names(&refs)?;
        let datasets = paths.iter().map(|p| neurozoo_datasets::load_checked(p, data.nwb)).collect::<Result<Vec<_>, _>>()?;
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
        let mut infos = Vec::new();
        for ((name, path), ds) in names.iter().zip(&paths).zip(&datasets) {
            let normalizer = Normalizer::from_train(ds).map_err(|e| RunError::at(path, e))?;
            infos.push(RecordingInfo { name: name.clone(), data: DataInfo::of(ds, path), normalizer });
        }
        Ok(Recordings { paths, names, datasets, infos })
    }

    fn record(data: &Recordings) -> ResponseRecord {
        ResponseRecord { recordings: data.infos.clone(), epochs: 0, best_epoch: 0, best_validation_correlation: None }
    }

    /// The same recordings by content (wherever they lie now), in the same order; their
    /// readouts keep the run's names.
    fn other_data(fitted: &ResponseRecord, given: &mut Recordings) -> Option<(String, String)> {
        let key = |r: &[RecordingInfo]| r.iter().map(|r| r.data.fingerprint.clone()).collect::<Vec<_>>();
        let list =
            |r: &[RecordingInfo]| r.iter().map(|r| format!("{} ({})", r.data.path, r.data.fingerprint)).collect::<Vec<_>>().join(", ");
        if key(&fitted.recordings) != key(&given.infos) {
            return Some((list(&fitted.recordings), list(&given.infos)));
        }
        for ((name, info), was) in given.names.iter_mut().zip(&mut given.infos).zip(&fitted.recordings) {
            name.clone_from(&was.name);
            info.name.clone_from(&was.name);
        }
        None
    }

    fn build(vs: &nn::VarStore, cfg: &FitConfig, data: Recordings) -> Result<(Model, Prepared), RunError> {
        let Recordings { paths, names, datasets, infos } = data;
        let device = vs.device();
        let mean_responses: Vec<Vec<f32>> = infos.iter().zip(&datasets).map(|(r, ds)| r.normalizer.mean_train_response(ds)).collect();
        // Built before the run directory exists: a frozen core that does not load leaves nothing.
        let model = Model::shared(&vs.root(), &cfg.model, datasets[0].image_shape(), &mean_responses)?;
        for (r, (ds, p)) in datasets.iter().zip(&paths).enumerate() {
            model.set_cortex(r, &ds.units).map_err(|e| RunError::at(p, e))?;
        }
        if let Some(core) = model.core.as_ref().filter(|_| cfg.train.memory_format.channels_last(device.is_cuda())) {
            core.use_channels_last();
        }
        // Also before the run directory exists: a recording without what the model reads leaves
        // nothing. Each recording is dropped once its tensors exist, so that at field scale the
        // data is held about once, not twice (arrays and tensors) at the end of this step.
        let (recordings, data): (Vec<FitRecording>, Vec<TrainData>) = infos
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
        Ok((model, Prepared { recordings, data }))
    }

    fn describe(fit: &Fit<Responses>) -> Vec<String> {
        let name = fit.config.preset.clone().unwrap_or_else(|| fit.asked.clone());
        let mut lines: Vec<String> = fit
            .prepared
            .recordings
            .iter()
            .map(|r| {
                format!(
                    "fit {name} on {} ({} train, {} validation trials, {} units; {} images, {:.0} MiB) on {:?}",
                    r.path.display(),
                    r.train_trials,
                    r.validation_trials,
                    r.units,
                    r.image_dtype,
                    r.image_bytes as f64 / (1u64 << 20) as f64,
                    fit.device
                )
            })
            .collect();
        // A resumed fit accepts its data at another path by content; say so.
        let was = fit.fitted.iter().flat_map(|f| &f.recordings);
        for (r, was) in fit.prepared.recordings.iter().zip(was) {
            if r.path.display().to_string() != was.data.path {
                lines.push(format!(
                    "{}: the same data (fingerprint {}) as {}, which the run was fitted to",
                    r.path.display(),
                    was.data.fingerprint,
                    was.data.path
                ));
            }
        }
        let n = fit.prepared.recordings.len();
        if n > 1 {
            lines.push(format!("{n} recordings: one shared core, one readout each; every step takes a batch of each"));
        }
        if let Some(f) = &fit.config.model.frozen_core {
            let [c, h, w] = fit.model.feature_shape();
            lines.push(format!("frozen core: layer {:?} of {} ({c} × {h} × {w} features), not trained", f.layer, f.file.display()));
        }
        lines
    }

    fn train(
        t: Training<'_, Responses>,
        record: &mut ResponseRecord,
        on: &mut dyn FnMut(Event<'_>),
    ) -> Result<Trained<Vec<EpochRecord>>, RunError> {
        let start = Instant::now();
        let trainer = Trainer { model: t.model, vs: t.vs, cfg: &t.config.train, checkpoint_dir: Some(t.out.to_path_buf()) };
        let schedule = trainer.fit(&t.prepared.data, t.resume, on)?;
        write_table(&metrics_table(&schedule.history), t.out, super::METRICS_STEM).map_err(|e| RunError::at(t.out, e))?;
        record.epochs = schedule.epoch;
        record.best_epoch = schedule.best_epoch;
        record.best_validation_correlation = Some(schedule.best_score);
        Ok(Trained { value: schedule.history, complete: schedule.finished, seconds: start.elapsed().as_secs_f64() })
    }

    /// The checkpoint's count: `run.json` is written only at the start and the end of a fit.
    fn epochs(record: &ResponseRecord, dir: &Path) -> Option<usize> {
        Some(crate::checkpoint::epochs(dir).map_or(record.epochs, |e| e.max(record.epochs)))
    }

    fn model(vs: &nn::VarStore, config: &FitConfig, record: &ResponseRecord, dir: &Path) -> Result<Model, RunError> {
        let units: Vec<Vec<f32>> = record.recordings.iter().map(|r| vec![1.0; r.data.n_units]).collect();
        let input = record.recordings.first().map(|r| r.data.image_shape).ok_or_else(|| RunError::at(dir, "no recordings in run.json"))?;
        Ok(Model::shared(&vs.root(), &config.model, input, &units)?)
    }

    /// `data` checked against the run's recording of its name, and scored by its readout.
    fn evaluate(run: &Run<Responses>, data: &Path, options: &EvalOptions) -> Result<ResponseEvaluation, RunError> {
        let recording = run.recording(data, &options.nwb)?;
        let evaluation = run.evaluate(&recording, options.device)?;
        Ok(ResponseEvaluation { recording, evaluation })
    }

    /// The layers asked for (`predicted` when none) of the distinct images of `data`.
    fn extract(run: &Run<Responses>, data: &Path, options: &ExtractOptions) -> Result<Extraction, RunError> {
        let recording = run.recording(data, &options.nwb)?;
        let layers: Vec<&str> = options.layers.iter().map(String::as_str).collect();
        let file = super::extract::extract(std::slice::from_ref(run), &recording, &layers, &options.tiers, options.device)?;
        Ok(Extraction { file, note: recording.other_data })
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
