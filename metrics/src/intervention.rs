//! Disentanglement scores that need batches drawn with one factor held fixed (disentanglement_lib's
//! definitions): the **BetaVAE score** (Higgins et al. 2017: a logistic regression predicts the
//! fixed factor from the mean |z₁ − z₂| of a batch of pairs sharing it) and the **FactorVAE
//! score** (Kim & Mnih 2018: the latent of least normalised variance in a batch with one fixed
//! factor votes for that factor; a majority-vote classifier). The caller draws the batches; these
//! functions turn the representations into scores.
//!
//! ```
//! use ndarray::{array, Array2};
//! use neurozoo_metrics::intervention::{FactorVae, vote_accuracy};
//!
//! // Two latents, each the image of one factor: fixing factor f silences latent f.
//! let global = array![1.0, 1.0];
//! let batch = |f: usize| Array2::from_shape_fn((8, 2), |(i, d)| if d == f { 0.5 } else { i as f64 });
//! let fv = FactorVae::new(global.view(), 0.05);
//! let votes = fv.votes(&[(0, batch(0)), (1, batch(1)), (1, batch(1))], 2);
//! assert_eq!(vote_accuracy(&votes, &votes), 1.0);
//! ```

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

pub use crate::classifiers::LogisticRegression;

/// Variance with n − 1 in the denominator, per column.
fn column_variances(x: ArrayView2<f64>) -> Array1<f64> {
    x.var_axis(Axis(0), 1.0)
}

/// The FactorVAE score's voting, given the latents' global variances (disentanglement_lib
/// estimates them from 10 000 random samples, ddof 1).
#[derive(Debug, Clone, PartialEq)]
pub struct FactorVae {
    pub global_variances: Array1<f64>,
    /// Latents whose global standard deviation reaches the threshold (0.05 in the reference's
    /// configs); collapsed latents take no part.
    pub active: Vec<usize>,
}

impl FactorVae {
    pub fn new(global_variances: ArrayView1<f64>, threshold: f64) -> FactorVae {
        let active = global_variances.iter().enumerate().filter(|(_, v)| v.sqrt() >= threshold).map(|(d, _)| d).collect();
        FactorVae { global_variances: global_variances.to_owned(), active }
    }

    /// Votes (factors × latents): each (fixed factor, representations of its batch) votes for the
    /// active latent with the least variance relative to its global variance.
    ///
    /// Like disentanglement_lib, the vote goes to the latent's position among the *active*
    /// latents, which is its own index only when none is pruned.
    pub fn votes(&self, samples: &[(usize, Array2<f64>)], n_factors: usize) -> Array2<i64> {
        let mut votes = Array2::zeros((n_factors, self.global_variances.len()));
        for (factor, representations) in samples {
            let local = column_variances(representations.view());
            let (mut best, mut best_ratio) = (0, f64::INFINITY);
            for (position, &d) in self.active.iter().enumerate() {
                let ratio = local[d] / self.global_variances[d];
                // np.argmin: the first of equal minima.
                if ratio < best_ratio {
                    (best, best_ratio) = (position, ratio);
                }
            }
            votes[[*factor, best]] += 1;
        }
        votes
    }
}

/// Accuracy on `votes` of the majority-vote classifier learned from `training` (each latent
/// predicts the factor it got most training votes for; ties to the lower factor).
pub fn vote_accuracy(training: &Array2<i64>, votes: &Array2<i64>) -> f64 {
    let correct: i64 = (0..training.ncols())
        .map(|d| {
            let column = training.column(d);
            let predicted = (0..column.len()).fold(0, |best, f| if column[f] > column[best] { f } else { best });
            votes[[predicted, d]]
        })
        .sum();
    correct as f64 / votes.sum() as f64
}

/// The BetaVAE score's feature of one batch pair: mean over the batch of |z₁ − z₂|.
pub fn beta_vae_feature(first: ArrayView2<f64>, second: ArrayView2<f64>) -> Array1<f64> {
    (&first - &second).mapv(f64::abs).mean_axis(Axis(0)).expect("a non-empty batch")
}
