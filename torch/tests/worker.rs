//! The worker run directly, as only `neurozoo` means to run it: it answers the torch half of
//! `neurozoo doctor` as JSON, refuses the front end's own commands by name, and refuses a job of
//! another format version.
//!
//! Being an integration test of this package also makes `cargo test --workspace` build the
//! `neurozoo-torch` binary, which the end-to-end tests (package `neurozoo`) start through the
//! front end.

use std::process::Command;

const WORKER: &str = env!("CARGO_BIN_EXE_neurozoo-torch");

#[test]
fn the_worker_reports_its_libtorch_and_refuses_front_end_commands() {
    let out = Command::new(WORKER).arg("doctor").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["version"].as_str(), Some("2.11.0"), "{report}");
    assert!(report["cuda_available"].is_boolean(), "{report}");

    let out = Command::new(WORKER).args(["zoo", "list"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(1) && stderr.contains("use `neurozoo`"), "{stderr}");
}

#[test]
fn a_job_of_another_format_version_is_refused_by_name() {
    use std::io::Write;
    let mut child =
        Command::new(WORKER).arg("job").stdin(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(br#"{"version": 99, "command": "fit", "model": "ln"}"#).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(1) && stderr.contains("format version 99") && stderr.contains("reads version 2"), "{stderr}");
}
