//! Runs of the sprite-pair models (presets `slowvae` and `betavae`): fitting one to a sprites
//! file (new, or resumed exactly from its last checkpoint), loading a complete run, scoring its
//! latents and extracting them. The run directory is a response model's (`config.toml`,
//! `run.json`, `model.safetensors`, `checkpoint/`) with `training.{parquet,csv}` for metrics.

use std::path::{Path, PathBuf};

use ndarray::{s, Array2};
use neurozoo_datasets::representation::{Representation, RepresentationFile};
use neurozoo_datasets::simulate::sprites::{SpritePairs, FACTOR_NAMES};
use neurozoo_tables::{write_table, Table};
use neurozoo_util::files::write_atomic;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tch::{nn, Device, Tensor};

use super::{Preset, ResumeConflict, RunError, RunStatus, Unfinished};
use crate::config::VaeFitConfig;
use crate::slowvae::scores::{disentanglement, held_out, intervention_scores, Budget, Disentanglement, HeldOut, InterventionScores};
use crate::slowvae::train::{self as vae, latents, pairs_tensor, LogRecord};
use crate::slowvae::SlowVae;
use crate::train::{load_weights, named_weights, write_safetensors_atomic};
use crate::TorchRuntime;

/// The metrics table of a sprite-pair run: one row per logged step.
pub const TRAINING_STEM: &str = "training";

/// `run.json` of a sprite-pair run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaeRunInfo {
    pub neurozoo: String,
    pub libtorch: Option<String>,
    pub device: String,
    /// The sprites file and its number of pairs.
    pub data: String,
    pub pairs: usize,
    pub status: RunStatus,
    pub iterations: usize,
    pub seconds: f64,
    #[serde(flatten)]
    pub memory: crate::PeakMemory,
    /// The process fitting the run, while it runs (as a response model's run.json).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fitter: Option<super::Fitter>,
}

impl VaeRunInfo {
    pub fn load(dir: &Path) -> Result<VaeRunInfo, RunError> {
        let path = dir.join(super::RUN_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| RunError::at(&path, format!("cannot read: {e}")))?;
        serde_json::from_str(&text).map_err(|_| RunError::at(&path, "is not a sprite-pair run's run.json"))
    }

    fn save(&self, dir: &Path) -> Result<(), RunError> {
        let path = dir.join(super::RUN_FILE);
        write_atomic(&path, serde_json::to_string_pretty(self).expect("run info serialises")).map_err(|e| RunError::at(&path, e))
    }
}

/// What to fit, and where.
#[derive(Debug, Clone)]
pub struct VaeFitRequest {
    /// The config as resolved from a preset or a file, before `seed` and `iterations`.
    pub config: VaeFitConfig,
    /// What the model was asked by (a preset's name or a config file), for messages.
    pub model: String,
    /// Overrides of `train.seed` and `train.iterations`; on resume the seed must be the run's,
    /// and `iterations` may only raise the run's.
    pub seed: Option<u64>,
    pub iterations: Option<usize>,
    /// The sprites file (`neurozoo data simulate sprites`).
    pub data: PathBuf,
    pub out: PathBuf,
    pub device: Device,
    pub resume: bool,
}

/// A sprite-pair fit ready to train: data read, model built, run directory written.
pub struct VaeFit {
    pub config: VaeFitConfig,
    pub out: PathBuf,
    pub data: PathBuf,
    pub pairs: SpritePairs,
    /// `iterations` raised on resume: (the run's, now).
    pub raised: Option<(usize, usize)>,
    pub device: Device,
    model: SlowVae,
    vs: nn::VarStore,
    frames: Tensor,
    info: VaeRunInfo,
    resume: bool,
}

/// A finished sprite-pair fit: the run's `run.json`, the training log, the model with its
/// training frames, and the disentanglement of their latents.
pub struct VaeFitOutcome {
    pub info: VaeRunInfo,
    pub log: Vec<LogRecord>,
    pub model: SlowVae,
    /// The training pairs on the device, (N, 2, 1, 64, 64).
    pub frames: Tensor,
    pub scores: Disentanglement,
    // Owns the model's variables.
    _vs: nn::VarStore,
}

/// The sprites file of a sprite-pair model; an error says how to make one.
fn read_pairs(data: &Path, preset: &str) -> Result<SpritePairs, RunError> {
    SpritePairs::read(data).map_err(|error| RunError::NotSpritePairs { preset: preset.to_string(), error })
}

impl VaeFit {
    /// Check the request, read the pairs, build the model and write the run directory; nothing
    /// is written when any of it fails.
    pub fn prepare(request: VaeFitRequest) -> Result<VaeFit, RunError> {
        let VaeFitRequest { config, model: asked_model, seed, iterations, data, out, device, resume } = request;
        let name = config.preset.clone().unwrap_or_else(|| asked_model.clone());
        let (cfg, raised) = if resume {
            resume_config(&out, &asked_model, config, seed, iterations)?
        } else {
            let mut cfg = config;
            if let Some(seed) = seed {
                cfg.train.seed = seed;
            }
            if let Some(n) = iterations {
                cfg.train.iterations = n;
            }
            cfg.check()?;
            (cfg, None)
        };
        let pairs = read_pairs(&data, &name)?;
        let n_pairs = pairs.images.shape()[0];
        let conflict = |conflict| RunError::Resume { run: out.clone(), conflict };
        if resume {
            let info = VaeRunInfo::load(&out).map_err(|e| conflict(ResumeConflict::NotARun(e.to_string())))?;
            if info.status == RunStatus::Complete {
                return Err(conflict(ResumeConflict::Complete));
            }
            if info.data != data.display().to_string() || info.pairs != n_pairs {
                return Err(conflict(ResumeConflict::OtherData {
                    fitted: format!("{} ({} pairs)", info.data, info.pairs),
                    given: format!("{} ({n_pairs} pairs)", data.display()),
                }));
            }
        } else {
            neurozoo_util::files::ensure_empty_dir(&out)?;
            std::fs::create_dir_all(&out).map_err(|e| RunError::at(&out, format!("cannot create: {e}")))?;
        }
        // Written again on resume: a raised number of iterations is now the run's.
        write_atomic(&out.join(super::CONFIG_FILE), cfg.to_toml()).map_err(|e| RunError::at(&out, e))?;
        let info = VaeRunInfo {
            neurozoo: env!("CARGO_PKG_VERSION").into(),
            libtorch: TorchRuntime::probe().version_full,
            device: format!("{device:?}"),
            data: data.display().to_string(),
            pairs: n_pairs,
            status: RunStatus::Running,
            iterations: 0,
            seconds: 0.0,
            memory: crate::PeakMemory::now(device),
            fitter: Some(super::Fitter::this()),
        };
        info.save(&out)?;
        tch::manual_seed(cfg.train.seed as i64);
        let vs = nn::VarStore::new(device);
        let model = SlowVae::new(&vs.root(), &cfg.slowvae);
        let frames = pairs_tensor(&pairs, device);
        Ok(VaeFit { config: cfg, out, data, pairs, raised, device, model, vs, frames, info, resume })
    }

    /// Train (from the checkpoint, on resume), telling `on_step` of every step and `on_log` of
    /// every row of the training table; then write the weights, `training.{parquet,csv}` and the
    /// final `run.json`.
    pub fn train(self, on_step: impl FnMut(usize), on_log: impl FnMut(&LogRecord)) -> Result<VaeFitOutcome, RunError> {
        let VaeFit { config, out, pairs, model, vs, frames, mut info, resume, .. } = self;
        let checkpoints = Some(vae::Checkpoints { dir: &out, resume });
        let log = vae::train(&model, &vs, &frames, &config.train, checkpoints, on_step, on_log)?;
        write_table(&training_table(&log), &out, TRAINING_STEM).map_err(|e| RunError::at(&out, e))?;
        write_safetensors_atomic(&named_weights(&vs), &out.join(super::MODEL_FILE))?;
        let scores = disentanglement(&latents(&model, &frames, 0), &pairs.frame_classes(0));
        info.status = RunStatus::Complete;
        info.iterations = config.train.iterations;
        info.seconds = log.last().map_or(0.0, |r| r.seconds);
        info.memory = crate::PeakMemory::now(vs.device());
        info.fitter = None;
        info.save(&out)?;
        Ok(VaeFitOutcome { info, log, model, frames, scores, _vs: vs })
    }
}

/// The config of the run a resumed fit continues, which the request must agree with: the same
/// model, no other seed; `iterations` may only be raised (returned as taken).
fn resume_config(
    out: &Path,
    asked_model: &str,
    asked: VaeFitConfig,
    seed: Option<u64>,
    iterations: Option<usize>,
) -> Result<(VaeFitConfig, Option<(usize, usize)>), RunError> {
    let conflict = |conflict| RunError::Resume { run: out.to_path_buf(), conflict };
    let mut saved = match super::load_config(out).map_err(|e| conflict(ResumeConflict::NotARun(e.to_string())))? {
        Preset::SpritePairs(c) => c,
        Preset::Responses(_) => {
            return Err(conflict(ResumeConflict::NotARun("it is a response model's run, not a sprite-pair model's".into())))
        }
    };
    let same_model =
        asked.slowvae == saved.slowvae && asked.train.batch_pairs == saved.train.batch_pairs && asked.train.lr == saved.train.lr;
    if !same_model {
        return Err(conflict(ResumeConflict::OtherModel(asked_model.to_string())));
    }
    let t = &mut saved.train;
    let raised = super::reconcile_resume((seed, t.seed), ("iterations", iterations, &mut t.iterations)).map_err(conflict)?;
    Ok((saved, raised))
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

/// A complete sprite-pair run: its `run.json`, config and model with the fitted weights.
pub struct VaeRun {
    pub dir: PathBuf,
    pub info: VaeRunInfo,
    pub config: VaeFitConfig,
    pub model: SlowVae,
    _vs: nn::VarStore,
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

impl VaeRun {
    /// Load the run at `dir` (its config `config`) onto `device`; a run without its final model
    /// is [`Unfinished`].
    pub fn load(dir: &Path, config: VaeFitConfig, device: Device) -> Result<VaeRun, RunError> {
        let info = VaeRunInfo::load(dir)?;
        match (&info.status, &info.fitter) {
            (RunStatus::Complete, _) => {}
            (RunStatus::Running, Some(f)) if f.alive() => {
                return Err(Unfinished::Fitting { dir: dir.into(), pid: f.pid, host: f.host.clone() }.into())
            }
            (RunStatus::Running, _) => return Err(Unfinished::Interrupted { dir: dir.into(), epochs: None }.into()),
        }
        let vs = nn::VarStore::new(device);
        let model = SlowVae::new(&vs.root(), &config.slowvae);
        load_weights(&vs, &dir.join(super::MODEL_FILE))?;
        Ok(VaeRun { dir: dir.to_path_buf(), info, config, model, _vs: vs })
    }

    fn pairs(&self, data: &Path, device: Device) -> Result<(SpritePairs, Tensor), RunError> {
        let pairs = read_pairs(data, self.config.preset.as_deref().unwrap_or("slowvae"))?;
        let frames = pairs_tensor(&pairs, device);
        Ok((pairs, frames))
    }

    /// Disentanglement of the posterior means of every pair's first frame; with rendered
    /// sprites and `points` > 0, also the BetaVAE and FactorVAE scores on batches rendered
    /// afresh (`points` training points; half as many evaluation points, five times as many for
    /// the variances; batches of 64).
    pub fn evaluate(&self, data: &Path, points: usize, device: Device) -> Result<VaeEvaluation, RunError> {
        let (pairs, frames) = self.pairs(data, device)?;
        let (z, classes) = (latents(&self.model, &frames, 0), pairs.frame_classes(0));
        let budget = Budget { batch_size: 64, num_train: points, num_eval: points.div_ceil(2), num_variance_estimate: 5 * points };
        let intervention =
            (points > 0 && pairs.source == "rendered").then(|| intervention_scores(&self.model, device, self.config.train.seed, budget));
        Ok(VaeEvaluation {
            frames: pairs.images.shape()[0],
            source: pairs.source.clone(),
            scores: disentanglement(&z, &classes),
            held_out: held_out(&z, &classes),
            intervention,
        })
    }

    /// A representation file of the posterior means of every pair's first frame (`latents`),
    /// with the frames as stimuli and the factor classes as array `factors`.
    pub fn extract(&self, data: &Path, device: Device) -> Result<RepresentationFile, RunError> {
        let (pairs, frames) = self.pairs(data, device)?;
        let z = latents(&self.model, &frames, 0).mapv(|v| v as f32);
        let n = z.nrows();
        let stimuli = pairs.images.slice(s![.., 0..1, .., ..]).mapv(f32::from);
        let factors: Array2<f32> = pairs.frame_classes(0).mapv(|v| v as f32);
        let source = json!({"kind": "model", "run": self.dir.display().to_string(), "preset": self.config.preset, "layer": "latents", "file": data.display().to_string(), "factors": FACTOR_NAMES});
        Ok(RepresentationFile {
            representations: vec![Representation { name: "latents".into(), data: z, source: source.to_string() }],
            stimulus_ids: (0..n as i64).collect(),
            stimuli: Some(stimuli),
            arrays: vec![("factors".into(), factors.into_dyn())],
        })
    }
}
