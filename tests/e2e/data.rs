use super::*;

/// A small simulation through the real binary, as a user would run it.
fn simulate_small(dir: &Path, name: &str, seed: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let out = run(neurozoo()
        .args(["data", "simulate", "v1", "--n-units", "12", "--n-train", "60", "--n-validation", "10"])
        .args(["--n-test", "4", "--repeats", "3", "--seed", seed, "--out"])
        .arg(&path));
    assert!(out.status.success());
    path
}

#[test]
fn simulate_then_inspect_json_reports_tiers_repeats_and_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let path = simulate_small(dir.path(), "v1.h5", "1");
    let out = run(neurozoo().args(["data", "inspect", "--json"]).arg(&path));
    assert!(out.status.success());
    let j = stdout_json(&out);
    assert_eq!(j["n_units"], 12);
    assert_eq!(j["image_shape"], serde_json::json!([1, 32, 32]));
    assert_eq!(j["tiers"]["train"]["trials"], 60);
    assert_eq!(j["tiers"]["validation"]["trials"], 10);
    assert_eq!(j["tiers"]["test"]["trials"], 12);
    assert_eq!(j["tiers"]["test"]["repeated_images"], 4);
    assert_eq!(j["tiers"]["test"]["max_repeats"], 3);
    assert_eq!(j["tiers"]["final_test"]["repeated_images"], 25);
    assert_eq!(j["image_id_key"], "item_info/frame_image_id");
    let keys: Vec<&str> = j["ground_truth"]["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    for k in ["rf_position", "cell_type", "cell_type_names", "noiseless_rates"] {
        assert!(keys.contains(&k), "{keys:?}");
    }
    assert_eq!(j["ground_truth"]["params"]["config"]["seed"], 1);
    assert_eq!(j["dtypes"]["images"], "float32");
}

#[test]
fn simulate_is_reproducible_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let a = simulate_small(dir.path(), "a.h5", "9");
    let b = simulate_small(dir.path(), "b.h5", "9");
    assert!(std::fs::read(a).unwrap() == std::fs::read(b).unwrap());
}

#[test]
fn validate_accepts_a_simulation_and_names_problems_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let path = simulate_small(dir.path(), "v1.h5", "2");
    let out = run(neurozoo().args(["data", "validate"]).arg(&path));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));

    let missing = dir.path().join("nope.h5");
    let out = neurozoo().args(["data", "validate"]).arg(&missing).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.h5: no such file"));

    let garbage = dir.path().join("garbage.h5");
    std::fs::write(&garbage, b"this is not HDF5").unwrap();
    for cmd in ["validate", "inspect"] {
        let out = neurozoo().args(["data", cmd]).arg(&garbage).output().unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("garbage.h5: cannot open as HDF5"), "{cmd}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn simulate_refuses_bad_parameters_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.h5");
    let out = neurozoo().args(["data", "simulate", "v1", "--repeats", "1", "--out"]).arg(&path).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("repeats must be at least 2"));
    assert!(!path.exists());
}

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/tests/fixtures").join(name)
}

/// `data inspect --json` without what names the file and its layout.
fn inspect_content(path: &Path) -> serde_json::Value {
    let out = run(neurozoo().args(["data", "inspect", "--json"]).arg(path));
    assert!(out.status.success());
    let mut j = stdout_json(&out);
    let o = j.as_object_mut().unwrap();
    for key in ["file", "format", "image_id_key"] {
        o.remove(key);
    }
    j
}

/// neuralpredictors' converter made the tree and its zips from static_small.h5: every layout of
/// the same recording inspects the same, as text and JSON, and validates.
#[test]
fn file_tree_and_zips_inspect_as_the_hdf5_file() {
    let h5 = inspect_content(&fixture("static_small.h5"));
    assert_eq!(h5["dtypes"]["images"], "uint8");
    for name in ["static_small_tree", "static_small_tree.zip", "static_small_tree_stored.zip"] {
        let path = fixture(name);
        assert_eq!(inspect_content(&path), h5, "{name}");
        let out = run(neurozoo().args(["data", "inspect", "--json"]).arg(&path));
        let j = stdout_json(&out);
        assert_eq!((j["format"].as_str(), j["image_id_key"].as_str()), (Some("file_tree"), Some("meta/trials/frame_image_id.npy")));
        let text = run(neurozoo().args(["data", "inspect"]).arg(&path));
        assert!(text.status.success() && String::from_utf8_lossy(&text.stdout).contains("1x9x12 uint8"));
        let v = run(neurozoo().args(["data", "validate"]).arg(&path));
        assert!(v.status.success(), "{name}");
    }
    // NWB has no stored dtypes: the text report says so instead of failing.
    let nwb = run(neurozoo().args(["data", "inspect"]).arg(fixture("ophys_small.nwb")));
    assert!(nwb.status.success() && String::from_utf8_lossy(&nwb.stdout).contains("(converted)"));
}

#[test]
fn validate_names_the_missing_trial_file_of_a_tree() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("rec");
    let status = Command::new("cp").arg("-r").arg(fixture("static_small_tree")).arg(&tree).status().unwrap();
    assert!(status.success());
    std::fs::remove_file(tree.join("data/images/39.npy")).unwrap();
    std::fs::remove_file(tree.join("data/responses/4.npy")).unwrap();
    let out = neurozoo().args(["data", "validate"]).arg(&tree).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    // 39 was the last image: the tree now has 39 trials, so tiers and the other keys are too long.
    assert!(err.contains("data/responses/4.npy: missing"), "{err}");
    assert!(err.contains("meta/trials/tiers.npy: has shape [40] but there are 39 trials"), "{err}");
}

/// A file with no units inspects (saying so) instead of panicking; validate names the problem.
#[test]
fn a_recording_without_units_is_inspected_and_refused_by_name() {
    use neurozoo_datasets::simulate::v1::{simulate, V1Config};
    let dir = tempfile::tempdir().unwrap();
    let mut ds =
        simulate(&V1Config { n_units: 3, n_train: 20, n_validation: 5, n_test: 2, n_final_test: 0, repeats: 2, ..V1Config::default() })
            .unwrap();
    ds.responses = ndarray::Array2::zeros((ds.n_trials(), 0));
    ds.units = neurozoo_datasets::Units::numbered(0);
    ds.ground_truth = None;
    let path = dir.path().join("no_units.h5");
    neurozoo_datasets::static_h5::write(&ds, &path).unwrap();
    let text = run(neurozoo().args(["data", "inspect"]).arg(&path));
    assert!(text.status.success() && String::from_utf8_lossy(&text.stdout).contains("no units"));
    let j = stdout_json(&run(neurozoo().args(["data", "inspect", "--json"]).arg(&path)));
    assert_eq!((j["n_units"].as_u64(), j["responses"].is_null()), (Some(0), true));
    let v = neurozoo().args(["data", "validate"]).arg(&path).output().unwrap();
    let said = String::from_utf8_lossy(&v.stdout).to_string() + &String::from_utf8_lossy(&v.stderr);
    assert!(!v.status.success() && said.contains("responses: has no units"), "{said}");
}

/// Output files a user already has are not overwritten: `data simulate` and `extract` refuse an
/// existing `--out` (naming it) unless `--force`, never write over their own input, and leave
/// the file byte for byte as it was; a file tree is only written into a new directory.
#[test]
fn existing_outputs_are_refused_unless_forced_and_inputs_never() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate_small(dir.path(), "v1.h5", "1");
    let before = std::fs::read(&data).unwrap();
    let refused = |cmd: &mut Command, what: &str| {
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(what) && !stderr.contains("panicked"), "{stderr}");
        assert_eq!(std::fs::read(&data).unwrap(), before, "the refused command changed {}", data.display());
    };
    let simulate = |extra: &[&str]| {
        let mut cmd = neurozoo();
        cmd.args(["data", "simulate", "v1", "--n-units", "5", "--n-train", "20", "--n-validation", "5", "--seed", "2"]).args(extra);
        cmd
    };
    refused(simulate(&[]).arg("--out").arg(&data), "add --force to replace it");
    refused(simulate(&["--tree"]).arg("--out").arg(dir.path()), "file tree is written into a new directory");
    refused(neurozoo().arg("extract").arg("--data").arg(&data).arg("--out").arg(&data).arg("--force"), "would overwrite the input");
    let responses = dir.path().join("responses.h5");
    assert!(run(neurozoo().arg("extract").arg("--data").arg(&data).arg("--out").arg(&responses)).status.success());
    let extracted = std::fs::read(&responses).unwrap();
    let again = neurozoo().arg("extract").arg("--data").arg(&data).arg("--out").arg(&responses).output().unwrap();
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains(&*responses.to_string_lossy()));
    assert_eq!(std::fs::read(&responses).unwrap(), extracted);
    // --force replaces an output that is not an input.
    assert!(run(simulate(&["--force"]).arg("--out").arg(&responses)).status.success());
    let j = stdout_json(&run(neurozoo().args(["data", "inspect", "--json"]).arg(&responses)));
    assert_eq!(j["n_units"], 5);
}

/// Two answers that used to be silently wrong. The same image id on different images is an
/// error of `validate` (repeats are averaged by id), naming the key and the trials; negative
/// responses are a warning of `validate` and refused by `fit`, whose Poisson loss needs ≥ 0.
#[test]
fn clashing_image_ids_and_negative_responses_are_caught() {
    use neurozoo_datasets::simulate::v1::{simulate, V1Config};
    let dir = tempfile::tempdir().unwrap();
    let small = V1Config { n_units: 4, n_train: 30, n_validation: 8, n_test: 3, n_final_test: 0, repeats: 2, ..V1Config::default() };
    let mut ds = simulate(&small).unwrap();
    let (a, b) = (0, 1);
    ds.image_ids[b] = ds.image_ids[a];
    let clash = dir.path().join("clash.h5");
    neurozoo_datasets::static_h5::write(&ds, &clash).unwrap();
    let v = neurozoo().args(["data", "validate"]).arg(&clash).output().unwrap();
    let said = String::from_utf8_lossy(&v.stdout).to_string() + &String::from_utf8_lossy(&v.stderr);
    assert!(!v.status.success() && said.contains("item_info/frame_image_id") && said.contains("trials 0 and 1"), "{said}");

    // ΔF/F-like responses: spike counts less one.
    let negative = dir.path().join("negative.h5");
    let mut ds = simulate(&small).unwrap();
    ds.responses.mapv_inplace(|r| r - 1.0);
    neurozoo_datasets::static_h5::write(&ds, &negative).unwrap();
    let v = neurozoo().args(["data", "validate"]).arg(&negative).output().unwrap();
    let said = String::from_utf8_lossy(&v.stdout).to_string() + &String::from_utf8_lossy(&v.stderr);
    assert!(v.status.success() && said.contains("negative values"), "{said}");
    let out = dir.path().join("run");
    let e = neurozoo().args(["fit", "ln", "--threads", "1", "--data"]).arg(&negative).arg("--out").arg(&out).output().unwrap();
    let stderr = String::from_utf8_lossy(&e.stderr);
    assert!(!e.status.success() && stderr.contains("negative values in the train tier") && !out.exists(), "{stderr}");
}

/// `extract` of recorded responses validates the recording first (a NaN is refused by key, as
/// `fit` refuses it), and a tier selection that leaves no image is an error, not an empty file.
#[test]
fn extract_refuses_unusable_recordings_and_empty_selections() {
    use neurozoo_datasets::simulate::v1::{simulate, V1Config};
    let dir = tempfile::tempdir().unwrap();
    let mut ds =
        simulate(&V1Config { n_units: 4, n_train: 30, n_validation: 8, n_test: 3, n_final_test: 0, repeats: 2, ..V1Config::default() })
            .unwrap();
    let clean = dir.path().join("clean.h5");
    neurozoo_datasets::static_h5::write(&ds, &clean).unwrap();
    ds.responses[[5, 1]] = f32::NAN;
    let broken = dir.path().join("nan.h5");
    neurozoo_datasets::static_h5::write(&ds, &broken).unwrap();
    for (data, tiers, what) in
        [(&broken, "train", "responses: 1 NaN"), (&clean, "final_test", "no images first shown in the tiers final_test")]
    {
        let out = dir.path().join("out.h5");
        let e = neurozoo().arg("extract").arg("--data").arg(data).args(["--tiers", tiers, "--out"]).arg(&out).output().unwrap();
        let stderr = String::from_utf8_lossy(&e.stderr);
        assert!(!e.status.success() && stderr.contains(&*data.to_string_lossy()) && stderr.contains(what), "{stderr}");
        assert!(!out.exists(), "{what}: an output was written");
    }
}
