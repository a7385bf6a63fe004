//! Shape metrics (Williams et al., NeurIPS 2021): distances between two representations of the
//! same stimuli after the best alignment of one onto the other, with netrep's `LinearMetric`
//! definitions (github.com/ahwillia/netrep, `netrep/metrics/linear.py` and `netrep/utils.py` at
//! 0186b8a): columns centred; the narrower representation zero-padded to the wider one; each
//! side partially whitened, X ↦ X·V·diag(d)·Vᵀ with XᵀX = V·diag(λ)·Vᵀ, λ clipped below at
//! 10⁻⁷ and d = α + (1 − α)·λ^(−1/2), rescaled to keep the total variance; then the rotation
//! that aligns them best. `alpha` = 1 allows rotations only (no whitening: **Procrustes**);
//! `alpha` = 0 any invertible linear map (full whitening: the **CCA**-like metric, whose angular
//! distance is arccos of the mean canonical correlation).
//!
//! With A and B the whitened sides, the aligned inner product is ‖AᵀB‖* (the nuclear norm), so
//! - the **angular** distance is arccos(‖AᵀB‖* / (‖A‖_F ‖B‖_F)), in [0, π/2] here;
//! - the **Euclidean** one is ‖AU − BV‖_F = √(‖A‖² + ‖B‖² − 2‖AᵀB‖*), in the data's units.
//!
//! The permutation null ([`ShapeMetric::permutation_test`]) shuffles the stimuli of one side:
//! the alignment is refitted to every shuffle (its whitening does not depend on the row order),
//! and the p-value counts the shuffles at least as close as the real pairing, with the +1 of
//! an exact test: (1 + #{d_perm ≤ d}) / (1 + permutations).
//!
//! ```
//! use ndarray::Array2;
//! use neurozoo_metrics::shape::{ShapeMetric, Score};
//!
//! let x = Array2::from_shape_fn((30, 3), |(i, j)| ((i * 7 + j * 3) % 11) as f64);
//! // A rotation (here a swap of columns) and a shift are aligned away: distance 0.
//! let y = Array2::from_shape_fn((30, 3), |(i, j)| x[[i, 2 - j]] + 5.0);
//! let metric = ShapeMetric { alpha: 1.0, score: Score::Angular };
//! assert!(metric.distance(x.view(), y.view()) < 1e-6);
//! ```

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// netrep's floor on the covariance eigenvalues before whitening.
const EIGENVALUE_FLOOR: f64 = 1e-7;

/// netrep's `score_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Score {
    Angular,
    Euclidean,
}

/// netrep's `LinearMetric(alpha, center_columns=True, zero_pad=True, score_method)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShapeMetric {
    /// 1: rotations only (Procrustes); 0: any invertible linear map (CCA); between: partial
    /// whitening.
    pub alpha: f64,
    pub score: Score,
}

/// A distance and where it falls among the distances of shuffled stimuli.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PermutationTest {
    pub distance: f64,
    /// (1 + shuffles at least as close) / (1 + shuffles).
    pub p_value: f64,
    /// Mean distance over the shuffles: what unrelated representations of this shape score.
    pub null_mean: f64,
}

impl ShapeMetric {
    /// The distance between x (n × p) and y (n × q), the same n stimuli in the same order.
    pub fn distance(&self, x: ArrayView2<f64>, y: ArrayView2<f64>) -> f64 {
        Aligned::new(self, x, y).distance(None)
    }

    /// The distance and its permutation p-value over `permutations` seeded shuffles of the rows
    /// of the side with fewer columns.
    pub fn permutation_test(&self, x: ArrayView2<f64>, y: ArrayView2<f64>, permutations: usize, seed: u64) -> PermutationTest {
        let aligned = Aligned::new(self, x, y);
        let distance = aligned.distance(None);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..x.nrows()).collect();
        // One shuffle at a time: the null is never held as n × permutations indices.
        let null: Vec<f64> = (0..permutations)
            .map(|_| {
                order.shuffle(&mut rng);
                aligned.distance(Some(&order))
            })
            .collect();
        // Within float noise of the observed distance counts as "as close" (a shuffle that is
        // the identity, or a symmetric design, must not pass for a closer one).
        let tolerance = 1e-12 * distance.abs().max(1.0);
        let closer = null.iter().filter(|&&d| d <= distance + tolerance).count();
        PermutationTest {
            distance,
            p_value: (1 + closer) as f64 / (1 + permutations) as f64,
            null_mean: null.iter().sum::<f64>() / permutations.max(1) as f64,
        }
    }
}

/// Both sides whitened once; a distance for any order of the narrower side's rows.
struct Aligned {
    metric: ShapeMetric,
    /// The wider side, or its Gram matrix a·aᵀ when it has more columns than rows: the singular
    /// values of aᵀb are those of (bᵀ·a·aᵀ·b)^½ either way, and n² per column of b is then the
    /// cheaper product (a flattened CNN layer against recorded neurons).
    wide: Wide,
    narrow: Array2<f64>,
    norm_wide: f64,
    norm_narrow: f64,
}

enum Wide {
    Features(Array2<f64>),
    Gram(Array2<f64>),
}

impl Aligned {
    fn new(metric: &ShapeMetric, x: ArrayView2<f64>, y: ArrayView2<f64>) -> Aligned {
        assert_eq!(x.nrows(), y.nrows(), "representations of different stimuli");
        assert!((0.0..=1.0).contains(&metric.alpha), "alpha in [0, 1]");
        // Zero padding adds columns of zeros: nothing to the data, but eigenvalues (of 0, so
        // clipped) to the whitening's variance bookkeeping.
        let width = x.ncols().max(y.ncols());
        let (a, b) = (whiten(x, metric.alpha, width), whiten(y, metric.alpha, width));
        // Both distances are symmetric in the two sides, and so is shuffling either's rows.
        let (a, b) = if a.ncols() >= b.ncols() { (a, b) } else { (b, a) };
        let norm = |m: &Array2<f64>| m.iter().map(|v| v * v).sum::<f64>().sqrt();
        let (norm_wide, norm_narrow) = (norm(&a), norm(&b));
        let wide = if a.ncols() > a.nrows() { Wide::Gram(a.dot(&a.t())) } else { Wide::Features(a) };
        Aligned { metric: *metric, wide, narrow: b, norm_wide, norm_narrow }
    }

    /// The distance with the narrow side's rows in `order` (None: as given).
    fn distance(&self, order: Option<&[usize]>) -> f64 {
        let b = match order {
            Some(o) => self.narrow.select(Axis(0), o),
            None => self.narrow.clone(),
        };
        let nuclear = match &self.wide {
            Wide::Features(a) => nuclear_norm(&a.t().dot(&b)),
            Wide::Gram(k) => symmetric_eigenvalues(&b.t().dot(&k.dot(&b))).iter().map(|&l| l.max(0.0).sqrt()).sum(),
        };
        let (a, b) = (self.norm_wide, self.norm_narrow);
        match self.metric.score {
            Score::Angular => (nuclear / (a * b)).clamp(-1.0, 1.0).acos(),
            Score::Euclidean => (a * a + b * b - 2.0 * nuclear).max(0.0).sqrt(),
        }
    }
}

/// netrep's `whiten(X − mean, alpha, preserve_variance=True)` of x zero-padded to `width`
/// columns, up to a rotation on the right (X·V·diag(d) instead of X·V·diag(d)·Vᵀ), which no
/// distance here sees.
fn whiten(x: ArrayView2<f64>, alpha: f64, width: usize) -> Array2<f64> {
    let centred = &x - &x.mean_axis(Axis(0)).expect("stimuli");
    // netrep returns early when alpha > 1 − tol: no whitening and no rescaling.
    if alpha > 1.0 - EIGENVALUE_FLOOR {
        return centred;
    }
    let (mut lambda, vectors) = symmetric_eigen(&centred.t().dot(&centred));
    lambda.mapv_inplace(|l| l.max(EIGENVALUE_FLOOR));
    let padded = width - x.ncols();
    let d = lambda.mapv(|l| alpha + (1.0 - alpha) / l.sqrt());
    let new_variance = |l: f64| alpha * alpha * l + 2.0 * alpha * (1.0 - alpha) * l.sqrt() + (1.0 - alpha).powi(2);
    let total = lambda.sum() + padded as f64 * EIGENVALUE_FLOOR;
    let new_total = lambda.iter().map(|&l| new_variance(l)).sum::<f64>() + padded as f64 * new_variance(EIGENVALUE_FLOOR);
    let d = d * (total / new_total).sqrt();
    centred.dot(&vectors) * &d
}

/// The sum of the singular values of m, as the square roots of the eigenvalues of the smaller
/// of mᵀm and mmᵀ.
fn nuclear_norm(m: &Array2<f64>) -> f64 {
    let gram = if m.ncols() <= m.nrows() { m.t().dot(m) } else { m.dot(&m.t()) };
    symmetric_eigenvalues(&gram).iter().map(|&l| l.max(0.0).sqrt()).sum()
}

/// Eigenvalues and eigenvectors (columns) of a symmetric matrix by cyclic Jacobi rotations:
/// accurate to rounding for the small (units × units) matrices here, with no LAPACK to link.
pub(crate) fn symmetric_eigen(m: &Array2<f64>) -> (Array1<f64>, Array2<f64>) {
    let (values, vectors) = jacobi(m, true);
    (values, vectors.expect("asked for"))
}

/// The eigenvalues alone (no rotations accumulated): what a nuclear norm needs, per permutation.
fn symmetric_eigenvalues(m: &Array2<f64>) -> Array1<f64> {
    jacobi(m, false).0
}

/// Cyclic Jacobi on a flat row-major copy (indexing an ndarray per element was most of the
/// permutation test's time).
fn jacobi(m: &Array2<f64>, with_vectors: bool) -> (Array1<f64>, Option<Array2<f64>>) {
    let n = m.nrows();
    let mut a: Vec<f64> = m.iter().copied().collect();
    let mut v: Option<Vec<f64>> = with_vectors.then(|| (0..n * n).map(|k| f64::from(u8::from(k / n == k % n))).collect());
    for _sweep in 0..100 {
        let off: f64 = (0..n).map(|i| a[i * n + i + 1..(i + 1) * n].iter().map(|x| x * x).sum::<f64>()).sum();
        let diagonal: f64 = (0..n).map(|i| a[i * n + i] * a[i * n + i]).sum();
        if off == 0.0 || off <= f64::EPSILON * f64::EPSILON * (diagonal + off) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                // The rotation that zeroes a[p][q] (Golub & Van Loan, algorithm 8.4.1).
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = if theta == 0.0 { 1.0 } else { theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt()) };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // Columns p and q, then rows p and q (a stays symmetric).
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                let (row_p, row_q) = (p * n, q * n);
                for k in 0..n {
                    let (apk, aqk) = (a[row_p + k], a[row_q + k]);
                    a[row_p + k] = c * apk - s * aqk;
                    a[row_q + k] = s * apk + c * aqk;
                }
                if let Some(v) = v.as_mut() {
                    for k in 0..n {
                        let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                        v[k * n + p] = c * vkp - s * vkq;
                        v[k * n + q] = s * vkp + c * vkq;
                    }
                }
            }
        }
    }
    let values = (0..n).map(|i| a[i * n + i]).collect();
    (values, v.map(|v| Array2::from_shape_vec((n, n), v).expect("n × n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_reconstructs_a_symmetric_matrix() {
        let b = Array2::from_shape_fn((6, 6), |(i, j)| ((i * 5 + j * 3) % 7) as f64 - 3.0);
        let m = b.t().dot(&b) + Array2::<f64>::eye(6);
        let (l, v) = symmetric_eigen(&m);
        let back = (&v * &l).dot(&v.t());
        assert!(back.iter().zip(&m).all(|(a, b)| (a - b).abs() < 1e-10));
        assert!(v.t().dot(&v).iter().zip(&Array2::<f64>::eye(6)).all(|(a, b)| (a - b).abs() < 1e-12));
    }

    /// More columns than stimuli: the distance through the Gram matrix is the direct one.
    #[test]
    fn wide_side_through_its_gram_matrix_gives_the_same_distance() {
        let x = Array2::from_shape_fn((12, 20), |(i, j)| (((i * 31 + j * 17) % 23) as f64 - 11.0) / 7.0);
        let y = Array2::from_shape_fn((12, 3), |(i, j)| x[[i, j]] + (((i * 7 + j) % 5) as f64) * 0.3);
        for score in [Score::Angular, Score::Euclidean] {
            let metric = ShapeMetric { alpha: 1.0, score };
            let aligned = Aligned::new(&metric, x.view(), y.view());
            assert!(matches!(aligned.wide, Wide::Gram(_)));
            let centred = |m: &Array2<f64>| m - &m.mean_axis(Axis(0)).unwrap();
            let (cx, cy) = (centred(&x), centred(&y));
            let nuclear = nuclear_norm(&cx.t().dot(&cy));
            let (nx, ny) = (cx.iter().map(|v| v * v).sum::<f64>().sqrt(), cy.iter().map(|v| v * v).sum::<f64>().sqrt());
            let direct = match score {
                Score::Angular => (nuclear / (nx * ny)).acos(),
                Score::Euclidean => (nx * nx + ny * ny - 2.0 * nuclear).sqrt(),
            };
            assert!((aligned.distance(None) - direct).abs() < 1e-9, "{score:?}");
        }
    }

    /// Shuffling one side breaks a strong relation: the real pairing beats every shuffle, so the
    /// p-value is the smallest there is, 1 / (1 + permutations); unrelated noise does not.
    #[test]
    fn permutation_p_value_is_small_for_related_and_not_for_unrelated() {
        let x = Array2::from_shape_fn((60, 4), |(i, j)| (((i * 31 + j * 17) % 23) as f64 - 11.0) / 7.0);
        let y = x.dot(&Array2::from_shape_fn((4, 3), |(i, j)| ((i + 2 * j) % 3) as f64 - 1.0)) + 2.0;
        let metric = ShapeMetric { alpha: 1.0, score: Score::Angular };
        let test = metric.permutation_test(x.view(), y.view(), 99, 0);
        assert!((test.p_value - 0.01).abs() < 1e-12, "{test:?}");
        assert!(test.distance < test.null_mean);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let noise = Array2::from_shape_fn((60, 3), |_| rand::Rng::random_range(&mut rng, -1.0..1.0));
        assert!(metric.permutation_test(x.view(), noise.view(), 99, 0).p_value > 0.05);
    }
}
