//! The sprite-pair models (presets `slowvae` and `betavae`) as a [`ModelFamily`]: fitted to a
//! sprites file (new, or resumed exactly from its last checkpoint), scored on the
//! disentanglement of their latents, and read out as those latents. The run directory is a
//! response model's (`config.toml`, `run.json`, `model.safetensors`, `checkpoint/`) with
//! `training.{parquet,csv}` for metrics.

use std::path::{Path, PathBuf};

use ndarray::{s, Array2};
use neurozoo_config::{ConfigError, Preset};
use neurozoo_datasets::representation::{Representation, RepresentationFile};
use neurozoo_datasets::simulate::sprites::{SpritePairs as Pairs, FACTOR_NAMES};
use neurozoo_tables::{write_table, Table};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tch::{nn, Device, Tensor};

use super::family::{
    DataRequest, EvalOptions, ExtractOptions, Extraction, Fit, ModelFamily, Position, Progress, Run, RunRecord, Trained, Training,
};
use super::RunError;
use crate::config::VaeFitConfig;
use crate::slowvae::scores::{disentanglement, held_out, intervention_scores, Budget, Disentanglement, HeldOut, InterventionScores};
use crate::slowvae::train::{self as vae, latents, pairs_tensor, Event, LogRecord};
use crate::slowvae::SlowVae;

/// The metrics table of a sprite-pair run: one row per logged step.
pub const TRAINING_STEM: &str = "training";

/// SlowVAE and β-VAE, fitted to sprite frame pairs.
#[derive(Debug, Clone, Copy)]
pub struct SpritePairs;

/// A sprite-pair model's part of `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpriteRecord {
    /// The sprites file and its number of pairs.
    pub data: String,
    pub pairs: usize,
    pub iterations: usize,
}

/// `run.json` of a sprite-pair run.
pub type VaeRunInfo = RunRecord<SpriteRecord>;

/// The sprites file of a fit, read.
pub struct SpriteData {
    pub path: PathBuf,
    pub pairs: Pairs,
}

/// The pairs of a fit, read and on the device.
pub struct Prepared {
    pub data: PathBuf,
    pub pairs: Pairs,
    /// The training pairs on the device, (N, 2, 64, 64).
    pub frames: Tensor,
}

/// What a sprite-pair fit gives besides `run.json`: its training table, and the disentanglement
/// of its training frames' latents.
pub struct VaeTrained {
    pub log: Vec<LogRecord>,
    pub scores: Disentanglement,
}

/// A sprite-pair run's scores on a sprites file.
pub struct VaeEvaluation {
    /// Frames scored (the first frame of every pair).
    pub frames: usize,
    /// Where the frames came from (`rendered`, or the dSprites file).
    pub source: String,
    pub scores: Disentanglement,
    /// SAP and explicitness, trained and tested on separate frames.
    pub held_out: HeldOut,
    /// BetaVAE and FactorVAE: only on rendered sprites (they need frames of any factor
    /// combination), and only when asked for.
    pub intervention: Option<InterventionScores>,
}

/// The sprites file of a sprite-pair model; an error says how to make one.
fn read_pairs(data: &Path, preset: &str) -> Result<Pairs, RunError> {
    Pairs::read(data).map_err(|error| RunError::NotSpritePairs { preset: preset.to_string(), error })
}

impl Progress for Event<'_> {
    fn position(&self) -> Option<Position> {
        match *self {
            Event::Step { done, total } => Some(Position { done: done as u64, total: total as u64, stage: None }),
            Event::Log(_) => None,
        }
    }

    fn line(&self) -> Option<String> {
        match self {
            Event::Step { .. } => None,
            Event::Log(r) => Some(format!(
                "step {:>7}  loss {:.2}  reconstruction {:.2}  KL {:.2}  temporal {:.2}  {:.0} s",
                r.iteration, r.loss, r.reconstruction, r.kl_normal, r.kl_laplace, r.seconds
            )),
        }
    }
}

impl ModelFamily for SpritePairs {
    const NAME: &'static str = "sprite-pair model";
    const LENGTH: &'static str = "iterations";
    type Config = VaeFitConfig;
    type Record = SpriteRecord;
    type Data = SpriteData;
    type Model = SlowVae;
    type Prepared = Prepared;
    type Event<'e> = Event<'e>;
    type Trained = VaeTrained;
    type Evaluation = VaeEvaluation;

    fn config(preset: Preset) -> Option<VaeFitConfig> {
        match preset {
            Preset::SpritePairs(c) => Some(c),
            Preset::Responses(_) => None,
        }
    }

    fn seed_and_length(config: &mut VaeFitConfig) -> (&mut u64, &mut usize) {
        (&mut config.train.seed, &mut config.train.iterations)
    }

    fn check(config: &VaeFitConfig) -> Result<(), ConfigError> {
        config.check()
    }

    fn same_model(asked: &VaeFitConfig, saved: &VaeFitConfig) -> bool {
        asked.slowvae == saved.slowvae && asked.train.batch_pairs == saved.train.batch_pairs && asked.train.lr == saved.train.lr
    }

    fn save_config(dir: &Path, config: &VaeFitConfig) -> Result<(), RunError> {
        let path = dir.join(super::CONFIG_FILE);
        neurozoo_util::files::write_atomic(&path, config.to_toml()).map_err(|e| RunError::at(dir, e))
    }

    /// One sprites file (the front end refuses more).
    fn load(config: &VaeFitConfig, asked: &str, data: &DataRequest) -> Result<SpriteData, RunError> {
        let name = config.preset.as_deref().unwrap_or(asked);
        let [path] = data.paths else {
            return Err(RunError::Mismatch(format!("{name} fits one sprites file; {} were given", data.paths.len())));
        };
        Ok(SpriteData { path: path.clone(), pairs: read_pairs(path, name)? })
    }

    fn record(data: &SpriteData) -> SpriteRecord {
        SpriteRecord { data: data.path.display().to_string(), pairs: data.pairs.images.shape()[0], iterations: 0 }
    }

    fn other_data(fitted: &SpriteRecord, given: &mut SpriteData) -> Option<(String, String)> {
        let given = Self::record(given);
        (fitted.data != given.data || fitted.pairs != given.pairs)
            .then(|| (format!("{} ({} pairs)", fitted.data, fitted.pairs), format!("{} ({} pairs)", given.data, given.pairs)))
    }

    fn build(vs: &nn::VarStore, config: &VaeFitConfig, data: SpriteData) -> Result<(SlowVae, Prepared), RunError> {
        let model = SlowVae::new(&vs.root(), &config.slowvae);
        let frames = pairs_tensor(&data.pairs, vs.device());
        Ok((model, Prepared { data: data.path, pairs: data.pairs, frames }))
    }

    fn describe(fit: &Fit<SpritePairs>) -> Vec<String> {
        let (cfg, v) = (&fit.config, &fit.config.slowvae);
        let name = cfg.preset.clone().unwrap_or_else(|| fit.asked.clone());
        vec![format!(
            "fit {name} (β {}, γ {}, λ {}, z {}) on {} ({} pairs) on {:?}: {} steps of {} pairs",
            v.beta,
            v.gamma,
            v.rate_prior,
            v.z_dim,
            fit.prepared.data.display(),
            fit.prepared.pairs.images.shape()[0],
            fit.device,
            cfg.train.iterations,
            cfg.train.batch_pairs
        )]
    }

    fn train(
        t: Training<'_, SpritePairs>,
        record: &mut SpriteRecord,
        on: &mut dyn FnMut(Event<'_>),
    ) -> Result<Trained<VaeTrained>, RunError> {
        let checkpoints = Some(vae::Checkpoints { dir: t.out, resume: t.resume });
        let (frames, pairs) = (&t.prepared.frames, &t.prepared.pairs);
        let log = vae::train(t.model, t.vs, frames, &t.config.train, checkpoints, on)?;
        write_table(&training_table(&log), t.out, TRAINING_STEM).map_err(|e| RunError::at(t.out, e))?;
        let scores = disentanglement(&latents(t.model, frames, 0), &pairs.frame_classes(0));
        record.iterations = t.config.train.iterations;
        let seconds = log.last().map_or(0.0, |r| r.seconds);
        Ok(Trained { value: VaeTrained { log, scores }, complete: true, seconds })
    }

    fn epochs(_: &SpriteRecord, _: &Path) -> Option<usize> {
        None
    }

    fn model(vs: &nn::VarStore, config: &VaeFitConfig, _: &SpriteRecord, _: &Path) -> Result<SlowVae, RunError> {
        Ok(SlowVae::new(&vs.root(), &config.slowvae))
    }

    /// Disentanglement of the posterior means of every pair's first frame; with rendered
    /// sprites and `intervention_points` > 0, also the BetaVAE and FactorVAE scores on batches
    /// rendered afresh (that many training points; half as many evaluation points, five times as
    /// many for the variances; batches of 64).
    fn evaluate(run: &Run<SpritePairs>, data: &Path, options: &EvalOptions) -> Result<VaeEvaluation, RunError> {
        let (points, device) = (options.intervention_points, options.device);
        let (pairs, frames) = pairs_of(run, data, device)?;
        let (z, classes) = (latents(&run.model, &frames, 0), pairs.frame_classes(0));
        let budget = Budget { batch_size: 64, num_train: points, num_eval: points.div_ceil(2), num_variance_estimate: 5 * points };
        let intervention =
            (points > 0 && pairs.source == "rendered").then(|| intervention_scores(&run.model, device, run.config.train.seed, budget));
        Ok(VaeEvaluation {
            frames: pairs.images.shape()[0],
            source: pairs.source.clone(),
            scores: disentanglement(&z, &classes),
            held_out: held_out(&z, &classes),
            intervention,
        })
    }

    /// The posterior means of every pair's first frame (`latents`, the one layer), with the
    /// frames as stimuli and the factor classes as array `factors`; the pairs have no tiers.
    fn extract(run: &Run<SpritePairs>, data: &Path, options: &ExtractOptions) -> Result<Extraction, RunError> {
        if let Some(layer) = options.layers.iter().find(|l| *l != "latents") {
            let preset = run.config.preset.as_deref().unwrap_or("slowvae");
            return Err(RunError::at(&run.dir, format!("no layer {layer:?} (a {preset} run has: latents)")));
        }
        let (pairs, frames) = pairs_of(run, data, options.device)?;
        let z = latents(&run.model, &frames, 0).mapv(|v| v as f32);
        let n = z.nrows();
        let stimuli = pairs.images.slice(s![.., 0..1, .., ..]).mapv(f32::from);
        let factors: Array2<f32> = pairs.frame_classes(0).mapv(|v| v as f32);
        let source = json!({"kind": "model", "run": run.dir.display().to_string(), "preset": run.config.preset, "layer": "latents", "file": data.display().to_string(), "factors": FACTOR_NAMES});
        let file = RepresentationFile {
            representations: vec![Representation { name: "latents".into(), data: z, source: source.to_string() }],
            stimulus_ids: (0..n as i64).collect(),
            stimuli: Some(stimuli),
            arrays: vec![("factors".into(), factors.into_dyn())],
        };
        Ok(Extraction { file, note: None })
    }
}

fn pairs_of(run: &Run<SpritePairs>, data: &Path, device: Device) -> Result<(Pairs, Tensor), RunError> {
    let pairs = read_pairs(data, run.config.preset.as_deref().unwrap_or("slowvae"))?;
    let frames = pairs_tensor(&pairs, device);
    Ok((pairs, frames))
}

fn training_table(log: &[LogRecord]) -> Table {
    let f = |get: fn(&LogRecord) -> f64| log.iter().map(get).collect();
    Table::new()
        .i64("iteration", log.iter().map(|r| r.iteration as i64).collect())
        .f64("loss", f(|r| r.loss))
        .f64("reconstruction", f(|r| r.reconstruction))
        .f64("kl_normal", f(|r| r.kl_normal))
        .f64("kl_laplace", f(|r| r.kl_laplace))
        .f64("seconds", f(|r| r.seconds))
}
