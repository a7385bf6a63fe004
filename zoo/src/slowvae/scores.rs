//! Disentanglement scores of a fitted sprite-pair model: those computed from the latents of
//! the frames it saw ([`disentanglement`], and [`held_out`] for the ones that train a
//! classifier), and the BetaVAE and FactorVAE scores, with batches drawn from the sprite
//! renderer (any factor combination can be drawn, one factor held fixed) and represented by
//! their posterior means, as disentanglement_lib does; the caller picks how many points.

use ndarray::Array2;
use neurozoo_datasets::simulate::sprites::{random_classes, render, FACTOR_NAMES};
use neurozoo_metrics::disentanglement::{
    dci, explicitness, linear_r2, mcc_spearman, mig, modularity, rank_correlations, sap, sap_matrix_continuous, sap_matrix_discrete,
};
use neurozoo_metrics::intervention::{beta_vae_feature, vote_accuracy, FactorVae, LogisticRegression};
use neurozoo_metrics::mcc;
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
    /// DCI (Eastwood & Williams 2018) with disentanglement_lib's formulas; importances from a
    /// logistic regression, not the reference's boosted trees (see
    /// [`neurozoo_metrics::disentanglement::dci`]).
    pub dci_disentanglement: f64,
    pub dci_completeness: f64,
    /// The classifier's held-out accuracy, mean over factors.
    pub dci_informativeness: f64,
    pub train_frames: usize,
    pub test_frames: usize,
}

/// Trained on the first two thirds of the frames, tested on the rest.
pub fn held_out(latents: &Array2<f64>, factors: &Array2<f64>) -> HeldOut {
    let cut = 2 * latents.nrows() / 3;
    let (train, test) = (ndarray::s![..cut, ..], ndarray::s![cut.., ..]);
    let (lt, ft, le, fe) = (latents.slice(train), factors.slice(train), latents.slice(test), factors.slice(test));
    let dci = dci(lt, ft, le, fe);
    HeldOut {
        sap: sap(sap_matrix_discrete(lt, ft, le, fe).view()),
        explicitness: explicitness(lt, ft, le, fe).test,
        dci_disentanglement: dci.disentanglement,
        dci_completeness: dci.completeness,
        dci_informativeness: dci.informativeness_test,
        train_frames: cut,
        test_frames: latents.nrows() - cut,
    }
}
