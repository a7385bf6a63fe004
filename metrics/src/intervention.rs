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

/// Multinomial logistic regression with an L2 penalty ‖W‖² / (2C) on the weights, not the
/// intercepts: scikit-learn's `LogisticRegression()` (C = 1, lbfgs, multinomial), whose
/// objective is strictly convex in the weights, solved here to convergence by Newton's method.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticRegression {
    /// (features, classes).
    pub weights: Array2<f64>,
    pub intercepts: Array1<f64>,
    pub classes: Vec<usize>,
}

impl LogisticRegression {
    pub fn fit(x: ArrayView2<f64>, labels: &[usize], c: f64) -> LogisticRegression {
        let mut classes: Vec<usize> = labels.to_vec();
        classes.sort_unstable();
        classes.dedup();
        let (n, d, k) = (x.nrows(), x.ncols(), classes.len());
        let y: Vec<usize> = labels.iter().map(|l| classes.binary_search(l).expect("a known class")).collect();
        // Parameters as one vector: class j's weights then its intercept, (d + 1) per class.
        let p = (d + 1) * k;
        let mut theta = Array1::<f64>::zeros(p);
        let row = |i: usize| -> Vec<f64> { x.row(i).iter().copied().chain([1.0]).collect() };
        let objective = |theta: &Array1<f64>| -> f64 {
            let mut total = 0.0;
            for (i, &yi) in y.iter().enumerate() {
                let logits = logits_of(theta, &row(i), k);
                total += log_sum_exp(&logits) - logits[yi];
            }
            total + penalty(theta, d, k) / (2.0 * c)
        };
        for _ in 0..100 {
            let mut gradient = Array1::<f64>::zeros(p);
            let mut hessian = Array2::<f64>::zeros((p, p));
            for (i, &yi) in y.iter().enumerate() {
                let xi = row(i);
                let probabilities = softmax(&logits_of(&theta, &xi, k));
                for a in 0..k {
                    let residual = probabilities[a] - f64::from(u8::from(a == yi));
                    for (u, xu) in xi.iter().enumerate() {
                        gradient[a * (d + 1) + u] += residual * xu;
                    }
                    for b in 0..k {
                        let w = probabilities[a] * (f64::from(u8::from(a == b)) - probabilities[b]);
                        for (u, xu) in xi.iter().enumerate() {
                            for (v, xv) in xi.iter().enumerate() {
                                hessian[[a * (d + 1) + u, b * (d + 1) + v]] += w * xu * xv;
                            }
                        }
                    }
                }
            }
            for a in 0..k {
                for u in 0..d {
                    gradient[a * (d + 1) + u] += theta[a * (d + 1) + u] / c;
                    hessian[[a * (d + 1) + u, a * (d + 1) + u]] += 1.0 / c;
                }
                // The softmax is blind to a common shift of the intercepts: a tiny ridge there
                // makes the Newton system solvable without changing any prediction.
                hessian[[a * (d + 1) + d, a * (d + 1) + d]] += 1e-9 * n as f64;
            }
            if gradient.iter().map(|g| g.abs()).fold(0.0, f64::max) < 1e-10 * n as f64 {
                break;
            }
            let step = crate::disentanglement::solve_positive_definite(&hessian, &gradient);
            // Backtracking keeps each Newton step a descent step.
            let (current, mut t) = (objective(&theta), 1.0);
            while t > 1e-8 && objective(&(&theta - &(&step * t))) > current {
                t *= 0.5;
            }
            theta = &theta - &(&step * t);
        }
        let weights = Array2::from_shape_fn((d, k), |(u, a)| theta[a * (d + 1) + u]);
        let intercepts = Array1::from_shape_fn(k, |a| theta[a * (d + 1) + d]);
        LogisticRegression { weights, intercepts, classes }
    }

    pub fn predict(&self, x: ArrayView2<f64>) -> Vec<usize> {
        let scores = x.dot(&self.weights) + &self.intercepts;
        scores.axis_iter(Axis(0)).map(|s| self.classes[(0..s.len()).fold(0, |best, a| if s[a] > s[best] { a } else { best })]).collect()
    }

    pub fn accuracy(&self, x: ArrayView2<f64>, labels: &[usize]) -> f64 {
        let predicted = self.predict(x);
        predicted.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64
    }
}

fn logits_of(theta: &Array1<f64>, x: &[f64], k: usize) -> Vec<f64> {
    let d1 = x.len();
    (0..k).map(|a| x.iter().enumerate().map(|(u, xu)| theta[a * d1 + u] * xu).sum()).collect()
}

fn log_sum_exp(v: &[f64]) -> f64 {
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    max + v.iter().map(|x| (x - max).exp()).sum::<f64>().ln()
}

fn softmax(v: &[f64]) -> Vec<f64> {
    let lse = log_sum_exp(v);
    v.iter().map(|x| (x - lse).exp()).collect()
}

/// ‖W‖², intercepts excluded.
fn penalty(theta: &Array1<f64>, d: usize, k: usize) -> f64 {
    (0..k).flat_map(|a| (0..d).map(move |u| a * (d + 1) + u)).map(|i| theta[i] * theta[i]).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three well-separated clusters: the regression classifies them all.
    #[test]
    fn logistic_regression_separates_clusters() {
        let centres = [[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]];
        let x = Array2::from_shape_fn((60, 2), |(i, j)| centres[i % 3][j] + ((i * 7 + j * 3) % 5) as f64 * 0.1);
        let labels: Vec<usize> = (0..60).map(|i| 10 + i % 3).collect();
        let model = LogisticRegression::fit(x.view(), &labels, 1.0);
        assert_eq!(model.classes, vec![10, 11, 12]);
        assert_eq!(model.accuracy(x.view(), &labels), 1.0);
    }
}
