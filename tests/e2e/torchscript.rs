//! A user's TorchScript CNN (`tests/fixtures/frozen_core.pt`, made by `make_frozen_core.py`:
//! `conv1` is 4 channels after a 5 × 5 convolution, `forward` 8 after a further 3 × 3) as a
//! frozen core under a trained readout, and as a feature extractor for `compare`.

use std::path::PathBuf;

use neurozoo_datasets::representation::RepresentationFile;

use super::*;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/frozen_core.pt")
}

/// One libtorch thread: the tests share two cores.
fn neurozoo1() -> Command {
    let mut cmd = neurozoo();
    cmd.env("OMP_NUM_THREADS", "1");
    cmd
}

/// A tiny simulation (208 distinct 20 × 20 images), and a config in its own directory that
/// names the network by a path relative to that directory.
fn setup(dir: &Path, layer: &str) -> (PathBuf, PathBuf) {
    let data = dir.join("v1.h5");
    let out = run(neurozoo1()
        .args(["data", "simulate", "v1", "--n-units", "10", "--n-train", "160", "--n-validation", "40"])
        .args(["--n-test", "8", "--n-final-test", "0", "--repeats", "4", "--height", "20", "--width", "20", "--seed", "3", "--out"])
        .arg(&data));
    assert!(out.status.success());
    let configs = dir.join("configs");
    std::fs::create_dir_all(&configs).unwrap();
    std::fs::copy(fixture(), configs.join("cnn.pt")).unwrap();
    let config = configs.join("frozen.toml");
    std::fs::write(
        &config,
        format!("preset = \"klindt2017\"\n[model.frozen_core]\nfile = \"cnn.pt\"\nlayer = \"{layer}\"\n[train]\nbatch_size = 32\nmax_epochs = 2\n"),
    )
    .unwrap();
    (data, config)
}

fn fit(data: &Path, config: &Path, out: &Path) -> Output {
    run(neurozoo1().arg("fit").arg(config).arg("--data").arg(data).arg("--out").arg(out).args(["--threads", "1", "--device", "cpu"]))
}

fn extract(model: &Path, data: &Path, layer: &str, out: &Path) -> Output {
    run(neurozoo1().arg("extract").arg(model).arg("--data").arg(data).args(["--layer", layer, "--device", "cpu", "--out"]).arg(out))
}

/// The run keeps its own copy of the network, so eval and extract work after the original is
/// gone; eval reports no receptive-field recovery (a frozen core's geometry is unknown).
#[test]
fn frozen_core_fits_evaluates_and_extracts_from_the_run_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (data, config) = setup(dir.path(), "conv2");
    let run_dir = dir.path().join("run");
    assert!(fit(&data, &config, &run_dir).status.success());
    assert_eq!(std::fs::read(run_dir.join("frozen_core.pt")).unwrap(), std::fs::read(fixture()).unwrap());
    let saved = std::fs::read_to_string(run_dir.join("config.toml")).unwrap();
    assert!(saved.contains("file = \"frozen_core.pt\"") && !saved.contains("[model.core]"), "{saved}");
    std::fs::remove_file(config.parent().unwrap().join("cnn.pt")).unwrap();

    let out = run(neurozoo1().arg("eval").arg(&run_dir).arg("--data").arg(&data).args(["--json", "--device", "cpu"]));
    assert!(out.status.success());
    let j = stdout_json(&out);
    assert!(j["test"]["correlation"].as_f64().is_some_and(f64::is_finite), "{j}");
    assert!(j["test"]["fev_ground_truth"].is_number(), "{j}");
    assert!(j.get("rf_recovery").is_none() && j["test"].get("rf_location_error_px").is_none(), "RF recovery must be absent: {j}");

    let core = dir.path().join("core.h5");
    assert!(extract(&run_dir, &data, "core", &core).status.success());
    let file = RepresentationFile::read(&core).unwrap();
    // conv2 of a 20 × 20 image: 8 channels on 14 × 14 (20 − 4 − 2).
    assert_eq!(file.get(Some("core")).unwrap().data.dim(), (208, 8 * 14 * 14));
}

/// `extract MODEL.pt` gives the network's layer on the distinct images, aligned with the
/// recorded responses; `forward` is the default layer.
#[test]
fn extract_runs_a_torchscript_file_as_a_feature_extractor() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = setup(dir.path(), "forward");
    let conv1 = dir.path().join("conv1.h5");
    assert!(extract(&fixture(), &data, "conv1", &conv1).status.success());
    let file = RepresentationFile::read(&conv1).unwrap();
    let rep = file.get(Some("conv1")).unwrap();
    assert_eq!(rep.data.dim(), (208, 4 * 16 * 16));
    assert!(rep.data.iter().all(|v| v.is_finite() && *v >= -1.0), "ELU output");
    let source: serde_json::Value = serde_json::from_str(&rep.source).unwrap();
    assert_eq!((source["kind"].as_str(), source["layer"].as_str()), (Some("torchscript"), Some("conv1")));
    assert!(source["model"].as_str().unwrap().ends_with("frozen_core.pt"), "{source}");

    let brain = dir.path().join("brain.h5");
    assert!(run(neurozoo1().arg("extract").arg("--data").arg(&data).arg("--out").arg(&brain)).status.success());
    assert_eq!(RepresentationFile::read(&brain).unwrap().stimulus_ids, file.stimulus_ids);

    let default = dir.path().join("default.h5");
    assert!(run(neurozoo1().arg("extract").arg(fixture()).arg("--data").arg(&data).args(["--device", "cpu", "--out"]).arg(&default))
        .status
        .success());
    assert_eq!(RepresentationFile::read(&default).unwrap().get(Some("forward")).unwrap().data.dim(), (208, 8 * 14 * 14));

    // Several layers in one file feed `compare`, which scores each against the responses.
    let layers = dir.path().join("layers.h5");
    assert!(extract(&fixture(), &data, "conv1,forward", &layers).status.success());
    let names: Vec<String> = RepresentationFile::read(&layers).unwrap().representations.into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["conv1", "forward"]);
    let cmp = dir.path().join("cmp");
    let out = run(neurozoo1().arg("compare").arg(&layers).arg(&brain).args(["--bootstrap", "20", "--json", "--out"]).arg(&cmp));
    assert!(out.status.success());
    let summary = stdout_json(&out);
    for layer in ["conv1", "forward"] {
        for metric in ["predictivity", "predictivity_normalised", "linear_cka", "rbf_cka", "rsa"] {
            assert!(summary["scores"][layer][metric]["score"].as_f64().is_some_and(f64::is_finite), "{layer} {metric}: {summary}");
        }
    }
}

/// A layer the network does not have stops fit (before the run directory exists) and extract,
/// naming the layer and the file.
#[test]
fn a_missing_layer_is_named_with_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let (data, config) = setup(dir.path(), "conv9");
    let run_dir = dir.path().join("run");
    let out = fit(&data, &config, &run_dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("\"conv9\"") && err.contains("cnn.pt") && err.contains("@torch.jit.export"), "{err}");
    assert!(!run_dir.exists(), "a refused fit must not create its run directory");

    let r = dir.path().join("r.h5");
    let out = extract(&fixture(), &data, "conv9", &r);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("\"conv9\"") && err.contains("frozen_core.pt"), "{err}");
    assert!(!r.exists());
}

/// A network that passes the two-image check at load but fails on a real batch (a hard-coded
/// batch size) is an error naming the file and the layer, not a crash.
#[test]
fn a_network_that_fails_on_a_batch_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (data, config) = setup(dir.path(), "two_images");
    let e = neurozoo1().arg("fit").arg(&config).arg("--data").arg(&data).arg("--out").arg(dir.path().join("run")).output().unwrap();
    let stderr = String::from_utf8_lossy(&e.stderr);
    assert!(!e.status.success() && stderr.contains("cnn.pt") && stderr.contains("two_images") && !stderr.contains("panicked"), "{stderr}");
    assert!(stderr.lines().count() <= 3, "one message, no backtrace: {stderr}");
}
