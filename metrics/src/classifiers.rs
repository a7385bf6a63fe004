//! The linear classifiers the scores need, as scikit-learn defines them, solved to convergence:
//! multinomial logistic regression (`LogisticRegression()`) and the one-feature linear SVM of
//! `LinearSVC` (liblinear's squared-hinge primal).

use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Axis};

/// Multinomial logistic regression with an L2 penalty ‖W‖² / (2C) on the weights, not the
/// intercepts: scikit-learn's `LogisticRegression()` (C = 1, lbfgs, multinomial), whose
/// objective is strictly convex in the weights, solved here to convergence by Newton's method
/// (conjugate-gradient steps on Hessian-vector products, so many classes stay cheap).
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
        // The features with a column of ones: the parameters are one (d + 1) × k matrix whose
        // last row holds the intercepts.
        let mut xt = Array2::<f64>::ones((n, d + 1));
        xt.slice_mut(s![.., ..d]).assign(&x);
        let mut onehot = Array2::<f64>::zeros((n, k));
        for (i, l) in labels.iter().enumerate() {
            onehot[[i, classes.binary_search(l).expect("a known class")]] = 1.0;
        }
        // Only the weights are penalised; a tiny ridge on the intercepts, to which the softmax
        // is blind up to a common shift, keeps the Newton system definite without changing a
        // prediction.
        let mut ridge = Array2::<f64>::from_elem((d + 1, k), 1.0 / c);
        ridge.row_mut(d).fill(1e-9 * n as f64);
        let probabilities = |theta: &Array2<f64>| -> Array2<f64> {
            let mut p = xt.dot(theta);
            for mut row in p.axis_iter_mut(Axis(0)) {
                row.assign(&Array1::from(softmax(&row.to_vec())));
            }
            p
        };
        let objective = |theta: &Array2<f64>| -> f64 {
            let logits = xt.dot(theta);
            let data: f64 =
                logits.axis_iter(Axis(0)).zip(onehot.axis_iter(Axis(0))).map(|(l, y)| log_sum_exp(&l.to_vec()) - l.dot(&y)).sum();
            data + 0.5 * (theta * theta * &ridge).sum()
        };
        let mut theta = Array2::<f64>::zeros((d + 1, k));
        for _ in 0..200 {
            let p = probabilities(&theta);
            let gradient = xt.t().dot(&(&p - &onehot)) + &theta * &ridge;
            if gradient.iter().map(|g| g.abs()).fold(0.0, f64::max) < 1e-10 * n as f64 {
                break;
            }
            // Hessian-vector product: Xᵀ[(P ∘ S) − P ∘ rowsum(P ∘ S)] + ridge ∘ V, S = X V.
            let hessian_times = |v: &Array2<f64>| -> Array2<f64> {
                let ps = &p * &xt.dot(v);
                let rows = ps.sum_axis(Axis(1)).insert_axis(Axis(1));
                xt.t().dot(&(&ps - &(&p * &rows))) + v * &ridge
            };
            // Newton direction by conjugate gradients on H Δ = g, truncated once the residual is
            // a shrinking fraction of the gradient (superlinear convergence, few CG steps far
            // from the optimum; the outer loop's gradient test sets the final precision).
            let g_norm = (&gradient * &gradient).sum().sqrt();
            let tolerance = g_norm * g_norm.sqrt().min(0.5);
            let mut step = Array2::<f64>::zeros(theta.raw_dim());
            let mut residual = gradient.clone();
            let mut direction = residual.clone();
            let mut rr = (&residual * &residual).sum();
            for _ in 0..(d + 1) * k * 4 {
                if rr.sqrt() <= tolerance {
                    break;
                }
                let hd = hessian_times(&direction);
                let alpha = rr / (&direction * &hd).sum();
                step = step + &direction * alpha;
                residual = residual - hd * alpha;
                let next = (&residual * &residual).sum();
                direction = &residual + &(direction * (next / rr));
                rr = next;
            }
            // Backtracking keeps each Newton step a descent step.
            let (current, mut t) = (objective(&theta), 1.0);
            while t > 1e-8 && objective(&(&theta - &(&step * t))) > current {
                t *= 0.5;
            }
            theta = &theta - &(&step * t);
        }
        LogisticRegression { weights: theta.slice(s![..d, ..]).to_owned(), intercepts: theta.row(d).to_owned(), classes }
    }

    /// Class probabilities (samples × classes, in the order of `classes`).
    pub fn predict_proba(&self, x: ArrayView2<f64>) -> Array2<f64> {
        let mut scores = x.dot(&self.weights) + &self.intercepts;
        for mut row in scores.axis_iter_mut(Axis(0)) {
            let p = softmax(&row.to_vec());
            row.assign(&Array1::from(p));
        }
        scores
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

/// The distinct values of a label column, ascending: the classes as scikit-learn orders them.
pub(crate) fn class_values(y: ArrayView1<f64>) -> Vec<f64> {
    let mut classes: Vec<f64> = y.to_vec();
    classes.sort_by(f64::total_cmp);
    classes.dedup();
    classes
}

fn log_sum_exp(v: &[f64]) -> f64 {
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    max + v.iter().map(|x| (x - max).exp()).sum::<f64>().ln()
}

fn softmax(v: &[f64]) -> Vec<f64> {
    let lse = log_sum_exp(v);
    v.iter().map(|x| (x - lse).exp()).collect()
}

/// A one-feature linear SVM as liblinear trains it for scikit-learn's `LinearSVC` (squared hinge
/// loss, L2 penalty on the weight *and* the intercept, balanced class weights, one-vs-rest),
/// solved exactly rather than to liblinear's tolerance.
pub(crate) struct LinearSvc1d {
    classes: Vec<f64>,
    /// (weight, intercept) per class.
    planes: Vec<(f64, f64)>,
}

impl LinearSvc1d {
    pub(crate) fn fit(x: ArrayView1<f64>, y: ArrayView1<f64>, c: f64) -> LinearSvc1d {
        let classes = class_values(y);
        let n = y.len() as f64;
        let k = classes.len();
        let weight = |class: f64| n / (k as f64 * y.iter().filter(|&&v| v == class).count() as f64);
        let planes = if k == 2 {
            // liblinear's two-class problem: one plane, positive = the second class.
            vec![solve_squared_hinge(x, |j| y[j] == classes[1], c * weight(classes[1]), c * weight(classes[0]))]
        } else {
            // One-vs-rest; liblinear weights only the positives' cost (C·wᵢ), negatives cost C.
            classes.iter().map(|&class| solve_squared_hinge(x, |j| y[j] == class, c * weight(class), c)).collect()
        };
        LinearSvc1d { classes, planes }
    }

    pub(crate) fn predict(&self, x: f64) -> f64 {
        if self.planes.len() == 1 {
            let (w, b) = self.planes[0];
            return self.classes[usize::from(w * x + b > 0.0)];
        }
        // The first of equal maxima, as liblinear.
        let (mut best, mut best_value) = (0, f64::NEG_INFINITY);
        for (a, (w, b)) in self.planes.iter().enumerate() {
            if w * x + b > best_value {
                (best, best_value) = (a, w * x + b);
            }
        }
        self.classes[best]
    }
}

/// min ½(w² + b²) + Σⱼ cⱼ max(0, 1 − yⱼ(w xⱼ + b))², cⱼ = `c_positive` or `c_negative`: a
/// convex piecewise quadratic in two variables, solved by Newton steps with backtracking.
fn solve_squared_hinge(x: ArrayView1<f64>, positive: impl Fn(usize) -> bool, c_positive: f64, c_negative: f64) -> (f64, f64) {
    let signs: Vec<(f64, f64)> = (0..x.len()).map(|j| if positive(j) { (1.0, c_positive) } else { (-1.0, c_negative) }).collect();
    let objective = |w: f64, b: f64| -> f64 {
        0.5 * (w * w + b * b) + x.iter().zip(&signs).map(|(xj, (yj, cj))| cj * (1.0 - yj * (w * xj + b)).max(0.0).powi(2)).sum::<f64>()
    };
    let (mut w, mut b) = (0.0, 0.0);
    for _ in 0..200 {
        let (mut g, mut h) = ([w, b], [[1.0, 0.0], [0.0, 1.0]]);
        for (xj, (yj, cj)) in x.iter().zip(&signs) {
            let margin = 1.0 - yj * (w * xj + b);
            if margin > 0.0 {
                g[0] -= 2.0 * cj * margin * yj * xj;
                g[1] -= 2.0 * cj * margin * yj;
                h[0][0] += 2.0 * cj * xj * xj;
                h[0][1] += 2.0 * cj * xj;
                h[1][1] += 2.0 * cj;
            }
        }
        if g[0].abs().max(g[1].abs()) < 1e-13 {
            break;
        }
        let det = h[0][0] * h[1][1] - h[0][1] * h[0][1];
        let (dw, db) = ((h[1][1] * g[0] - h[0][1] * g[1]) / det, (h[0][0] * g[1] - h[0][1] * g[0]) / det);
        let (current, mut t) = (objective(w, b), 1.0);
        while t > 1e-12 && objective(w - t * dw, b - t * db) > current {
            t *= 0.5;
        }
        (w, b) = (w - t * dw, b - t * db);
    }
    (w, b)
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
