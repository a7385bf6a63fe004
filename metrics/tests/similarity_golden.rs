//! CKA, RSA and ridge predictivity pinned to their references on 60 stimuli
//! (`fixtures/make_compare.py` made `compare.json`): Kornblith et al.'s own demo code for CKA,
//! rsatoolbox 0.3.2 for RDMs and their Spearman comparison, scikit-learn 1.7.2's `RidgeCV` in
//! 5 `KFold` folds for predictivity.

use ndarray::Array2;
use neurozoo_metrics::similarity::{debiased_linear_cka, linear_cka, rbf_cka, rdm, ridge_predictivity, rsa};
use serde_json::Value;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/compare.json")).unwrap()
}

fn matrix(v: &Value) -> Array2<f64> {
    let rows: Vec<Vec<f64>> = serde_json::from_value(v.clone()).unwrap();
    Array2::from_shape_fn((rows.len(), rows[0].len()), |(i, j)| rows[i][j])
}

fn close(ours: f64, want: &Value, what: &str) {
    let want = want.as_f64().unwrap_or_else(|| panic!("{what}: no value"));
    assert!((ours - want).abs() < 1e-10, "{what}: {ours} vs {want}");
}

#[test]
fn cka_equals_the_reference_demo_code() {
    let f = fixture();
    let (x, y, z) = (matrix(&f["inputs"]["X"]), matrix(&f["inputs"]["Y"]), matrix(&f["inputs"]["Z"]));
    let c = &f["cka"];
    close(linear_cka(x.view(), y.view()), &c["linear_xy"], "linear CKA (X, Y)");
    close(linear_cka(x.view(), z.view()), &c["linear_xz"], "linear CKA (X, Z)");
    close(debiased_linear_cka(x.view(), y.view()), &c["debiased_linear_xy"], "debiased linear CKA (X, Y)");
    close(debiased_linear_cka(x.view(), z.view()), &c["debiased_linear_xz"], "debiased linear CKA (X, Z)");
    for t in ["1.0", "0.5"] {
        let threshold: f64 = t.parse().unwrap();
        close(rbf_cka(x.view(), y.view(), threshold), &c[format!("rbf_{t}_xy")], "RBF CKA (X, Y)");
        close(rbf_cka(x.view(), z.view(), threshold), &c[format!("rbf_{t}_xz")], "RBF CKA (X, Z)");
    }
}

#[test]
fn rsa_equals_rsatoolbox() {
    let f = fixture();
    let (x, y, z) = (matrix(&f["inputs"]["X"]), matrix(&f["inputs"]["Y"]), matrix(&f["inputs"]["Z"]));
    let want: Vec<f64> = serde_json::from_value(f["rsa"]["rdm_x_upper"].clone()).unwrap();
    let ours = rdm(x.view());
    assert_eq!(ours.len(), want.len());
    assert!(ours.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-12));
    close(rsa(x.view(), y.view()), &f["rsa"]["spearman_xy_rsatoolbox"], "RSA (X, Y)");
    close(rsa(x.view(), z.view()), &f["rsa"]["spearman_xz_rsatoolbox"], "RSA (X, Z)");
}

#[test]
fn ridge_predictivity_equals_scikit_learn_ridgecv() {
    let f = fixture();
    let alphas: Vec<f64> = serde_json::from_value(f["ridge"]["alphas"].clone()).unwrap();
    let y = matrix(&f["inputs"]["Y"]);
    for (source, key) in [("X", "y_from_x"), ("Z", "y_from_z")] {
        let features = matrix(&f["inputs"][source]);
        let result = ridge_predictivity(features.view(), y.view(), &alphas, 5);
        let case = &f["ridge"][key];
        assert_eq!(result.alphas, matrix(&case["alpha"]), "{key}: chosen α per fold and neuron");
        let predictions = matrix(&case["predictions"]);
        assert!(result.predictions.iter().zip(&predictions).all(|(a, b)| (a - b).abs() < 1e-9), "{key}: predictions");
        let r: Vec<f64> = serde_json::from_value(case["r"].clone()).unwrap();
        assert!(result.r.iter().zip(&r).all(|(a, b)| (a - b).abs() < 1e-10), "{key}: r {:?} vs {r:?}", result.r);
    }
}
