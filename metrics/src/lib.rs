//! Scores that compare a learned set of components with a ground-truth set, up to permutation
//! and sign: the optimal one-to-one matching (`linear_sum_assignment`, scipy's name and
//! semantics) and the mean correlation coefficient over it (MCC), as used for sparse codes
//! (O'Neill, Klindt et al. 2024) and for disentangled latents (Klindt et al. 2021). The
//! [`disentanglement`] module adds the factor–latent scores (MIG, SAP, modularity, Spearman MCC,
//! linear R²); [`intervention`] the scores that need batches with a factor held fixed (BetaVAE,
//! FactorVAE); [`similarity`] compares two representations of the same stimuli (CKA, RSA,
//! ridge predictivity); [`rsa`] the crossnobis RDM and the RSA noise ceiling from repeated
//! presentations; [`shape`] the shape metrics of Williams et al. 2021 (Procrustes,
//! angular and CCA distances with a permutation null); [`report`] holds what an evaluation of a fitted model reports.
//!
//! ```
//! use ndarray::array;
//! use neurozoo_metrics::{linear_sum_assignment, mcc};
//!
//! // The learned columns are the true ones permuted and sign-flipped.
//! let truth = array![[1.0, 0.0], [2.0, 1.0], [0.0, 3.0], [1.0, 1.0]];
//! let learned = array![[0.0, -1.0], [1.0, -2.0], [3.0, 0.0], [1.0, -1.0]];
//! let m = mcc(truth.view(), learned.view());
//! assert!((m.mean - 1.0).abs() < 1e-12);
//! assert_eq!(m.pairs, vec![(0, 1), (1, 0)]);
//!
//! // Minimum-cost assignment of rows to columns.
//! let (rows, cols) = linear_sum_assignment(array![[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]].view());
//! assert_eq!((rows, cols), (vec![0, 1, 2], vec![1, 0, 2]));
//! ```

mod classifiers;
pub mod disentanglement;
pub mod intervention;
pub mod measures;
pub mod report;
pub mod rsa;
pub mod shape;
pub mod similarity;

use ndarray::{Array2, ArrayView2, Axis};

/// The assignment of rows to columns with the least total cost, each row and column used at
/// most once; `min(n_rows, n_cols)` pairs, returned sorted by row like scipy's
/// `linear_sum_assignment`. Costs must be finite.
pub fn linear_sum_assignment(cost: ArrayView2<f64>) -> (Vec<usize>, Vec<usize>) {
    let (n, m) = cost.dim();
    if n == 0 || m == 0 {
        return (Vec::new(), Vec::new());
    }
    assert!(cost.iter().all(|c| c.is_finite()), "linear_sum_assignment needs finite costs");
    if n > m {
        let (cols, rows) = linear_sum_assignment(cost.t());
        let mut pairs: Vec<(usize, usize)> = rows.into_iter().zip(cols).collect();
        pairs.sort_unstable();
        return pairs.into_iter().unzip();
    }
    // Shortest augmenting paths with potentials (Jonker–Volgenant / Kuhn–Munkres), O(n²m):
    // rows are added one at a time, each along the cheapest path in reduced costs.
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; m + 1];
    // Column j (1-based) is matched to row p[j] (1-based, 0 = free); column 0 is a sentinel.
    let mut p = vec![0usize; m + 1];
    let mut way = vec![0usize; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![f64::INFINITY; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0;
            for j in 1..=m {
                if used[j] {
                    continue;
                }
                let reduced = cost[[i0 - 1, j - 1]] - u[i0] - v[j];
                if reduced < minv[j] {
                    minv[j] = reduced;
                    way[j] = j0;
                }
                if minv[j] < delta {
                    delta = minv[j];
                    j1 = j;
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        // Flip the augmenting path.
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut pairs: Vec<(usize, usize)> = (1..=m).filter(|&j| p[j] != 0).map(|j| (p[j] - 1, j - 1)).collect();
    pairs.sort_unstable();
    pairs.into_iter().unzip()
}

/// The best one-to-one matching under a similarity matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Matching {
    /// Mean similarity over the matched pairs.
    pub mean: f64,
    /// (row, column) pairs, sorted by row.
    pub pairs: Vec<(usize, usize)>,
    /// Similarity of each pair, in the order of `pairs`.
    pub scores: Vec<f64>,
}

/// Match rows to columns maximising the summed similarity.
pub fn best_matching(similarity: ArrayView2<f64>) -> Matching {
    let (rows, cols) = linear_sum_assignment(similarity.mapv(|s| -s).view());
    let scores: Vec<f64> = rows.iter().zip(&cols).map(|(&r, &c)| similarity[[r, c]]).collect();
    let mean = if scores.is_empty() { f64::NAN } else { scores.iter().sum::<f64>() / scores.len() as f64 };
    Matching { mean, pairs: rows.into_iter().zip(cols).collect(), scores }
}

/// Columns centred and scaled to unit norm; a constant column becomes 0.
fn standardise_columns(x: ArrayView2<f64>) -> Array2<f64> {
    let mean = x.mean_axis(Axis(0)).expect("at least one sample");
    let centred = &x - &mean;
    let norm = centred.map_axis(Axis(0), |c| c.dot(&c).sqrt());
    centred / &norm.mapv(|n| if n > 0.0 { n } else { f64::INFINITY })
}

/// Pearson correlation of every column of `a` (n × p) with every column of `b` (n × q): p × q.
/// A constant column correlates 0 with everything (it carries no information).
pub fn column_correlations(a: ArrayView2<f64>, b: ArrayView2<f64>) -> Array2<f64> {
    assert_eq!(a.nrows(), b.nrows(), "column_correlations: both need the same samples");
    standardise_columns(a).t().dot(&standardise_columns(b))
}

/// Pearson correlation of each column of `a` with the same column of `b` (n × p each): the
/// diagonal of [`column_correlations`] without the p × p product.
pub fn paired_correlations(a: ArrayView2<f64>, b: ArrayView2<f64>) -> Vec<f64> {
    assert_eq!(a.dim(), b.dim(), "paired_correlations: both need the same shape");
    (standardise_columns(a) * standardise_columns(b)).sum_axis(Axis(0)).to_vec()
}

/// Cosine similarity of every row of `a` (p × d) with every row of `b` (q × d): p × q.
pub fn row_cosines(a: ArrayView2<f64>, b: ArrayView2<f64>) -> Array2<f64> {
    let unit = |x: ArrayView2<f64>| {
        let norm = x.map_axis(Axis(1), |r| r.dot(&r).sqrt()).insert_axis(Axis(1));
        &x / &norm.mapv(|n| if n > 0.0 { n } else { f64::INFINITY })
    };
    unit(a).dot(&unit(b).t())
}

/// Mean correlation coefficient: mean |Pearson r| between the columns of `truth` and `learned`
/// (samples × components) under the best one-to-one matching. Signs do not matter.
pub fn mcc(truth: ArrayView2<f64>, learned: ArrayView2<f64>) -> Matching {
    best_matching(column_correlations(truth, learned).mapv(f64::abs).view())
}

/// Dictionary MCC: mean |cosine| between true and learned atoms (rows) under the best matching.
pub fn dictionary_mcc(truth: ArrayView2<f64>, learned: ArrayView2<f64>) -> Matching {
    best_matching(row_cosines(truth, learned).mapv(f64::abs).view())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn brute_force(cost: &Array2<f64>) -> f64 {
        fn go(cost: &Array2<f64>, row: usize, used: &mut Vec<bool>) -> f64 {
            if row == cost.nrows() {
                return 0.0;
            }
            let mut best = f64::INFINITY;
            for c in 0..cost.ncols() {
                if !used[c] {
                    used[c] = true;
                    best = best.min(cost[[row, c]] + go(cost, row + 1, used));
                    used[c] = false;
                }
            }
            best
        }
        go(cost, 0, &mut vec![false; cost.ncols()])
    }

    #[test]
    fn assignment_is_optimal_against_brute_force() {
        // Deterministic pseudo-random costs, small enough to enumerate, wide and tall.
        let mut state = 12345u64;
        for (n, m) in [(1, 1), (3, 3), (4, 6), (6, 4), (5, 5), (2, 7)] {
            let cost = Array2::from_shape_fn((n, m), |_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 33) % 1000) as f64 / 7.0 - 50.0
            });
            let (rows, cols) = linear_sum_assignment(cost.view());
            assert_eq!(rows.len(), n.min(m));
            let total: f64 = rows.iter().zip(&cols).map(|(&r, &c)| cost[[r, c]]).sum();
            let best = if n <= m { brute_force(&cost) } else { brute_force(&cost.t().to_owned()) };
            assert!((total - best).abs() < 1e-9, "{n}x{m}: {total} vs {best}");
        }
    }

    #[test]
    fn constant_columns_correlate_zero() {
        let a = array![[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]];
        let c = column_correlations(a.view(), a.view());
        assert!((c[[0, 0]] - 1.0).abs() < 1e-12);
        assert_eq!(c[[1, 1]], 0.0);
    }
}
