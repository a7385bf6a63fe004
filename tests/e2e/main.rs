//! End-to-end tests: run the built `neurozoo` binary as a user would, one module per area.
//!
//! This test target belongs to the `neurozoo` package, so cargo builds the front end fresh
//! before it runs. Model commands run in the worker of package `neurozoo-torch`, found beside
//! the front end: `cargo nextest run --workspace` (`make test`) builds both; a worker older than
//! its sources is refused rather than tested.

use std::path::Path;
use std::process::{Command, Output};

mod bad_input;
mod compare;
mod concurrent;
mod data;
mod demo;
mod doctor;
mod ensemble;
mod fit;
mod hostile;
mod insilico;
mod install;
mod interpretability;
mod plugin_host;
mod plugins;
mod slowvae;
mod sparse;
mod sweep;
mod torchscript;

const NEUROZOO: &str = env!("CARGO_BIN_EXE_neurozoo");

fn neurozoo() -> Command {
    static WORKER: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    WORKER.get_or_init(check_worker);
    Command::new(NEUROZOO)
}

/// The worker beside the front end exists and is newer than every source it is built from (a
/// `cargo nextest run -p neurozoo` builds only the front end).
fn check_worker() {
    let worker = Path::new(NEUROZOO).with_file_name("neurozoo-torch");
    let built = std::fs::metadata(&worker)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: run the tests with --workspace (make test)", worker.display()));
    fn newest(dir: &Path) -> Option<std::time::SystemTime> {
        std::fs::read_dir(dir)
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let path = e.path();
                if path.is_dir() {
                    newest(&path)
                } else {
                    e.metadata().ok()?.modified().ok()
                }
            })
            .max()
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // Everything the worker links (where the sources are: not on a machine that got only the
    // test binaries).
    for krate in ["torch", "job", "util", "zoo", "pth", "tensor", "config", "datasets", "metrics", "analysis", "tables", "plugins/sdk"] {
        let src = root.join(krate).join("src");
        if newest(&src).is_some_and(|t| t > built) {
            panic!("{} is older than {}: run the tests with --workspace (make test)", worker.display(), src.display());
        }
    }
}

/// Run and return the output, with stderr echoed on failure to make test failures readable.
fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("failed to start neurozoo");
    if !out.status.success() {
        eprintln!("stderr of {cmd:?}:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    out
}

/// `DIR/v1.h5`: a small simulation (10 units, 160 training images of 20 × 20), so a fit on it
/// takes seconds.
fn small_v1(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("v1.h5");
    let out = run(neurozoo()
        .args(["data", "simulate", "v1", "--n-units", "10", "--n-train", "160", "--n-validation", "40"])
        .args(["--n-test", "8", "--n-final-test", "0", "--repeats", "4", "--height", "20", "--width", "20", "--seed", "3", "--out"])
        .arg(&data));
    assert!(out.status.success());
    data
}

fn stdout_json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}
