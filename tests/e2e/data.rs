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
