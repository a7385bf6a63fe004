//! Dictionary learning by alternating minimisation of ½‖x − zD‖² + λ‖z‖₁ over codes and atoms
//! (Olshausen & Field 1996; the batch scheme of scikit-learn's `DictionaryLearning`): codes by
//! sparse inference, warm-started from the previous epoch; atoms by least squares given the codes
//! (the method of optimal directions, Engan et al. 1999), then scaled back to unit norm with the
//! codes rescaled to match. An atom no sample uses, or one duplicating another, is re-seeded from
//! the residual of a badly fitted sample.

use tch::{Kind, Tensor};

use crate::inference::{fit, Fit, SparseInference};

#[derive(Debug, Clone, PartialEq)]
pub struct DictionaryLearning {
    pub n_atoms: usize,
    pub inference: SparseInference,
    pub epochs: usize,
    /// Stop once the objective improves by less than this fraction over an epoch.
    pub tol: f64,
    /// Independent initialisations (seeds `seed`, `seed + 1`, …); the one reaching the lowest
    /// objective is kept. Alternating minimisation has local minima in which one atom mixes two
    /// sources; on ground truth the lowest objective reliably marks the best recovery.
    pub restarts: usize,
    pub seed: u64,
}

/// One epoch: the fit of the codes inferred with the epoch's starting dictionary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochStats {
    pub epoch: usize,
    pub fit: Fit,
    /// Inference iterations this epoch.
    pub iterations: usize,
    /// Unused atoms re-seeded after this epoch.
    pub reseeded: usize,
}

#[derive(Debug)]
pub struct LearnedDictionary {
    /// (atoms, dims), unit-norm rows.
    pub dictionary: Tensor,
    /// (samples, atoms), inferred with the final dictionary.
    pub codes: Tensor,
    pub history: Vec<EpochStats>,
    /// The final objective of every restart, the kept one included.
    pub restart_objectives: Vec<f64>,
}

/// Scale rows to unit norm; rows of zeros stay zero.
pub fn unit_rows(d: &Tensor) -> (Tensor, Tensor) {
    let norms = d.norm_scalaropt_dim(2, [1], true).clamp_min(1e-12);
    (d / &norms, norms)
}

impl DictionaryLearning {
    /// Learn a dictionary for the rows of `x` (samples, dims); `on_epoch` sees every epoch of
    /// every restart (with its restart index).
    pub fn fit(&self, x: &Tensor, mut on_epoch: impl FnMut(usize, &EpochStats)) -> LearnedDictionary {
        let mut best: Option<(f64, LearnedDictionary)> = None;
        let mut objectives = Vec::new();
        for restart in 0..self.restarts.max(1) {
            let run = self.fit_once(x, self.seed.wrapping_add(restart as u64), |e| on_epoch(restart, e));
            let objective = fit(x, &run.dictionary, &run.codes, self.inference.lambda).objective;
            objectives.push(objective);
            if best.as_ref().is_none_or(|(b, _)| objective < *b) {
                best = Some((objective, run));
            }
        }
        let (_, best) = best.expect("at least one restart");
        LearnedDictionary { restart_objectives: objectives, ..best }
    }

    fn fit_once(&self, x: &Tensor, seed: u64, mut on_epoch: impl FnMut(&EpochStats)) -> LearnedDictionary {
        tch::no_grad(|| {
            let (samples, _) = x.size2().expect("a 2-D batch");
            let device = x.device();
            tch::manual_seed(seed as i64);
            // Initial atoms: randomly chosen samples (with a little noise, so repeated samples
            // still give distinct atoms), the usual initialisation when the data are sparse mixes.
            let pick = Tensor::randint(samples, [self.n_atoms as i64], (Kind::Int64, device));
            let noise = Tensor::randn([self.n_atoms as i64, x.size()[1]], (x.kind(), device)) * 0.01;
            let (mut dictionary, _) = unit_rows(&(x.index_select(0, &pick) + noise));
            let mut codes: Option<Tensor> = None;
            let mut history = Vec::with_capacity(self.epochs);
            for epoch in 1..=self.epochs {
                let inferred = self.inference.codes(x, &dictionary, codes.as_ref());
                let z = inferred.codes;
                let fit = fit(x, &dictionary, &z, self.inference.lambda);
                let (updated, reseeded) = update_atoms(x, &z);
                let (unit, norms) = unit_rows(&updated);
                dictionary = unit;
                codes = Some(&z * norms.tr());
                let stats = EpochStats { epoch, fit, iterations: inferred.iterations, reseeded };
                on_epoch(&stats);
                let previous = history.last().map(|s: &EpochStats| s.fit.objective);
                history.push(stats);
                if let Some(prev) = previous {
                    if reseeded == 0 && (prev - fit.objective) <= self.tol * prev.abs() {
                        break;
                    }
                }
            }
            let codes = self.inference.codes(x, &dictionary, codes.as_ref()).codes;
            LearnedDictionary { dictionary, codes, history, restart_objectives: Vec::new() }
        })
    }
}

/// Atoms closer than this (|cosine|) to an earlier atom are duplicates: two atoms sharing one
/// source leave another source uncovered, the usual local minimum of alternating minimisation.
const DUPLICATE_COSINE: f64 = 0.95;

/// Least-squares atoms for fixed codes, solving (zᵀz + εI) D = zᵀx; atoms no sample uses, and
/// duplicates of an earlier atom, are replaced by the residuals of the worst-fitted samples (one
/// sample each). Returns the new atoms (not yet normalised) and how many were re-seeded.
fn update_atoms(x: &Tensor, z: &Tensor) -> (Tensor, usize) {
    let atoms = z.size()[1];
    let options = (Kind::Double, x.device());
    let (xd, zd) = (x.to_kind(Kind::Double), z.to_kind(Kind::Double));
    let gram = zd.tr().matmul(&zd);
    // A ridge of 1e-8 of the mean diagonal keeps the system solvable when codes are collinear.
    let ridge = (gram.diagonal(0, 0, 1).mean(Kind::Double).double_value(&[]) * 1e-8).max(1e-12);
    let d = Tensor::linalg_solve(&(gram + Tensor::eye(atoms, options) * ridge), &zd.tr().matmul(&xd), true);
    let unused = z.ne(0.0).sum_dim_intlist([0i64].as_slice(), false, Kind::Int64).eq(0);
    let (unit, _) = unit_rows(&d);
    // Strictly upper triangle: atom j is a duplicate when some i < j points the same way.
    let cosines = unit.matmul(&unit.tr()).abs().triu(1);
    let duplicate = cosines.amax([0i64].as_slice(), false).gt(DUPLICATE_COSINE);
    // One sample re-seeds one atom: with more atoms to replace than samples (as many atoms as
    // twice the units on a handful of stimuli), the first ones are re-seeded this epoch.
    let samples = x.size()[0];
    let replace = unused.logical_or(&duplicate).nonzero().squeeze_dim(1);
    let replace = replace.narrow(0, 0, replace.size()[0].min(samples));
    let n_replace = replace.size()[0] as usize;
    if n_replace == 0 {
        return (d.to_kind(x.kind()), 0);
    }
    let residual = &xd - zd.matmul(&d);
    let worst = residual.square().sum_dim_intlist([1i64].as_slice(), false, Kind::Double).topk(n_replace as i64, 0, true, true).1;
    let d = d.index_copy(0, &replace, &residual.index_select(0, &worst));
    (d.to_kind(x.kind()), n_replace)
}
