//! Procrustes, partially whitened and CCA shape distances, angular and Euclidean, pinned to
//! netrep's `LinearMetric` at 0186b8a (`fixtures/make_shape.py` made `shape.json`): different
//! widths (zero padding), both argument orders, an unrelated pair and a shuffled pairing.

use ndarray::{Array2, Axis};
use neurozoo_metrics::shape::{Score, ShapeMetric};
use serde_json::Value;

fn matrix(v: &Value) -> Array2<f64> {
    let rows: Vec<Vec<f64>> = serde_json::from_value(v.clone()).unwrap();
    Array2::from_shape_fn((rows.len(), rows[0].len()), |(i, j)| rows[i][j])
}

#[test]
fn shape_distances_equal_netrep() {
    let f: Value = serde_json::from_str(include_str!("fixtures/shape.json")).unwrap();
    let (x, y, z) = (matrix(&f["inputs"]["X"]), matrix(&f["inputs"]["Y"]), matrix(&f["inputs"]["Z"]));
    let shuffle: Vec<usize> = serde_json::from_value(f["inputs"]["shuffle"].clone()).unwrap();
    let shuffled = y.select(Axis(0), &shuffle);
    let cases = f["distances"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    for case in cases {
        let alpha = case["alpha"].as_f64().unwrap();
        let score = match case["score_method"].as_str().unwrap() {
            "angular" => Score::Angular,
            _ => Score::Euclidean,
        };
        let metric = ShapeMetric { alpha, score };
        for (key, a, b) in [("xy", &x, &y), ("yx", &y, &x), ("xz", &x, &z), ("x_y_shuffled", &x, &shuffled)] {
            let (ours, want) = (metric.distance(a.view(), b.view()), case[key].as_f64().unwrap());
            assert!((ours - want).abs() < 1e-8 * want.max(1.0), "alpha {alpha} {score:?} {key}: {ours} vs netrep {want}");
        }
    }
}
