//! `superposition` → `interpretability` on a toy with known image features in superposition.

use std::f32::consts::PI;
use std::path::PathBuf;

use ndarray::{Array2, Array4};
use neurozoo_datasets::representation::{Representation, RepresentationFile};
use neurozoo_tables::read_parquet;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::plugins::{analyze, stderr};
use super::*;

const SIDE: usize = 16;
const NOISE: f32 = 1.0;

/// Sixteen features — gratings at 4 orientations in one quadrant of a 16 × 16 image, random
/// phase — each shown alone in 200 stimuli at amplitude U(0.5, 1.5) with strong pixel noise.
/// Eight rectified units: each feature drives two random units (weights U(0.5, 1)), so every
/// unit answers to about four unlike features while each feature keeps its own direction.
fn toy(dir: &Path) -> PathBuf {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (features, n_units, per_feature) = (16, 8, 200);
    let n = features * per_feature;
    let mut mixing = Array2::<f32>::zeros((features, n_units));
    for f in 0..features {
        let first = rng.random_range(0..n_units);
        let second = (first + rng.random_range(1..n_units)) % n_units;
        mixing[[f, first]] = rng.random_range(0.5..1.0);
        mixing[[f, second]] = rng.random_range(0.5..1.0);
    }
    let mut images = Array4::<f32>::zeros((n, 1, SIDE, SIDE));
    let mut units = Array2::<f32>::zeros((n, n_units));
    for s in 0..n {
        let f = s % features;
        let amplitude = rng.random_range(0.5..1.5f32);
        let (theta, quadrant) = (PI * (f % 4) as f32 / 4.0, f / 4);
        let phase = rng.random_range(0.0..2.0 * PI);
        for y in 0..SIDE {
            for x in 0..SIDE {
                let inside = (x < SIDE / 2) == (quadrant % 2 == 0) && (y < SIDE / 2) == (quadrant < 2);
                let along = x as f32 * theta.cos() + y as f32 * theta.sin();
                let grating = if inside { amplitude * (2.0 * PI * along / 4.0 + phase).cos() } else { 0.0 };
                images[[s, 0, y, x]] = grating + NOISE * rng.random_range(-1.0..1.0f32);
            }
        }
        for u in 0..n_units {
            units[[s, u]] = (amplitude * mixing[[f, u]] + 0.05 * rng.random_range(-1.0..1.0f32)).max(0.0);
        }
    }
    let file = RepresentationFile {
        representations: vec![Representation { name: "units".into(), data: units, source: "{\"kind\": \"toy superposition\"}".into() }],
        stimulus_ids: (0..n as i64).collect(),
        stimuli: Some(images),
        arrays: Vec::new(),
    };
    let path = dir.join("toy.h5");
    file.write(&path).unwrap();
    path
}

/// (target, mean II, mean II with the activations shuffled across stimuli) per target.
fn mean_ii(out_dir: &Path) -> Vec<(String, f64, f64)> {
    let df = read_parquet(&out_dir.join("summary.parquet")).unwrap();
    let column = |name: &str| df.column(name).unwrap().f64().unwrap().clone();
    let (t, ii, chance) = (df.column("target").unwrap().str().unwrap().clone(), column("mean_ii"), column("chance_ii"));
    (0..df.height()).map(|i| (t.get(i).unwrap().to_string(), ii.get(i).unwrap(), chance.get(i).unwrap())).collect()
}

#[test]
fn kmeans_directions_are_more_interpretable_than_polysemantic_units() {
    let dir = tempfile::tempdir().unwrap();
    let repr = toy(dir.path());
    let sp = dir.path().join("sp");
    assert!(run(analyze(&repr, "superposition", &sp).args(["--param", "methods=kmeans,random", "--param", "n_directions=16"]))
        .status
        .success());
    let score = |out: &str| {
        let out_dir = dir.path().join(out);
        let o = run(analyze(&repr, "interpretability", &out_dir).arg("--arrays").arg(sp.join("arrays.h5")).args(["--seed", "3"]));
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(out_dir.join("extremes_kmeans.png").is_file() && out_dir.join("ii_by_target.svg").is_file());
        mean_ii(&out_dir)
    };
    let first = score("ii");
    eprintln!("mean II: {first:?}");
    assert_eq!(first, score("ii-again"), "the same seed gives the same scores");
    let get = |name: &str| first.iter().find(|(n, ..)| n == name).unwrap().1;
    let (units, kmeans) = (get("units"), get("kmeans"));
    assert!(kmeans > units + 0.05, "k-means directions {kmeans:.3} vs units {units:.3}");
    // Chance is the same columns with their stimuli shuffled; every target must sit there.
    for (name, _, chance) in &first {
        assert!((chance - 0.5).abs() < 0.03, "{name}: shuffled II {chance:.3} is not chance");
    }
    // Random signed directions are not at chance here (0.88): each end of a random direction's
    // ranking is one feature group of this sparse toy, so the two ends are easy to tell apart.
    // The README's "Chance and random directions" explains why no toy we tried puts them at 0.5.
}

#[test]
fn interpretability_needs_stimuli_and_names_missing_targets() {
    let dir = tempfile::tempdir().unwrap();
    let repr = toy(dir.path());
    let out = analyze(&repr, "interpretability", &dir.path().join("x")).args(["--param", "targets=units,kmeans"]).output().unwrap();
    assert!(!out.status.success() && stderr(&out).contains("targets: no \"kmeans\" to score (have: units)"), "{}", stderr(&out));
}

/// A user's TorchScript embedder (`tests/fixtures/pool_embedder.pt`, made by
/// `make_embedder.py`) is loaded with tch; a missing model is an error naming its path.
#[test]
fn a_torchscript_model_can_be_the_similarity() {
    let dir = tempfile::tempdir().unwrap();
    let repr = toy(dir.path());
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/pool_embedder.pt");
    let out_dir = dir.path().join("ts");
    let out = run(analyze(&repr, "interpretability", &out_dir)
        .args(["--param", "embedding=torchscript", "--param"])
        .arg(format!("model={}", model.display())));
    assert!(out.status.success());
    let ii = mean_ii(&out_dir);
    assert!(ii[0].0 == "units" && ii[0].1 > 0.5 && ii[0].1 < 1.0, "{ii:?}");
    let missing = dir.path().join("missing.pt");
    let out = analyze(&repr, "interpretability", &dir.path().join("x"))
        .args(["--param", "embedding=torchscript", "--param"])
        .arg(format!("model={}", missing.display()))
        .output()
        .unwrap();
    assert!(
        !out.status.success() && stderr(&out).contains("cannot load TorchScript model") && stderr(&out).contains("missing.pt"),
        "{}",
        stderr(&out)
    );
}

/// Recorded responses (simulated V1, 74 images): the same plugin, with fewer trials when the
/// stimuli do not allow 20, saying so.
#[test]
fn interpretability_runs_on_recorded_responses() {
    let dir = tempfile::tempdir().unwrap();
    let repr = super::plugins::representation(dir.path());
    let out_dir = dir.path().join("ii");
    let out = run(analyze(&repr, "interpretability", &out_dir).args(["--param", "references=3", "--param", "embedding=pixel"]));
    assert!(out.status.success());
    assert!(stderr(&out).contains("74 stimuli allow 9 trials of 3 references per side, not 20"), "{}", stderr(&out));
    let df = read_parquet(&out_dir.join("scores.parquet")).unwrap();
    assert_eq!(df.height(), 12, "one row per unit");
}
