//! Fitting SlowVAE and its β-VAE baseline to sprite frame pairs: the training loop (Adam,
//! uniformly shuffled pairs) and the posterior means it is evaluated on. The configs and presets
//! are in [`crate::config`], the scores in [`super::scores`].

use std::time::Instant;

use ndarray::Array2;
use neurozoo_datasets::simulate::sprites::SpritePairs;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{nn, Device, Kind, Tensor};

use super::SlowVae;
use crate::config::VaeTrainConfig;
use crate::train::Adam;

/// One row of the training table: means over the steps since the previous row.
#[derive(Debug, Clone, PartialEq)]
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

/// Train `model` for `cfg.iterations` steps; `on_step(done)` after each, `on_log` per row. A
/// loss that stops being finite ends training with an error naming the step.
pub fn train(
    model: &SlowVae,
    vs: &nn::VarStore,
    pairs: &Tensor,
    cfg: &VaeTrainConfig,
    mut on_step: impl FnMut(usize),
    mut on_log: impl FnMut(&LogRecord),
) -> Result<Vec<LogRecord>, String> {
    let n = pairs.size()[0] as usize;
    let batch = cfg.batch_pairs.min(n);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    // The permutation goes to the device once and batches are slices of it; the losses are
    // summed on the device and read once per log row. Per-step copies and reads would make the
    // host wait for the GPU at every step.
    let mut order = Tensor::zeros([0], (Kind::Int64, pairs.device()));
    let mut adam = Adam::new(vs);
    let device = pairs.device();
    let zeros = || Tensor::zeros([4], (Kind::Double, device));
    let (mut log, mut sums, mut steps) = (Vec::new(), zeros(), 0usize);
    let start = Instant::now();
    for iteration in 1..=cfg.iterations {
        // A fresh permutation of the pairs each time the previous one is used up, consumed from
        // its end.
        if order.size()[0] < batch as i64 {
            let mut fresh: Vec<i64> = (0..n as i64).collect();
            fresh.shuffle(&mut rng);
            order = Tensor::from_slice(&fresh).to_device(device);
        }
        let left = order.size()[0] - batch as i64;
        let picked = order.narrow(0, left, batch as i64);
        order = order.narrow(0, 0, left);
        let frames = pairs.index_select(0, &picked).reshape([-1, 1, 64, 64]).to_kind(Kind::Float);
        adam.zero_grad();
        let loss = model.loss(&frames);
        loss.total.backward();
        adam.step(cfg.lr);
        sums += Tensor::stack(&[loss.total.detach(), loss.reconstruction, loss.kl_normal, loss.kl_laplace], 0).to_kind(Kind::Double);
        steps += 1;
        on_step(iteration);
        if iteration % cfg.log_every == 0 || iteration == cfg.iterations {
            let k = steps as f64;
            let mean: Vec<f64> = Vec::try_from(&sums / k).expect("four sums");
            // A loss that stopped being finite in any step since the last row leaves its sum
            // non-finite; training stops there rather than logging it.
            if !mean[0].is_finite() {
                return Err(format!("the loss became {} between steps {} and {iteration}: lower train.lr", mean[0], iteration + 1 - steps));
            }
            let record = LogRecord {
                iteration,
                loss: mean[0],
                reconstruction: mean[1],
                kl_normal: mean[2],
                kl_laplace: mean[3],
                seconds: start.elapsed().as_secs_f64(),
            };
            on_log(&record);
            log.push(record);
            (sums, steps) = (zeros(), 0);
        }
    }
    Ok(log)
}

/// Posterior means of frame `t` of every pair: (pairs, z_dim).
pub fn latents(model: &SlowVae, pairs: &Tensor, t: i64) -> Array2<f64> {
    model.posterior_means(&pairs.select(1, t).unsqueeze(1))
}
