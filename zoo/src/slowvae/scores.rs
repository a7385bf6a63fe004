//! The BetaVAE and FactorVAE scores of a fitted model, with batches drawn from the sprite
//! renderer (any factor combination can be drawn, one factor held fixed) and represented by
//! their posterior means, as disentanglement_lib does; the caller picks how many points.

use ndarray::Array2;
use neurozoo_datasets::simulate::sprites::{random_classes, render};
use neurozoo_metrics::intervention::{beta_vae_feature, vote_accuracy, FactorVae, LogisticRegression};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tch::{Device, Tensor};

use super::SlowVae;

/// Points drawn for the scores. The reference (disentanglement_lib's configs for the paper) uses
/// batches of 64, 10 000 training and 5 000 evaluation points, 10 000 for the variances.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Budget {
    pub batch_size: usize,
    pub num_train: usize,
    pub num_eval: usize,
    pub num_variance_estimate: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InterventionScores {
    pub beta_vae_train: f64,
    pub beta_vae: f64,
    pub factor_vae_train: f64,
    pub factor_vae: f64,
    /// Latents FactorVAE kept (global standard deviation ≥ 0.05).
    pub active_latents: usize,
    pub budget: Budget,
}

struct Sampler<'a> {
    model: &'a SlowVae,
    device: Device,
    rng: ChaCha8Rng,
}

impl Sampler<'_> {
    fn classes(&mut self, n: usize) -> Vec<[usize; 5]> {
        (0..n).map(|_| random_classes(&mut self.rng)).collect()
    }

    /// Posterior means of the rendered frames: (frames, z_dim).
    fn represent(&self, classes: &[[usize; 5]]) -> Array2<f64> {
        let mut pixels = Vec::with_capacity(classes.len() * 64 * 64);
        for c in classes {
            pixels.extend(render(c).iter().map(|&v| f32::from(v)));
        }
        self.model.posterior_means(&Tensor::from_slice(&pixels).reshape([classes.len() as i64, 1, 64, 64]).to_device(self.device))
    }
}

pub fn intervention_scores(model: &SlowVae, device: Device, seed: u64, budget: Budget) -> InterventionScores {
    let mut s = Sampler { model, device, rng: ChaCha8Rng::seed_from_u64(seed) };
    let b = budget.batch_size;

    // BetaVAE: pairs of batches sharing the value of one factor, feature mean |z₁ − z₂|.
    let beta_points = |s: &mut Sampler<'_>, n: usize| -> (Array2<f64>, Vec<usize>) {
        let mut features = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..n {
            let factor = s.rng.random_range(0..5);
            let first = s.classes(b);
            let mut second = s.classes(b);
            for (a, c) in first.iter().zip(second.iter_mut()) {
                c[factor] = a[factor];
            }
            features.push(beta_vae_feature(s.represent(&first).view(), s.represent(&second).view()));
            labels.push(factor);
        }
        let z = features[0].len();
        (Array2::from_shape_fn((n, z), |(i, d)| features[i][d]), labels)
    };
    let (train_x, train_y) = beta_points(&mut s, budget.num_train);
    let (eval_x, eval_y) = beta_points(&mut s, budget.num_eval);
    let classifier = LogisticRegression::fit(train_x.view(), &train_y, 1.0);

    // FactorVAE: one factor fixed across a batch; the least-varying latent votes for it.
    let all = s.classes(budget.num_variance_estimate);
    let global = s.represent(&all).var_axis(ndarray::Axis(0), 1.0);
    let factor_vae = FactorVae::new(global.view(), 0.05);
    let vote_batches = |s: &mut Sampler<'_>, n: usize| {
        let samples: Vec<(usize, Array2<f64>)> = (0..n)
            .map(|_| {
                let factor = s.rng.random_range(0..5);
                let mut classes = s.classes(b);
                let fixed = classes[0][factor];
                classes.iter_mut().for_each(|c| c[factor] = fixed);
                (factor, s.represent(&classes))
            })
            .collect();
        factor_vae.votes(&samples, 5)
    };
    let train_votes = vote_batches(&mut s, budget.num_train);
    let eval_votes = vote_batches(&mut s, budget.num_eval);
    let active = factor_vae.active.len();
    InterventionScores {
        beta_vae_train: classifier.accuracy(train_x.view(), &train_y),
        beta_vae: classifier.accuracy(eval_x.view(), &eval_y),
        factor_vae_train: if active == 0 { 0.0 } else { vote_accuracy(&train_votes, &train_votes) },
        factor_vae: if active == 0 { 0.0 } else { vote_accuracy(&train_votes, &eval_votes) },
        active_latents: active,
        budget,
    }
}
