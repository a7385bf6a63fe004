//! The crossnobis RDM, the partitions' RDMs, the Spearman noise ceiling and a model's
//! evaluation pinned to rsatoolbox 0.3.2 (`fixtures/rsa_reference.py` made
//! `rsa_reference.json`): 9 stimuli shown 3 or 4 times in shuffled order, 3 partitions.

use ndarray::Array2;
use neurozoo_metrics::rsa::{mean_spearman, spearman, spearman_noise_ceiling, RepeatPartitions};
use neurozoo_metrics::similarity::{euclidean_rdm_matrix, rdm_matrix, upper_triangle};
use serde_json::Value;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/rsa_reference.json")).unwrap()
}

fn matrix(v: &Value) -> Array2<f64> {
    let rows: Vec<Vec<f64>> = serde_json::from_value(v.clone()).unwrap();
    Array2::from_shape_fn((rows.len(), rows[0].len()), |(i, j)| rows[i][j])
}

fn close(ours: f64, want: &Value, what: &str) {
    let want = want.as_f64().unwrap_or_else(|| panic!("{what}: no value"));
    assert!((ours - want).abs() < 1e-9, "{what}: {ours} vs {want}");
}

fn partitions(f: &Value) -> RepeatPartitions {
    let stimulus: Vec<usize> = serde_json::from_value(f["inputs"]["stimulus"].clone()).unwrap();
    let n = stimulus.iter().max().unwrap() + 1;
    RepeatPartitions::new(matrix(&f["inputs"]["responses"]).view(), &stimulus, n).unwrap()
}

#[test]
fn crossnobis_and_partition_rdms_equal_rsatoolbox() {
    let f = fixture();
    let p = partitions(&f);
    assert_eq!(p.len() as u64, f["inputs"]["n_partitions"].as_u64().unwrap());
    let want: Vec<f64> = serde_json::from_value(f["crossnobis_upper"].clone()).unwrap();
    let ours = upper_triangle(&p.crossnobis());
    assert_eq!(ours.len(), want.len());
    for (k, (a, b)) in ours.iter().zip(&want).enumerate() {
        assert!((a - b).abs() < 1e-9, "crossnobis pair {k}: {a} vs {b}");
    }
    let want = matrix(&f["partition_rdms_upper"]);
    for (k, d) in p.rdms().iter().enumerate() {
        let ours = upper_triangle(d);
        assert!(ours.iter().zip(want.row(k)).all(|(a, b)| (a - b).abs() < 1e-9), "partition {k}: {ours} vs {}", want.row(k));
    }
}

#[test]
fn noise_ceiling_and_model_evaluation_equal_rsatoolbox() {
    let f = fixture();
    let rdms = partitions(&f).rdms();
    let ceiling = spearman_noise_ceiling(&rdms);
    close(ceiling.lower, &f["noise_ceiling"]["lower"], "lower bound");
    close(ceiling.upper, &f["noise_ceiling"]["upper"], "upper bound");
    let model = rdm_matrix(matrix(&f["inputs"]["model"]).view());
    let each: Vec<f64> = serde_json::from_value(f["model_vs_partitions"].clone()).unwrap();
    for (k, (d, want)) in rdms.iter().zip(&each).enumerate() {
        let ours = spearman(&upper_triangle(&model), &upper_triangle(d));
        assert!((ours - want).abs() < 1e-9, "model vs partition {k}: {ours} vs {want}");
    }
    close(mean_spearman(&model, &rdms), &f["model_vs_partitions_mean"], "model vs partitions, mean");
    let crossnobis = partitions(&f).crossnobis();
    close(spearman(&upper_triangle(&model), &upper_triangle(&crossnobis)), &f["model_vs_crossnobis"], "model vs crossnobis");
    let euclidean = upper_triangle(&euclidean_rdm_matrix(matrix(&f["inputs"]["model"]).view()));
    let want: Vec<f64> = serde_json::from_value(f["model_euclidean_upper"].clone()).unwrap();
    assert!(euclidean.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-9), "euclidean RDM {euclidean} vs {want:?}");
    close(spearman(&euclidean, &upper_triangle(&crossnobis)), &f["model_euclidean_vs_crossnobis"], "euclidean model vs crossnobis");
}
