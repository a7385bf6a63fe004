//! `data simulate sparse` → `analyze sparse-coding`, scored against the file's ground truth.

use neurozoo_datasets::representation::read_arrays;
use neurozoo_tables::read_parquet;
use polars::prelude::DataFrame;

use super::plugins::{analyze, manifest, representation, stderr};
use super::*;

fn simulated(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("sparse.h5");
    let out = run(neurozoo().args(["data", "simulate", "sparse", "--n-samples", "512", "--seed", "3", "--out"]).arg(&file));
    assert!(out.status.success());
    file
}

fn column(df: &DataFrame, name: &str) -> Vec<Option<f64>> {
    let values = df.column(name).unwrap().f64().unwrap();
    (0..values.len()).map(|i| values.get(i)).collect()
}

#[test]
fn dictionary_learning_writes_scored_arrays_tables_and_figures() {
    let dir = tempfile::tempdir().unwrap();
    let repr = simulated(dir.path());
    let out_dir = dir.path().join("dl");
    let out = run(analyze(&repr, "sparse-coding", &out_dir).args([
        "--param",
        "lambda=0.05",
        "--param",
        "nonnegative=true",
        "--param",
        "device=cpu",
    ]));
    assert!(out.status.success());
    let scores = read_parquet(&out_dir.join("scores.parquet")).unwrap();
    assert_eq!(scores.height(), 1);
    let (d, c) = (column(&scores, "dictionary_mcc")[0].unwrap(), column(&scores, "code_mcc")[0].unwrap());
    assert!(d > 0.9 && c > 0.8, "dictionary MCC {d}, code MCC {c}");
    let atoms = read_parquet(&out_dir.join("atoms.parquet")).unwrap();
    assert_eq!(atoms.height(), 16, "n_atoms defaults to the ground truth's 16");
    for name in ["atom", "usage_frequency", "mean_activation", "dead", "matched_source", "match_cosine"] {
        assert!(atoms.column(name).is_ok(), "atoms table lacks {name}");
    }
    let arrays = read_arrays(&out_dir.join("arrays.h5")).unwrap();
    let shape = |n: &str| arrays.iter().find(|(k, _)| k == n).map(|(_, a)| a.shape().to_vec());
    assert_eq!((shape("dictionary"), shape("codes")), (Some(vec![16, 8]), Some(vec![512, 16])));
    for f in ["training_curve.png", "training_curve.svg", "atom_usage.png", "training.csv", "scores.csv"] {
        assert!(out_dir.join(f).is_file(), "{f} missing");
    }
    assert_eq!(manifest(&out_dir)["status"], "complete");
}

#[test]
fn topk_sae_reports_its_amortisation_gap() {
    let dir = tempfile::tempdir().unwrap();
    let repr = simulated(dir.path());
    let out_dir = dir.path().join("topk");
    let out = run(analyze(&repr, "sparse-coding", &out_dir).args([
        "--param",
        "method=sae-topk",
        "--param",
        "epochs=20",
        "--param",
        "device=cpu",
    ]));
    assert!(out.status.success());
    let scores = read_parquet(&out_dir.join("scores.parquet")).unwrap();
    let from = scores.column("codes_from").unwrap().str().unwrap();
    let from: Vec<_> = (0..from.len()).filter_map(|i| from.get(i)).collect();
    assert_eq!(from, ["sae_encoder", "inference_on_sae_decoder"]);
    let l0 = column(&scores, "l0");
    assert!(l0[0].unwrap() <= 3.0 + 1e-9, "TopK with k = the ground truth's 3: L0 {:?}", l0[0]);
    let training = read_parquet(&out_dir.join("training.parquet")).unwrap();
    assert_eq!(training.height(), 20);
    assert!(training.column("dead_fraction").is_ok());
}

/// The three newer SAEs (golden-tested against SAELens in `sparse/tests/sae_reference.rs`) on
/// data with a known dictionary: every one reports L0, FVU, dead and dense atoms, is sparse
/// (under ¾ of its 16 latents active), reconstructs better than the mean and finds most of
/// the true atoms. JumpReLU starts from thresholds of 0.1: from SAELens' 0.01, a run this
/// short ends with nearly every latent open.
#[test]
fn batchtopk_jumprelu_and_matryoshka_saes_report_l0_fvu_dead_and_dense() {
    let dir = tempfile::tempdir().unwrap();
    let repr = simulated(dir.path());
    for (method, extra) in [("sae-batchtopk", "k=3"), ("sae-jumprelu", "threshold=0.1"), ("sae-matryoshka", "widths=4,8,16")] {
        let out_dir = dir.path().join(method);
        let out = run(analyze(&repr, "sparse-coding", &out_dir).args(["--param", &format!("method={method}"), "--param", extra]).args([
            "--param",
            "epochs=150",
            "--param",
            "lr=0.003",
            "--param",
            "device=cpu",
        ]));
        assert!(out.status.success(), "{method}: {}", stderr(&out));
        let scores = read_parquet(&out_dir.join("scores.parquet")).unwrap();
        let (l0, fvu) = (column(&scores, "l0")[0].unwrap(), column(&scores, "fvu")[0].unwrap());
        let count = |name: &str| scores.column(name).unwrap().i64().unwrap().get(0).unwrap();
        let (dead, dense) = (count("dead_atoms"), count("dense_atoms"));
        let d = column(&scores, "dictionary_mcc")[0].unwrap();
        eprintln!("{method}: L0 {l0:.2}, FVU {fvu:.4}, {dead} dead, {dense} dense, dictionary MCC {d:.3}");
        assert!(fvu > 0.0 && fvu < 0.2, "{method}: FVU {fvu}");
        assert!(l0 > 0.5 && l0 < 12.0, "{method}: L0 {l0}");
        assert!((0..=16).contains(&dead) && (0..=16).contains(&dense), "{method}: {dead} dead, {dense} dense");
        assert!(d > 0.6, "{method}: dictionary MCC {d}");
        assert!(stderr(&out).contains("FVU"), "{method}: the log line gives the FVU: {}", stderr(&out));
    }
}

/// `sweep` trains one more model per sparsity setting: fewer active atoms, more variance left.
#[test]
fn a_sparsity_sweep_plots_fvu_against_l0() {
    let dir = tempfile::tempdir().unwrap();
    let repr = simulated(dir.path());
    let out_dir = dir.path().join("sweep");
    let out = run(analyze(&repr, "sparse-coding", &out_dir).args([
        "--param",
        "method=sae-batchtopk",
        "--param",
        "sweep=1,2,6",
        "--param",
        "epochs=60",
        "--param",
        "lr=0.003",
        "--param",
        "device=cpu",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let sweep = read_parquet(&out_dir.join("sparsity_sweep.parquet")).unwrap();
    assert_eq!(column(&sweep, "k"), [Some(1.0), Some(2.0), Some(6.0)]);
    let (l0, fvu) = (column(&sweep, "l0"), column(&sweep, "fvu"));
    assert!(l0[0] < l0[2] && fvu[0] > fvu[2], "k = 1 keeps fewer atoms and explains less than k = 6: L0 {l0:?}, FVU {fvu:?}");
    for f in ["fvu_vs_l0.png", "fvu_vs_l0.svg", "sparsity_sweep.csv"] {
        assert!(out_dir.join(f).is_file(), "{f} missing");
    }
}

/// Sparsity settings that cannot hold are refused before anything is learned, naming the value.
#[test]
fn impossible_sparsity_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let repr = simulated(dir.path());
    let cases = [
        (vec!["method=sae-batchtopk", "k=16"], "k = 16: with k ≥ the 16 latents"),
        (vec!["method=sae-topk", "k=2.5"], "k = 2.5: a TopK SAE keeps a whole number"),
        (vec!["method=sae-jumprelu", "threshold=0"], "threshold = 0: it must be a positive number"),
        (vec!["method=sae-jumprelu", "bandwidth=0"], "bandwidth = 0: it must be a positive number"),
        (vec!["method=sae-matryoshka", "widths=8,4,16"], "strictly increasing"),
        (vec!["method=sae-matryoshka", "widths=4,8"], "must end at the number of latents, 16"),
        (vec!["method=sae-matryoshka", "widths=4,x,16"], "\"x\" is not a whole number"),
        (vec!["method=sae-topk", "sweep=2,40"], "sweep: k = 40"),
        (vec!["method=dictionary", "sweep=0.1,abc"], "\"abc\" is not a number"),
    ];
    for (i, (params, wanted)) in cases.iter().enumerate() {
        let out_dir = dir.path().join(format!("bad{i}"));
        let mut cmd = analyze(&repr, "sparse-coding", &out_dir);
        for p in params {
            cmd.args(["--param", p]);
        }
        let out = cmd.args(["--param", "epochs=2", "--param", "device=cpu"]).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{params:?}: {err}");
        assert!(err.contains(wanted) && !err.contains("panicked"), "{params:?}: wanted {wanted:?} in {err}");
        assert!(!out_dir.join("scores.parquet").exists(), "{params:?}: nothing written");
    }
}

#[test]
fn a_method_outside_the_schema_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let repr = simulated(dir.path());
    let out = analyze(&repr, "sparse-coding", &dir.path().join("x")).args(["--param", "method=pca"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out)
            .contains("method = \"pca\": expected one of dictionary, sae-relu, sae-topk, sae-batchtopk, sae-jumprelu, sae-matryoshka"),
        "{}",
        stderr(&out)
    );
}

/// What one plugin learned feeds the next: `--arrays` adds an earlier run's `arrays.h5`.
#[test]
fn a_later_plugin_gets_the_learned_dictionary_through_arrays() {
    let dir = tempfile::tempdir().unwrap();
    let repr = simulated(dir.path());
    let learned = dir.path().join("dl");
    assert!(run(analyze(&repr, "sparse-coding", &learned).args(["--param", "epochs=5", "--param", "restarts=1", "--param", "device=cpu"]))
        .status
        .success());
    let arrays = learned.join("arrays.h5");
    let seen = dir.path().join("seen");
    assert!(run(analyze(&repr, "testkit", &seen).args(["--param", "mode=arrays", "--arrays"]).arg(&arrays)).status.success());
    let csv = std::fs::read_to_string(seen.join("arrays.csv")).unwrap();
    for line in ["gt_dictionary,\"[16, 8]\"", "gt_codes,\"[512, 16]\"", "dictionary,\"[16, 8]\"", "codes,\"[512, 16]\""] {
        assert!(csv.contains(line), "{line} not in {csv}");
    }
    let twice = dir.path().join("twice");
    let out = analyze(&repr, "testkit", &twice)
        .args(["--param", "mode=arrays", "--arrays"])
        .arg(&arrays)
        .arg("--arrays")
        .arg(&arrays)
        .output()
        .unwrap();
    assert!(!out.status.success() && stderr(&out).contains("array \"dictionary\" is in both"), "{}", stderr(&out));
    assert!(!twice.exists(), "nothing is created when the inputs are refused");
}

/// Mean over ground-truth atoms of the best |cosine| with any found direction.
fn recovery(truth: &ndarray::ArrayD<f32>, found: &ndarray::ArrayD<f32>) -> f64 {
    let (t, f) = (truth.view().into_dimensionality::<ndarray::Ix2>().unwrap(), found.view().into_dimensionality::<ndarray::Ix2>().unwrap());
    let unit = |r: ndarray::ArrayView1<f32>| r.mapv(f64::from) / f64::from(r.dot(&r)).sqrt();
    let rows = t.rows().into_iter().map(|a| f.rows().into_iter().map(|b| unit(a).dot(&unit(b)).abs()).fold(0.0, f64::max));
    rows.sum::<f64>() / t.nrows() as f64
}

/// `superposition` on sparse superposition data: every method writes directions and
/// projections; the sparse-coding dictionary (given with --arrays) and k-means find the planted
/// atoms better than random directions do.
#[test]
fn superposition_directions_beat_random_on_planted_atoms() {
    let dir = tempfile::tempdir().unwrap();
    let repr = simulated(dir.path());
    let learned = dir.path().join("dl");
    let dl = ["--param", "lambda=0.03", "--param", "nonnegative=true", "--param", "device=cpu"];
    assert!(run(analyze(&repr, "sparse-coding", &learned).args(dl)).status.success());
    let out_dir = dir.path().join("sp");
    assert!(run(analyze(&repr, "superposition", &out_dir)
        .arg("--arrays")
        .arg(learned.join("arrays.h5"))
        .args(["--param", "n_directions=16"]))
    .status
    .success());
    let arrays = read_arrays(&out_dir.join("arrays.h5")).unwrap();
    let get = |n: &str| arrays.iter().find(|(k, _)| k == n).map(|(_, a)| a.clone()).unwrap_or_else(|| panic!("{n} missing"));
    for m in ["kmeans", "pca", "ica", "dictionary", "random"] {
        let (d, p) = (get(&format!("directions_{m}")), get(&format!("projections_{m}")));
        assert_eq!((d.shape()[1], p.shape()[0]), (8, 512), "{m}");
        assert_eq!(d.shape()[0], p.shape()[1], "{m}");
    }
    let truth = read_arrays(&repr).unwrap().into_iter().find(|(n, _)| n == "gt_dictionary").unwrap().1;
    let score = |m: &str| recovery(&truth, &get(&format!("directions_{m}")));
    let (dictionary, kmeans, random) = (score("dictionary"), score("kmeans"), score("random"));
    eprintln!("best |cos| with the planted atoms: dictionary {dictionary:.3}, kmeans {kmeans:.3}, random {random:.3}");
    assert!(dictionary > 0.95 && kmeans > random + 0.05, "dictionary {dictionary:.3}, kmeans {kmeans:.3}, random {random:.3}");
    let table = read_parquet(&out_dir.join("directions.parquet")).unwrap();
    assert_eq!(table.height(), 16 * 3 + 8 * 2, "16 k-means, dictionary and random directions; PCA and ICA capped at 8 units");
    for f in ["kurtosis.png", "kurtosis.svg", "kmeans_directions.png", "directions.csv"] {
        assert!(out_dir.join(f).is_file(), "{f} missing");
    }
}

/// The same plugin on recorded responses (simulated V1, 12 neurons): `auto` runs every method
/// but the dictionary, which needs an input array.
#[test]
fn superposition_runs_on_recorded_responses() {
    let dir = tempfile::tempdir().unwrap();
    let repr = representation(dir.path());
    let out_dir = dir.path().join("sp");
    let out = run(&mut analyze(&repr, "superposition", &out_dir));
    assert!(out.status.success());
    let table = read_parquet(&out_dir.join("directions.parquet")).unwrap();
    assert_eq!(table.height(), 12 * 4, "12 directions (one per unit) for kmeans, pca, ica and random");
    assert!(stderr(&out).contains("kmeans: 12 directions"), "{}", stderr(&out));
    let refused = analyze(&repr, "superposition", &dir.path().join("x")).args(["--param", "methods=kmeans,dictionary"]).output().unwrap();
    assert!(!refused.status.success() && stderr(&refused).contains("dictionary needs an input array"), "{}", stderr(&refused));
}

/// Inputs that sparse coding cannot work with are clean errors, never a panic.
#[test]
fn degenerate_inputs_are_clean_errors() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, data| super::plugins::write_representation(&dir.path().join(name), data);
    let normal = ndarray::Array2::from_shape_fn((20, 4), |(i, j)| ((i * 7 + j * 3) % 5) as f32);
    let cases = [
        ("one.h5", ndarray::Array2::from_elem((1, 4), 1.0), vec![], "at least 3 stimuli"),
        ("two.h5", ndarray::Array2::from_elem((2, 4), 1.0), vec![], "at least 3 stimuli"),
        ("zero.h5", ndarray::Array2::zeros((20, 4)), vec![], "every value is 0"),
        ("huge.h5", ndarray::Array2::from_elem((20, 4), 3.0e38), vec![], "too large"),
        ("atoms.h5", normal, vec!["--param", "n_atoms=100000000"], "n_atoms = 100000000"),
    ];
    for (name, data, params, wanted) in cases {
        let repr = write(name, data);
        for method in ["dictionary", "sae-topk"] {
            let out = super::plugins::analyze(&repr, "sparse-coding", &dir.path().join(format!("{name}-{method}")))
                .args(["--param", &format!("method={method}"), "--param", "epochs=2"])
                .args(&params)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{name} {method}: {err}");
            assert!(err.contains(wanted) && !err.contains("panicked"), "{name} {method}: {err}");
        }
    }
}
