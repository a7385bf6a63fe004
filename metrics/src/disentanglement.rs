//! Disentanglement scores of learned latents against ground-truth generative factors, with the
//! definitions of disentanglement_lib (Locatello et al. 2019) where it has them. Latents and
//! factors are (samples × latents) and (samples × factors); factors are discrete labels (any
//! values; equal values are the same class).
//!
//! ```
//! use ndarray::{array, Array2};
//! use neurozoo_metrics::disentanglement::{mig, modularity, discretized_mutual_info};
//!
//! // Two factors on a 4 × 4 grid, each read out by its own latent, plus a useless latent.
//! let factors = Array2::from_shape_fn((16, 2), |(i, j)| if j == 0 { (i / 4) as f64 } else { (i % 4) as f64 });
//! let latents = Array2::from_shape_fn((16, 3), |(i, j)| match j { 0 => factors[[i, 1]], 1 => -factors[[i, 0]], _ => 1.0 });
//! let score = mig(latents.view(), factors.view(), 20);
//! assert!((score.score - 1.0).abs() < 1e-12);
//! let mi = discretized_mutual_info(latents.view(), factors.view(), 20);
//! assert!((modularity(mi.view()) - 2.0 / 3.0).abs() < 1e-12); // the constant latent scores 0
//! ```

use std::collections::HashMap;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

use crate::classifiers::{class_values, LinearSvc1d, LogisticRegression};
use crate::{best_matching, column_correlations, Matching};

/// Class ids 0..k of a column of labels, in order of first appearance.
fn labels(column: ArrayView1<f64>) -> (Vec<usize>, usize) {
    let mut ids: HashMap<u64, usize> = HashMap::new();
    let out = column
        .iter()
        .map(|v| {
            let next = ids.len();
            // +0.0 and −0.0 are one class.
            *ids.entry((v + 0.0).to_bits()).or_insert(next)
        })
        .collect();
    (out, ids.len())
}

/// Each latent binned into `bins` equal-width bins between its minimum and maximum, bin ids
/// 1..=bins (numpy's `histogram` edges and `digitize` against all but the last edge: the maximum
/// falls in the last bin). disentanglement_lib's `_histogram_discretize`.
pub fn histogram_discretize(latents: ArrayView2<f64>, bins: usize) -> Array2<f64> {
    assert!(bins > 0, "histogram_discretize needs at least one bin");
    let mut out = Array2::zeros(latents.raw_dim());
    for (column, mut binned) in latents.axis_iter(Axis(1)).zip(out.axis_iter_mut(Axis(1))) {
        let (mut lo, mut hi) = column.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
        // numpy widens a degenerate range to ±0.5.
        if lo == hi {
            (lo, hi) = (lo - 0.5, hi + 0.5);
        }
        // numpy's linspace: edge b is b · step + lo.
        let step = (hi - lo) / bins as f64;
        let edges: Vec<f64> = (0..bins).map(|b| b as f64 * step + lo).collect();
        for (v, b) in column.iter().zip(binned.iter_mut()) {
            // digitize: the number of lower edges ≤ v.
            *b = edges.partition_point(|&e| e <= *v) as f64;
        }
    }
    out
}

/// Mutual information (nats) between two label sequences, from their contingency table
/// (scikit-learn's `mutual_info_score`).
pub fn mutual_info(a: ArrayView1<f64>, b: ArrayView1<f64>) -> f64 {
    assert_eq!(a.len(), b.len(), "mutual_info: both need the same samples");
    let ((la, ka), (lb, kb)) = (labels(a), labels(b));
    let n = a.len() as f64;
    let mut joint = vec![0usize; ka * kb];
    let (mut pa, mut pb) = (vec![0usize; ka], vec![0usize; kb]);
    for (&i, &j) in la.iter().zip(&lb) {
        joint[i * kb + j] += 1;
        pa[i] += 1;
        pb[j] += 1;
    }
    let mut mi = 0.0;
    for i in 0..ka {
        for j in 0..kb {
            let c = joint[i * kb + j] as f64;
            if c > 0.0 {
                mi += c / n * (c * n / (pa[i] as f64 * pb[j] as f64)).ln();
            }
        }
    }
    mi.max(0.0)
}

/// Mutual information of every (histogram-discretised) latent with every factor:
/// latents × factors, in nats.
pub fn discretized_mutual_info(latents: ArrayView2<f64>, factors: ArrayView2<f64>, bins: usize) -> Array2<f64> {
    let binned = histogram_discretize(latents, bins);
    Array2::from_shape_fn((latents.ncols(), factors.ncols()), |(i, j)| mutual_info(binned.column(i), factors.column(j)))
}

/// Entropy (nats) of each factor.
pub fn factor_entropy(factors: ArrayView2<f64>) -> Array1<f64> {
    factors.axis_iter(Axis(1)).map(|f| mutual_info(f, f)).collect()
}

/// Mutual information gap (Chen et al. 2018) and what it is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Mig {
    /// Mean over factors of (largest − second largest MI with a latent) / factor entropy.
    pub score: f64,
    /// Latents × factors mutual information (nats).
    pub mutual_info: Array2<f64>,
    pub entropy: Array1<f64>,
    /// The gap of each factor.
    pub per_factor: Vec<f64>,
}

/// MIG with latents discretised into `bins` bins (disentanglement_lib: 20). Needs two latents.
pub fn mig(latents: ArrayView2<f64>, factors: ArrayView2<f64>, bins: usize) -> Mig {
    assert!(latents.ncols() >= 2, "MIG needs at least two latents");
    let mutual_info = discretized_mutual_info(latents, factors, bins);
    let entropy = factor_entropy(factors);
    let per_factor: Vec<f64> = (0..factors.ncols()).map(|j| gap_of_top_two(mutual_info.column(j)) / entropy[j]).collect();
    let score = per_factor.iter().sum::<f64>() / per_factor.len() as f64;
    Mig { score, mutual_info, entropy, per_factor }
}

/// Largest minus second largest value.
fn gap_of_top_two(values: ArrayView1<f64>) -> f64 {
    let mut sorted: Vec<f64> = values.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    sorted[0] - sorted[1]
}

/// SAP's score matrix for continuous factors (disentanglement_lib, `continuous_factors=True`):
/// the R² of predicting each factor from each latent alone, cov² / (var_latent · var_factor),
/// 0 where the latent is constant. Latents × factors.
pub fn sap_matrix_continuous(latents: ArrayView2<f64>, factors: ArrayView2<f64>) -> Array2<f64> {
    let r = column_correlations(latents, factors);
    let mut out = r.mapv(|v| v * v);
    for (i, latent) in latents.axis_iter(Axis(1)).enumerate() {
        let mean = latent.mean().unwrap_or(0.0);
        let var = latent.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (latent.len().max(2) - 1) as f64;
        if var <= 1e-12 {
            out.row_mut(i).fill(0.0);
        }
    }
    out
}

/// SAP's score matrix for discrete factors (disentanglement_lib's default): the test accuracy of
/// predicting each factor from each latent alone with scikit-learn's `LinearSVC(C=0.01,
/// class_weight="balanced")`, trained on the training split. Latents × factors.
pub fn sap_matrix_discrete(
    latents: ArrayView2<f64>,
    factors: ArrayView2<f64>,
    latents_test: ArrayView2<f64>,
    factors_test: ArrayView2<f64>,
) -> Array2<f64> {
    Array2::from_shape_fn((latents.ncols(), factors.ncols()), |(i, j)| {
        let svc = LinearSvc1d::fit(latents.column(i), factors.column(j), 0.01);
        let hits = latents_test.column(i).iter().zip(factors_test.column(j)).filter(|(x, y)| svc.predict(**x) == **y).count();
        hits as f64 / factors_test.nrows() as f64
    })
}

/// Separated attribute predictability (Kumar et al. 2018): mean over factors of the gap between
/// the two latents that predict it best, from a latents × factors score matrix.
pub fn sap(scores: ArrayView2<f64>) -> f64 {
    assert!(scores.nrows() >= 2, "SAP needs at least two latents");
    let gaps: Vec<f64> = scores.axis_iter(Axis(1)).map(gap_of_top_two).collect();
    gaps.iter().sum::<f64>() / gaps.len() as f64
}

/// Modularity (Ridgeway & Mozer 2018) from a latents × factors mutual-information matrix: per
/// latent, 1 − (Σ MI² − max MI²) / (max MI² · (factors − 1)), a latent with no information
/// scoring 0; the mean over latents.
pub fn modularity(mutual_info: ArrayView2<f64>) -> f64 {
    let k = mutual_info.ncols() as f64;
    let per_latent: Vec<f64> = mutual_info
        .axis_iter(Axis(0))
        .map(|row| {
            let squared: Vec<f64> = row.iter().map(|v| v * v).collect();
            let max = squared.iter().copied().fold(0.0, f64::max);
            if max == 0.0 {
                return 0.0;
            }
            1.0 - (squared.iter().sum::<f64>() - max) / (max * (k - 1.0))
        })
        .collect();
    per_latent.iter().sum::<f64>() / per_latent.len() as f64
}

/// Area under the ROC curve of `scores` for the `positive` samples, ties counted half (the
/// Mann–Whitney statistic; scikit-learn's `roc_auc_score` for one column).
pub fn roc_auc(scores: ArrayView1<f64>, positive: &[bool]) -> f64 {
    let ranks = average_ranks(scores);
    let n_pos = positive.iter().filter(|&&p| p).count() as f64;
    let n_neg = positive.len() as f64 - n_pos;
    let rank_sum: f64 = ranks.iter().zip(positive).filter(|(_, &p)| p).map(|(r, _)| r).sum();
    (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// Explicitness (Ridgeway & Mozer 2018), disentanglement_lib's definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Explicitness {
    pub train: f64,
    pub test: f64,
    pub per_factor_train: Vec<f64>,
    pub per_factor_test: Vec<f64>,
}

/// Latents are standardised with the training split's mean and population standard deviation;
/// per factor, a multinomial logistic regression (`LogisticRegression()`) predicts it from all
/// latents, scored by the macro-averaged one-vs-rest ROC AUC of its class probabilities on each
/// split; the scores are the means over factors. Classes absent from a split are left out of its
/// average (the reference fails on them).
pub fn explicitness(
    latents: ArrayView2<f64>,
    factors: ArrayView2<f64>,
    latents_test: ArrayView2<f64>,
    factors_test: ArrayView2<f64>,
) -> Explicitness {
    let mean = latents.mean_axis(Axis(0)).expect("training points");
    let std = latents.std_axis(Axis(0), 0.0).mapv(|s| if s > 0.0 { s } else { 1.0 });
    let (train, test) = ((&latents - &mean) / &std, (&latents_test - &mean) / &std);
    let (mut per_factor_train, mut per_factor_test) = (Vec::new(), Vec::new());
    for (factor, factor_test) in factors.axis_iter(Axis(1)).zip(factors_test.axis_iter(Axis(1))) {
        let values = class_values(factor);
        let index = |y: f64| values.iter().position(|&v| v == y);
        let labels: Vec<usize> = factor.iter().map(|&y| index(y).expect("a training class")).collect();
        let model = LogisticRegression::fit(train.view(), &labels, 1.0);
        let macro_auc = |x: ArrayView2<f64>, y: ArrayView1<f64>| -> f64 {
            let proba = model.predict_proba(x);
            let aucs: Vec<f64> = model
                .classes
                .iter()
                .enumerate()
                .filter_map(|(column, &class)| {
                    let positive: Vec<bool> = y.iter().map(|&v| index(v) == Some(class)).collect();
                    (positive.contains(&true) && positive.contains(&false)).then(|| roc_auc(proba.column(column), &positive))
                })
                .collect();
            aucs.iter().sum::<f64>() / aucs.len() as f64
        };
        per_factor_train.push(macro_auc(train.view(), factor));
        per_factor_test.push(macro_auc(test.view(), factor_test));
    }
    let mean_of = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    Explicitness { train: mean_of(&per_factor_train), test: mean_of(&per_factor_test), per_factor_train, per_factor_test }
}

/// DCI (Eastwood & Williams 2018): how much each latent matters for predicting each factor,
/// summarised as disentanglement (each latent matters for one factor), completeness (each factor
/// is captured by one latent) and informativeness (how well the latents predict the factors).
#[derive(Debug, Clone, PartialEq)]
pub struct Dci {
    pub disentanglement: f64,
    pub completeness: f64,
    /// Mean accuracy over factors of the classifier on the training and the held-out split
    /// (disentanglement_lib's `informativeness_train` / `_test`).
    pub informativeness_train: f64,
    pub informativeness_test: f64,
    /// latents × factors.
    pub importance: Array2<f64>,
}

/// disentanglement_lib's `dci.disentanglement` of an importance matrix (latents × factors):
/// 1 − the entropy (base: the number of factors) of each latent's importance over the factors
/// (normalised, 10⁻¹¹ added to every entry as scipy's `entropy` is fed), weighted by the
/// latent's share of the total importance (equal shares when it is all zero).
pub fn dci_disentanglement(importance: ArrayView2<f64>) -> f64 {
    weighted_specificity(importance)
}

/// disentanglement_lib's `dci.completeness`: [`dci_disentanglement`] with the roles of latents
/// and factors swapped (each factor's importance over the latents, base the number of latents).
pub fn dci_completeness(importance: ArrayView2<f64>) -> f64 {
    weighted_specificity(importance.t())
}

/// Σ over rows of (1 − entropy of the row, base its length) × the row's share of the total.
fn weighted_specificity(m: ArrayView2<f64>) -> f64 {
    let base = (m.ncols() as f64).ln();
    let total = m.sum();
    let shares: Vec<f64> = m.rows().into_iter().map(|r| if total == 0.0 { 1.0 / m.nrows() as f64 } else { r.sum() / total }).collect();
    m.rows()
        .into_iter()
        .zip(shares)
        .map(|(row, share)| {
            let p: Vec<f64> = row.iter().map(|v| v + 1e-11).collect();
            let sum: f64 = p.iter().sum();
            let entropy: f64 = p.iter().map(|v| v / sum).filter(|&q| q > 0.0).map(|q| -q * q.ln()).sum::<f64>() / base;
            (1.0 - entropy) * share
        })
        .sum()
}

/// DCI with disentanglement_lib's summary formulas but another importance estimator: the
/// reference fits scikit-learn's `GradientBoostingClassifier` per factor and takes its
/// impurity-based `feature_importances_`; there are no boosted trees here, so each factor gets
/// the multinomial logistic regression of [`explicitness`] (latents standardised on the training
/// split) and a latent's importance for it is the mean |weight| over the classes — the linear
/// variant of Eastwood & Williams' own lasso importances. The numbers therefore differ from the
/// reference's for the same latents (trees credit a latent with any non-linear use, this only
/// with linear use); informativeness is the classifier's accuracy, as the reference's.
pub fn dci(latents: ArrayView2<f64>, factors: ArrayView2<f64>, latents_test: ArrayView2<f64>, factors_test: ArrayView2<f64>) -> Dci {
    let mean = latents.mean_axis(Axis(0)).expect("training points");
    let std = latents.std_axis(Axis(0), 0.0).mapv(|s| if s > 0.0 { s } else { 1.0 });
    let (train, test) = ((&latents - &mean) / &std, (&latents_test - &mean) / &std);
    let mut importance = Array2::zeros((latents.ncols(), factors.ncols()));
    let (mut accuracy_train, mut accuracy_test) = (Vec::new(), Vec::new());
    for (f, (factor, factor_test)) in factors.axis_iter(Axis(1)).zip(factors_test.axis_iter(Axis(1))).enumerate() {
        let values = class_values(factor);
        let index = |y: f64| values.iter().position(|&v| v == y);
        let labels: Vec<usize> = factor.iter().map(|&y| index(y).expect("a training class")).collect();
        let model = LogisticRegression::fit(train.view(), &labels, 1.0);
        importance.column_mut(f).assign(&model.weights.mapv(f64::abs).mean_axis(Axis(1)).expect("classes"));
        let accuracy = |x: ArrayView2<f64>, y: ArrayView1<f64>| {
            let predicted = model.predict(x);
            predicted.iter().zip(y).filter(|&(&p, &v)| index(v) == Some(p)).count() as f64 / y.len() as f64
        };
        accuracy_train.push(accuracy(train.view(), factor));
        accuracy_test.push(accuracy(test.view(), factor_test));
    }
    let mean_of = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    Dci {
        disentanglement: dci_disentanglement(importance.view()),
        completeness: dci_completeness(importance.view()),
        informativeness_train: mean_of(&accuracy_train),
        informativeness_test: mean_of(&accuracy_test),
        importance,
    }
}

/// Ranks 1..n with ties given their average rank (scipy's `rankdata`, method "average").
pub(crate) fn average_ranks(column: ArrayView1<f64>) -> Array1<f64> {
    let mut order: Vec<usize> = (0..column.len()).collect();
    order.sort_by(|&a, &b| column[a].total_cmp(&column[b]));
    let mut ranks = Array1::zeros(column.len());
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && column[order[end]] == column[order[start]] {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// Spearman ρ of every column of `a` with every column of `b`: Pearson on average ranks.
pub fn rank_correlations(a: ArrayView2<f64>, b: ArrayView2<f64>) -> Array2<f64> {
    let rank = |x: ArrayView2<f64>| {
        let mut out = Array2::zeros(x.raw_dim());
        for (c, mut o) in x.axis_iter(Axis(1)).zip(out.axis_iter_mut(Axis(1))) {
            o.assign(&average_ranks(c));
        }
        out
    };
    column_correlations(rank(a).view(), rank(b).view())
}

/// MCC on Spearman rank correlations: mean |ρ| between factors and latents under the best
/// one-to-one matching; invariant to monotonic reparametrisations of each latent.
pub fn mcc_spearman(truth: ArrayView2<f64>, learned: ArrayView2<f64>) -> Matching {
    best_matching(rank_correlations(truth, learned).mapv(f64::abs).view())
}

/// Linear identifiability: R² of each factor regressed on all latents (least squares with an
/// intercept), on the same samples. 1 for every factor means the latents are an invertible
/// linear map of the factors, up to noise.
pub fn linear_r2(latents: ArrayView2<f64>, factors: ArrayView2<f64>) -> Vec<f64> {
    let n = latents.nrows();
    let centre = |x: ArrayView2<f64>| &x - &x.mean_axis(Axis(0)).expect("at least one sample");
    let (x, y) = (centre(latents), centre(factors));
    // Normal equations XᵀX b = Xᵀy, solved by Cholesky with a tiny ridge for constant latents.
    let mut gram = x.t().dot(&x);
    let scale = gram.diag().iter().copied().fold(0.0, f64::max).max(1.0);
    for i in 0..gram.nrows() {
        gram[[i, i]] += 1e-12 * scale;
    }
    (0..y.ncols())
        .map(|j| {
            let target = y.column(j);
            let total = target.dot(&target);
            if total == 0.0 || n < 2 {
                return 0.0;
            }
            let b = solve_positive_definite(&gram, &x.t().dot(&target));
            let residual = &target - &x.dot(&b);
            1.0 - residual.dot(&residual) / total
        })
        .collect()
}

/// Solve A x = b for a symmetric positive definite A (Cholesky).
fn solve_positive_definite(a: &Array2<f64>, b: &Array1<f64>) -> Array1<f64> {
    cholesky_solve(&cholesky(a), b)
}

/// The inverse of a symmetric positive definite matrix (Cholesky, one solve per column).
pub(crate) fn inverse_positive_definite(a: &Array2<f64>) -> Array2<f64> {
    let l = cholesky(a);
    let d = a.nrows();
    let mut out = Array2::zeros((d, d));
    for j in 0..d {
        let e = Array1::from_shape_fn(d, |i| f64::from(u8::from(i == j)));
        out.column_mut(j).assign(&cholesky_solve(&l, &e));
    }
    out
}

fn cholesky(a: &Array2<f64>) -> Array2<f64> {
    let d = a.nrows();
    let mut l = Array2::<f64>::zeros((d, d));
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[[i, k]] * l[[j, k]]).sum();
            if i == j {
                l[[i, i]] = (a[[i, i]] - s).max(f64::MIN_POSITIVE).sqrt();
            } else {
                l[[i, j]] = (a[[i, j]] - s) / l[[j, j]];
            }
        }
    }
    l
}

fn cholesky_solve(l: &Array2<f64>, b: &Array1<f64>) -> Array1<f64> {
    let d = l.nrows();
    let mut y = Array1::zeros(d);
    for i in 0..d {
        y[i] = (b[i] - (0..i).map(|k| l[[i, k]] * y[k]).sum::<f64>()) / l[[i, i]];
    }
    let mut x = Array1::zeros(d);
    for i in (0..d).rev() {
        x[i] = (y[i] - (i + 1..d).map(|k| l[[k, i]] * x[k]).sum::<f64>()) / l[[i, i]];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each factor read out by its own latent, plus a latent of noise: the importance of each
    /// factor is on its latent, and D and C are near 1; the same latents rotated by 45° mix the
    /// factors, and D and C drop. Informativeness is the accuracy, perfect either way.
    #[test]
    fn dci_importance_finds_the_latent_of_each_factor() {
        let n = 300;
        let factors = Array2::from_shape_fn((n, 2), |(i, j)| if j == 0 { (i % 5) as f64 } else { ((i / 5) % 4) as f64 });
        let noise = |i: usize| (((i * 37 + 11) % 29) as f64 - 14.0) / 30.0;
        let aligned = Array2::from_shape_fn((n, 3), |(i, j)| if j < 2 { factors[[i, j]] } else { noise(i) });
        let h = std::f64::consts::FRAC_1_SQRT_2;
        let rotated = Array2::from_shape_fn((n, 3), |(i, j)| match j {
            0 => h * (factors[[i, 0]] + factors[[i, 1]]),
            1 => h * (factors[[i, 0]] - factors[[i, 1]]),
            _ => noise(i),
        });
        let (cut, rest) = (ndarray::s![..200, ..], ndarray::s![200.., ..]);
        let d = |l: &Array2<f64>| dci(l.slice(cut), factors.slice(cut), l.slice(rest), factors.slice(rest));
        let (good, mixed) = (d(&aligned), d(&rotated));
        for f in 0..2 {
            let column = good.importance.column(f);
            assert!(column[f] > 3.0 * column[1 - f] && column[f] > 3.0 * column[2], "factor {f}: {column}");
        }
        assert!(good.disentanglement > 0.6 && good.completeness > 0.6, "{good:?}");
        assert!(mixed.disentanglement < good.disentanglement - 0.3 && mixed.completeness < good.completeness - 0.3, "{mixed:?}");
        assert!(good.informativeness_test > 0.95 && good.informativeness_train > 0.95, "{good:?}");
    }
    use ndarray::array;

    #[test]
    fn discretisation_follows_numpy_histogram_and_digitize() {
        // Lower edges 0, 1, 2, 3; the maximum 4 falls in the last bin.
        let x = array![[0.0], [0.5], [1.0], [2.5], [4.0]];
        let b = histogram_discretize(x.view(), 4);
        assert_eq!(b.column(0).to_vec(), vec![1.0, 1.0, 2.0, 3.0, 4.0]);
        let constant = histogram_discretize(array![[2.0], [2.0]].view(), 20);
        assert_eq!(constant.column(0).to_vec(), vec![11.0, 11.0]);
    }

    #[test]
    fn ranks_average_ties() {
        assert_eq!(average_ranks(array![3.0, 1.0, 3.0, 2.0].view()).to_vec(), vec![3.5, 1.0, 3.5, 2.0]);
    }

    #[test]
    fn linear_r2_is_one_for_a_linear_map_of_the_factors() {
        let factors = Array2::from_shape_fn((50, 2), |(i, j)| ((i * (j + 3)) % 7) as f64);
        let latents = Array2::from_shape_fn((50, 3), |(i, j)| match j {
            0 => factors[[i, 0]] + 2.0 * factors[[i, 1]],
            1 => factors[[i, 0]] - factors[[i, 1]],
            _ => ((i * 13) % 5) as f64,
        });
        for r2 in linear_r2(latents.view(), factors.view()) {
            assert!((r2 - 1.0).abs() < 1e-9, "{r2}");
        }
    }
}
