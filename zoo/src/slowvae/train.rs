//! Fitting SlowVAE and its β-VAE baseline to sprite frame pairs: the training loop (Adam,
//! uniformly shuffled pairs, checkpoints that resume exactly) and the posterior means it is
//! evaluated on. The configs and presets are in [`crate::config`], the scores in
//! [`super::scores`].

use std::path::Path;
use std::time::Instant;

use ndarray::Array2;
use neurozoo_datasets::simulate::sprites::SpritePairs;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use super::SlowVae;
use crate::config::VaeTrainConfig;
use crate::train::{named_weights, restore_checked, Adam, TrainError};

/// One row of the training table: means over the steps since the previous row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    pub iteration: usize,
    pub loss: f64,
    pub reconstruction: f64,
    pub kl_normal: f64,
    pub kl_laplace: f64,
    pub seconds: f64,
}

/// All pairs as one (pairs, 2, 64, 64) u8 tensor on the device: a batch is an index_select.
pub fn pairs_tensor(pairs: &SpritePairs, device: Device) -> Tensor {
    let shape: Vec<i64> = pairs.images.shape().iter().map(|&d| d as i64).collect();
    let data = pairs.images.as_standard_layout();
    Tensor::from_slice(data.as_slice().expect("standard layout")).reshape(shape).to_device(device)
}

/// What the loop reports as it goes.
pub enum Event<'a> {
    /// Step `done` of `total` is done.
    Step { done: usize, total: usize },
    /// A row of the training table.
    Log(&'a LogRecord),
}

/// Where the loop writes a checkpoint (at every row of the training table), and whether it
/// continues from the one there.
pub struct Checkpoints<'a> {
    pub dir: &'a Path,
    pub resume: bool,
}

/// The loop's state in a checkpoint, beside the weights and Adam's moments.
#[derive(Debug, Serialize, Deserialize)]
struct LoopState {
    /// Steps done.
    iteration: usize,
    adam_step: i64,
    log: Vec<LogRecord>,
}

/// Train `model` for `cfg.iterations` steps, telling `on` of each and of every row. A
/// loss that stops being finite ends training with an error naming the step. With
/// `checkpoints`, every row also writes a checkpoint, and `resume` continues from it exactly:
/// step i's pairs and posterior samples depend on the seed and i alone (the pairs come in
/// seeded permutations, each used up in turn; the sampling generator is seeded per step), so
/// a resumed run takes the same steps as one never stopped.
pub fn train(
    model: &SlowVae,
    vs: &nn::VarStore,
    pairs: &Tensor,
    cfg: &VaeTrainConfig,
    checkpoints: Option<Checkpoints<'_>>,
    mut on: impl FnMut(Event<'_>),
) -> Result<Vec<LogRecord>, TrainError> {
    let n = pairs.size()[0] as usize;
    let batch = cfg.batch_pairs.min(n);
    let per_permutation = n / batch;
    let device = pairs.device();
    let mut adam = Adam::new(vs);
    let mut log = Vec::new();
    let mut first = 1;
    if let Some(c) = checkpoints.as_ref().filter(|c| c.resume && crate::checkpoint::exists(c.dir)) {
        let at = |(path, problem): crate::checkpoint::Error| TrainError::Checkpoint { path, problem };
        let mut loaded = crate::checkpoint::load(c.dir, &["weights", "adam"], device).map_err(at)?;
        let dir = loaded.dir.clone();
        let damaged = |problem: String| TrainError::Checkpoint { path: dir.clone(), problem };
        let state: LoopState = serde_json::from_str(&loaded.state).map_err(|e| damaged(e.to_string()))?;
        restore_checked(vs, &loaded.take("weights")).map_err(damaged)?;
        adam.restore(loaded.take("adam"), state.adam_step).map_err(damaged)?;
        first = state.iteration + 1;
        log = state.log;
    }
    // The permutation goes to the device once and batches are slices of it; the losses are
    // summed on the device and read once per log row. Per-step copies and reads would make the
    // host wait for the GPU at every step.
    let mut order = Tensor::zeros([0], (Kind::Int64, device));
    let zeros = || Tensor::zeros([4], (Kind::Double, device));
    let (mut sums, mut steps) = (zeros(), 0usize);
    let (start, seconds_before) = (Instant::now(), log.last().map_or(0.0, |r: &LogRecord| r.seconds));
    for iteration in first..=cfg.iterations {
        let (permutation, slot) = ((iteration - 1) / per_permutation, (iteration - 1) % per_permutation);
        if slot == 0 || iteration == first {
            let mut fresh: Vec<i64> = (0..n as i64).collect();
            fresh.shuffle(&mut ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_mul(1_000_003).wrapping_add(permutation as u64)));
            order = Tensor::from_slice(&fresh).to_device(device);
        }
        // Batches are taken from the permutation's end, as before checkpoints existed.
        let picked = order.narrow(0, (n - (slot + 1) * batch) as i64, batch as i64);
        let frames = pairs.index_select(0, &picked).reshape([-1, 1, 64, 64]).to_kind(Kind::Float);
        tch::manual_seed((cfg.seed as i64).wrapping_mul(7_919).wrapping_add(iteration as i64));
        adam.zero_grad();
        let loss = model.loss(&frames, cfg.precision)?;
        loss.total.backward();
        adam.step(cfg.lr);
        sums += Tensor::stack(&[loss.total.detach(), loss.reconstruction, loss.kl_normal, loss.kl_laplace], 0).to_kind(Kind::Double);
        steps += 1;
        on(Event::Step { done: iteration, total: cfg.iterations });
        if iteration % cfg.log_every == 0 || iteration == cfg.iterations {
            let k = steps as f64;
            let mean: Vec<f64> = Vec::try_from(&sums / k).expect("four sums");
            // A loss that stopped being finite in any step since the last row leaves its sum
            // non-finite; training stops there rather than logging it.
            if !mean[0].is_finite() {
                return Err(TrainError::DivergedSteps { from: iteration + 1 - steps, to: iteration, value: mean[0] });
            }
            let record = LogRecord {
                iteration,
                loss: mean[0],
                reconstruction: mean[1],
                kl_normal: mean[2],
                kl_laplace: mean[3],
                seconds: seconds_before + start.elapsed().as_secs_f64(),
            };
            on(Event::Log(&record));
            log.push(record);
            (sums, steps) = (zeros(), 0);
            if let Some(c) = &checkpoints {
                let state = LoopState { iteration, adam_step: adam.steps(), log: log.clone() };
                let state = serde_json::to_string_pretty(&state).expect("the loop state serialises");
                crate::checkpoint::save(c.dir, &[("weights", named_weights(vs)), ("adam", adam.named_state())], &state)
                    .map_err(|(path, problem)| TrainError::Checkpoint { path, problem })?;
            }
        }
    }
    Ok(log)
}

/// Posterior means of frame `t` of every pair: (pairs, z_dim).
pub fn latents(model: &SlowVae, pairs: &Tensor, t: i64) -> Array2<f64> {
    model.posterior_means(&pairs.select(1, t).unsqueeze(1))
}
