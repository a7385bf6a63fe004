//! End-to-end tests: run the built `neurozoo` binary as a user would, one module per area.
//!
//! This test target belongs to the `neurozoo` package, so cargo builds both binaries
//! (`neurozoo` and `neurozoo-torch`) fresh before it runs.

use std::path::Path;
use std::process::{Command, Output};

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

fn stdout_json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}
