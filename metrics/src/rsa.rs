//! RSA for one population whose stimuli were shown several times: the crossnobis RDM
//! (rsatoolbox's `calc_rdm_crossnobis`) and the RSA noise ceiling (rsatoolbox's
//! `boot_noise_ceiling` with the Spearman comparator), from single trials.
//!
//! **Repeat partitions.** rsatoolbox's noise ceiling is over subjects, each an RDM of the same
//! conditions, and its crossnobis distance cross-validates over partitions of the trials. One
//! population has no subjects; what it has are independent repeats of the same neurons' noise.
//! So both use the same partitions: the k-th presentation of a stimulus (in trial order) goes to
//! partition k mod P, with P the fewest presentations of any stimulus, so that every partition
//! holds every stimulus (a stimulus shown more often adds its extra trials to the first
//! partitions, where they are averaged). Each partition's mean responses give one
//! correlation-distance RDM, a "subject" of the noise ceiling:
//!
//! - **upper bound**: the mean over partitions of Spearman ρ between the partition's RDM and
//!   the average of all partitions' ranked RDMs (rsatoolbox's `pool_rdm` for Spearman);
//! - **lower bound**: the same with that partition left out of the average.
//!
//! They bound what a model RDM can reach in the same evaluation, [`mean_spearman`]: its mean ρ
//! with the partitions' RDMs (rsatoolbox's `eval_fixed`). They do not bound the model's ρ with
//! the RDM of the responses averaged over all repeats, which is less noisy than any partition's.
//!
//! **Crossnobis.** For each partition k, the mean patterns a (of the trials in the other
//! partitions) and b (of partition k) give dᵢⱼ = (aᵢ − aⱼ)·Λ(bᵢ − bⱼ) / n_units; the RDM is their
//! mean over k. The noise in a and b is independent, so dᵢⱼ is an unbiased estimate of the
//! squared (Mahalanobis) distance of the true mean patterns: it is zero on average for two
//! stimuli that drive the same responses, and may be negative. Λ, the noise precision, is the
//! identity (rsatoolbox's default; the distance is then the cross-validated squared Euclidean):
//! a noise covariance estimated from the residuals of a few repeats per stimulus is poorly
//! conditioned for many units, and a diagonal one would weight each unit by its trial-to-trial
//! reliability, a choice the user should make knowingly.
//!
//! ```
//! use ndarray::array;
//! use neurozoo_metrics::rsa::RepeatPartitions;
//!
//! // Three stimuli, each shown twice (trial order: 0, 1, 2, 0, 1, 2), two units.
//! let trials = array![[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.2, 0.1], [0.1, 0.8], [0.9, 1.1]];
//! let partitions = RepeatPartitions::new(trials.view(), &[0, 1, 2, 0, 1, 2], 3).unwrap();
//! assert_eq!(partitions.len(), 2);
//! let d = partitions.crossnobis();
//! assert!(d[[0, 1]] > d[[0, 2]]);
//! ```

use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::disentanglement::average_ranks;
use crate::similarity::{rdm_matrix, upper_triangle};

/// Why single trials give no partitions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepeatError {
    /// A stimulus shown fewer than twice cannot be in two partitions.
    #[error("stimulus {stimulus} has {trials} trial(s): every stimulus needs at least 2 repeats")]
    TooFewRepeats { stimulus: usize, trials: usize },
    /// An RDM of fewer than 3 stimuli has fewer than 3 pairs to rank.
    #[error("{stimuli} stimuli with repeats: at least 3 are needed")]
    TooFewStimuli { stimuli: usize },
    /// The trials' stimulus indices do not match the responses.
    #[error("{labels} stimulus labels for {trials} trials")]
    Mismatch { labels: usize, trials: usize },
}

/// Single trials split into repeat partitions (see the module docs): per partition, the sum
/// and the number of trials of every stimulus.
#[derive(Debug, Clone)]
pub struct RepeatPartitions {
    /// Per partition: stimuli × units sums of its trials.
    sums: Vec<Array2<f64>>,
    /// Per partition: trials of each stimulus.
    counts: Vec<Array1<f64>>,
}

impl RepeatPartitions {
    /// `trials` (n_trials × n_units) showing `stimulus[t]` ∈ 0..n_stimuli, in the order shown.
    /// Every stimulus needs at least 2 trials, and at least 3 stimuli.
    pub fn new(trials: ArrayView2<f64>, stimulus: &[usize], n_stimuli: usize) -> Result<RepeatPartitions, RepeatError> {
        if stimulus.len() != trials.nrows() {
            return Err(RepeatError::Mismatch { labels: stimulus.len(), trials: trials.nrows() });
        }
        if n_stimuli < 3 {
            return Err(RepeatError::TooFewStimuli { stimuli: n_stimuli });
        }
        let mut shown = vec![0usize; n_stimuli];
        for &s in stimulus {
            shown[s] += 1;
        }
        let (fewest, &trials_of_fewest) = shown.iter().enumerate().min_by_key(|(_, n)| **n).expect("at least 3 stimuli");
        if trials_of_fewest < 2 {
            return Err(RepeatError::TooFewRepeats { stimulus: fewest, trials: trials_of_fewest });
        }
        let p = trials_of_fewest;
        let mut sums = vec![Array2::zeros((n_stimuli, trials.ncols())); p];
        let mut counts = vec![Array1::zeros(n_stimuli); p];
        let mut seen = vec![0usize; n_stimuli];
        for (row, &s) in trials.axis_iter(Axis(0)).zip(stimulus) {
            let k = seen[s] % p;
            seen[s] += 1;
            let mut sum = sums[k].row_mut(s);
            sum += &row;
            counts[k][s] += 1.0;
        }
        Ok(RepeatPartitions { sums, counts })
    }

    /// The number of partitions (the fewest presentations of any stimulus).
    pub fn len(&self) -> usize {
        self.sums.len()
    }

    /// Always false: there are at least 2 partitions.
    pub fn is_empty(&self) -> bool {
        self.sums.is_empty()
    }

    /// Partition k's mean responses, stimuli × units.
    fn means(&self, k: usize) -> Array2<f64> {
        &self.sums[k] / &self.counts[k].view().insert_axis(Axis(1))
    }

    /// One correlation-distance RDM ([`rdm_matrix`]) per partition.
    pub fn rdms(&self) -> Vec<Array2<f64>> {
        (0..self.len()).map(|k| rdm_matrix(self.means(k).view())).collect()
    }

    /// The crossnobis RDM (n_stimuli × n_stimuli) with identity noise precision: each partition
    /// against the mean of all trials in the others, averaged over partitions.
    pub fn crossnobis(&self) -> Array2<f64> {
        let (n, units) = self.sums[0].dim();
        let total: Array2<f64> = self.sums.iter().fold(Array2::zeros((n, units)), |t, s| t + s);
        let total_count: Array1<f64> = self.counts.iter().fold(Array1::zeros(n), |t, c| t + c);
        let mut d = Array2::<f64>::zeros((n, n));
        for k in 0..self.len() {
            let rest = (&total - &self.sums[k]) / &(&total_count - &self.counts[k]).insert_axis(Axis(1));
            let held = self.means(k);
            // kᵢⱼ = aᵢ·bⱼ; (aᵢ − aⱼ)·(bᵢ − bⱼ) = kᵢᵢ + kⱼⱼ − kᵢⱼ − kⱼᵢ.
            let kernel = rest.dot(&held.t());
            for i in 0..n {
                for j in 0..n {
                    d[[i, j]] += kernel[[i, i]] + kernel[[j, j]] - kernel[[i, j]] - kernel[[j, i]];
                }
            }
        }
        d / (self.len() * units) as f64
    }
}

/// The lower and upper bound of the RSA noise ceiling (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseCeiling {
    pub lower: f64,
    pub upper: f64,
}

/// rsatoolbox's `boot_noise_ceiling(rdms, method='spearman')` of the RDMs (n × n each, of the
/// same stimuli): at least 2 of them.
pub fn spearman_noise_ceiling(rdms: &[Array2<f64>]) -> NoiseCeiling {
    assert!(rdms.len() >= 2, "a noise ceiling needs at least 2 RDMs");
    let ranked: Vec<Array1<f64>> = rdms.iter().map(|d| average_ranks(upper_triangle(d).view())).collect();
    let sum: Array1<f64> = ranked.iter().fold(Array1::zeros(ranked[0].len()), |s, r| s + r);
    let m = rdms.len() as f64;
    let (mut lower, mut upper) = (0.0, 0.0);
    for r in &ranked {
        upper += spearman(&(&sum / m), r);
        lower += spearman(&((&sum - r) / (m - 1.0)), r);
    }
    NoiseCeiling { lower: lower / m, upper: upper / m }
}

/// The mean Spearman ρ of `model` (an n × n RDM) with each of `rdms` (rsatoolbox's
/// `compare(model, rdms, method='spearman')`, averaged): what [`spearman_noise_ceiling`] bounds.
pub fn mean_spearman(model: &Array2<f64>, rdms: &[Array2<f64>]) -> f64 {
    let m = upper_triangle(model);
    rdms.iter().map(|d| spearman(&m, &upper_triangle(d))).sum::<f64>() / rdms.len() as f64
}

/// Spearman ρ of two vectors: Pearson r of their average ranks (NaN where one is constant;
/// rsatoolbox's `_cosine` gives 0 there, a number that would say "unrelated").
pub fn spearman(a: &Array1<f64>, b: &Array1<f64>) -> f64 {
    let column = |v: &Array1<f64>| average_ranks(v.view()).insert_axis(Axis(1));
    crate::paired_correlations(column(a).view(), column(b).view())[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Unbalanced repeats: extra trials join the first partitions, every partition holds every
    /// stimulus, and partition means average what they hold.
    #[test]
    fn extra_trials_join_the_first_partitions() {
        let trials = array![[1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [7.0]];
        // Stimulus 0 shown 3 times, 1 and 2 twice: 2 partitions, stimulus 0's third trial in 0.
        let p = RepeatPartitions::new(trials.view(), &[0, 1, 0, 2, 1, 2, 0], 3).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p.means(0).column(0).to_vec(), vec![4.0, 2.0, 4.0]);
        assert_eq!(p.means(1).column(0).to_vec(), vec![3.0, 5.0, 6.0]);
    }

    #[test]
    fn too_few_repeats_or_stimuli_are_refused() {
        let trials = Array2::<f64>::zeros((5, 2));
        assert_eq!(
            RepeatPartitions::new(trials.view(), &[0, 1, 2, 0, 1], 3).unwrap_err(),
            RepeatError::TooFewRepeats { stimulus: 2, trials: 1 }
        );
        assert_eq!(RepeatPartitions::new(trials.view(), &[0, 1, 0, 1, 0], 2).unwrap_err(), RepeatError::TooFewStimuli { stimuli: 2 });
        assert!(matches!(RepeatPartitions::new(trials.view(), &[0, 1, 2], 3), Err(RepeatError::Mismatch { labels: 3, trials: 5 })));
    }

    /// Without noise, the crossnobis distance is the squared Euclidean distance over units.
    #[test]
    fn noiseless_crossnobis_is_the_squared_euclidean_distance() {
        let means = array![[0.0, 1.0], [2.0, 1.0], [1.0, 3.0]];
        let trials = ndarray::concatenate![Axis(0), means, means, means];
        let d = RepeatPartitions::new(trials.view(), &[0, 1, 2, 0, 1, 2, 0, 1, 2], 3).unwrap().crossnobis();
        assert!((d[[0, 1]] - 4.0 / 2.0).abs() < 1e-12 && (d[[0, 2]] - 5.0 / 2.0).abs() < 1e-12 && d[[1, 1]] == 0.0);
    }
}
