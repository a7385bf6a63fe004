//! Recovery of a known sparse dictionary (O'Neill, Klindt et al. 2024's small setting:
//! N = 16 atoms in M = 8 dimensions, K = 3 active, 1024 samples), seeded.

use ndarray::Array2;
use neurozoo_datasets::simulate::sparse::{simulate, SparseConfig, SparseData};
use neurozoo_metrics::{dictionary_mcc, mcc};
use neurozoo_sparse::{amortisation_gap, DictionaryLearning, Sae, SaeConfig, SaeKind, Solver, SparseInference};
use neurozoo_tensor::{to_array2, to_tensor};
use tch::{Device, Tensor};

fn data() -> (SparseData, Tensor) {
    data_on(Device::Cpu)
}

fn data_on(device: Device) -> (SparseData, Tensor) {
    let d = simulate(&SparseConfig::default()).unwrap();
    let x = to_tensor(d.x.view(), device);
    (d, x)
}

fn f64s(t: &Tensor) -> Array2<f64> {
    to_array2(t).mapv(f64::from)
}

#[test]
fn fista_dictionary_learning_recovers_the_dictionary() {
    dictionary_recovery(Device::Cpu)
}

mod cuda {
    #[test]
    #[ignore = "needs a CUDA device; `make test` runs it when libtorch sees one"]
    fn fista_dictionary_learning_recovers_the_dictionary() {
        assert!(tch::Cuda::is_available(), "CUDA test run where libtorch sees no GPU");
        super::dictionary_recovery(tch::Device::Cuda(0))
    }
}

fn dictionary_recovery(device: Device) {
    let (truth, x) = data_on(device);
    let learner = DictionaryLearning {
        n_atoms: 16,
        inference: SparseInference { solver: Solver::Fista, lambda: 0.03, nonnegative: true, ..Default::default() },
        epochs: 300,
        tol: 1e-7,
        restarts: 6,
        seed: 0,
    };
    let learned = learner.fit(&x, |_, _| {});
    let best = learned.restart_objectives.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(learned.restart_objectives.len(), 6);
    let kept = neurozoo_sparse::fit(&x, &learned.dictionary, &learned.codes, 0.03).objective;
    assert_eq!(kept, best, "the restart with the lowest objective is kept");
    let objectives: Vec<f64> = learned.history.iter().map(|e| e.fit.objective).collect();
    assert!(objectives.last() < objectives.first(), "the objective fell: {objectives:?}");
    let d = dictionary_mcc(truth.dictionary.mapv(f64::from).view(), f64s(&learned.dictionary).view());
    let c = mcc(truth.codes.mapv(f64::from).view(), f64s(&learned.codes).view());
    eprintln!("dictionary MCC {:.4}, code MCC {:.4} after {} epochs", d.mean, c.mean, learned.history.len());
    assert!(d.mean >= 0.95, "dictionary MCC {:.4} (per atom {:?})", d.mean, d.scores);
    assert!(c.mean >= 0.9, "code MCC {:.4}", c.mean);
}

/// O'Neill et al.'s amortisation gap: the ReLU SAE's encoder does not find the codes its own
/// decoder supports; sparse inference on that decoder, for the same objective, does better.
#[test]
fn sae_codes_are_improved_by_inference_on_their_own_decoder() {
    let (truth, x) = data();
    let lambda = 0.3;
    let cfg = SaeConfig { epochs: 500, batch_size: 128, lr: 3e-3, dead_after: 1024, ..SaeConfig::new(SaeKind::Relu { lambda }, 16) };
    let (sae, history) = Sae::train(&x, &cfg, |_| {}).unwrap();
    assert!(history.last().unwrap().loss < history[0].loss);
    let gap = amortisation_gap(&sae, &x, &SparseInference { lambda, nonnegative: true, ..Default::default() });
    // The same objective, and inference starts from the encoder's codes: it can only improve.
    assert!(gap.inferred_fit.objective < gap.encoder_fit.objective, "{:?} vs {:?}", gap.inferred_fit, gap.encoder_fit);
    let gt = truth.codes.mapv(f64::from);
    let (enc, inf) = (mcc(gt.view(), f64s(&gap.encoder).view()).mean, mcc(gt.view(), f64s(&gap.inferred).view()).mean);
    eprintln!(
        "ReLU SAE code MCC {enc:.4}, FISTA on its decoder {inf:.4}; objective {:.4} vs {:.4}",
        gap.encoder_fit.objective, gap.inferred_fit.objective
    );
    assert!(inf > enc + 0.02, "inference on the SAE's decoder recovers the codes better: {inf:.4} vs {enc:.4}");
}

#[test]
fn topk_keeps_k_codes_and_a_unit_norm_decoder() {
    let (_, x) = data();
    let cfg = SaeConfig { epochs: 20, ..SaeConfig::new(SaeKind::TopK { k: 3, aux_k: 0 }, 32) };
    let (sae, history) = Sae::train(&x, &cfg, |_| {}).unwrap();
    let z = sae.encode(&x);
    let per_row = to_array2(&z.ne(0.0).sum_dim_intlist([1i64].as_slice(), true, tch::Kind::Float));
    assert!(per_row.iter().all(|&n| n <= 3.0), "at most k non-zero codes per sample");
    let (_, norms) = sae.atoms();
    let norms = to_array2(&norms);
    assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-4), "unit-norm decoder rows: {norms:?}");
    assert!(history.iter().all(|e| (0.0..=1.0).contains(&e.dead_fraction)));
}
