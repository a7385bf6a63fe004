//! Sparse coding on libtorch, on the GPU when there is one: sparse inference (ISTA, FISTA),
//! dictionary learning, sparse autoencoders (ReLU, TopK, BatchTopK, JumpReLU, Matryoshka) with
//! the L0 / FVU / dead / dense measures every method reports, and the amortisation gap between an
//! SAE's encoder and sparse inference on its own decoder (O'Neill, Klindt et al. 2024).
//!
//! Samples are rows throughout: x is (samples, dims), a dictionary (atoms, dims), codes
//! (samples, atoms), so x ≈ codes · dictionary.
//!
//! ```no_run
//! use neurozoo_sparse::{DictionaryLearning, SparseInference};
//! use tch::{Device, Kind, Tensor};
//!
//! let x = Tensor::randn([1024, 8], (Kind::Float, Device::cuda_if_available()));
//! let learned = DictionaryLearning {
//!     n_atoms: 16,
//!     inference: SparseInference { lambda: 0.05, nonnegative: true, ..Default::default() },
//!     epochs: 100,
//!     tol: 1e-6,
//!     restarts: 4,
//!     seed: 0,
//! }
//! .fit(&x, |restart, epoch| println!("{restart} {} {:.4}", epoch.epoch, epoch.fit.objective));
//! assert_eq!(learned.dictionary.size(), [16, 8]);
//! ```

pub mod dictionary;
pub mod inference;
pub mod sae;

pub use dictionary::{DictionaryLearning, EpochStats, LearnedDictionary};
pub use inference::{fit, Fit, Inferred, Solver, SparseInference, DENSE_FRACTION};
pub use sae::{Forward, Sae, SaeConfig, SaeEpoch, SaeKind, SaeWeights};

use tch::Tensor;

/// An SAE's codes next to the codes sparse inference finds on the SAE's own (unit-normed)
/// decoder, both on the same atoms.
#[derive(Debug)]
pub struct AmortisationGap {
    /// The encoder's codes, rescaled to unit-norm atoms.
    pub encoder: Tensor,
    /// Sparse inference's codes on the same atoms, warm-started from the encoder's.
    pub inferred: Tensor,
    pub encoder_fit: Fit,
    pub inferred_fit: Fit,
}

/// Compare the SAE's amortised codes with sparse inference on its decoder, both scored by the
/// objective of `inference` on `x` measured from the decoder bias.
pub fn amortisation_gap(sae: &Sae, x: &Tensor, inference: &SparseInference) -> AmortisationGap {
    let (atoms, norms) = sae.atoms();
    let centred = x - sae.bias();
    let encoder = sae.encode(x) * norms.tr();
    let inferred = inference.codes(&centred, &atoms, Some(&encoder)).codes;
    AmortisationGap {
        encoder_fit: fit(&centred, &atoms, &encoder, inference.lambda),
        inferred_fit: fit(&centred, &atoms, &inferred, inference.lambda),
        encoder,
        inferred,
    }
}
