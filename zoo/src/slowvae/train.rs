//! Fitting SlowVAE and its β-VAE baseline to sprite frame pairs: the fit config (presets
//! `slowvae` and `betavae`, TOML overrides), the training loop (Adam, uniformly shuffled pairs),
//! posterior means for evaluation and the disentanglement scores.

use std::time::Instant;

use ndarray::Array2;
use neurozoo_datasets::simulate::sprites::{SpritePairs, FACTOR_NAMES};
use neurozoo_metrics::disentanglement::{
    explicitness, linear_r2, mcc_spearman, mig, modularity, rank_correlations, sap, sap_matrix_continuous, sap_matrix_discrete,
};
use neurozoo_metrics::mcc;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use super::{SlowVae, VaeConfig};
use crate::config::merge;
use crate::train::Adam;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaeTrainConfig {
    /// Adam steps. Default 300 000 (the reference's runs; a CPU run needs far fewer).
    pub iterations: usize,
    /// Frame pairs per step (2 × frames). Default 32.
    pub batch_pairs: usize,
    /// Adam learning rate. Default 1e-4.
    pub lr: f64,
    /// Seed of initialisation, pair order and posterior samples. Default 0.
    pub seed: u64,
    /// Steps between rows of the training table. Default 500.
    pub log_every: usize,
}

impl Default for VaeTrainConfig {
    fn default() -> Self {
        VaeTrainConfig { iterations: 300_000, batch_pairs: 32, lr: 1e-4, seed: 0, log_every: 500 }
    }
}

/// Everything `neurozoo fit slowvae` needs besides the data; written, resolved, into the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaeFitConfig {
    #[serde(default)]
    pub preset: Option<String>,
    #[serde(default)]
    pub slowvae: VaeConfig,
    #[serde(default)]
    pub train: VaeTrainConfig,
}

/// (name, one-line description) of the sprite-pair presets.
pub const PRESETS: [(&str, &str); 2] = [
    ("slowvae", "SlowVAE on sprite frame pairs: β-VAE conv net + Laplace transition prior (β 1, γ 10, λ 6), Klindt et al. 2021"),
    ("betavae", "β-VAE baseline on the same frames and net (β 8, γ 0), the reference's comparison"),
];

pub fn preset(name: &str) -> Option<VaeFitConfig> {
    let slowvae = match name {
        "slowvae" => VaeConfig::default(),
        "betavae" => VaeConfig { beta: 8.0, gamma: 0.0, ..VaeConfig::default() },
        _ => return None,
    };
    Some(VaeFitConfig { preset: Some(name.into()), slowvae, train: VaeTrainConfig::default() })
}

impl VaeFitConfig {
    /// A TOML config whose `preset` is a sprite-pair preset, merged over it; None when the text
    /// names another kind of preset (or none), so the caller can try the response models.
    pub fn from_toml(text: &str) -> Option<Result<VaeFitConfig, String>> {
        let mut table: toml::Table = toml::from_str(text).ok()?;
        let name = table.get("preset")?.as_str()?.to_string();
        let base = preset(&name)?;
        Some((|| {
            let mut merged = toml::Table::try_from(base).map_err(|e| e.to_string())?;
            table.remove("preset");
            merge(&mut merged, table);
            let cfg: VaeFitConfig = merged.try_into().map_err(|e: toml::de::Error| e.to_string())?;
            cfg.check()?;
            Ok(cfg)
        })())
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("configs serialise")
    }

    pub fn check(&self) -> Result<(), String> {
        self.slowvae.check()?;
        let t = &self.train;
        if !(t.lr > 0.0 && t.lr < 1.0) {
            return Err(format!("train.lr = {}: must be in (0, 1)", t.lr));
        }
        for (key, value) in [("train.iterations", t.iterations), ("train.batch_pairs", t.batch_pairs), ("train.log_every", t.log_every)] {
            if value == 0 {
                return Err(format!("{key} = 0: must be at least 1"));
            }
        }
        Ok(())
    }
}

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

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchedFactor {
    pub factor: String,
    pub latent: usize,
    /// |Spearman ρ|.
    pub correlation: f64,
}

/// Disentanglement of latents (samples × z) with respect to factor classes (samples × 5).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disentanglement {
    /// Mean |Spearman ρ| of factors and their matched latents (the reference's MCC).
    pub mcc_spearman: f64,
    pub mcc_pearson: f64,
    /// The latent matched to each factor under the Spearman matching, in factor order.
    pub matching: Vec<MatchedFactor>,
    pub mig: f64,
    /// SAP with the continuous-factor score (R² of each latent alone).
    pub sap_continuous: f64,
    pub modularity: f64,
    /// R² of each factor from all latents, linear; and its mean.
    pub r2_per_factor: Vec<(String, f64)>,
    pub r2: f64,
    /// |Spearman ρ|, factors × latents (the heatmap).
    #[serde(skip)]
    pub correlations: Array2<f64>,
}

/// The scores computed from all frames at once (cheap); see [`held_out`] for those that train a
/// classifier.
pub fn disentanglement(latents: &Array2<f64>, factors: &Array2<f64>) -> Disentanglement {
    let spearman = mcc_spearman(factors.view(), latents.view());
    let m = mig(latents.view(), factors.view(), 20);
    let r2: Vec<f64> = linear_r2(latents.view(), factors.view());
    let correlations = rank_correlations(factors.view(), latents.view()).mapv(f64::abs);
    Disentanglement {
        mcc_spearman: spearman.mean,
        mcc_pearson: mcc(factors.view(), latents.view()).mean,
        matching: spearman
            .pairs
            .iter()
            .zip(&spearman.scores)
            .map(|(&(f, latent), &correlation)| MatchedFactor { factor: FACTOR_NAMES[f].to_string(), latent, correlation })
            .collect(),
        mig: m.score,
        sap_continuous: sap(sap_matrix_continuous(latents.view(), factors.view()).view()),
        modularity: modularity(m.mutual_info.view()),
        r2: r2.iter().sum::<f64>() / r2.len() as f64,
        r2_per_factor: FACTOR_NAMES.iter().map(|n| n.to_string()).zip(r2).collect(),
        correlations,
    }
}

/// The scores that train a classifier, tested on frames it did not see.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldOut {
    /// SAP as the reference scores dSprites: discrete factors, a LinearSVC per latent and factor.
    pub sap: f64,
    /// Explicitness: macro one-vs-rest ROC AUC of a logistic regression per factor.
    pub explicitness: f64,
    pub train_frames: usize,
    pub test_frames: usize,
}

/// Trained on the first two thirds of the frames, tested on the rest.
pub fn held_out(latents: &Array2<f64>, factors: &Array2<f64>) -> HeldOut {
    let cut = 2 * latents.nrows() / 3;
    let (train, test) = (ndarray::s![..cut, ..], ndarray::s![cut.., ..]);
    let (lt, ft, le, fe) = (latents.slice(train), factors.slice(train), latents.slice(test), factors.slice(test));
    HeldOut {
        sap: sap(sap_matrix_discrete(lt, ft, le, fe).view()),
        explicitness: explicitness(lt, ft, le, fe).test,
        train_frames: cut,
        test_frames: latents.nrows() - cut,
    }
}
