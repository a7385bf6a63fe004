//! The automated two-alternative forced-choice (2AFC) task of psychophysical interpretability
//! experiments (Borowski et al. 2021), solved by image similarity instead of people.
//!
//! For one unit, stimuli are ranked by activation. A trial shows a query from the top and one
//! from the bottom of the ranking, and `references` reference images from each end; the task is
//! to tell which query goes with which references. Following Klindt et al. 2023, trial t takes
//! its queries from ranks 0..T (shuffled, T = trials) and its references from ranks
//! T·(j + 1) + t, j = 0..references, at each end.

use ndarray::{ArrayView1, ArrayView2};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Protocol {
    pub trials: usize,
    pub references: usize,
    /// Slope of the MIS-style classifier σ(α·Δ).
    pub alpha: f64,
}

impl Protocol {
    /// Stimuli one side of the ranking needs.
    pub fn per_side(&self) -> usize {
        self.trials * (self.references + 1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// Klindt et al. 2023: mean over trials of σ(ℓ_correct − ℓ_swap) on the trial's z-scored
    /// similarities.
    pub ii: f64,
    /// Zimmermann et al. 2024's form: mean over trials of σ(α·(ℓ_correct − ℓ_swap)) on raw
    /// similarities.
    pub mis: f64,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Scores of one unit; `embedding` holds one unit-norm row per stimulus, so a dot product is the
/// cosine similarity. Needs `2 · protocol.per_side()` stimuli.
pub fn score(activation: ArrayView1<'_, f32>, embedding: ArrayView2<'_, f32>, protocol: &Protocol, rng: &mut ChaCha8Rng) -> Scores {
    let n = activation.len();
    let per_side = protocol.per_side();
    assert!(n >= 2 * per_side, "{n} stimuli are too few for the protocol");
    // Only the two ends of the ranking are used: partial selection, then sort those. Ties are
    // broken by stimulus index, so the ranking is a total order and the same on every run.
    let activation: Vec<f32> = activation.iter().copied().collect();
    let by_rank = |&a: &usize, &b: &usize| activation[b].total_cmp(&activation[a]).then(a.cmp(&b));
    let mut order: Vec<usize> = (0..n).collect();
    order.select_nth_unstable_by(per_side - 1, by_rank);
    let mut top = order[..per_side].to_vec();
    top.sort_unstable_by(by_rank);
    order.select_nth_unstable_by(n - per_side, by_rank);
    let mut bottom = order[n - per_side..].to_vec();
    bottom.sort_unstable_by(|a, b| by_rank(b, a));
    let (t_count, r_count) = (protocol.trials, protocol.references);
    let mut queries_top: Vec<usize> = top[..t_count].to_vec();
    let mut queries_bottom: Vec<usize> = bottom[..t_count].to_vec();
    queries_top.shuffle(rng);
    queries_bottom.shuffle(rng);
    let sim = |a: usize, b: usize| f64::from(embedding.row(a).dot(&embedding.row(b)));
    let (mut ii, mut mis) = (0.0, 0.0);
    for t in 0..t_count {
        let refs = |side: &[usize]| -> Vec<usize> { (0..r_count).map(|j| side[t_count * (j + 1) + t]).collect() };
        let (refs_top, refs_bottom) = (refs(&top), refs(&bottom));
        let (q_top, q_bottom) = (queries_top[t], queries_bottom[t]);
        // The trial's similarity matrix: (top refs, bottom refs) × (top query, bottom query).
        let block = |refs: &[usize], q: usize| -> Vec<f64> { refs.iter().map(|&r| sim(r, q)).collect() };
        let parts = [block(&refs_top, q_top), block(&refs_bottom, q_bottom), block(&refs_top, q_bottom), block(&refs_bottom, q_top)];
        let all: Vec<f64> = parts.iter().flatten().copied().collect();
        let mean_all = all.iter().sum::<f64>() / all.len() as f64;
        let sd = (all.iter().map(|v| (v - mean_all).powi(2)).sum::<f64>() / all.len() as f64).sqrt();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let delta = mean(&parts[0]) + mean(&parts[1]) - mean(&parts[2]) - mean(&parts[3]);
        // z-scoring is a shift (which cancels in the difference) and a division by sd.
        let z_delta = if sd > 0.0 { delta / sd } else { 0.0 };
        ii += sigmoid(z_delta);
        mis += sigmoid(protocol.alpha * delta);
    }
    Scores { ii: ii / t_count as f64, mis: mis / t_count as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2};
    use rand::SeedableRng;

    /// Two clusters of stimuli, one embedding direction each: a unit that separates them scores
    /// near 1, a unit with shuffled activations scores near chance.
    #[test]
    fn a_unit_that_separates_clusters_scores_high_and_noise_near_chance() {
        let n = 400;
        let embedding = Array2::from_shape_fn((n, 2), |(i, j)| if (i < n / 2) == (j == 0) { 1.0 } else { 0.0 });
        let separating = Array1::from_shape_fn(n, |i| if i < n / 2 { 1.0 + i as f32 * 1e-3 } else { -(i as f32) * 1e-3 });
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let noise = Array1::from_shape_fn(n, |i| ((i * 7919) % 401) as f32);
        let protocol = Protocol { trials: 10, references: 9, alpha: 0.16 };
        let good = score(separating.view(), embedding.view(), &protocol, &mut rng);
        let chance = score(noise.view(), embedding.view(), &protocol, &mut rng);
        assert!(good.ii > 0.95, "{good:?}");
        assert!((chance.ii - 0.5).abs() < 0.15, "{chance:?}");
        assert!(good.mis > 0.5 && good.mis > chance.mis);
    }
}
