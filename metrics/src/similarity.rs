//! Comparing two representations of the same stimuli (rows): centred kernel alignment (Kornblith
//! et al. 2019; linear, RBF and debiased), representational similarity analysis (correlation-
//! distance RDMs compared by Spearman ρ) and cross-validated ridge predictivity of each column of
//! one from the other, with the reference implementations' definitions (the Kornblith et al. demo
//! code, rsatoolbox, scikit-learn's `RidgeCV`).
//!
//! ```
//! use ndarray::Array2;
//! use neurozoo_metrics::similarity::{linear_cka, rsa};
//!
//! let x = Array2::from_shape_fn((20, 3), |(i, j)| ((i * 7 + j * 3) % 11) as f64);
//! // CKA is invariant to rotation and isotropic scaling: 2·x is the same representation.
//! assert!((linear_cka(x.view(), (&x * 2.0).view()) - 1.0).abs() < 1e-12);
//! assert!((rsa(x.view(), x.view()) - 1.0).abs() < 1e-12);
//! ```

use ndarray::{s, Array1, Array2, ArrayView2, Axis};

/// The linear kernel x xᵀ (n × n), what linear CKA compares.
pub fn gram_linear(x: ArrayView2<f64>) -> Array2<f64> {
    x.dot(&x.t())
}

/// The RBF kernel exp(−d² / (2 t² m)), d² the squared Euclidean distances and m their median
/// over the whole n × n matrix, diagonal included (as the reference demo code).
pub fn gram_rbf(x: ArrayView2<f64>, threshold: f64) -> Array2<f64> {
    rbf_from_linear(&gram_linear(x), threshold)
}

/// [`gram_rbf`] from the linear kernel (d²ᵢⱼ = xᵢ·xᵢ + xⱼ·xⱼ − 2 xᵢ·xⱼ): a caller that needs
/// both kernels pays for the n × n × p product once.
pub fn rbf_from_linear(dot: &Array2<f64>, threshold: f64) -> Array2<f64> {
    let squared = squared_distances_from_linear(dot);
    let mut values: Vec<f64> = squared.iter().copied().collect();
    let m = values.len();
    // The median by selection (linear time; a sort of the n² distances was a second per 4000 stimuli).
    let (below, &mut upper, _) = values.select_nth_unstable_by(m / 2, f64::total_cmp);
    let median = if m % 2 == 1 { upper } else { 0.5 * (below.iter().copied().max_by(f64::total_cmp).expect("m ≥ 2") + upper) };
    squared.mapv(|d| (-d / (2.0 * threshold * threshold * median)).exp())
}

/// The squared Euclidean distances between the rows, from their linear kernel.
fn squared_distances_from_linear(dot: &Array2<f64>) -> Array2<f64> {
    let norms = dot.diag().to_owned();
    let n = dot.nrows();
    Array2::from_shape_fn((n, n), |(i, j)| norms[i] + norms[j] - 2.0 * dot[[i, j]])
}

/// The squared-Euclidean RDM (n × n) of the rows of x (n × p), over p: rsatoolbox's
/// `calc_rdm(method='euclidean')`, the geometry a crossnobis RDM estimates without noise.
pub fn euclidean_rdm_matrix(x: ArrayView2<f64>) -> Array2<f64> {
    squared_distances_from_linear(&gram_linear(x)) / x.ncols() as f64
}

/// Double centring, or the unbiased (U-statistic) centring of Song et al. 2012 as the reference.
fn center_gram(gram: &Array2<f64>, unbiased: bool) -> Array2<f64> {
    let n = gram.nrows() as f64;
    let mut g = gram.clone();
    if unbiased {
        g.diag_mut().fill(0.0);
        let means = g.sum_axis(Axis(0)) / (n - 2.0);
        let means = &means - means.sum() / (2.0 * (n - 1.0));
        let mut c = &g - &means.view().insert_axis(Axis(1)) - means.view().insert_axis(Axis(0));
        c.diag_mut().fill(0.0);
        c
    } else {
        let means = g.mean_axis(Axis(0)).expect("rows");
        let means = &means - means.mean().expect("rows") / 2.0;
        g = &g - &means.view().insert_axis(Axis(1)) - means.view().insert_axis(Axis(0));
        g
    }
}

/// CKA of two n × n kernel matrices of the same stimuli ([`gram_linear`], [`gram_rbf`]), with
/// the unbiased HSIC estimator when `debiased`: what a bootstrap over stimuli resamples, rows and
/// columns together, without recomputing kernels.
pub fn cka_of_grams(gram_x: &Array2<f64>, gram_y: &Array2<f64>, debiased: bool) -> f64 {
    cka(gram_x, gram_y, debiased)
}

/// [`cka_of_grams`] (debiased) of the kernels restricted to the distinct stimuli `rows`, without
/// copying them: the unbiased HSIC in closed form (Song et al. 2012, eq. 5), from the sums of
/// kᵢⱼlᵢⱼ and the row sums of the kernels with their diagonals left out, in one pass over the
/// |rows|² entries. What a bootstrap needs per resample; centring copies of the submatrices took
/// ten passes and as many n × n temporaries.
pub fn debiased_cka_of_rows(gram_x: &Array2<f64>, gram_y: &Array2<f64>, rows: &[usize]) -> f64 {
    let m = rows.len();
    let (mut kl, mut kk, mut ll) = (0.0, 0.0, 0.0);
    let (mut row_k, mut row_l) = (vec![0.0; m], vec![0.0; m]);
    for (a, &i) in rows.iter().enumerate() {
        let (gx, gy) = (gram_x.row(i), gram_y.row(i));
        let (mut sk, mut sl) = (0.0, 0.0);
        for (b, &j) in rows.iter().enumerate() {
            if a != b {
                let (k, l) = (gx[j], gy[j]);
                kl += k * l;
                kk += k * k;
                ll += l * l;
                sk += k;
                sl += l;
            }
        }
        (row_k[a], row_l[a]) = (sk, sl);
    }
    let n = m as f64;
    let dot = |p: &[f64], q: &[f64]| p.iter().zip(q).map(|(a, b)| a * b).sum::<f64>();
    let total = |p: &[f64]| p.iter().sum::<f64>();
    // n(n − 3) · HSIC_u; the factor cancels in the ratio.
    let hsic = |trace: f64, p: &[f64], q: &[f64]| trace + total(p) * total(q) / ((n - 1.0) * (n - 2.0)) - 2.0 * dot(p, q) / (n - 2.0);
    hsic(kl, &row_k, &row_l) / (hsic(kk, &row_k, &row_k).sqrt() * hsic(ll, &row_l, &row_l).sqrt())
}

fn cka(gram_x: &Array2<f64>, gram_y: &Array2<f64>, debiased: bool) -> f64 {
    let (x, y) = (center_gram(gram_x, debiased), center_gram(gram_y, debiased));
    let dot = |a: &Array2<f64>, b: &Array2<f64>| (a * b).sum();
    dot(&x, &y) / (dot(&x, &x).sqrt() * dot(&y, &y).sqrt())
}

/// Linear CKA of x (n × p) and y (n × q).
pub fn linear_cka(x: ArrayView2<f64>, y: ArrayView2<f64>) -> f64 {
    cka(&gram_linear(x), &gram_linear(y), false)
}

/// Linear CKA with the unbiased HSIC estimator (less biased upwards when p or q ≫ n).
pub fn debiased_linear_cka(x: ArrayView2<f64>, y: ArrayView2<f64>) -> f64 {
    cka(&gram_linear(x), &gram_linear(y), true)
}

/// RBF CKA; the bandwidth is `threshold` times the median distance (Kornblith et al.: 0.5–1).
pub fn rbf_cka(x: ArrayView2<f64>, y: ArrayView2<f64>, threshold: f64) -> f64 {
    cka(&gram_rbf(x, threshold), &gram_rbf(y, threshold), false)
}

/// The representational dissimilarity matrix (n × n): 1 − Pearson r between the stimuli's
/// response patterns (rows of x).
pub fn rdm_matrix(x: ArrayView2<f64>) -> Array2<f64> {
    let centred = &x - &x.mean_axis(Axis(1)).expect("units").insert_axis(Axis(1));
    let norms = centred.map_axis(Axis(1), |r| r.dot(&r).sqrt()).mapv(|v| if v > 0.0 { v } else { f64::INFINITY });
    let unit = &centred / &norms.insert_axis(Axis(1));
    unit.dot(&unit.t()).mapv(|r| 1.0 - r)
}

/// The RDM's upper triangle, row-major ((0,1), (0,2), …, (1,2), …), as rsatoolbox stores it.
pub fn rdm(x: ArrayView2<f64>) -> Array1<f64> {
    upper_triangle(&rdm_matrix(x))
}

/// The upper triangle of an n × n RDM, row-major (rsatoolbox's RDM vector).
pub fn upper_triangle(d: &Array2<f64>) -> Array1<f64> {
    let n = d.nrows();
    (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))).map(|(i, j)| d[[i, j]]).collect()
}

/// RSA: Spearman ρ of the two RDMs' upper triangles.
pub fn rsa(x: ArrayView2<f64>, y: ArrayView2<f64>) -> f64 {
    let n = x.nrows();
    rsa_of_rdms(&rdm_matrix(x), &rdm_matrix(y), &(0..n).collect::<Vec<_>>())
}

/// RSA of two full RDMs ([`rdm_matrix`]) restricted to the stimuli `rows` (a bootstrap sample
/// may repeat one): Spearman ρ over the pairs of positions a < b, leaving out pairs that are the
/// same stimulus twice, whose zero dissimilarity says nothing (as rsatoolbox's bootstrap).
/// For many resamples of the same RDMs, rank them once with [`RankedRdm`].
pub fn rsa_of_rdms(x: &Array2<f64>, y: &Array2<f64>, rows: &[usize]) -> f64 {
    RankedRdm::new(x).rsa(&RankedRdm::new(y), rows)
}

/// An RDM's upper triangle sorted once, so that the RSA of each bootstrap resample is one pass
/// over the pairs instead of a sort of all n²/2 of them. A resample that holds stimulus i cᵢ
/// times holds the pair {i, j} cᵢ·cⱼ times, all tied: its average rank in the resample is the
/// weight of the smaller values plus half its tie group's, and Spearman's ρ is the Pearson r
/// of those ranks weighted by cᵢ·cⱼ — the same number as ranking the resample's pairs one by one.
#[derive(Debug, Clone)]
pub struct RankedRdm {
    n: usize,
    /// The pairs (i, j), i < j, smallest dissimilarity first: a weight cᵢ·cⱼ is computed on the
    /// way instead of read from an n²/2 array at random.
    pairs: Vec<(u32, u32)>,
    /// The values in that order, so a pass over them reads memory in sequence.
    sorted: Vec<f64>,
}

impl RankedRdm {
    pub fn new(d: &Array2<f64>) -> RankedRdm {
        let n = d.nrows();
        u32::try_from(n).expect("fewer than 2³² stimuli");
        let mut pairs: Vec<(u32, u32)> = (0..n as u32).flat_map(|i| (i + 1..n as u32).map(move |j| (i, j))).collect();
        // Ties are ranked as groups, so their order among themselves does not matter.
        pairs.sort_unstable_by(|&(a, b), &(c, e)| d[[a as usize, b as usize]].total_cmp(&d[[c as usize, e as usize]]));
        let sorted = pairs.iter().map(|&(i, j)| d[[i as usize, j as usize]]).collect();
        RankedRdm { n, pairs, sorted }
    }

    /// Where the pair (i, j), i < j, sits in the row-major upper triangle.
    fn position(&self, i: u32, j: u32) -> usize {
        let (i, j) = (i as usize, j as usize);
        i * self.n - i * (i + 1) / 2 + (j - i - 1)
    }

    /// Visit every tie group in order with the average rank its pairs get in a resample that
    /// holds stimulus i `count[i]` times: `visit(first, end, rank)` over `pairs[first..end]`.
    fn tie_groups(&self, count: &[f64], mut visit: impl FnMut(usize, usize, f64)) {
        let (mut below, mut k) = (0.0, 0);
        while k < self.sorted.len() {
            let value = self.sorted[k];
            let (mut end, mut group) = (k, 0.0);
            while end < self.sorted.len() && self.sorted[end] == value {
                let (i, j) = self.pairs[end];
                group += count[i as usize] * count[j as usize];
                end += 1;
            }
            visit(k, end, below + (group + 1.0) / 2.0);
            below += group;
            k = end;
        }
    }

    /// [`rsa_of_rdms`] of this RDM and `other` (of the same stimuli) on the resample `rows`;
    /// for many resamples, pair them once with [`RankedRdm::paired`].
    pub fn rsa(&self, other: &RankedRdm, rows: &[usize]) -> f64 {
        self.paired(other).rsa(rows)
    }

    /// The two RDMs (of the same stimuli) with, for each pair in this one's order, where it sits
    /// in `other`'s order: a resample's RSA then reads and writes both rankings in sequence but
    /// for one look-up per pair.
    pub fn paired<'a>(&'a self, other: &'a RankedRdm) -> PairedRdms<'a> {
        assert_eq!(self.n, other.n, "RDMs of different stimuli");
        let mut in_other = vec![0u32; other.pairs.len()];
        for (k, &(i, j)) in other.pairs.iter().enumerate() {
            in_other[other.position(i, j)] = k as u32;
        }
        let to_other = self.pairs.iter().map(|&(i, j)| in_other[self.position(i, j)]).collect();
        PairedRdms { x: self, y: other, to_other }
    }
}

/// Two [`RankedRdm`]s of the same stimuli, paired once for the RSA of many resamples.
pub struct PairedRdms<'a> {
    x: &'a RankedRdm,
    y: &'a RankedRdm,
    /// For each pair in x's order, its index in y's order.
    to_other: Vec<u32>,
}

impl PairedRdms<'_> {
    /// [`rsa_of_rdms`] on the resample `rows`: the weighted Pearson r of the two rankings.
    /// Weighted average ranks of W items average (W + 1) / 2 whatever the ties, so the means are
    /// known and the sums are of centred values, with no cancellation.
    pub fn rsa(&self, rows: &[usize]) -> f64 {
        let mut count = vec![0.0; self.x.n];
        for &r in rows {
            count[r] += 1.0;
        }
        let mut y_rank = vec![0.0; self.y.sorted.len()];
        self.y.tie_groups(&count, |first, end, rank| y_rank[first..end].fill(rank));
        let (total, squares) = count.iter().fold((0.0, 0.0), |(t, q), c| (t + c, q + c * c));
        let mean = ((total * total - squares) / 2.0 + 1.0) / 2.0;
        let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
        self.x.tie_groups(&count, |first, end, rank| {
            let dx = rank - mean;
            for (&(i, j), &k) in self.x.pairs[first..end].iter().zip(&self.to_other[first..end]) {
                let w = count[i as usize] * count[j as usize];
                if w > 0.0 {
                    let dy = y_rank[k as usize] - mean;
                    sxy += w * dx * dy;
                    sxx += w * dx * dx;
                    syy += w * dy * dy;
                }
            }
        });
        sxy / (sxx * syy).sqrt()
    }
}

/// Cross-validated ridge predictivity of every column of `targets` from `features`.
#[derive(Debug, Clone, PartialEq)]
pub struct RidgePredictivity {
    /// Pearson r of the held-out predictions with each target column.
    pub r: Vec<f64>,
    /// The ridge penalty chosen in each fold, per target: folds × targets.
    pub alphas: Array2<f64>,
    /// Held-out predictions, samples × targets.
    pub predictions: Array2<f64>,
}

/// `folds` contiguous folds (scikit-learn's `KFold` without shuffling); in each, scikit-learn's
/// `RidgeCV(alphas)`: features and targets centred on the training fold, an unpenalised
/// intercept, and per target the α of least exact leave-one-out squared error (the first of
/// equal ones), then predictions for the held-out fold.
pub fn ridge_predictivity(features: ArrayView2<f64>, targets: ArrayView2<f64>, alphas: &[f64], folds: usize) -> RidgePredictivity {
    ridge_predictivity_in(features, targets, alphas, folds, features.ncols() > features.nrows() * (folds - 1) / folds)
}

/// `dual`: solve through the samples' Gram matrix (cheaper when features outnumber samples, as
/// for a flattened CNN layer); the result is the same.
fn ridge_predictivity_in(
    features: ArrayView2<f64>,
    targets: ArrayView2<f64>,
    alphas: &[f64],
    folds: usize,
    dual: bool,
) -> RidgePredictivity {
    let (n, t) = (features.nrows(), targets.ncols());
    let mut predictions = Array2::<f64>::zeros((n, t));
    let mut chosen = Array2::<f64>::zeros((folds, t));
    // KFold: the first n % folds folds get one extra sample.
    let mut start = 0;
    for fold in 0..folds {
        let size = n / folds + usize::from(fold < n % folds);
        let test: Vec<usize> = (start..start + size).collect();
        let train: Vec<usize> = (0..start).chain(start + size..n).collect();
        start += size;
        let x = features.select(Axis(0), &train);
        let y = targets.select(Axis(0), &train);
        let (x_mean, y_mean) = (x.mean_axis(Axis(0)).expect("rows"), y.mean_axis(Axis(0)).expect("rows"));
        let (xc, yc) = (&x - &x_mean, &y - &y_mean);
        let held = &features.select(Axis(0), &test) - &x_mean;
        let m = train.len() as f64;
        let gram = if dual { xc.dot(&xc.t()) } else { xc.t().dot(&xc) };
        let mut best_error = Array1::<f64>::from_elem(t, f64::INFINITY);
        for &alpha in alphas {
            let mut a = gram.clone();
            a.diag_mut().mapv_inplace(|v| v + alpha);
            let inverse = crate::disentanglement::inverse_positive_definite(&a);
            // Fitted values, leverages (plus 1/m for the unpenalised intercept) and held-out
            // predictions of the centred problem.
            let (fitted, leverage, predicted) = if dual {
                let coefficients = inverse.dot(&yc);
                (gram.dot(&coefficients), (gram.dot(&inverse)).diag().to_owned() + 1.0 / m, held.dot(&xc.t()).dot(&coefficients))
            } else {
                let beta = inverse.dot(&xc.t().dot(&yc));
                (xc.dot(&beta), (xc.dot(&inverse) * &xc).sum_axis(Axis(1)) + 1.0 / m, held.dot(&beta))
            };
            let loo = (&yc - &fitted) / &leverage.mapv(|h| 1.0 - h).insert_axis(Axis(1));
            let error = loo.mapv(|e| e * e).mean_axis(Axis(0)).expect("rows");
            for j in 0..t {
                // Strictly better only: the first of equal α wins, as RidgeCV.
                if error[j] < best_error[j] {
                    best_error[j] = error[j];
                    chosen[[fold, j]] = alpha;
                    predictions.slice_mut(s![test[0]..test[0] + size, j]).assign(&(&predicted.column(j) + y_mean[j]));
                }
            }
        }
    }
    let r = crate::paired_correlations(predictions.view(), targets);
    RidgePredictivity { r, alphas: chosen, predictions }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disentanglement::rank_correlations;

    fn toy(n: usize, p: usize, seed: usize) -> Array2<f64> {
        Array2::from_shape_fn((n, p), |(i, j)| (((i * 31 + j * 17 + seed * 7) % 23) as f64 - 11.0) / 7.0 + (i * j % 5) as f64 * 0.1)
    }

    /// A resample that repeats stimuli: RSA over its pairs of distinct stimuli, computed by hand.
    #[test]
    fn resampled_rsa_drops_only_the_pairs_of_a_stimulus_with_itself() {
        let (x, y) = (toy(8, 5, 1), toy(8, 4, 2));
        let (dx, dy) = (rdm_matrix(x.view()), rdm_matrix(y.view()));
        let rows = [0, 3, 3, 5, 7, 7, 7, 1];
        let mut pairs = Vec::new();
        for a in 0..rows.len() {
            for b in a + 1..rows.len() {
                if rows[a] != rows[b] {
                    pairs.push((dx[[rows[a], rows[b]]], dy[[rows[a], rows[b]]]));
                }
            }
        }
        let col = |f: fn(&(f64, f64)) -> f64| Array2::from_shape_fn((pairs.len(), 1), |(k, _)| f(&pairs[k]));
        let expected = rank_correlations(col(|p| p.0).view(), col(|p| p.1).view())[[0, 0]];
        assert!((rsa_of_rdms(&dx, &dy, &rows) - expected).abs() < 1e-12);
        assert!((rsa_of_rdms(&dx, &dy, &(0..8).collect::<Vec<_>>()) - rsa(x.view(), y.view())).abs() < 1e-12);
    }

    /// Ranking once and weighting by repeats gives what ranking every pair of a resample gives,
    /// ties across different pairs included (dissimilarities rounded to a few levels).
    #[test]
    fn ranked_rdm_rsa_equals_ranking_each_resample() {
        let n = 30;
        let (x, y) = (toy(n, 6, 5), toy(n, 5, 6));
        let (dx, dy) = (rdm_matrix(x.view()).mapv(|v| (v * 4.0).round()), rdm_matrix(y.view()));
        let (rx, ry) = (RankedRdm::new(&dx), RankedRdm::new(&dy));
        for seed in 0..5 {
            let rows: Vec<usize> = (0..n).map(|k| (k * 7 + seed * 13 + k * k * seed) % n).collect();
            let mut pairs = Vec::new();
            for a in 0..n {
                for b in a + 1..n {
                    if rows[a] != rows[b] {
                        pairs.push((dx[[rows[a], rows[b]]], dy[[rows[a], rows[b]]]));
                    }
                }
            }
            let col = |f: fn(&(f64, f64)) -> f64| Array2::from_shape_fn((pairs.len(), 1), |(k, _)| f(&pairs[k]));
            let expected = rank_correlations(col(|p| p.0).view(), col(|p| p.1).view())[[0, 0]];
            let got = rx.rsa(&ry, &rows);
            assert!((got - expected).abs() < 1e-12, "resample {seed}: {got} vs {expected}");
        }
    }

    /// Kernels restricted to some stimuli give the CKA of those stimuli' features.
    #[test]
    fn cka_of_resampled_grams_equals_cka_of_the_rows() {
        let (x, y) = (toy(12, 6, 3), toy(12, 3, 4));
        let rows = [0, 2, 3, 6, 7, 9, 11];
        let pick = |m: &Array2<f64>| m.select(Axis(0), &rows).select(Axis(1), &rows);
        let (sx, sy) = (x.select(Axis(0), &rows), y.select(Axis(0), &rows));
        let (gx, gy) = (gram_linear(x.view()), gram_linear(y.view()));
        assert!((cka_of_grams(&pick(&gx), &pick(&gy), true) - debiased_linear_cka(sx.view(), sy.view())).abs() < 1e-12);
        assert!((cka_of_grams(&pick(&gx), &pick(&gy), false) - linear_cka(sx.view(), sy.view())).abs() < 1e-12);
        // The closed form on the kernels in place, for the linear and an RBF kernel.
        assert!((debiased_cka_of_rows(&gx, &gy, &rows) - cka_of_grams(&pick(&gx), &pick(&gy), true)).abs() < 1e-12);
        let (rx, ry) = (rbf_from_linear(&gx, 0.5), rbf_from_linear(&gy, 0.5));
        assert!((debiased_cka_of_rows(&rx, &ry, &rows) - cka_of_grams(&pick(&rx), &pick(&ry), true)).abs() < 1e-12);
    }

    /// More features than samples: the dual solution equals the primal one.
    #[test]
    fn dual_ridge_equals_primal() {
        let x = Array2::from_shape_fn((30, 40), |(i, j)| (((i * 31 + j * 17) % 23) as f64 - 11.0) / 7.0);
        let y = Array2::from_shape_fn((30, 3), |(i, j)| x[[i, j]] - 0.5 * x[[i, j + 5]] + ((i * 7 + j) % 5) as f64 * 0.1);
        let alphas = [0.1, 1.0, 10.0];
        let (primal, dual) =
            (ridge_predictivity_in(x.view(), y.view(), &alphas, 5, false), ridge_predictivity_in(x.view(), y.view(), &alphas, 5, true));
        assert_eq!(primal.alphas, dual.alphas);
        assert!(primal.predictions.iter().zip(&dual.predictions).all(|(a, b)| (a - b).abs() < 1e-8));
    }
}
