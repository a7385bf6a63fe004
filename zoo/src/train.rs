//! Training: Poisson loss + penalties, Adam, early stopping on validation correlation with
//! restore-best and learning-rate decay, a NaN guard, and checkpoints that resume exactly.
//!
//! Exact resumption needs every piece of state on disk: weights (with batch-norm statistics),
//! the best weights so far, Adam's moments and step, the schedule's counters. Minibatch order
//! and readout sampling are derived from (seed, epoch, batch), so they need no saved RNG state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Tensor};

use crate::config::TrainConfig;
use crate::measures::corr;
use crate::model::{Model, ModelError, Predictor};
use crate::regularizers::poisson_loss;
use neurozoo_tensor::{autocast, to_array2};

/// Images (N, C, H, W) on the model's device in the element type they were stored in (uint8 or
/// f32), standardised a batch at a time: a uint8 recording then takes a quarter of the device
/// memory an f32 copy would, and the arithmetic per image is the same as standardising all at once.
pub struct Stimuli {
    raw: Tensor,
    /// (mean, std) of the train-tier pixels; none for images already standardised.
    standardise: Option<(f64, f64)>,
    /// Per-trial values (N, K), already normalised, appended to each image as K constant
    /// channels (behaviour, pupil position).
    channels: Option<Tensor>,
    /// Per-trial pupil position (N, 2), z-scored, for a shifter.
    pupil: Option<Tensor>,
}

/// What a model reads for a batch of trials.
pub struct Batch {
    /// (B, C + K, H, W): standardised images and any constant channels.
    pub images: Tensor,
    /// (B, 2), when the model has a shifter.
    pub pupil: Option<Tensor>,
}

impl Stimuli {
    /// Stored images with the train tier's pixel mean and std.
    pub fn new(raw: Tensor, mean: f64, std: f64) -> Stimuli {
        Stimuli { raw, standardise: Some((mean, std)), channels: None, pupil: None }
    }

    /// f32 images that are already standardised (or meant to be used as they are).
    pub fn standardised(images: Tensor) -> Stimuli {
        Stimuli { raw: images, standardise: None, channels: None, pupil: None }
    }

    /// With per-trial values (N, K) appended to every image as K constant channels.
    pub fn with_channels(self, channels: Tensor) -> Stimuli {
        Stimuli { channels: Some(channels), ..self }
    }

    /// With the per-trial pupil position (N, 2) for a shifter.
    pub fn with_pupil(self, pupil: Tensor) -> Stimuli {
        Stimuli { pupil: Some(pupil), ..self }
    }

    /// Trials `idx` (a tensor of indices on the same device): standardised f32 images with
    /// their constant channels, and the pupil positions.
    pub fn batch(&self, idx: &Tensor) -> Batch {
        let x = self.raw.index_select(0, idx).to_kind(Kind::Float);
        let x = match self.standardise {
            Some((mean, std)) => (x - mean) / std,
            None => x,
        };
        let images = match &self.channels {
            Some(c) => {
                let (b, _, h, w) = x.size4().expect("(B, C, H, W) images");
                let c = c.index_select(0, idx);
                let k = c.size()[1];
                Tensor::cat(&[x, c.reshape([b, k, 1, 1]).expand([b, k, h, w], false)], 1)
            }
            None => x,
        };
        Batch { images, pupil: self.pupil.as_ref().map(|p| p.index_select(0, idx)) }
    }

    pub fn device(&self) -> tch::Device {
        self.raw.device()
    }
}

/// Normalised data on the training device.
pub struct TrainData {
    /// (N, C, H, W), standardised per batch with train-tier statistics.
    pub images: Stimuli,
    /// (N, U), divided by each unit's train-tier standard deviation.
    pub responses: Tensor,
    pub train: Vec<i64>,
    pub validation: Vec<i64>,
}

/// One row of the per-epoch metrics table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub lr: f64,
    /// Mean Poisson loss per trial over the epoch's minibatches.
    pub train_loss: f64,
    /// Penalty value at the end of the epoch.
    pub regularizer: f64,
    /// Mean over units of the validation correlation.
    pub validation_correlation: f64,
    pub best: bool,
    pub seconds: f64,
}

/// The schedule's counters, saved with every checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Epochs completed.
    pub epoch: usize,
    pub lr: f64,
    pub best_score: f64,
    pub best_epoch: usize,
    pub bad_epochs: usize,
    pub decays: usize,
    pub adam_step: i64,
    pub finished: bool,
    pub history: Vec<EpochRecord>,
}

/// What the trainer reports while it runs.
pub enum Event<'a> {
    Batch {
        epoch: usize,
        done: usize,
        total: usize,
    },
    Epoch(&'a EpochRecord),
    /// Patience ran out: best weights restored, and the learning rate lowered to `lr`, or, after
    /// the last allowed decay, training stops (`stop`).
    Decay {
        epoch: usize,
        lr: f64,
        restored_epoch: usize,
        stop: bool,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("training diverged in epoch {epoch}: the loss became {value} (try a lower learning rate)")]
    Diverged { epoch: usize, value: f64 },
    /// The sprite-pair loop, which counts steps: the loss in some step from `from` to `to`.
    #[error("the loss became {value} between steps {from} and {to}: lower train.lr")]
    DivergedSteps { from: usize, to: usize, value: f64 },
    #[error("no {0} trials to train on")]
    NoData(&'static str),
    #[error("checkpoint {}: {problem}", path.display())]
    Checkpoint { path: PathBuf, problem: String },
    #[error("train.precision: {0}")]
    Precision(#[from] neurozoo_tensor::TorchError),
}

/// Adam with its state in named tensors, so it can be saved and restored.
pub(crate) struct Adam {
    vars: Vec<(String, Tensor)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    step: i64,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const ADAM_EPS: f64 = 1e-8;

impl Adam {
    pub(crate) fn new(vs: &nn::VarStore) -> Adam {
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let m = vars.iter().map(|(_, t)| t.zeros_like()).collect();
        let v = vars.iter().map(|(_, t)| t.zeros_like()).collect();
        Adam { vars, m, v, step: 0 }
    }

    pub(crate) fn zero_grad(&self) {
        for (_, var) in &self.vars {
            let mut g = var.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }

    /// One step in torch.optim.Adam's order of operations, in place: eight kernels per tensor,
    /// which on a GPU is what a step of a small model costs.
    pub(crate) fn step(&mut self, lr: f64) {
        self.step += 1;
        let (c1, c2) = (1.0 - BETA1.powi(self.step as i32), 1.0 - BETA2.powi(self.step as i32));
        tch::no_grad(|| {
            for (i, (_, var)) in self.vars.iter().enumerate() {
                let g = var.grad();
                if !g.defined() {
                    continue;
                }
                let _ = self.m[i].lerp_(&g, 1.0 - BETA1);
                let _ = self.v[i].lerp_(&g.square(), 1.0 - BETA2);
                let mut denom = self.v[i].sqrt();
                let _ = denom.g_div_scalar_(c2.sqrt()).g_add_scalar_(ADAM_EPS);
                let mut var = var.shallow_clone();
                let _ = var.addcdiv_(&(&self.m[i] * (-lr / c1)), &denom);
            }
        });
    }

    /// The moments, by variable, for a checkpoint; [`Adam::restore`] takes them back.
    pub(crate) fn named_state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (i, (name, _)) in self.vars.iter().enumerate() {
            out.push((format!("m.{name}"), self.m[i].shallow_clone()));
            out.push((format!("v.{name}"), self.v[i].shallow_clone()));
        }
        out
    }

    /// The moments of [`Adam::named_state`] and the step count they were saved at.
    pub(crate) fn restore(&mut self, named: Vec<(String, Tensor)>, step: i64) -> Result<(), String> {
        self.load_state(&named.into_iter().collect())?;
        self.step = step;
        Ok(())
    }

    /// Steps taken, saved with a checkpoint.
    pub(crate) fn steps(&self) -> i64 {
        self.step
    }

    fn load_state(&mut self, named: &BTreeMap<String, Tensor>) -> Result<(), String> {
        for (i, (name, _)) in self.vars.iter().enumerate() {
            for (prefix, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let key = format!("{prefix}.{name}");
                let saved = named.get(&key).ok_or_else(|| format!("optimizer state has no {key}"))?;
                tch::no_grad(|| slot.copy_(saved));
            }
        }
        Ok(())
    }
}

fn copy_weights(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().map(|(n, t)| (n, t.detach().copy())).collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

fn restore_weights(vs: &nn::VarStore, named: &[(String, Tensor)]) {
    let vars = vs.variables();
    tch::no_grad(|| {
        for (name, saved) in named {
            if let Some(var) = vars.get(name) {
                let mut var = var.shallow_clone();
                var.copy_(saved);
            }
        }
    });
}

/// Recording `recording`'s predicted rates for the given trials, in batches, in evaluation mode;
/// (trials, U) on the host.
pub fn predict(model: &dyn Predictor, recording: usize, images: &Stimuli, trials: &[i64], batch_size: usize) -> ndarray::Array2<f32> {
    batched(images, trials, batch_size, |x| model.rates(x, recording))
}

/// `f` applied, without gradients, to the images of `trials` in batches; rows concatenated.
pub fn batched(images: &Stimuli, trials: &[i64], batch_size: usize, f: impl Fn(&Batch) -> Tensor) -> ndarray::Array2<f32> {
    let device = images.device();
    let chunks: Vec<ndarray::Array2<f32>> = trials
        .chunks(batch_size.max(1))
        .map(|chunk| {
            let idx = Tensor::from_slice(chunk).to_device(device);
            let x = images.batch(&idx);
            to_array2(&tch::no_grad(|| f(&x)))
        })
        .collect();
    let views: Vec<_> = chunks.iter().map(|c| c.view()).collect();
    ndarray::concatenate(ndarray::Axis(0), &views).expect("batches have the same width")
}

/// The early-stopping score: the mean validation correlation over the units of every recording
/// together (each recording predicted by its own readout), as the sensorium trainer pools them.
pub fn validation_correlation(model: &Model, data: &[TrainData], batch_size: usize) -> f64 {
    let per_unit: Vec<f64> = data
        .iter()
        .enumerate()
        .flat_map(|(r, d)| {
            let pred = predict(model, r, &d.images, &d.validation, batch_size).mapv(f64::from);
            let idx = Tensor::from_slice(&d.validation).to_device(d.responses.device());
            let resp = to_array2(&d.responses.index_select(0, &idx)).mapv(f64::from);
            corr(resp.view(), pred.view()).to_vec()
        })
        .collect();
    if per_unit.is_empty() {
        return f64::NAN;
    }
    per_unit.iter().sum::<f64>() / per_unit.len() as f64
}

/// A training run over a model whose variables live in `vs`.
pub struct Trainer<'a> {
    pub model: &'a Model,
    pub vs: &'a nn::VarStore,
    pub cfg: &'a TrainConfig,
    /// Where checkpoints go (written after every epoch); none for no checkpoints.
    pub checkpoint_dir: Option<PathBuf>,
}

impl Trainer<'_> {
    /// Train to the end of the schedule, starting from a checkpoint when `resume` is set: one
    /// `TrainData` per recording, recording r predicted by the model's readout r. Leaves the best
    /// weights in the model.
    pub fn fit(&self, data: &[TrainData], resume: bool, mut on: impl FnMut(Event<'_>)) -> Result<Schedule, TrainError> {
        if data.is_empty() || data.iter().any(|d| d.train.is_empty()) {
            return Err(TrainError::NoData("train"));
        }
        if data.iter().any(|d| d.validation.is_empty()) {
            return Err(TrainError::NoData("validation"));
        }
        let mut adam = Adam::new(self.vs);
        let mut schedule = Schedule {
            epoch: 0,
            lr: self.cfg.lr,
            best_score: f64::NEG_INFINITY,
            best_epoch: 0,
            bad_epochs: 0,
            decays: 0,
            adam_step: 0,
            finished: false,
            history: Vec::new(),
        };
        let mut best = copy_weights(self.vs);
        // A run killed before its first checkpoint resumes from the start: its weights are
        // still the seeded initialisation a fresh run would have.
        if let Some(dir) = self.checkpoint_dir.as_ref().filter(|d| resume && crate::checkpoint::exists(d)) {
            (schedule, best) = self.load_checkpoint(dir, &mut adam)?;
        }
        while !schedule.finished && schedule.epoch < self.cfg.max_epochs {
            let epoch = schedule.epoch + 1;
            let start = std::time::Instant::now();
            let train_loss = self.run_epoch(data, epoch, &mut adam, schedule.lr, &mut on)?;
            let score = validation_correlation(self.model, data, self.cfg.batch_size.max(256));
            let regularizer = tch::no_grad(|| self.model.regularizer().double_value(&[]));
            let improved = score > schedule.best_score + self.cfg.tolerance;
            if improved {
                schedule.best_score = score;
                schedule.best_epoch = epoch;
                schedule.bad_epochs = 0;
                best = copy_weights(self.vs);
            } else {
                schedule.bad_epochs += 1;
            }
            let record = EpochRecord {
                epoch,
                lr: schedule.lr,
                train_loss,
                regularizer,
                validation_correlation: score,
                best: improved,
                seconds: start.elapsed().as_secs_f64(),
            };
            on(Event::Epoch(&record));
            schedule.history.push(record);
            schedule.epoch = epoch;
            if schedule.bad_epochs >= self.cfg.patience {
                restore_weights(self.vs, &best);
                schedule.decays += 1;
                schedule.bad_epochs = 0;
                if schedule.decays >= self.cfg.lr_decay_steps {
                    schedule.finished = true;
                } else {
                    schedule.lr *= self.cfg.lr_decay_factor;
                }
                on(Event::Decay { epoch, lr: schedule.lr, restored_epoch: schedule.best_epoch, stop: schedule.finished });
            }
            if schedule.epoch >= self.cfg.max_epochs {
                schedule.finished = true;
            }
            schedule.adam_step = adam.step;
            if let Some(dir) = &self.checkpoint_dir {
                self.save_checkpoint(dir, &schedule, &adam, &best)?;
            }
        }
        if schedule.finished {
            restore_weights(self.vs, &best);
        }
        Ok(schedule)
    }

    /// One epoch as neuralpredictors' `LongCycler` runs it: each step takes the next batch of
    /// every recording (the shorter ones cycle until the longest is through), adds their losses
    /// and the penalties, and takes one optimiser step. With one recording, a step is a batch.
    fn run_epoch(
        &self,
        data: &[TrainData],
        epoch: usize,
        adam: &mut Adam,
        lr: f64,
        on: &mut impl FnMut(Event<'_>),
    ) -> Result<f64, TrainError> {
        // The epoch's order depends only on (seed, epoch, recording): a resumed run sees the same
        // batches. Recording 0 keeps the seed a one-recording run has always used.
        let orders: Vec<Vec<i64>> = data
            .iter()
            .enumerate()
            .map(|(r, d)| {
                let mut order = d.train.clone();
                let seed = self
                    .cfg
                    .seed
                    .wrapping_mul(1_000_003)
                    .wrapping_add(epoch as u64)
                    .wrapping_add((r as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
                order
            })
            .collect();
        let batch_size = self.cfg.batch_size.max(1) as i64;
        // Each order goes to the device once and batches are slices of it; the loss is summed on
        // the device and read once, at the end of the epoch. Copying indices or reading a loss
        // every batch would make the host wait for the GPU at every step.
        let orders: Vec<Tensor> = orders.iter().zip(data).map(|(o, d)| Tensor::from_slice(o).to_device(d.images.device())).collect();
        let batches: Vec<i64> = orders.iter().map(|o| (o.size()[0] + batch_size - 1) / batch_size).collect();
        let steps = batches.iter().copied().max().unwrap_or(0);
        let device = data[0].images.device();
        let (mut nll_total, mut loss_total) = (Tensor::zeros([], (Kind::Double, device)), Tensor::zeros([], (Kind::Double, device)));
        let mut count = 0i64;
        for b in 0..steps {
            tch::manual_seed((self.cfg.seed as i64).wrapping_mul(7_919).wrapping_add(epoch as i64 * 100_003 + b));
            let mut nll_sum: Option<Tensor> = None;
            for (r, (d, order)) in data.iter().zip(&orders).enumerate() {
                let start = (b % batches[r]) * batch_size;
                let idx = order.narrow(0, start, batch_size.min(order.size()[0] - start));
                let x = d.images.batch(&idx);
                let y = d.responses.index_select(0, &idx);
                // Only the forward pass runs in the reduced precision; the loss is taken in f32.
                let prediction = autocast(device, self.cfg.precision, || self.model.forward(&x, r, true))?;
                let nll = poisson_loss(&prediction.to_kind(Kind::Float), &y);
                nll_total += nll.detach().to_kind(Kind::Double) * idx.size()[0] as f64;
                count += idx.size()[0];
                nll_sum = Some(match nll_sum {
                    Some(sum) => sum + nll,
                    None => nll,
                });
            }
            let loss = nll_sum.expect("at least one recording") + self.model.regularizer();
            loss_total += loss.detach().to_kind(Kind::Double);
            adam.zero_grad();
            loss.backward();
            adam.step(lr);
            on(Event::Batch { epoch, done: b as usize + 1, total: steps as usize });
        }
        // A loss that stopped being finite anywhere in the epoch leaves the sum non-finite.
        let value = loss_total.double_value(&[]);
        if !value.is_finite() {
            return Err(TrainError::Diverged { epoch, value });
        }
        Ok(nll_total.double_value(&[]) / count as f64)
    }

    fn ckpt_err(path: &Path, e: impl std::fmt::Display) -> TrainError {
        TrainError::Checkpoint { path: path.to_path_buf(), problem: e.to_string() }
    }

    fn save_checkpoint(&self, dir: &Path, schedule: &Schedule, adam: &Adam, best: &[(String, Tensor)]) -> Result<(), TrainError> {
        let json = serde_json::to_string_pretty(schedule).expect("schedule serialises");
        let tensors = [
            ("weights", copy_weights(self.vs)),
            ("best", best.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect()),
            ("adam", adam.named_state()),
        ];
        crate::checkpoint::save(dir, &tensors, &json).map_err(|(path, e)| Self::ckpt_err(&path, e))
    }

    fn load_checkpoint(&self, dir: &Path, adam: &mut Adam) -> Result<(Schedule, Vec<(String, Tensor)>), TrainError> {
        let mut loaded =
            crate::checkpoint::load(dir, &["weights", "best", "adam"], self.vs.device()).map_err(|(p, e)| Self::ckpt_err(&p, e))?;
        let schedule: Schedule = serde_json::from_str(&loaded.state).map_err(|e| Self::ckpt_err(&loaded.dir, e))?;
        let weights = loaded.take("weights");
        restore_checked(self.vs, &weights).map_err(|e| Self::ckpt_err(&loaded.dir, e))?;
        adam.restore(loaded.take("adam"), schedule.adam_step).map_err(|e| Self::ckpt_err(&loaded.dir, e))?;
        Ok((schedule, loaded.take("best")))
    }
}

/// Restore `vs` from named weights that must cover every variable (a checkpoint of this model).
pub(crate) fn restore_checked(vs: &nn::VarStore, weights: &[(String, Tensor)]) -> Result<(), String> {
    let names: std::collections::BTreeSet<&String> = weights.iter().map(|(n, _)| n).collect();
    if let Some(missing) = vs.variables().keys().find(|k| !names.contains(k)) {
        return Err(format!("has no weight {missing}: it was written by a different model"));
    }
    restore_weights(vs, weights);
    Ok(())
}

/// Write tensors as safetensors through a temporary file, so the target is complete or absent.
pub fn write_safetensors_atomic(named: &[(String, Tensor)], path: &Path) -> Result<(), ModelError> {
    neurozoo_util::files::write_atomic_with(path, |tmp| crate::checkpoint::write_safetensors(named, tmp))
        .map_err(|e| ModelError::Weights { file: path.to_path_buf(), problem: format!("cannot write ({})", e.message) })
}

/// Current weights of a var store, by name (for saving the final model).
pub fn named_weights(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    copy_weights(vs)
}

/// Load named weights into a var store, refusing files that do not match the model.
pub fn load_weights(vs: &nn::VarStore, path: &Path) -> Result<(), ModelError> {
    let weights = |problem: String| ModelError::Weights { file: path.to_path_buf(), problem };
    let named = Tensor::read_safetensors(path).map_err(|e| weights(e.to_string()))?;
    let vars = vs.variables();
    for (name, var) in &vars {
        let saved = named.iter().find(|(n, _)| n == name).map(|(_, t)| t).ok_or_else(|| weights(format!("no weight {name}")))?;
        if saved.size() != var.size() {
            return Err(weights(format!("weight {name} has shape {:?}, the model needs {:?}", saved.size(), var.size())));
        }
    }
    let named: Vec<(String, Tensor)> = named.into_iter().map(|(n, t)| (n, t.to_device(vs.device()).to_kind(Kind::Float))).collect();
    restore_weights(vs, &named);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our Adam against torch.optim.Adam on fixed gradients of very different scales
    /// (`tests/fixtures/make_adam.py` made `adam.json` with PyTorch 2.11).
    #[test]
    fn adam_follows_torch_optim_adam() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/adam.json")).unwrap();
        let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
        let rows = |v: &serde_json::Value| -> Vec<Vec<f64>> { serde_json::from_value(v.clone()).unwrap() };
        let init: Vec<f64> = serde_json::from_value(fixture["init"].clone()).unwrap();
        let mut vs = nn::VarStore::new(tch::Device::Cpu);
        let p = vs.root().var_copy("p", &Tensor::from_slice(&init));
        // A VarStore creates f32 variables; widen it, then put back the f64 values lost on the way.
        vs.double();
        tch::no_grad(|| p.shallow_clone().copy_(&Tensor::from_slice(&init)));
        assert_eq!(p.kind(), Kind::Double);
        let mut adam = Adam::new(&vs);
        for (step, (g, want)) in rows(&fixture["grads"]).iter().zip(rows(&fixture["after"])).enumerate() {
            adam.zero_grad();
            (&p * Tensor::from_slice(g)).sum(Kind::Double).backward();
            adam.step(fixture["lr"].as_f64().unwrap());
            let ours = Vec::<f64>::try_from(&p).unwrap();
            for (o, w) in ours.iter().zip(&want) {
                assert!((o - w).abs() < 1e-12, "step {}: {ours:?} vs torch {want:?}", step + 1);
            }
        }
    }

    /// Channels-last changes where the numbers lie, not what they are: the same model in both
    /// layouts gives the same loss, gradients and Adam step on fixed inputs, and the layout
    /// holds through the step (a conversion that did nothing would fail the layout checks).
    #[test]
    fn channels_last_and_contiguous_give_the_same_loss_and_step() {
        use neurozoo_tensor::is_channels_last;
        let mut cfg = crate::config::preset("klindt2017").and_then(crate::config::Preset::into_responses).unwrap().model;
        for depth_separable in [false, true] {
            cfg.core.as_mut().unwrap().depth_separable = depth_separable;
            let (input, units) = ([1, 24, 32], [0.5f32; 7]);
            let x = Batch { images: Tensor::randn([16, 1, 24, 32], (Kind::Float, tch::Device::Cpu)), pupil: None };
            let y = Tensor::rand([16, 7], (Kind::Float, tch::Device::Cpu)) * 2.0;
            let mut runs = Vec::new();
            for nhwc in [false, true] {
                tch::manual_seed(3);
                let vs = nn::VarStore::new(tch::Device::Cpu);
                let model = Model::new(&vs.root(), &cfg, input, &units).unwrap();
                if nhwc {
                    model.core.as_ref().unwrap().use_channels_last();
                }
                let mut adam = Adam::new(&vs);
                let loss = poisson_loss(&model.forward(&x, 0, true), &y) + model.regularizer();
                adam.zero_grad();
                loss.backward();
                let convs: Vec<(String, Tensor)> =
                    adam.vars.iter().filter(|(_, t)| t.dim() == 4).map(|(n, t)| (n.clone(), t.shallow_clone())).collect();
                assert!(!convs.is_empty());
                let grads: Vec<Tensor> = convs.iter().map(|(_, t)| t.grad().copy()).collect();
                adam.step(0.005);
                for (name, w) in &convs {
                    assert_eq!(is_channels_last(w), nhwc, "{name} (depth-separable {depth_separable})");
                    assert_eq!(
                        is_channels_last(&adam.m[adam.vars.iter().position(|(n, _)| n == name).unwrap()]),
                        nhwc,
                        "Adam's m of {name}"
                    );
                }
                let Some(crate::model::Core::Stacked(core)) = &model.core else { panic!("klindt2017 has a stacked core") };
                let mut outputs = core.layer_outputs(&x.images, false);
                // The last layer's output, which the readout reads, is NCHW in both.
                assert!(!is_channels_last(&outputs.pop().unwrap()));
                assert!(outputs.iter().all(|h| is_channels_last(h) == nhwc), "hidden layers (depth-separable {depth_separable})");
                runs.push((loss.double_value(&[]), grads, convs.into_iter().map(|(_, t)| t.detach().copy()).collect::<Vec<_>>()));
            }
            let ((loss_a, grads_a, after_a), (loss_b, grads_b, after_b)) = (&runs[0], &runs[1]);
            assert!((loss_a - loss_b).abs() <= 1e-5 * loss_a.abs(), "loss {loss_a} vs {loss_b} (depth-separable {depth_separable})");
            for (a, b) in grads_a.iter().zip(grads_b) {
                let (diff, scale) = ((a - b).abs().max().double_value(&[]), a.abs().max().double_value(&[]));
                assert!(diff <= 1e-5 * scale, "gradients differ by {diff} at scale {scale} (depth-separable {depth_separable})");
            }
            // Adam's first step is about lr·g/|g| per weight, so a weight whose gradient is near
            // zero moves by a different fraction of lr in the two layouts: compared against lr.
            for (a, b) in after_a.iter().zip(after_b) {
                let diff = (a - b).abs().max().double_value(&[]);
                assert!(diff <= 0.05 * 0.005, "weights after a step differ by {diff} (depth-separable {depth_separable})");
            }
        }
    }
}
