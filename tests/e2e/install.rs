//! The installer `make install` runs (`tools/install.sh`), into a temporary prefix: the installed
//! binaries and plugins load libtorch through the prefix's own link, not the build tree's path;
//! the prefix still works after it is moved; `doctor`, `plugins list`, a fit and an eval run
//! from the installed copy with nothing exported.

use std::path::Path;
use std::process::{Command, Output};

use super::NEUROZOO;

/// `program` with an environment as bare as a login shell's: no `LD_LIBRARY_PATH` (which the
/// test runner sets to the build's libtorch), no plugin path.
fn bare(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear().env("PATH", "/usr/bin:/bin").env("HOME", std::env::temp_dir());
    cmd
}

fn ok(out: Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what}: {stderr}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Where each libtorch library `file` loads is found (`ldd`'s paths, `$ORIGIN` expanded).
fn torch_libraries(file: &Path) -> Vec<String> {
    let listed = ok(bare(Path::new("/usr/bin/ldd")).arg(file).output().unwrap(), "ldd");
    listed
        .lines()
        .filter(|l| l.contains("libtorch") || l.contains("libc10"))
        .map(|l| l.split("=> ").nth(1).and_then(|p| p.split(" (").next()).unwrap_or(l).trim().to_string())
        .collect()
}

#[test]
fn an_installed_copy_runs_from_its_prefix_with_its_own_libtorch_link() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("prefix");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let build = Path::new(NEUROZOO).parent().unwrap();
    let said = ok(Command::new(root.join("tools/install.sh")).arg(&prefix).arg(build).output().unwrap(), "install.sh");
    assert!(said.contains("installed neurozoo into"), "{said}");

    // Moved after installing: everything is found relative to the binaries.
    let moved = dir.path().join("moved");
    std::fs::rename(&prefix, &moved).unwrap();
    let link = moved.join("lib/neurozoo/libtorch");
    assert!(link.join("libtorch_cpu.so").exists(), "the libtorch link does not lead to libtorch");
    for (file, through) in [
        ("bin/neurozoo-torch", "bin/../lib/neurozoo/libtorch/"),
        ("lib/neurozoo/plugins/libneurozoo_plugin_sparse_coding.so", "plugins/../libtorch/"),
    ] {
        let libs = torch_libraries(&moved.join(file));
        assert!(libs.len() >= 2, "{file} loads no libtorch: {libs:?}");
        for lib in libs {
            assert!(
                lib.starts_with(&*moved.to_string_lossy()) && lib.contains(through),
                "{file}: {lib} is not loaded through the prefix's link"
            );
        }
    }

    let neurozoo = moved.join("bin/neurozoo");
    let doctor: serde_json::Value =
        serde_json::from_str(&ok(bare(&neurozoo).args(["doctor", "--json"]).output().unwrap(), "doctor")).unwrap();
    assert_eq!(doctor["torch"]["version"].as_str(), Some("2.11.0"), "{doctor}");
    let plugins = ok(bare(&neurozoo).args(["plugins", "list"]).output().unwrap(), "plugins list");
    for name in ["summary", "sparse-coding", "superposition", "interpretability"] {
        assert!(plugins.contains(name), "{name} is not installed:\n{plugins}");
    }
    assert!(!plugins.contains("testkit"), "{plugins}");

    let data = dir.path().join("v1.h5");
    ok(
        bare(&neurozoo)
            .args(["data", "simulate", "v1", "--n-units", "4", "--n-train", "40", "--n-validation", "10", "--n-test", "3"])
            .args(["--n-final-test", "0", "--repeats", "2", "--height", "16", "--width", "16", "--out"])
            .arg(&data)
            .output()
            .unwrap(),
        "simulate",
    );
    let run = dir.path().join("run");
    ok(
        bare(&neurozoo)
            .args(["fit", "ln", "--max-epochs", "1", "--threads", "1", "--data"])
            .arg(&data)
            .arg("--out")
            .arg(&run)
            .output()
            .unwrap(),
        "fit",
    );
    let eval: serde_json::Value =
        serde_json::from_str(&ok(bare(&neurozoo).arg("eval").arg(&run).arg("--data").arg(&data).arg("--json").output().unwrap(), "eval"))
            .unwrap();
    assert!(eval["test"]["correlation"].as_f64().is_some_and(f64::is_finite), "{eval}");

    let completion = moved.join("share/bash-completion/completions/neurozoo");
    ok(Command::new("bash").arg("-n").arg(&completion).output().unwrap(), "bash -n");
}
