//! Pinned to disentanglement_lib (commit 86a644d, its own `utils.py`, `mig.py`, `sap_score.py`,
//! `modularity_explicitness.py` run by `fixtures/make_disentanglement.py`) and to scikit-learn /
//! scipy for R² and MCC, on 500 points of 3 discrete factors and 5 latents
//! (`fixtures/disentanglement.json`).

use ndarray::Array2;
use neurozoo_metrics::disentanglement::{
    explicitness, factor_entropy, histogram_discretize, linear_r2, mcc_spearman, mig, modularity, sap, sap_matrix_continuous,
    sap_matrix_discrete,
};
use neurozoo_metrics::mcc;
use serde_json::Value;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/disentanglement.json")).unwrap()
}

fn matrix(v: &Value) -> Array2<f64> {
    let rows: Vec<Vec<f64>> = serde_json::from_value(v.clone()).unwrap();
    Array2::from_shape_fn((rows.len(), rows[0].len()), |(i, j)| rows[i][j])
}

fn vector(v: &Value) -> Vec<f64> {
    serde_json::from_value(v.clone()).unwrap()
}

fn close(a: &Array2<f64>, b: &Array2<f64>, tol: f64, what: &str) {
    assert_eq!(a.dim(), b.dim(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < tol, "{what}: {x} vs {y}");
    }
}

#[test]
fn discretizer_equals_disentanglement_lib() {
    let f = fixture();
    assert_eq!(histogram_discretize(matrix(&f["latents"]).view(), 20), matrix(&f["discretized_latents"]));
}

#[test]
fn mig_and_modularity_equal_disentanglement_lib() {
    let f = fixture();
    let (latents, factors) = (matrix(&f["latents"]), matrix(&f["factors"]));
    let m = mig(latents.view(), factors.view(), 20);
    close(&m.mutual_info, &matrix(&f["mig_mutual_info"]), 1e-12, "mutual information");
    for (h, want) in factor_entropy(factors.view()).iter().zip(vector(&f["factor_entropy"])) {
        assert!((h - want).abs() < 1e-12, "entropy {h} vs {want}");
    }
    assert!((m.score - f["mig"].as_f64().unwrap()).abs() < 1e-12, "MIG {}", m.score);
    let modularity = modularity(m.mutual_info.view());
    assert!((modularity - f["modularity"].as_f64().unwrap()).abs() < 1e-12, "modularity {modularity}");
}

#[test]
fn continuous_sap_equals_disentanglement_lib() {
    let f = fixture();
    let scores = sap_matrix_continuous(matrix(&f["latents"]).view(), matrix(&f["factors"]).view());
    close(&scores, &matrix(&f["sap_continuous_matrix"]), 1e-12, "SAP score matrix");
    assert!((sap(scores.view()) - f["sap_continuous"].as_f64().unwrap()).abs() < 1e-12);
}

/// LinearSVC per latent and factor, trained on points 0..400 and tested on 400..500.
#[test]
fn discrete_sap_equals_disentanglement_lib() {
    let f = fixture();
    let (latents, factors) = (matrix(&f["latents"]), matrix(&f["factors"]));
    let split = |m: &Array2<f64>, r: std::ops::Range<usize>| m.slice(ndarray::s![r, ..]).to_owned();
    let scores = sap_matrix_discrete(
        split(&latents, 0..400).view(),
        split(&factors, 0..400).view(),
        split(&latents, 400..500).view(),
        split(&factors, 400..500).view(),
    );
    close(&scores, &matrix(&f["sap_discrete_matrix"]), 1e-12, "discrete SAP score matrix");
    assert!((sap(scores.view()) - f["sap_discrete"].as_f64().unwrap()).abs() < 1e-12);
}

/// Explicitness on the same split: the reference's logistic regression stops at scikit-learn's
/// tolerance, ours at the optimum, so test AUCs are compared with the regression solved to
/// convergence by scikit-learn (and stay within 1e-3 of the reference's own).
#[test]
fn explicitness_equals_disentanglement_lib_at_convergence() {
    let f = fixture();
    let (latents, factors) = (matrix(&f["latents"]), matrix(&f["factors"]));
    let split = |m: &Array2<f64>, r: std::ops::Range<usize>| m.slice(ndarray::s![r, ..]).to_owned();
    let e = explicitness(
        split(&latents, 0..400).view(),
        split(&factors, 0..400).view(),
        split(&latents, 400..500).view(),
        split(&factors, 400..500).view(),
    );
    for (ours, want) in e.per_factor_test.iter().zip(vector(&f["explicitness_test_per_factor_converged"])) {
        assert!((ours - want).abs() < 1e-9, "test AUC {ours} vs {want}");
    }
    for (ours, want) in e.per_factor_train.iter().zip(vector(&f["explicitness_train_per_factor_converged"])) {
        assert!((ours - want).abs() < 1e-4, "train AUC {ours} vs {want}");
    }
    assert!((e.test - f["explicitness_score_test"].as_f64().unwrap()).abs() < 1e-3);
}

#[test]
fn r2_and_mcc_equal_scikit_learn_and_scipy() {
    let f = fixture();
    let (latents, factors) = (matrix(&f["latents"]), matrix(&f["factors"]));
    for (r2, want) in linear_r2(latents.view(), factors.view()).iter().zip(vector(&f["r2_per_factor"])) {
        assert!((r2 - want).abs() < 1e-9, "R² {r2} vs {want}");
    }
    let matching = |v: &Value| -> Vec<(usize, usize)> {
        let pairs: Vec<(usize, usize)> = serde_json::from_value(v.clone()).unwrap();
        // The fixture lists (latent, factor); ours are (factor, latent).
        let mut flipped: Vec<(usize, usize)> = pairs.into_iter().map(|(l, f)| (f, l)).collect();
        flipped.sort_unstable();
        flipped
    };
    let pearson = mcc(factors.view(), latents.view());
    assert!((pearson.mean - f["mcc_pearson"].as_f64().unwrap()).abs() < 1e-12);
    assert_eq!(pearson.pairs, matching(&f["mcc_pearson_matching"]));
    let spearman = mcc_spearman(factors.view(), latents.view());
    assert!((spearman.mean - f["mcc_spearman"].as_f64().unwrap()).abs() < 1e-12, "Spearman MCC {}", spearman.mean);
    assert_eq!(spearman.pairs, matching(&f["mcc_spearman_matching"]));
}

/// DCI's disentanglement and completeness of fixed importance matrices, pinned to
/// disentanglement_lib's `dci.py` (`fixtures/make_dci.py` made `dci.json`): mixed, diagonal, one
/// latent carrying every factor, all zero. The importance estimator itself differs from the
/// reference's boosted trees and is tested on a known case in the crate's unit tests.
#[test]
fn dci_formulas_equal_disentanglement_lib() {
    use neurozoo_metrics::disentanglement::{dci_completeness, dci_disentanglement};
    let f: Value = serde_json::from_str(include_str!("fixtures/dci.json")).unwrap();
    let cases = f["cases"].as_object().unwrap();
    assert_eq!(cases.len(), 4);
    for (name, case) in cases {
        let m = matrix(&case["importance"]);
        for (what, ours) in [("disentanglement", dci_disentanglement(m.view())), ("completeness", dci_completeness(m.view()))] {
            let want = case[what].as_f64().unwrap();
            assert!((ours - want).abs() < 1e-12, "{name} {what}: {ours} vs disentanglement_lib {want}");
        }
    }
}
