//! End-to-end tests: run the built `neurozoo` binary as a user would, one module per area.
//!
//! This test target belongs to the `neurozoo` package, so cargo builds both binaries
//! (`neurozoo` and `neurozoo-torch`) fresh before it runs.

use std::path::Path;
use std::process::{Command, Output};

mod bad_input;
mod compare;
mod data;
mod demo;
mod doctor;
mod fit;
mod interpretability;
mod plugins;
mod slowvae;
mod sparse;
mod sweep;
mod torchscript;

const NEUROZOO: &str = env!("CARGO_BIN_EXE_neurozoo");

fn neurozoo() -> Command {
    Command::new(NEUROZOO)
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
