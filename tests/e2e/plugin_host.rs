//! The plugin host against hostile plugins: executable plugins that leave processes behind,
//! hang in `describe`, list outputs outside their directory or hand over symbolic links, and a
//! library plugin whose run fails after it handed over an array. Each case checks the exit
//! code, the message and what is on disk.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::plugins::{analyze, manifest, representation, stderr};
use super::*;

/// Write `bin/neurozoo-plugin-NAME`, a shell script: `describe` runs `describe` (by default it
/// prints a descriptor), `run` runs `body` with `$out` set to the request's output directory.
fn script(bin: &Path, name: &str, describe: Option<&str>, body: &str) {
    let descriptor = format!(r#"{{"name": "{name}", "version": "1", "description": "a hostile test case"}}"#);
    let describe = describe.map_or_else(|| format!("echo '{descriptor}'"), str::to_string);
    let text = format!(
        "#!/bin/sh\nif [ \"$1\" = describe ]; then {describe}; exit 0; fi\nout=$(sed -n 's/.*\"out\": *\"\\([^\"]*\\)\".*/\\1/p')\n{body}\n"
    );
    let path = bin.join(format!("neurozoo-plugin-{name}"));
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Whether process `pid` still runs (a zombie, dead but not reaped, does not).
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])))
}

/// Wait up to 5 s for `pid` to be gone.
fn gone(pid: &str) -> bool {
    let start = Instant::now();
    while running(pid) {
        if start.elapsed() > Duration::from_secs(5) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let repr = representation(dir.path());
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    (dir, repr, bin)
}

/// What a plugin starts runs in its process group, and the group is killed at the timeout and
/// when the plugin ends: no grandchild outlives the run.
#[test]
fn a_plugin_and_what_it_started_are_killed_at_the_timeout_and_when_it_ends() {
    let (dir, repr, bin) = setup();
    let pid_file = dir.path().join("grandchild.pid");
    let record = format!("sleep 1000 &\necho $! > '{}'", pid_file.display());
    script(&bin, "lingers", None, &format!("{record}\nwait"));
    let out_dir = dir.path().join("lingers");
    let start = Instant::now();
    let out = analyze(&repr, "lingers", &out_dir).args(["--timeout", "1"]).env("NEUROZOO_PLUGIN_PATH", &bin).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("plugin lingers failed: `run` timed out after 1 s and was stopped"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(30), "{:?}", start.elapsed());
    let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_string();
    assert!(gone(&pid), "the plugin's child {pid} still runs after the timeout");
    let m = manifest(&out_dir);
    assert_eq!(m["status"], "failed");
    assert!(m["error"].as_str().unwrap().contains("`run` timed out"), "{m}");
    assert!(!out_dir.join(".plugin-output").exists());

    // A plugin that succeeds but leaves a process behind: the run completes, the process goes.
    std::fs::remove_file(&pid_file).unwrap();
    script(
        &bin,
        "leaves",
        None,
        &format!("{record}\nprintf 'a\\n1\\n' > \"$out/t.csv\"\necho '{{\"status\": \"ok\"}}' > \"$out/result.json\""),
    );
    let out_dir = dir.path().join("leaves");
    let out = analyze(&repr, "leaves", &out_dir).env("NEUROZOO_PLUGIN_PATH", &bin).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_string();
    assert!(gone(&pid), "the plugin's child {pid} still runs after the plugin ended");
    assert_eq!(manifest(&out_dir)["status"], "complete");
}

/// `result.json` may list only plain file names of the plugin's directory: a relative path
/// out of it or an absolute path fails the run, and nothing from outside is taken.
#[test]
fn listed_outputs_outside_the_output_directory_are_refused() {
    let (dir, repr, bin) = setup();
    let outside = dir.path().join("abs.csv");
    script(
        &bin,
        "escapes",
        None,
        "printf 'a\\n1\\n' > \"$out/../../x.csv\"\necho '{\"status\": \"ok\", \"outputs\": [\"../../x.csv\"]}' > \"$out/result.json\"",
    );
    script(
        &bin,
        "absolute",
        None,
        &format!(
            "printf 'a\\n1\\n' > '{0}'\necho '{{\"status\": \"ok\", \"outputs\": [\"{0}\"]}}' > \"$out/result.json\"",
            outside.display()
        ),
    );
    for (name, listed) in [("escapes", "../../x.csv".to_string()), ("absolute", outside.display().to_string())] {
        let out_dir = dir.path().join(name);
        let out = analyze(&repr, name, &out_dir).env("NEUROZOO_PLUGIN_PATH", &bin).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        let wanted = format!("result.json lists {listed:?}: outputs are file names in the plugin's output directory, not paths");
        assert!(err.contains(&format!("plugin {name} failed: {wanted}")), "{name}: {err}");
        let m = manifest(&out_dir);
        assert_eq!((m["status"].as_str(), m["error"].as_str()), (Some("failed"), Some(wanted.as_str())), "{name}");
        assert_eq!(m["files"], serde_json::json!([]), "{name}");
        let mut kept: Vec<String> = std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        kept.sort();
        assert_eq!(kept, ["manifest.json"], "{name}");
    }
}

/// An output that is a symbolic link is refused rather than followed: the file it points at is
/// not copied into the outputs.
#[test]
fn an_output_that_is_a_symbolic_link_is_refused() {
    let (dir, repr, bin) = setup();
    let secret = dir.path().join("secret.csv");
    std::fs::write(&secret, "password\nhunter2\n").unwrap();
    script(
        &bin,
        "links",
        None,
        &format!("ln -s '{}' \"$out/leak.csv\"\necho '{{\"status\": \"ok\"}}' > \"$out/result.json\"", secret.display()),
    );
    let out_dir = dir.path().join("links");
    let out = analyze(&repr, "links", &out_dir).env("NEUROZOO_PLUGIN_PATH", &bin).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let wanted = format!("output leak.csv: is a symbolic link (to {}): write the file itself", secret.display());
    assert!(err.contains(&format!("plugin links failed: {wanted}")), "{err}");
    let m = manifest(&out_dir);
    assert_eq!((m["status"].as_str(), m["error"].as_str()), (Some("failed"), Some(wanted.as_str())));
    assert!(!out_dir.join("leak.csv").exists() && !out_dir.join("leak.parquet").exists());
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "password\nhunter2\n");
}

/// An array a library plugin handed over (the callback said OK) is kept when a later output
/// fails the run, as the tables before it are: written, listed, and the manifest says failed.
#[test]
fn an_accepted_array_is_kept_when_a_later_output_fails_the_run() {
    let (dir, repr, _) = setup();
    for isolate in [true, false] {
        let out_dir = dir.path().join(format!("isolate-{isolate}"));
        let mut cmd = analyze(&repr, "testkit", &out_dir);
        cmd.args(["--param", "mode=array-then-ragged"]);
        if !isolate {
            cmd.arg("--in-process");
        }
        let out = cmd.output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "isolate {isolate}: {err}");
        assert!(err.contains("plugin testkit failed: table ragged: columns have different lengths [3, 1]"), "isolate {isolate}: {err}");
        assert!(err.contains("the 3 files it wrote before are kept"), "isolate {isolate}: {err}");
        let m = manifest(&out_dir);
        assert_eq!(m["status"], "failed", "{m}");
        let files: Vec<&str> = m["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
        assert_eq!(files, ["first.parquet", "first.csv", "arrays.h5"], "isolate {isolate}");
        let arrays = neurozoo_datasets::representation::read_arrays(&out_dir.join("arrays.h5")).unwrap();
        assert_eq!(arrays.len(), 1);
        assert_eq!((arrays[0].0.as_str(), arrays[0].1.shape()), ("kept", &[2, 3][..]));
        assert!(arrays[0].1.iter().all(|&v| v == 1.5));
    }
}

/// A `describe` that hangs is stopped at `--timeout`, and the message says it was `describe`;
/// one that speaks a later protocol is refused, naming both versions.
#[test]
fn describe_honours_the_timeout_and_the_protocol_version() {
    let (dir, repr, bin) = setup();
    script(&bin, "ponders", Some("exec sleep 30"), "exit 1");
    let out_dir = dir.path().join("ponders");
    let start = Instant::now();
    let out = analyze(&repr, "ponders", &out_dir).args(["--timeout", "1"]).env("NEUROZOO_PLUGIN_PATH", &bin).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("{}: `describe` timed out after 1 s and was stopped", bin.join("neurozoo-plugin-ponders").display())),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(15), "{:?}", start.elapsed());
    assert!(!out_dir.exists(), "nothing is written for a plugin that never ran");

    let later = r#"echo '{"protocol": 2, "name": "later", "version": "1", "description": "from the future"}'"#;
    script(&bin, "later", Some(later), "exit 1");
    let out = analyze(&repr, "later", &dir.path().join("later")).env("NEUROZOO_PLUGIN_PATH", &bin).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("speaks executable-plugin protocol version 2, but this neurozoo speaks version 1"), "{}", stderr(&out));
}

/// A plugin that leaves its process group (`setsid`) is still killed at the timeout and when
/// it ends: it carries the run's mark in its environment.
#[test]
fn a_process_started_in_a_session_of_its_own_is_killed_too() {
    let (dir, repr, bin) = setup();
    let pid_file = dir.path().join("escaped.pid");
    let record = format!("setsid sh -c 'echo $$ > \"{}\"; exec sleep 1000' < /dev/null > /dev/null 2>&1 &", pid_file.display());
    let wait_pid = format!("while [ ! -s '{}' ]; do sleep 0.05; done", pid_file.display());
    for (name, timeout, rest) in [("hangs", true, "sleep 1000".to_string()), ("ends", false, String::new())] {
        let _ = std::fs::remove_file(&pid_file);
        script(&bin, name, None, &format!("{record}\n{wait_pid}\n{rest}\necho '{{\"status\": \"ok\"}}' > \"$out/result.json\""));
        let out_dir = dir.path().join(name);
        let mut cmd = analyze(&repr, name, &out_dir);
        if timeout {
            cmd.args(["--timeout", "1"]);
        }
        let out = cmd.env("NEUROZOO_PLUGIN_PATH", &bin).output().unwrap();
        assert_eq!(out.status.success(), !timeout, "{name}: {}", stderr(&out));
        let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_string();
        assert!(gone(&pid), "{name}: {pid}, started with setsid, still runs after the run");
    }
}

/// A library plugin that hangs while isolated is stopped at `--timeout`: the isolated process
/// is killed from outside, the manifest says failed.
#[test]
fn a_hanging_library_plugin_is_stopped_at_the_timeout() {
    let (dir, repr, _) = setup();
    let out_dir = dir.path().join("hang");
    let start = Instant::now();
    let out = analyze(&repr, "testkit", &out_dir).args(["--param", "mode=hang", "--timeout", "1"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("plugin testkit timed out after 1 s and was stopped"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(20), "{:?}", start.elapsed());
    assert_eq!(manifest(&out_dir)["status"], "failed");
}
