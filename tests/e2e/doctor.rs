use super::*;

#[test]
fn doctor_json_reports_pinned_libtorch_and_hdf5() {
    let out = run(neurozoo().args(["doctor", "--json"]));
    assert!(out.status.success());
    let report = stdout_json(&out);
    assert_eq!(report["torch"]["version"], "2.11.0", "{report}");
    assert_eq!(report["neurozoo"], env!("CARGO_PKG_VERSION"));
    assert!(report["torch_error"].is_null());
    assert!(report["torch"]["threads"].as_i64().unwrap() >= 1);
    let cuda = report["torch"]["cuda_available"].as_bool().expect("cuda_available is a bool");
    let count = report["torch"]["cuda_device_count"].as_i64().unwrap();
    assert_eq!(cuda, count > 0, "{report}");
    assert_eq!(report["torch"]["cuda_devices"].as_array().unwrap().len() as i64, count);
    let hdf5 = report["hdf5"].as_str().unwrap();
    assert_eq!(hdf5.split('.').count(), 3, "HDF5 version {hdf5}");
    let exe_dir = Path::new(NEUROZOO).parent().unwrap().display().to_string();
    let path: Vec<&str> = report["plugin_path"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert!(path.contains(&exe_dir.as_str()), "{path:?}");
}

#[test]
fn doctor_puts_plugin_path_env_first() {
    let out = run(neurozoo().args(["doctor", "--json"]).env("NEUROZOO_PLUGIN_PATH", "/opt/a:/opt/b"));
    let report = stdout_json(&out);
    assert_eq!(report["plugin_path"][0], "/opt/a");
    assert_eq!(report["plugin_path"][1], "/opt/b");
}

#[test]
fn doctor_text_names_libtorch_version() {
    let out = run(neurozoo().arg("doctor"));
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("libtorch      2.11.0"), "{text}");
}

/// A broken libtorch first on LD_LIBRARY_PATH must give one clear sentence and a non-zero exit,
/// not a dynamic-loader crash, and the report still lists what does work. The fake libraries
/// also catch `neurozoo` itself linking libtorch: the loader would then fail before `main`.
#[test]
fn doctor_reports_unloadable_libtorch_clearly() {
    let dir = tempfile::tempdir().unwrap();
    for lib in ["libtorch.so", "libtorch_cpu.so", "libc10.so"] {
        std::fs::write(dir.path().join(lib), b"not a library").unwrap();
    }
    let out = neurozoo().args(["doctor", "--json"]).env("LD_LIBRARY_PATH", dir.path()).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: cannot load libtorch ("), "{stderr}");
    assert!(stderr.contains("libtorch.so"), "the message names the library: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let report = stdout_json(&out);
    assert!(report["torch"].is_null());
    assert!(report["torch_error"].as_str().unwrap().contains("make setup"));
    assert!(report["hdf5"].is_string());
}

/// `completions bash` prints a script bash accepts, offering every subcommand; an unknown shell
/// is refused with the ones there are.
#[test]
fn completions_are_a_valid_bash_script_with_every_subcommand() {
    let out = run(neurozoo().args(["completions", "bash"]));
    assert!(out.status.success());
    let script = String::from_utf8_lossy(&out.stdout).to_string();
    for command in ["fit", "eval", "extract", "analyze", "compare", "data", "demo", "doctor", "plugins", "zoo", "completions"] {
        assert!(script.contains(command), "no {command} in the completions");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("neurozoo.bash");
    std::fs::write(&path, &script).unwrap();
    assert!(Command::new("bash").arg("-n").arg(&path).status().unwrap().success(), "bash -n rejects the script");
    let e = neurozoo().args(["completions", "tcsh"]).output().unwrap();
    assert!(!e.status.success() && String::from_utf8_lossy(&e.stderr).contains("zsh"));
}
