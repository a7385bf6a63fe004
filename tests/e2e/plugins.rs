//! Plugins through the real binary: real `cdylib`s loaded with libloading, real outputs.

use std::path::PathBuf;
use std::sync::Once;

use super::*;

/// Cargo builds a workspace's `cdylib`s only when asked: build the plugins these tests load,
/// in the profile of the binary under test, into the directory it searches.
pub(crate) fn plugins_built() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut cargo = Command::new(env!("CARGO"));
        cargo.args([
            "build",
            "--quiet",
            "-p",
            "neurozoo-plugin-summary",
            "-p",
            "neurozoo-plugin-testkit",
            "-p",
            "neurozoo-plugin-sparse-coding",
            "-p",
            "neurozoo-plugin-superposition",
            "-p",
            "neurozoo-plugin-interpretability",
        ]);
        if NEUROZOO.contains("/release/") {
            cargo.arg("--release");
        }
        assert!(cargo.status().expect("cargo runs").success(), "building the plugins failed");
    });
}

/// A representation file of one representation, "r", with stimulus ids 0, 1, ….
pub(crate) fn write_representation(path: &Path, data: ndarray::Array2<f32>) -> PathBuf {
    let file = neurozoo_datasets::representation::RepresentationFile {
        stimulus_ids: (0..data.nrows() as i64).collect(),
        representations: vec![neurozoo_datasets::representation::Representation { name: "r".into(), data, source: "{}".into() }],
        ..Default::default()
    };
    file.write(path).unwrap();
    path.to_path_buf()
}

/// A small simulation turned into a representation file.
pub(crate) fn representation(dir: &Path) -> PathBuf {
    let data = dir.join("v1.h5");
    let out = run(neurozoo()
        .args(["data", "simulate", "v1", "--n-units", "12", "--n-train", "60", "--n-validation", "10"])
        .args(["--n-test", "4", "--n-final-test", "0", "--repeats", "3", "--height", "16", "--width", "16", "--out"])
        .arg(&data));
    assert!(out.status.success());
    let repr = dir.join("r.h5");
    assert!(run(neurozoo().arg("extract").arg("--data").arg(&data).arg("--out").arg(&repr)).status.success());
    repr
}

pub(crate) fn analyze(repr: &Path, plugin: &str, out: &Path) -> Command {
    plugins_built();
    let mut cmd = neurozoo();
    cmd.arg("analyze").arg(plugin).arg("--repr").arg(repr).arg("--out").arg(out);
    cmd
}

pub(crate) fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap()
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn plugins_list_and_describe_show_the_builtins() {
    plugins_built();
    let out = run(neurozoo().args(["plugins", "list"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.starts_with("summary "))
            && text.lines().any(|l| l.starts_with("testkit "))
            && text.lines().any(|l| l.starts_with("sparse-coding "))
            && text.lines().any(|l| l.starts_with("superposition ")),
        "{text}"
    );
    let out = run(neurozoo().args(["plugins", "describe", "summary"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--param bins=<integer>") && text.contains("default 30"), "{text}");
    let out = neurozoo().args(["plugins", "describe", "nosuch"]).output().unwrap();
    assert!(!out.status.success() && stderr(&out).contains("no plugin \"nosuch\"") && stderr(&out).contains("summary"), "{}", stderr(&out));
}

#[test]
fn summary_writes_tables_figures_and_a_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let repr = representation(dir.path());
    let out_dir = dir.path().join("summary");
    assert!(run(analyze(&repr, "summary", &out_dir).args(["--param", "bins=12"])).status.success());
    // 60 train + 10 validation + 4 repeated test images = 74 stimuli, 12 units.
    let df = neurozoo_tables::read_parquet(&out_dir.join("units.parquet")).unwrap();
    assert_eq!(df.shape(), (12, 7));
    let csv = std::fs::read_to_string(out_dir.join("units.csv")).unwrap();
    assert!(csv.starts_with("unit,mean,std,min,max,fraction_active,lifetime_sparseness\n"), "{csv}");
    let png = std::fs::read(out_dir.join("lifetime_sparseness_histogram.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let svg = std::fs::read_to_string(out_dir.join("lifetime_sparseness_histogram.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>") && svg.contains("lifetime_sparseness over 12 units"));
    let m = manifest(&out_dir);
    assert_eq!((m["plugin"].as_str(), m["status"].as_str(), m["params"]["bins"].as_i64()), (Some("summary"), Some("complete"), Some(12)));
    assert_eq!(m["input"]["shape"], serde_json::json!([74, 12]));
    assert_eq!(m["files"].as_array().unwrap().len(), 4);
}

#[test]
fn parameters_are_checked_against_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let repr = representation(dir.path());
    for (param, expect) in [
        ("bins=0", "parameter bins = 0: must be at least 1"),
        ("bins=many", "parameter bins = \"many\": expected an integer"),
        ("colour=red", "plugin summary has no parameter \"colour\" (it has: active_threshold, bins, histogram_of)"),
        ("bins", "expected KEY=VALUE"),
    ] {
        let out_dir = dir.path().join("out");
        let out = analyze(&repr, "summary", &out_dir).args(["--param", param]).output().unwrap();
        assert!(!out.status.success() && stderr(&out).contains(expect), "{param}: {}", stderr(&out));
        assert!(!out_dir.exists(), "{param}: a refused run must not create its output directory");
    }
}

#[test]
fn typed_tables_and_arrays_round_trip_names_dtypes_and_nulls() {
    let dir = tempfile::tempdir().unwrap();
    let repr = representation(dir.path());
    let out_dir = dir.path().join("typed");
    assert!(run(analyze(&repr, "testkit", &out_dir).args(["--param", "mode=tables"])).status.success());
    let df = neurozoo_tables::read_parquet(&out_dir.join("typed.parquet")).unwrap();
    let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    assert_eq!(names, ["f", "i", "b", "s"]);
    assert_eq!(format!("{:?}", df.dtypes()), "[Float64, Int64, Boolean, String]");
    for name in ["f", "i", "b", "s"] {
        assert_eq!(df.column(name).unwrap().null_count(), 1, "column {name}");
    }
    let csv = std::fs::read_to_string(out_dir.join("typed.csv")).unwrap();
    assert_eq!(csv, "f,i,b,s\n1.5,,true,α\n,-7,false,\nNaN,9223372036854775807,,\"\"\n");
    let arrays = neurozoo_datasets::representation::read_arrays(&out_dir.join("arrays.h5")).unwrap();
    let input = neurozoo_datasets::representation::RepresentationFile::read(&repr).unwrap();
    let doubled = &arrays.iter().find(|(n, _)| n == "doubled").unwrap().1;
    assert_eq!(doubled, &input.representations[0].data.mapv(|v| 2.0 * v).into_dyn());
    assert_eq!(arrays.iter().find(|(n, _)| n == "scalar").unwrap().1.as_slice().unwrap(), &[3.0]);
}

#[test]
fn a_failing_or_panicking_plugin_is_an_error_and_earlier_outputs_stay() {
    let dir = tempfile::tempdir().unwrap();
    let repr = representation(dir.path());
    for (mode, expect) in
        [("error", "plugin testkit failed: testkit was asked to fail"), ("panic", "plugin testkit panicked: testkit was asked to panic")]
    {
        let out_dir = dir.path().join(mode);
        let out = analyze(&repr, "testkit", &out_dir).args(["--param", &format!("mode={mode}")]).output().unwrap();
        assert!(!out.status.success() && out.status.code().is_some(), "{mode}: {:?}", out.status);
        assert!(stderr(&out).contains(expect), "{mode}: {}", stderr(&out));
        assert!(out_dir.join("first.parquet").is_file() && out_dir.join("first.csv").is_file());
        let m = manifest(&out_dir);
        assert_eq!(m["status"], "failed");
        assert!(m["error"].as_str().unwrap().contains(&format!("asked to {}", if mode == "error" { "fail" } else { "panic" })));
    }
}

/// Every way a plugin library can be broken is refused when it loads, by name, with and without
/// `--in-process`, and nothing is left that looks like a result.
#[test]
fn a_broken_descriptor_is_refused_by_name_with_and_without_isolation() {
    let dir = tempfile::tempdir().unwrap();
    let repr = representation(dir.path());
    for (case, wanted) in [
        ("next-abi", "built for plugin ABI version 2, but this neurozoo speaks version 1: rebuild"),
        ("short", "descriptor is 8 bytes, expected at least"),
        ("null", "the plugin returned no descriptor"),
        ("null-run", "the descriptor's run function is NULL"),
        ("bad-type", "parameter schema: mode: type \"float\" is none of number, integer, boolean, string"),
        ("bad-default", "parameter schema: mode: default \"three\" is not an integer"),
    ] {
        for isolate in [false, true] {
            let out_dir = dir.path().join(format!("{case}-{isolate}"));
            let mut cmd = analyze(&repr, "testkit", &out_dir);
            if !isolate {
                cmd.arg("--in-process");
            }
            let out = cmd.env("NEUROZOO_TESTKIT_DESCRIPTOR", case).output().unwrap();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{case} (isolate {isolate}): {:?} {err}", out.status);
            assert!(err.contains(wanted) && err.contains("libneurozoo_plugin_testkit"), "{case} (isolate {isolate}): {err}");
            assert!(!err.contains("panicked"), "{case}: {err}");
            assert!(!out_dir.join("manifest.json").exists(), "{case}: a refused plugin left a manifest");
        }
    }
    // A descriptor built before `flags` existed still loads (and its flags are not read).
    let out_dir = dir.path().join("v1-size");
    assert!(run(analyze(&repr, "testkit", &out_dir).env("NEUROZOO_TESTKIT_DESCRIPTOR", "v1-size")).status.success());
    assert_eq!(manifest(&out_dir)["status"], "complete");
}

/// A crash in the library's entry takes the process down without isolation; with it, the
/// parent, which never opened the library, reports it.
#[test]
fn a_crash_while_loading_is_reported_under_isolation() {
    let dir = tempfile::tempdir().unwrap();
    let repr = representation(dir.path());
    let out = analyze(&repr, "testkit", &dir.path().join("o")).env("NEUROZOO_TESTKIT_DESCRIPTOR", "crash").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{:?}", out.status);
    assert!(stderr(&out).contains("plugin testkit crashed (signal 11) in the isolated process"), "{}", stderr(&out));
}

/// An output the host refused fails the run even when the plugin goes on and returns success;
/// an abort under isolation is a crash; with and without isolation the manifest says so.
#[test]
fn a_refused_output_or_an_abort_is_never_reported_as_success() {
    let dir = tempfile::tempdir().unwrap();
    let repr = representation(dir.path());
    for (mode, wanted, status) in [
        ("ragged", "table ragged: columns have different lengths [3, 1]", "failed"),
        ("bad-name", "output name \"../escape\"", "failed"),
        ("abort", "plugin testkit crashed (signal 6)", "crashed"),
    ] {
        for isolate in [false, true] {
            if mode == "abort" && !isolate {
                continue; // takes the process down: what isolation is for
            }
            let out_dir = dir.path().join(format!("{mode}-{isolate}"));
            let mut cmd = analyze(&repr, "testkit", &out_dir);
            cmd.args(["--param", &format!("mode={mode}")]);
            if !isolate {
                cmd.arg("--in-process");
            }
            let out = cmd.output().unwrap();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{mode} (isolate {isolate}): {err}");
            assert!(err.contains(wanted), "{mode} (isolate {isolate}): {err}");
            let m = manifest(&out_dir);
            assert_eq!(m["status"], status, "{mode} (isolate {isolate}): {m}");
            if status == "failed" {
                assert!(m["error"].as_str().unwrap().contains(wanted), "{m}");
            }
            assert!(!out_dir.join("escape.csv").exists() && !dir.path().join("escape.csv").exists());
        }
    }
}

/// NaN or Inf in the representation is refused once, by the host, unless the plugin's
/// descriptor says it takes them.
#[test]
fn non_finite_representations_are_refused_unless_the_plugin_takes_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = ndarray::Array2::<f32>::from_shape_fn((20, 4), |(i, j)| (i * 4 + j) as f32);
    data[[3, 2]] = f32::NAN;
    data[[7, 1]] = f32::INFINITY;
    let repr = write_representation(&dir.path().join("nan.h5"), data);
    for plugin in ["summary", "interpretability", "sparse-coding", "superposition", "testkit"] {
        let out_dir = dir.path().join(plugin);
        let out = analyze(&repr, plugin, &out_dir).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{plugin}: {err}");
        assert!(
            err.contains("representation \"r\" has 2 NaN or infinite values (the first, NaN, at stimulus 3, unit 2)"),
            "{plugin}: {err}"
        );
        assert!(!out_dir.exists(), "{plugin}: an output directory was created");
    }
    let out_dir = dir.path().join("accepts");
    let ok =
        run(analyze(&repr, "testkit", &out_dir).args(["--param", "mode=noop"]).env("NEUROZOO_TESTKIT_DESCRIPTOR", "accepts-non-finite"));
    assert!(ok.status.success());
}

/// `--param` given twice is refused, as is an empty method list.
#[test]
fn a_repeated_parameter_or_an_empty_method_list_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let repr = representation(dir.path());
    let out = analyze(&repr, "testkit", &dir.path().join("a")).args(["--param", "mode=tables", "--param", "mode=noop"]).output().unwrap();
    assert!(
        !out.status.success() && stderr(&out).contains("parameter mode is given twice (mode=tables and mode=noop)"),
        "{}",
        stderr(&out)
    );
    let out = analyze(&repr, "superposition", &dir.path().join("b")).args(["--param", "methods=,"]).output().unwrap();
    assert!(!out.status.success() && stderr(&out).contains("methods = \",\": name at least one of"), "{}", stderr(&out));
}

/// `analyze NAME` opens the library named after the plugin only: a broken library elsewhere in
/// the path does not stop it. A second plugin of the same name is reported, naming the one used.
#[test]
fn analyze_by_name_opens_only_its_library_and_names_a_shadowed_one() {
    let dir = tempfile::tempdir().unwrap();
    let repr = representation(dir.path());
    let extra = dir.path().join("extra");
    std::fs::create_dir(&extra).unwrap();
    let so = std::env::consts::DLL_SUFFIX;
    std::fs::write(extra.join(format!("libneurozoo_plugin_broken{so}")), b"not a library").unwrap();
    let builtin = Path::new(NEUROZOO).with_file_name(format!("libneurozoo_plugin_summary{so}"));
    std::fs::copy(&builtin, extra.join(format!("libneurozoo_plugin_summary{so}"))).unwrap();
    let out = run(analyze(&repr, "summary", &dir.path().join("o")).env("NEUROZOO_PLUGIN_PATH", &extra));
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("using plugin summary from {}", extra.join(format!("libneurozoo_plugin_summary{so}")).display())),
        "{err}"
    );
    assert!(err.contains("has the same name and is not used") && !err.contains("broken"), "{err}");
    let list = neurozoo().args(["plugins", "list"]).env("NEUROZOO_PLUGIN_PATH", &extra).output().unwrap();
    let err = stderr(&list);
    assert!(err.contains("libneurozoo_plugin_broken") && err.contains("plugin \"summary\" is not used"), "{err}");
}

#[test]
fn isolate_turns_a_crash_into_an_error_and_keeps_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let repr = representation(dir.path());
    let out_dir = dir.path().join("crash");
    let out = analyze(&repr, "testkit", &out_dir).args(["--param", "mode=segfault", "--isolate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "the parent survives and reports: {:?}", out.status);
    let err = stderr(&out);
    assert!(err.contains("plugin testkit crashed (signal 11)") && err.contains("2 files it wrote before are kept"), "{err}");
    assert_eq!(std::fs::read_to_string(out_dir.join("first.csv")).unwrap().lines().count(), 75);
    let m = manifest(&out_dir);
    assert_eq!(m["status"], "crashed");
    // In process, the crash takes neurozoo down and the manifest still says running, with the
    // process that died: the next command on that directory calls it interrupted.
    let in_process = dir.path().join("crash-in-process");
    let out = analyze(&repr, "testkit", &in_process).args(["--param", "mode=segfault", "--in-process"]).output().unwrap();
    assert!(out.status.code().is_none(), "the segfault killed the process: {:?}", out.status);
    assert_eq!(manifest(&in_process)["status"], "running");
    let again = analyze(&repr, "summary", &in_process).output().unwrap();
    assert!(
        !again.status.success() && stderr(&again).contains("holds a plugin run that is interrupted (its manifest.json)"),
        "{}",
        stderr(&again)
    );
    // Isolation changes nothing when the plugin behaves.
    for flag in ["--in-process", "--isolate"] {
        let ok_dir = dir.path().join(flag);
        assert!(run(analyze(&repr, "summary", &ok_dir).arg(flag)).status.success());
        assert_eq!(manifest(&ok_dir)["status"], "complete");
    }
}

#[test]
fn a_plugin_made_with_plugins_new_builds_and_runs_through_analyze() {
    let dir = tempfile::tempdir().unwrap();
    let repr = representation(dir.path());
    let krate = dir.path().join("my-stats");
    let out = run(neurozoo().args(["plugins", "new", "my-stats", "--dir"]).arg(&krate));
    assert!(out.status.success());
    // Its own target directory beside the workspace's, kept between runs so deps build once.
    let target = Path::new(NEUROZOO).parent().unwrap().parent().unwrap().join("scaffold-test");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--manifest-path"])
        .arg(krate.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .unwrap();
    assert!(status.success(), "the scaffolded crate does not build");
    let lib = target.join("debug").join(format!("libneurozoo_plugin_my_stats{}", std::env::consts::DLL_SUFFIX));
    let out_dir = dir.path().join("out");
    let out = run(neurozoo().arg("analyze").arg(&lib).arg("--repr").arg(&repr).arg("--out").arg(&out_dir).args(["--param", "bins=5"]));
    assert!(out.status.success());
    let csv = std::fs::read_to_string(out_dir.join("peaks.csv")).unwrap();
    assert!(csv.starts_with("unit,peak,best_stimulus\n") && csv.lines().count() == 13, "{csv}");
    // By name, through NEUROZOO_PLUGIN_PATH.
    let out = run(neurozoo().args(["plugins", "describe", "my-stats"]).env("NEUROZOO_PLUGIN_PATH", lib.parent().unwrap()));
    assert!(String::from_utf8_lossy(&out.stdout).contains("per-unit peak response"));

    let out = neurozoo().args(["plugins", "new", "My Plugin"]).current_dir(dir.path()).output().unwrap();
    assert!(!out.status.success() && stderr(&out).contains("use lowercase letters"));
    let out = neurozoo().args(["plugins", "new", "again", "--dir"]).arg(&krate).output().unwrap();
    assert!(!out.status.success() && stderr(&out).contains("already exists"));
}

/// The host lends the plugin its array: the plugin sees the very address the host holds.
#[test]
fn the_representation_is_lent_not_copied() {
    plugins_built();
    let dir = tempfile::tempdir().unwrap();
    let lib = Path::new(NEUROZOO).with_file_name(format!("libneurozoo_plugin_testkit{}", std::env::consts::DLL_SUFFIX));
    let plugin = neurozoo_analysis::plugin::Plugin::load(&lib).unwrap();
    let rep = ndarray::Array2::<f32>::from_shape_fn((50, 7), |(i, j)| (i * 7 + j) as f32);
    let input = neurozoo_analysis::plugin::RunInput {
        representation: rep.view(),
        stimuli: None,
        arrays: Vec::new(),
        metadata: serde_json::json!({}),
        params: plugin.params(&[("mode".into(), "address".into())]).unwrap(),
        seed: 0,
    };
    plugin.run(&input, dir.path()).unwrap();
    let csv = std::fs::read_to_string(dir.path().join("address.csv")).unwrap();
    assert_eq!(csv, format!("representation\n{}\n", rep.as_ptr() as i64));
}

/// Compile a C plugin from source with `cc` into `dir` as `libneurozoo_plugin_NAME.so`.
fn compile_c_plugin(dir: &Path, name: &str, source: &Path) -> PathBuf {
    let lib = dir.join(format!("libneurozoo_plugin_{name}{}", std::env::consts::DLL_SUFFIX));
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk/include");
    let cc = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-std=c11", "-Wall", "-Werror", "-pedantic", "-I"])
        .arg(&include)
        .arg("-o")
        .arg(&lib)
        .arg(source)
        .arg("-lm")
        .output()
        .expect("the C compiler `cc` runs");
    assert!(cc.status.success(), "{}: {}", source.display(), String::from_utf8_lossy(&cc.stderr));
    lib
}

/// The SDK's C example, compiled as an outside author would, runs through `analyze`, and its
/// table holds each unit's mean and standard deviation of the representation.
#[test]
fn a_plugin_in_c_builds_with_the_header_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let repr = representation(dir.path());
    let libs = dir.path().join("libs");
    std::fs::create_dir(&libs).unwrap();
    compile_c_plugin(&libs, "unit_stats", &Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk/examples/c/unit_stats.c"));
    let out_dir = dir.path().join("stats");
    let out = run(analyze(&repr, "unit-stats", &out_dir).env("NEUROZOO_PLUGIN_PATH", &libs));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("unit-stats: 12 units over 74 stimuli"), "{}", stderr(&out));
    assert_eq!(manifest(&out_dir)["status"], "complete");
    let file = neurozoo_datasets::representation::RepresentationFile::read(&repr).unwrap();
    let data = file.representations[0].data.mapv(f64::from);
    let df = neurozoo_tables::read_parquet(&out_dir.join("units.parquet")).unwrap();
    let col = |name: &str| -> Vec<f64> {
        let c = df.column(name).unwrap().f64().unwrap();
        (0..c.len()).map(|i| c.get(i).unwrap()).collect()
    };
    let (mean, sd) = (col("mean"), col("sd"));
    for u in 0..data.ncols() {
        let x = data.column(u);
        let m = x.mean().unwrap();
        assert!((mean[u] - m).abs() < 1e-12 && (sd[u] - x.std(0.0)).abs() < 1e-12, "unit {u}");
    }

    // A library without the entry symbol is refused by name.
    let none = dir.path().join("none.c");
    std::fs::write(&none, "int neurozoo_something_else(void) { return 0; }\n").unwrap();
    let lib = compile_c_plugin(&libs, "none", &none);
    let out = analyze(&repr, lib.to_str().unwrap(), &dir.path().join("n")).output().unwrap();
    assert!(
        !out.status.success() && stderr(&out).contains("not a neurozoo plugin (no `neurozoo_plugin_entry` symbol)"),
        "{}",
        stderr(&out)
    );
}

/// PATH with the project's .venv first, where `plugins new --lang python` finds numpy, h5py and
/// pandas (`make setup` installs them).
fn venv_path() -> std::ffi::OsString {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin");
    assert!(venv.join("python3").exists(), "no {}: run `make setup`", venv.display());
    std::env::join_paths(std::iter::once(venv).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()))).unwrap()
}

/// `plugins new --lang python` makes an executable plugin that runs as it is: listed and
/// described as one, parameters checked by the host, its CSV table and figure spec turned into
/// Parquet + CSV and PNG + SVG, the same manifest as a library's.
#[test]
fn a_python_plugin_from_plugins_new_runs_through_analyze() {
    let dir = tempfile::tempdir().unwrap();
    let repr = representation(dir.path());
    let plugin_dir = dir.path().join("peaks-plugin");
    let made = run(neurozoo().args(["plugins", "new", "peaks", "--lang", "python", "--dir"]).arg(&plugin_dir));
    assert!(made.status.success());
    let env = |cmd: &mut Command| {
        cmd.env("PATH", venv_path()).env("NEUROZOO_PLUGIN_PATH", &plugin_dir);
    };
    let mut list = neurozoo();
    list.args(["plugins", "list"]);
    env(&mut list);
    let listed = String::from_utf8(run(&mut list).stdout).unwrap();
    assert!(listed.lines().any(|l| l.starts_with("peaks ") && l.ends_with("(executable)")), "{listed}");
    let mut describe = neurozoo();
    describe.args(["plugins", "describe", "peaks"]);
    env(&mut describe);
    let described = String::from_utf8(run(&mut describe).stdout).unwrap();
    assert!(described.contains("--param bins=<integer>") && described.contains("executable: "), "{described}");

    let mut bad = analyze(&repr, "peaks", &dir.path().join("bad"));
    bad.args(["--param", "bins=0"]);
    env(&mut bad);
    let out = bad.output().unwrap();
    assert!(!out.status.success() && stderr(&out).contains("parameter bins = 0: must be at least 1"), "{}", stderr(&out));

    let out_dir = dir.path().join("peaks");
    let mut cmd = analyze(&repr, "peaks", &out_dir);
    cmd.args(["--param", "bins=5"]);
    env(&mut cmd);
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", stderr(&out));
    for f in ["peaks.parquet", "peaks.csv", "peaks.png", "peaks.svg", "manifest.json"] {
        assert!(out_dir.join(f).is_file(), "no {f}");
    }
    assert!(!out_dir.join(".plugin-output").exists(), "the staging directory is left behind");
    let m = manifest(&out_dir);
    assert_eq!((m["status"].as_str(), m["params"]["bins"].as_i64()), (Some("complete"), Some(5)));
    let data = neurozoo_datasets::representation::RepresentationFile::read(&repr).unwrap().representations[0].data.clone();
    let df = neurozoo_tables::read_parquet(&out_dir.join("peaks.parquet")).unwrap();
    let peak = df.column("peak").unwrap().f64().unwrap();
    for u in 0..data.ncols() {
        let want = data.column(u).iter().fold(f32::MIN, |m, &v| m.max(v));
        assert!((peak.get(u).unwrap() - f64::from(want)).abs() < 1e-6, "unit {u}");
    }
}

/// Executable plugins that misbehave: each is a failed run whose message says why (with the end
/// of its stderr), and the manifest says failed; nothing is reported as success.
#[test]
fn a_misbehaving_executable_plugin_is_a_failed_run() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let repr = representation(dir.path());
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let script = |name: &str, body: &str| {
        let path = bin.join(format!("neurozoo-plugin-{name}"));
        let describe = format!(r#"{{"name": "{name}", "version": "1", "description": "a test case", "params": {{}}}}"#);
        std::fs::write(&path, format!("#!/bin/sh\nif [ \"$1\" = describe ]; then echo '{describe}'; exit 0; fi\nout=$(sed -n 's/.*\"out\": *\"\\([^\"]*\\)\".*/\\1/p')\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    script("exits", "echo 'something broke' >&2\nexit 1");
    script("hangs", "exec sleep 30");
    script("silent", "exit 0");
    script("odd", "echo x > \"$out/notes.txt\"\necho '{\"status\": \"ok\"}' > \"$out/result.json\"");
    script("errs", "echo '{\"status\": \"error\", \"error\": \"the input has no units I like\"}' > \"$out/result.json\"");
    script("lists", "echo 'a,b' > \"$out/t.csv\"; echo '1,2' >> \"$out/t.csv\"\necho '{\"status\": \"ok\", \"outputs\": [\"t.csv\", \"u.csv\"]}' > \"$out/result.json\"");
    script("fine", "printf 'a,b\\n1,2.5\\n' > \"$out/t.csv\"\necho '{\"status\": \"ok\"}' > \"$out/result.json\"");
    for (name, wanted) in [
        ("exits", "exited with an error: exit status: 1 | something broke"),
        ("hangs", "timed out after 1 s and was stopped"),
        ("silent", "the plugin exited without writing result.json"),
        ("odd", "output notes.txt: .txt is none of the output kinds"),
        ("errs", "the input has no units I like"),
        ("lists", "result.json lists u.csv, which the plugin did not write"),
    ] {
        let out_dir = dir.path().join(name);
        let out = analyze(&repr, name, &out_dir).args(["--timeout", "1"]).env("NEUROZOO_PLUGIN_PATH", &bin).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(&format!("plugin {name} failed: ")) && err.contains(wanted), "{name}: {err}");
        let m = manifest(&out_dir);
        assert_eq!(m["status"], "failed", "{name}: {m}");
        assert!(m["error"].as_str().unwrap().contains(wanted), "{name}: {m}");
    }
    let out_dir = dir.path().join("fine");
    assert!(run(analyze(&repr, "fine", &out_dir).env("NEUROZOO_PLUGIN_PATH", &bin)).status.success());
    assert_eq!(std::fs::read_to_string(out_dir.join("t.csv")).unwrap(), "a,b\n1,2.5\n");
    // A describe that fails is refused when the plugin is loaded.
    std::fs::write(bin.join("neurozoo-plugin-mute"), "#!/bin/sh\nexit 3\n").unwrap();
    std::fs::set_permissions(bin.join("neurozoo-plugin-mute"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = analyze(&repr, "mute", &dir.path().join("mute")).env("NEUROZOO_PLUGIN_PATH", &bin).output().unwrap();
    assert!(!out.status.success() && stderr(&out).contains("`describe` failed: exit status: 3"), "{}", stderr(&out));
}
