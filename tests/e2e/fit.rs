use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;

use super::*;

/// A small simulation and a small model, so a fit takes seconds.
fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    let data = small_v1(dir);
    let config = dir.join("tiny.toml");
    std::fs::write(
        &config,
        r#"preset = "klindt2017"
[model.core]
layers = 2
channels = 4
input_kernel = 7
[train]
batch_size = 32
max_epochs = 5
patience = 10
"#,
    )
    .unwrap();
    (data, config)
}

fn fit(data: &Path, config: &Path, out: &Path) -> Command {
    let mut cmd = neurozoo();
    cmd.arg("fit").arg(config).arg("--data").arg(data).arg("--out").arg(out).args(["--threads", "1", "--device", "cpu"]);
    cmd
}

#[test]
fn fit_writes_a_run_and_eval_reports_the_metrics_by_tier() {
    let dir = tempfile::tempdir().unwrap();
    let (data, config) = setup(dir.path());
    let run_dir = dir.path().join("run");
    assert!(run(&mut fit(&data, &config, &run_dir)).status.success());
    for f in ["config.toml", "run.json", "model.safetensors", "metrics.parquet", "metrics.csv"] {
        assert!(run_dir.join(f).is_file(), "{f} missing");
    }
    let info: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run_dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(info["status"], "complete");
    assert_eq!(info["epochs"], 5);
    assert_eq!(info["libtorch"], "2.11.0+cu130");
    let csv = std::fs::read_to_string(run_dir.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 6, "header + one row per epoch:\n{csv}");
    assert!(csv.starts_with("epoch,lr,train_loss,regularizer,validation_correlation,best,seconds"));

    let out = run(neurozoo().arg("eval").arg(&run_dir).arg("--data").arg(&data).arg("--json"));
    assert!(out.status.success());
    let j = stdout_json(&out);
    let test = &j["test"];
    for key in ["correlation", "correlation_to_average", "oracle_correlation", "fev_ground_truth", "feve", "fev", "rf_location_error_px"] {
        assert!(test[key].is_number(), "test.{key} missing: {j}");
    }
    // Trained a little, the model predicts above chance but not above the noise ceiling.
    let corr = test["correlation"].as_f64().unwrap();
    assert!(corr > 0.1 && corr < test["oracle_correlation"].as_f64().unwrap() + 0.05, "{j}");
    // No repeats in train: the repeat-based metrics are absent, not made up.
    assert!(j["train"]["correlation"].is_number());
    for key in ["feve", "oracle_correlation", "correlation_to_average"] {
        assert!(j["train"].get(key).is_none(), "train.{key} should be absent: {j}");
    }
    assert!(j.get("final_test").is_none(), "an empty tier is absent");
    let rf = &j["rf_recovery"];
    for key in ["median_error_px", "within_1px", "aligned_median_error_px", "aligned_within_1px"] {
        assert!(rf[key].as_f64().is_some_and(|x| x >= 0.0), "rf_recovery.{key}: {rf}");
    }
    let types = rf["type_offsets_px"].as_object().unwrap();
    assert!(!types.is_empty() && types.values().all(|o| o.as_array().unwrap().len() == 2), "{rf}");
}

/// `eval --figures DIR` draws what the factorised model learned, each figure as a PNG that
/// decodes and an SVG.
#[test]
fn eval_figures_draw_what_the_model_learned() {
    let dir = tempfile::tempdir().unwrap();
    let (data, config) = setup(dir.path());
    let out = dir.path().join("run");
    assert!(run(&mut fit(&data, &config, &out)).status.success());
    let figures = dir.path().join("figures");
    let e = run(neurozoo().arg("eval").arg(&out).arg("--data").arg(&data).arg("--figures").arg(&figures));
    assert!(e.status.success());
    for stem in ["receptive_fields", "masks", "filters", "predicted_vs_recorded"] {
        let png = std::fs::File::open(figures.join(format!("{stem}.png"))).unwrap_or_else(|e| panic!("{stem}.png: {e}"));
        let info = png::Decoder::new(std::io::BufReader::new(png)).read_info().unwrap().info().clone();
        assert!(info.width > 100 && info.height > 100, "{stem}.png is {}x{}", info.width, info.height);
        assert!(std::fs::read_to_string(figures.join(format!("{stem}.svg"))).unwrap().trim_end().ends_with("</svg>"));
    }
    // A directory that holds something is refused before any work, and keeps what it held.
    let before = std::fs::read(figures.join("masks.png")).unwrap();
    let again = neurozoo().arg("eval").arg(&out).arg("--data").arg(&data).arg("--figures").arg(&figures).output().unwrap();
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && stderr.contains("already exists and is not empty"), "{stderr}");
    assert_eq!(std::fs::read(figures.join("masks.png")).unwrap(), before);
}

/// A fit killed mid-run and resumed ends exactly where an uninterrupted fit ends.
#[test]
fn killed_then_resumed_fit_matches_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let (data, config) = setup(dir.path());
    killed_then_resumed(dir.path(), &[data], &config);
}

/// The same with two recordings, whose readouts and cycling both resume exactly; resuming with
/// the recordings in another order is refused.
#[test]
fn killed_then_resumed_two_recording_fit_matches_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let (a, config) = setup(dir.path());
    let b = dir.path().join("second.h5");
    recording(&b, "6", "5", "20");
    let killed = killed_then_resumed(dir.path(), &[a.clone(), b.clone()], &config);
    let e = fit(&b, &config, &killed).arg("--data").arg(&a).arg("--resume").output().unwrap();
    let stderr = String::from_utf8_lossy(&e.stderr);
    assert!(!e.status.success() && stderr.contains("cannot resume"), "{stderr}");
}

/// Fit `data` whole, and again killed after epoch 2 and resumed: the same weights and metrics.
/// Returns the resumed run.
fn killed_then_resumed(dir: &Path, data: &[PathBuf], config: &Path) -> PathBuf {
    let fit_all = |out: &Path| {
        let mut cmd = fit(&data[0], config, out);
        data[1..].iter().for_each(|d| {
            cmd.arg("--data").arg(d);
        });
        cmd
    };
    let whole = dir.join("whole");
    assert!(run(&mut fit_all(&whole)).status.success());

    let killed = dir.join("killed");
    let mut child = fit_all(&killed).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    for line in stderr.lines() {
        if line.unwrap().starts_with("epoch   2 ") {
            child.kill().unwrap();
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the fit was supposed to be killed");
    assert!(!killed.join("model.safetensors").exists(), "a killed fit must not look complete");

    let out = run(fit_all(&killed).arg("--resume"));
    assert!(out.status.success());
    assert_eq!(
        std::fs::read(whole.join("model.safetensors")).unwrap(),
        std::fs::read(killed.join("model.safetensors")).unwrap(),
        "resumed weights differ from the uninterrupted run's"
    );
    let csv = |d: &Path| -> Vec<String> {
        // Everything but the timing column must agree.
        std::fs::read_to_string(d.join("metrics.csv")).unwrap().lines().map(|l| l.rsplit_once(',').unwrap().0.to_string()).collect()
    };
    assert_eq!(csv(&whole), csv(&killed));
    killed
}

#[test]
fn fit_and_eval_refuse_bad_input_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let (data, config) = setup(dir.path());

    let out = neurozoo().args(["fit", "nosuchpreset", "--data"]).arg(&data).arg("--out").arg(dir.path().join("r")).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown preset \"nosuchpreset\"") && err.contains("klindt2017"), "{err}");

    let bad = dir.path().join("bad.toml");
    for (body, expect) in [
        ("[train]\nlearning_rate = 0.1\n", "unknown field `learning_rate`"),
        ("[train]\nlr = 1.5\n", "train.lr = 1.5: must be in (0, 1)"),
        ("[model.core]\ninput_kernel = 12\n", "model.core.input_kernel = 12: must be odd"),
    ] {
        std::fs::write(&bad, format!("preset = \"klindt2017\"\n{body}")).unwrap();
        let out = neurozoo().arg("fit").arg(&bad).arg("--data").arg(&data).arg("--out").arg(dir.path().join("r")).output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("bad.toml") && err.contains(expect), "{body}: {err}");
        assert!(!dir.path().join("r").exists(), "a refused fit must not create its run directory");
    }

    let existing = dir.path().join("existing");
    std::fs::create_dir(&existing).unwrap();
    std::fs::write(existing.join("keep.txt"), "mine").unwrap();
    let out = fit(&data, &config, &existing).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists and is not empty"));
    assert_eq!(std::fs::read_to_string(existing.join("keep.txt")).unwrap(), "mine");

    let out = neurozoo().arg("eval").arg(dir.path().join("nope")).arg("--data").arg(&data).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("run.json") && err.contains("is") && err.contains("a run directory"), "{err}");
}

#[test]
fn zoo_list_shows_each_preset_on_one_line() {
    let out = run(neurozoo().args(["zoo", "list"]));
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = text.lines().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(names, ["klindt2017", "gaussian", "full", "ln", "sensorium2022", "slowvae", "betavae"], "{text}");
    assert!(text.lines().all(|l| l.len() > 30), "every preset has a description:\n{text}");
}

/// `train.precision = "bf16"` (mixed precision, here on the CPU) trains to the validation
/// correlation of an f32 fit of the same seed, and the run's config says which it was.
#[test]
fn bf16_precision_fits_as_well_as_fp32() {
    let dir = tempfile::tempdir().unwrap();
    let (data, config) = setup(dir.path());
    let bf16 = dir.path().join("bf16.toml");
    std::fs::write(&bf16, std::fs::read_to_string(&config).unwrap() + "precision = \"bf16\"\n").unwrap();
    let best = |config: &Path, name: &str| {
        let out = dir.path().join(name);
        let fitted = run(&mut fit(&data, config, &out));
        assert!(fitted.status.success(), "{}", String::from_utf8_lossy(&fitted.stderr));
        let info: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
        let resolved = std::fs::read_to_string(out.join("config.toml")).unwrap();
        (info["best_validation_correlation"].as_f64().unwrap(), resolved)
    };
    let ((exact, exact_config), (mixed, mixed_config)) = (best(&config, "fp32"), best(&bf16, "bf16"));
    assert!(exact_config.contains("precision = \"fp32\"") && mixed_config.contains("precision = \"bf16\""), "{mixed_config}");
    assert!(exact > 0.3, "the f32 fit learned something: {exact}");
    assert!(exact != mixed && (exact - mixed).abs() < 0.02, "validation correlation fp32 {exact}, bf16 {mixed}");
}

/// `--device cuda` fits on the GPU where libtorch sees one, and is refused by name elsewhere,
/// before anything is written.
#[test]
fn device_cuda_fits_on_a_gpu_and_is_refused_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let (data, config) = setup(dir.path());
    let cuda = stdout_json(&run(neurozoo().args(["doctor", "--json"])))["torch"]["cuda_available"].as_bool().expect("doctor reports CUDA");
    let run_dir = dir.path().join("run");
    let out = neurozoo()
        .arg("fit")
        .arg(&config)
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&run_dir)
        .args(["--device", "cuda", "--max-epochs", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if cuda {
        assert!(out.status.success(), "{err}");
        let info: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run_dir.join("run.json")).unwrap()).unwrap();
        assert_eq!(info["device"], "Cuda(0)");
        // The caching allocator's peaks: what the tensors took, and what it held from the device.
        let (allocated, reserved) = (info["peak_gpu_allocated_bytes"].as_u64(), info["peak_gpu_reserved_bytes"].as_u64());
        assert!(allocated.is_some_and(|a| a > 0 && reserved.is_some_and(|r| r >= a)), "{info}");
    } else {
        assert!(!out.status.success());
        assert!(err.contains("--device cuda was requested but libtorch sees no CUDA device"), "{err}");
        assert!(!run_dir.exists());
    }
}

/// Model layers and recorded responses come out as representation files whose rows are the
/// same images in the same order.
#[test]
fn extract_aligns_model_layers_with_recorded_responses() {
    use neurozoo_datasets::representation::RepresentationFile;
    let dir = tempfile::tempdir().unwrap();
    let (data, config) = setup(dir.path());
    let run_dir = dir.path().join("run");
    assert!(run(&mut fit(&data, &config, &run_dir)).status.success());
    let extract = |args: &[&str], name: &str| {
        let out = dir.path().join(name);
        assert!(run(neurozoo().arg("extract").args(args).arg("--data").arg(&data).arg("--out").arg(&out)).status.success());
        RepresentationFile::read(&out).unwrap()
    };
    let run_arg = run_dir.to_str().unwrap();
    let brain = extract(&[], "brain.h5");
    let predicted = extract(&[run_arg], "predicted.h5");
    let layer = extract(&[run_arg, "--layer", "core.1"], "core1.h5");
    // 160 train + 40 validation + 8 test images shown 4 times: 208 distinct images.
    assert_eq!(brain.stimulus_ids.len(), 208);
    assert_eq!(predicted.stimulus_ids, brain.stimulus_ids);
    assert_eq!(layer.stimulus_ids, brain.stimulus_ids);
    assert_eq!(predicted.stimuli, brain.stimuli);
    assert_eq!(brain.get(None).unwrap().data.dim(), (208, 10));
    assert_eq!(predicted.get(Some("predicted")).unwrap().data.dim(), (208, 10));
    assert!(predicted.representations[0].data.iter().all(|&r| r > 0.0), "softplus rates are positive");
    // core.1 of the tiny config: 4 channels on a 14×14 map (20 − 7 + 1, then "same").
    assert_eq!(layer.get(Some("core.1")).unwrap().data.dim(), (208, 4 * 14 * 14));
    let source: serde_json::Value = serde_json::from_str(&layer.representations[0].source).unwrap();
    assert_eq!((source["kind"].as_str(), source["layer"].as_str()), (Some("model"), Some("core.1")));

    let out = neurozoo()
        .arg("extract")
        .arg(&run_dir)
        .args(["--layer", "core.7", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(dir.path().join("x.h5"))
        .output()
        .unwrap();
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("no layer \"core.7\" (layers: core.0, core.1, readout, predicted)")
    );
    assert!(!dir.path().join("x.h5").exists());
}

/// A model fitted to a zipped file tree (uint8 images, read in place) is the same run whichever
/// layout it is evaluated on: the tree and the HDF5 file it was converted from give equal metrics.
#[test]
fn fit_on_a_zipped_file_tree_and_eval_on_every_layout() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/tests/fixtures");
    let config = dir.path().join("tiny.toml");
    std::fs::write(
        &config,
        "preset = \"klindt2017\"\n[model.core]\nlayers = 1\nchannels = 4\ninput_kernel = 5\n[train]\nbatch_size = 8\nmax_epochs = 2\n",
    )
    .unwrap();
    let out = dir.path().join("run");
    let fitted = run(&mut fit(&fixtures.join("static_small_tree_stored.zip"), &config, &out));
    assert!(fitted.status.success());
    assert!(String::from_utf8_lossy(&fitted.stderr).contains("uint8 images"), "{}", String::from_utf8_lossy(&fitted.stderr));
    let info: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert!(info["peak_rss_bytes"].as_u64().unwrap() > 1 << 20, "{info}");
    assert!(info.get("peak_gpu_allocated_bytes").is_none(), "a CPU fit has no GPU peak: {info}");
    let eval = |data: &str| {
        let mut j = stdout_json(&run(neurozoo().arg("eval").arg(&out).arg("--data").arg(fixtures.join(data)).arg("--json")));
        assert!(j.as_object_mut().unwrap().remove("data").is_some());
        j
    };
    let from_zip = eval("static_small_tree_stored.zip");
    assert!(from_zip["test"]["correlation"].as_f64().unwrap().is_finite(), "{from_zip}");
    assert_eq!(eval("static_small_tree"), from_zip);
    assert_eq!(eval("static_small.h5"), from_zip);
}

/// A tiny simulated recording (its own neurons, from the simulator's shared cell types).
fn recording(path: &Path, units: &str, seed: &str, size: &str) {
    let out = run(neurozoo()
        .args(["data", "simulate", "v1", "--n-units", units, "--n-train", "120", "--n-validation", "30"])
        .args(["--n-test", "6", "--n-final-test", "0", "--repeats", "4", "--height", size, "--width", size, "--seed", seed, "--out"])
        .arg(path));
    assert!(out.status.success());
}

/// Two recordings in one model: one core, a readout each (named by file stem); eval reports each
/// and the pooled units, eval and extract of one recording use its readout; clashing names and
/// mixed image sizes are refused before anything is written.
#[test]
fn two_recordings_fit_one_core_and_eval_extract_each() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("mouse_a.h5"), dir.path().join("mouse_b.h5"));
    recording(&a, "10", "1", "20");
    recording(&b, "6", "2", "20");
    let (_, config) = setup(dir.path());
    let out = dir.path().join("run");
    let fitted = run(fit(&a, &config, &out).arg("--data").arg(&b));
    assert!(fitted.status.success());
    assert!(String::from_utf8_lossy(&fitted.stderr).contains("2 recordings: one shared core"));
    let info: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    let names: Vec<&str> = info["recordings"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["mouse_a", "mouse_b"]);
    assert_eq!(info["recordings"][1]["n_units"], 6);

    let both = stdout_json(&run(neurozoo().arg("eval").arg(&out).arg("--data").arg(&a).arg("--data").arg(&b).arg("--json")));
    let (ca, cb) = (
        both["recordings"]["mouse_a"]["test"]["correlation"].as_f64().unwrap(),
        both["recordings"]["mouse_b"]["test"]["correlation"].as_f64().unwrap(),
    );
    let pooled = both["pooled"]["test"]["correlation"].as_f64().unwrap();
    assert!((pooled - (10.0 * ca + 6.0 * cb) / 16.0).abs() < 1e-12, "{both}");
    assert_eq!(both["pooled"]["test"]["trials"], 48);
    let mut only_b = stdout_json(&run(neurozoo().arg("eval").arg(&out).arg("--data").arg(&b).arg("--json")));
    only_b.as_object_mut().unwrap().remove("run");
    assert_eq!(only_b, both["recordings"]["mouse_b"]);

    let rep = dir.path().join("b.h5");
    let extracted = run(neurozoo().arg("extract").arg(&out).arg("--data").arg(&b).args(["--layer", "predicted", "--out"]).arg(&rep));
    assert!(extracted.status.success());
    let file = neurozoo_datasets::representation::RepresentationFile::read(&rep).unwrap();
    assert_eq!(file.representations[0].data.ncols(), 6);
    assert!(file.representations[0].source.contains("\"recording\":\"mouse_b\""));

    // The recordings as a [[data]] list in the config (paths relative to it), no --data: the
    // same fit.
    let listed = dir.path().join("listed.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&listed, format!("{text}\n[[data]]\npath = \"mouse_a.h5\"\n[[data]]\npath = \"mouse_b.h5\"\n")).unwrap();
    let from_list = dir.path().join("from_list");
    assert!(run(neurozoo().arg("fit").arg(&listed).arg("--out").arg(&from_list).args(["--threads", "1", "--device", "cpu"]))
        .status
        .success());
    assert_eq!(std::fs::read(out.join("model.safetensors")).unwrap(), std::fs::read(from_list.join("model.safetensors")).unwrap());
    let e = neurozoo().arg("fit").arg(&config).arg("--out").arg(dir.path().join("none")).output().unwrap();
    assert!(!e.status.success() && String::from_utf8_lossy(&e.stderr).contains("no recordings to fit"));

    // A third file the run has no readout for, a clash of names, mixed image sizes.
    let c = dir.path().join("mouse_c.h5");
    recording(&c, "6", "3", "24");
    let e = neurozoo().arg("eval").arg(&out).arg("--data").arg(&c).output().unwrap();
    assert!(!e.status.success() && String::from_utf8_lossy(&e.stderr).contains("mouse_c"), "{}", String::from_utf8_lossy(&e.stderr));
    std::fs::create_dir(dir.path().join("other")).unwrap();
    std::fs::copy(&a, dir.path().join("other/mouse_a.h5")).unwrap();
    for (second, says) in [(dir.path().join("other/mouse_a.h5"), "both recordings named \"mouse_a\""), (c.clone(), "share one core")] {
        let target = dir.path().join("refused");
        let e = fit(&a, &config, &target).arg("--data").arg(&second).output().unwrap();
        let stderr = String::from_utf8_lossy(&e.stderr);
        assert!(!e.status.success() && stderr.contains(says), "{stderr}");
        assert!(!target.exists());
    }
}

/// Lurz et al. 2021's point on simulated data: four recordings of 500 training trials, whose
/// neurons draw their types from one shared set of features, are predicted better by one shared
/// core (a Gaussian readout each) than by four separate models. The recordings are written as
/// file trees. Measured for simulation seeds 1, 2, 3: pooled FEV against the ground truth 0.571,
/// 0.591, 0.628 shared against 0.526, 0.518, 0.555 for the mean of the separate fits.
#[test]
fn a_shared_core_beats_separate_fits_on_four_small_recordings() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("mouse");
    let out = run(neurozoo()
        .args(["data", "simulate", "v1", "--tree", "--recordings", "4", "--n-units", "40", "--n-train", "500"])
        .args(["--n-validation", "100", "--n-test", "20", "--n-final-test", "0", "--seed", "2", "--out"])
        .arg(&base));
    assert!(out.status.success());
    let trees: Vec<PathBuf> = (1..=4).map(|k| dir.path().join(format!("mouse-{k}"))).collect();
    let config = dir.path().join("gaussian.toml");
    std::fs::write(&config, "preset = \"gaussian\"\n[model.core]\nchannels = 16\n[train]\nmax_epochs = 40\n").unwrap();
    let fev = |j: &serde_json::Value| j["test"]["fev_ground_truth"].as_f64().unwrap();

    let shared = dir.path().join("shared");
    let mut cmd = fit(&trees[0], &config, &shared);
    trees[1..].iter().for_each(|t| {
        cmd.arg("--data").arg(t);
    });
    assert!(run(&mut cmd).status.success());
    let mut eval = neurozoo();
    eval.arg("eval").arg(&shared).arg("--json");
    trees.iter().for_each(|t| {
        eval.arg("--data").arg(t);
    });
    let pooled = fev(&stdout_json(&run(&mut eval))["pooled"]);

    let separate: Vec<f64> = trees
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let run_dir = dir.path().join(format!("separate-{k}"));
            assert!(run(&mut fit(t, &config, &run_dir)).status.success());
            fev(&stdout_json(&run(neurozoo().arg("eval").arg(&run_dir).arg("--data").arg(t).arg("--json"))))
        })
        .collect();
    let mean_separate = separate.iter().sum::<f64>() / 4.0;
    assert!(pooled > mean_separate + 0.03, "shared core: FEV {pooled:.3}; separate fits: {separate:?} (mean {mean_separate:.3})");
}

/// A simulated recording with behaviour (`--behavior-gain`) or eye movements (`--pupil-shift`),
/// and its Gaussian-readout fit with the given `[model]` extras: the test tier's FEV against
/// the ground truth and the receptive-field median error.
fn fev_with(dir: &Path, simulate: &[&str], extra: &str) -> (f64, f64) {
    let data = dir.join(format!("{}.h5", simulate.join("_").replace("--", "")));
    if !data.exists() {
        let out = run(neurozoo()
            .args(["data", "simulate", "v1", "--n-units", "40", "--n-train", "1500", "--n-validation", "300", "--n-test", "30"])
            .args(["--n-final-test", "0", "--seed", "3"])
            .args(simulate)
            .arg("--out")
            .arg(&data));
        assert!(out.status.success());
    }
    let config = dir.join("config.toml");
    std::fs::write(&config, format!("preset = \"gaussian\"\n{extra}\n[model.core]\nchannels = 16\n[train]\nmax_epochs = 30\n")).unwrap();
    let out = dir.join(format!("run{}", extra.len()));
    assert!(run(&mut fit(&data, &config, &out)).status.success());
    let j = stdout_json(&run(neurozoo().arg("eval").arg(&out).arg("--data").arg(&data).arg("--json")));
    (j["test"]["fev_ground_truth"].as_f64().unwrap(), j["rf_recovery"]["median_error_px"].as_f64().unwrap())
}

/// Behaviour that scales every neuron's gain is predictable from behaviour channels: with them
/// the FEV against the ground truth rises (measured 0.40 → 0.66).
#[test]
fn behavior_channels_raise_fev_when_behaviour_modulates_gain() {
    let dir = tempfile::tempdir().unwrap();
    let sim = ["--behavior-gain", "0.6"];
    let (without, _) = fev_with(dir.path(), &sim, "");
    let (with, _) = fev_with(dir.path(), &sim, "[model]\nbehavior_channels = true");
    assert!(with > without + 0.1, "FEV without behaviour channels {without:.3}, with {with:.3}");
}

/// Eye movements move every receptive field each trial; the shifter reads the pupil position
/// and moves the readout with it: FEV against the ground truth rises (measured 0.18 → 0.65) and
/// the model neurons' receptive fields, mapped at the mean pupil position, sit closer to the
/// true ones (median error 0.51 → 0.25 px; 0.16 px on the same neurons without eye movements).
#[test]
fn the_shifter_follows_eye_movements() {
    let dir = tempfile::tempdir().unwrap();
    let sim = ["--pupil-shift", "1.5"];
    let (without, rf_without) = fev_with(dir.path(), &sim, "");
    let (with, rf_with) = fev_with(dir.path(), &sim, "[model.shifter]");
    let report = format!("FEV without shifter {without:.3} (RF error {rf_without:.2} px), with {with:.3} ({rf_with:.2} px)");
    assert!(with > without + 0.2, "{report}");
    assert!(rf_with < 0.75 * rf_without, "{report}");
    // A shifter needs the pupil position: a recording without it is refused by name.
    let plain = dir.path().join("plain.h5");
    assert!(run(neurozoo()
        .args(["data", "simulate", "v1", "--n-units", "5", "--n-train", "50", "--n-validation", "10", "--out"])
        .arg(&plain))
    .status
    .success());
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "preset = \"gaussian\"\n[model.shifter]\n").unwrap();
    let e = fit(&plain, &config, &dir.path().join("refused")).output().unwrap();
    let stderr = String::from_utf8_lossy(&e.stderr);
    assert!(
        !e.status.success() && stderr.contains("plain.h5") && stderr.contains("pupil_center") && stderr.contains("model.shifter"),
        "{stderr}"
    );
    assert!(!dir.path().join("refused").exists(), "a refused fit left a run directory");
}

/// An NWB file in the Allen Brain Observatory style, every image shown several times and no tier
/// column: the default split holds out whole images for validation and test, so it fits; the
/// old rule (`--nwb-split repeats`, every repeated image to test) leaves nothing to train on and
/// is refused by name. The NWB read options reach eval too.
#[test]
fn nwb_where_every_image_repeats_fits_with_held_out_images() {
    let dir = tempfile::tempdir().unwrap();
    let nwb = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/tests/fixtures/ophys_small.nwb");
    let fit_nwb = |out: &Path, extra: &[&str]| {
        let mut cmd = neurozoo();
        cmd.args(["fit", "ln", "--max-epochs", "2", "--threads", "1", "--device", "cpu", "--data"])
            .arg(&nwb)
            .arg("--out")
            .arg(out)
            .args(extra);
        cmd.output().unwrap()
    };
    let out = dir.path().join("run");
    let fitted = fit_nwb(&out, &[]);
    assert!(fitted.status.success(), "{}", String::from_utf8_lossy(&fitted.stderr));
    let j = stdout_json(&run(neurozoo().arg("eval").arg(&out).arg("--data").arg(&nwb).arg("--json")));
    assert_eq!(
        (j["train"]["trials"].as_u64(), j["validation"]["trials"].as_u64(), j["test"]["trials"].as_u64()),
        (Some(6), Some(3), Some(3))
    );
    let refused = fit_nwb(&dir.path().join("refused"), &["--nwb-split", "repeats"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("no train"), "{stderr}");
    // Another response window is other data: eval says so and still evaluates.
    let other = run(neurozoo().arg("eval").arg(&out).arg("--data").arg(&nwb).args(["--nwb-window", "0,0.3", "--json"]));
    assert!(other.status.success() && String::from_utf8_lossy(&other.stderr).contains("is not the data"));
    let bad = neurozoo().arg("eval").arg(&out).arg("--data").arg(&nwb).args(["--nwb-split", "images:0.6,0.5"]).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("leave images to train on"));
}

/// `--threads 0` is refused by the argument parser, naming the flag, not by a libtorch panic.
#[test]
fn zero_threads_is_refused_by_name() {
    let out = neurozoo().args(["fit", "klindt2017", "--data", "x.h5", "--out", "never", "--threads", "0"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("--threads") && !stderr.contains("panicked"), "{stderr}");
    assert!(!Path::new("never").exists());
}

/// `[model.readout.grid_mean_predictor]` predicts the Gaussian readout's positions from each
/// recording's cortical coordinates: a simulated tree (retinotopic coordinates) fits with it and
/// the run evaluates from its own weights; the same tree without `cell_motor_coordinates` is
/// refused by file and key, leaving nothing.
#[test]
fn grid_mean_predictor_reads_the_cortical_coordinates() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    assert!(run(neurozoo()
        .args(["data", "simulate", "v1", "--tree", "--n-units", "12", "--n-train", "200", "--n-validation", "40"])
        .args(["--n-test", "10", "--n-final-test", "0", "--out"])
        .arg(&tree))
    .status
    .success());
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "preset = \"gaussian\"\n[model.readout.grid_mean_predictor]\nhidden_layers = 1\nhidden_features = 30\nfinal_tanh = true\n\
         [model.core]\nchannels = 8\nlayers = 2\n[train]\nmax_epochs = 2\n",
    )
    .unwrap();
    let out = dir.path().join("run");
    assert!(run(&mut fit(&tree, &config, &out)).status.success());
    let j = stdout_json(&run(neurozoo().arg("eval").arg(&out).arg("--data").arg(&tree).arg("--json")));
    assert!(j["rf_recovery"]["median_error_px"].as_f64().is_some_and(f64::is_finite), "{j}");

    std::fs::remove_file(tree.join("meta/neurons/cell_motor_coordinates.npy")).unwrap();
    let refused = dir.path().join("refused");
    let e = fit(&tree, &config, &refused).output().unwrap();
    let stderr = String::from_utf8_lossy(&e.stderr);
    assert!(!e.status.success() && stderr.contains(&*tree.to_string_lossy()) && stderr.contains("cell_motor_coordinates"), "{stderr}");
    assert!(!refused.exists(), "a refused fit left a run directory");
}

/// A core that cannot take the images (a first kernel larger than them, unpadded hidden layers
/// that shrink the map away) or whose parameters could never fit in memory (10⁵, 10⁸ and 2³²+1
/// channels) is refused by key before libtorch allocates anything: no panic, no run directory.
#[test]
fn impossible_cores_are_refused_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("v1.h5");
    assert!(run(neurozoo()
        .args(["data", "simulate", "v1", "--n-units", "5", "--n-train", "20", "--n-validation", "5", "--height", "16", "--width", "16"])
        .arg("--out")
        .arg(&data))
    .status
    .success());
    let cases = [
        ("input_kernel = 41", "model.core.input_kernel = 41"),
        ("pad_hidden = false\nhidden_kernel = 5\nlayers = 3\ninput_kernel = 9", "model.core.hidden_kernel = 5"),
        ("channels = 100000", "lower model.core.channels"),
        ("channels = 100000000", "lower model.core.channels"),
        ("channels = 4294967297", "lower model.core.channels"),
    ];
    for (i, (core, message)) in cases.iter().enumerate() {
        let config = dir.path().join(format!("config{i}.toml"));
        std::fs::write(&config, format!("preset = \"klindt2017\"\n[model.core]\n{core}\n")).unwrap();
        let out = dir.path().join(format!("run{i}"));
        let e = fit(&data, &config, &out).output().unwrap();
        let stderr = String::from_utf8_lossy(&e.stderr);
        assert!(!e.status.success() && stderr.contains(message) && !stderr.contains("panicked"), "{core}: {stderr}");
        assert!(!out.exists(), "{core}: a refused fit left a run directory");
    }
}

/// `--resume` takes the run as it was: another model or seed, or fewer epochs, is refused by
/// name (more epochs are taken, and said). `eval` of a run being fitted says so, and of a killed
/// one that it was interrupted. A fit killed before its first checkpoint resumes from the start
/// and ends where an uninterrupted fit ends.
#[test]
fn resume_refuses_conflicts_and_restarts_a_run_without_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("v1.h5");
    assert!(run(neurozoo()
        .args(["data", "simulate", "v1", "--n-units", "20", "--n-train", "1500", "--n-validation", "100", "--out"])
        .arg(&data))
    .status
    .success());
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "preset = \"klindt2017\"\n[train]\nmax_epochs = 2\n").unwrap();
    let whole = dir.path().join("whole");
    assert!(run(&mut fit(&data, &config, &whole)).status.success());

    let killed = dir.path().join("killed");
    let mut child = fit(&data, &config, &killed).stderr(Stdio::piped()).spawn().unwrap();
    let first = BufReader::new(child.stderr.take().unwrap()).lines().next().unwrap().unwrap();
    let eval = || {
        let e = neurozoo().arg("eval").arg(&killed).arg("--data").arg(&data).output().unwrap();
        assert!(!e.status.success());
        String::from_utf8_lossy(&e.stderr).to_string()
    };
    let while_running = eval();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(first.starts_with("fit ") && !killed.join("checkpoint").exists(), "killed too late ({first}): a checkpoint exists");
    assert!(while_running.contains("is still being fitted"), "{while_running}");
    let after = eval();
    assert!(after.contains("was interrupted after 0 epoch(s)") && after.contains("--resume"), "{after}");
    let refused = |extra: &[&str], model: &Path, what: &str| {
        let e = fit(&data, model, &killed).arg("--resume").args(extra).output().unwrap();
        let stderr = String::from_utf8_lossy(&e.stderr);
        assert!(!e.status.success() && stderr.contains(what), "{extra:?}: {stderr}");
    };
    refused(&["--seed", "99"], &config, "--seed 99 conflicts with the run's seed");
    refused(&["--max-epochs", "1"], &config, "--max-epochs 1 is below the run's 2");
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "preset = \"gaussian\"\n[train]\nmax_epochs = 2\n").unwrap();
    refused(&[], &other, "is not the model it was fitted with");
    assert!(run(fit(&data, &config, &killed).arg("--resume")).status.success());
    refused(&[], &config, "already complete");
    assert_eq!(std::fs::read(whole.join("model.safetensors")).unwrap(), std::fs::read(killed.join("model.safetensors")).unwrap());
}

/// `--out` naming a file is refused with that path, before any work, and the file is kept.
#[test]
fn an_output_directory_that_is_a_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "mine").unwrap();
    let data = dir.path().join("v1.h5");
    assert!(run(neurozoo()
        .args(["data", "simulate", "v1", "--n-units", "5", "--n-train", "20", "--n-validation", "5", "--out"])
        .arg(&data))
    .status
    .success());
    let e = neurozoo().args(["fit", "ln", "--threads", "1", "--data"]).arg(&data).arg("--out").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&e.stderr);
    assert!(!e.status.success() && stderr.contains(&*file.to_string_lossy()) && stderr.contains("is a file, not a directory"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
}
