//! Executable plugins, in any language: a program named `neurozoo-plugin-NAME` on the plugin
//! path, speaking [`neurozoo_plugin::protocol`]. `PROGRAM describe` prints its descriptor;
//! `PROGRAM run` reads one request on stdin and writes its outputs into the directory the
//! request names, with a `result.json` last. The host turns those files into the same outputs a
//! library plugin hands over (CSV into Parquet and CSV, figure specs into PNG and SVG, `.npy`
//! and HDF5 arrays into `arrays.h5`) and writes the same `manifest.json`.
//!
//! The program runs in a process group of its own: when it is stopped (a timeout) or when it
//! ends, whatever it started in that group is killed with it, so nothing of a plugin outlives
//! its run. What left the group (`setsid`, a daemon's double fork) is found by a token in its
//! environment, [`RUN_TOKEN`], which every process it started inherits, and killed too; only
//! a process that replaced its whole environment (`env -i`) escapes.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ndarray::{ArrayD, Ix4, IxDyn};
use neurozoo_plugin::abi::status;
use neurozoo_plugin::protocol::{self, Descriptor, Request, ResultStatus, RunResult, EXECUTABLE_PREFIX, RESULT_FILE};
use serde_json::Value;

use crate::plugin::outputs::Outputs;
use crate::plugin::{Deadline, InputFiles, OutputKind, Plugin, PluginError, RunInput};
use neurozoo_datasets::representation::{Representation, RepresentationFile};
use neurozoo_tables::{read_csv, read_parquet, write_frame};

/// Whether `path` looks like an executable plugin: the name, and an execute bit.
pub fn is_executable_plugin(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(EXECUTABLE_PREFIX) && !n.contains('.'))
        && std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Ask the program at `path` for its descriptor, stopping it at `deadline`.
pub(crate) fn describe(path: &Path, deadline: Deadline) -> Result<Descriptor, PluginError> {
    let shown = path.display();
    let mut cmd = Command::new(path);
    cmd.arg("describe");
    let (ok, stdout, tail) =
        run_step(cmd, None, Some(deadline), "describe", "describe").map_err(|e| PluginError::Load(format!("{shown}: {e}")))?;
    if !ok {
        return Err(PluginError::Load(format!("{shown}: `describe` failed: {}", tail.join(" | "))));
    }
    let d: Descriptor =
        serde_json::from_slice(&stdout).map_err(|e| PluginError::Load(format!("{shown}: `describe` printed no valid descriptor ({e})")))?;
    d.check_protocol().map_err(|e| PluginError::Load(format!("{shown}: {e}")))?;
    Ok(d)
}

/// Run `plugin run` on `input` (read from `files`, or from a representation file written for
/// it), stopped at `deadline`, and collect what it wrote into `outputs`; returns the run's
/// status code, the reason recorded in `outputs`.
pub(crate) fn run(
    plugin: &Plugin,
    input: &RunInput<'_>,
    files: Option<&InputFiles<'_>>,
    deadline: Option<Deadline>,
    outputs: &mut Outputs,
) -> i32 {
    let staging = outputs.dir.join(".plugin-output");
    let written = outputs.dir.join(".plugin-input.h5");
    let code = match request(input, files, &staging, &written) {
        Err(e) => outputs.refuse(e),
        Ok(request) => {
            let mut cmd = Command::new(&plugin.path);
            cmd.arg("run");
            let body = serde_json::to_vec(&request).expect("a request serialises");
            match run_step(cmd, Some(body), deadline, &plugin.name, "run") {
                Err(e) => outputs.refuse(e),
                Ok((false, _, tail)) => outputs.refuse(format!("exited with an error: {}", tail.join(" | "))),
                Ok((true, _, _)) => collect(outputs, &staging),
            }
        }
    };
    let _ = std::fs::remove_dir_all(&staging);
    let _ = std::fs::remove_file(&written);
    code
}

/// The request for `input`: its files as given, or `written`, a representation file made of it.
fn request(input: &RunInput<'_>, files: Option<&InputFiles<'_>>, staging: &Path, written: &Path) -> Result<Request, String> {
    std::fs::create_dir_all(staging).map_err(|e| format!("cannot create {}: {e}", staging.display()))?;
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (representation_file, representation, arrays_files) = match files {
        Some(f) => (absolute(f.representation_file), f.representation.to_string(), f.arrays_files.iter().map(|p| absolute(p)).collect()),
        None => {
            write_input(input, written)?;
            (absolute(written), "representation".to_string(), Vec::new())
        }
    };
    Ok(Request {
        protocol: protocol::PROTOCOL_VERSION,
        representation_file,
        representation,
        arrays_files,
        params: input.params.clone(),
        seed: input.seed,
        out: absolute(staging),
        metadata: input.metadata.clone(),
    })
}

/// A representation file holding `input`, for a caller that lent arrays rather than files.
fn write_input(input: &RunInput<'_>, path: &Path) -> Result<(), String> {
    let n = input.representation.nrows();
    let ids: Option<Vec<i64>> = input.metadata["stimulus_ids"].as_array().and_then(|a| a.iter().map(Value::as_i64).collect());
    let file = RepresentationFile {
        representations: vec![Representation {
            name: "representation".into(),
            data: input.representation.to_owned(),
            source: input.metadata.get("source").map_or_else(|| "{}".to_string(), Value::to_string),
        }],
        stimulus_ids: ids.filter(|ids| ids.len() == n).unwrap_or_else(|| (0..n as i64).collect()),
        stimuli: input.stimuli.as_ref().and_then(|s| s.to_owned().into_dimensionality::<Ix4>().ok()),
        arrays: input.arrays.iter().map(|(name, a)| (name.clone(), a.to_owned())).collect(),
    };
    file.write(path).map_err(|e| format!("cannot write the plugin's input {}: {e}", path.display()))
}

/// A name `result.json` lists must be a plain file name: no directories, no `..`, not absolute.
fn plain_file_name(name: &str) -> bool {
    let mut parts = Path::new(name).components();
    matches!((parts.next(), parts.next()), (Some(Component::Normal(n)), None) if n == name)
}

/// Turn the files in `staging` into outputs; `result.json` says how the run went.
fn collect(outputs: &mut Outputs, staging: &Path) -> i32 {
    let result: RunResult = match std::fs::read_to_string(staging.join(RESULT_FILE)) {
        Ok(text) => match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => return outputs.refuse(format!("{RESULT_FILE} is no valid result ({e})")),
        },
        Err(_) => return outputs.refuse(format!("the plugin exited without writing {RESULT_FILE}")),
    };
    if let Err(e) = result.check_protocol() {
        return outputs.refuse(format!("{RESULT_FILE}: {e}"));
    }
    outputs.log.extend(result.log.iter().cloned());
    if let Some(bad) = result.outputs.iter().find(|n| !plain_file_name(n)) {
        return outputs.refuse(format!("{RESULT_FILE} lists {bad:?}: outputs are file names in the plugin's output directory, not paths"));
    }
    let mut files: Vec<PathBuf> = match std::fs::read_dir(staging) {
        Ok(d) => d.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => return outputs.refuse(format!("{}: {e}", staging.display())),
    };
    files.sort();
    for path in files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name == RESULT_FILE {
            continue;
        }
        if let Err(e) = take(outputs, &path, &name) {
            return outputs.refuse(format!("output {name}: {e}"));
        }
    }
    if let Some(missing) = result.outputs.iter().find(|n| !staging.join(n).exists()) {
        return outputs.refuse(format!("{RESULT_FILE} lists {missing}, which the plugin did not write"));
    }
    match result.status {
        ResultStatus::Ok => status::OK,
        ResultStatus::Error => outputs.refuse(result.error.unwrap_or_else(|| "the plugin reported an error and gave no reason".into())),
    }
}

/// One output file, by its extension. Only regular files are read: a symbolic link would let a
/// plugin have the host copy any file it can read into the outputs.
fn take(outputs: &mut Outputs, path: &Path, name: &str) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path).map_or_else(|e| e.to_string(), |t| t.display().to_string());
        return Err(format!("is a symbolic link (to {target}): write the file itself"));
    }
    if !meta.is_file() {
        return Err("is not a regular file".into());
    }
    let (stem, kind) = if let Some(stem) = name.strip_suffix(".figure.json") {
        (stem, "figure.json")
    } else {
        name.rsplit_once('.').ok_or("has no extension: a table (.csv, .parquet), figure (.png, .svg, .figure.json) or array (.npy, .h5)")?
    };
    Outputs::check_name(stem)?;
    match kind {
        "csv" | "parquet" => {
            let mut df = if kind == "csv" { read_csv(path) } else { read_parquet(path) }.map_err(|e| e.to_string())?;
            let paths = write_frame(&mut df, &outputs.dir, stem).map_err(|e| e.to_string())?;
            outputs.add_files(OutputKind::Table, stem, &paths)
        }
        "figure.json" => {
            let spec: Value =
                serde_json::from_str(&std::fs::read_to_string(path).map_err(|e| e.to_string())?).map_err(|e| format!("not JSON ({e})"))?;
            outputs.figure(stem, &spec)
        }
        "png" | "svg" => {
            let to = outputs.dir.join(name);
            std::fs::copy(path, &to).map_err(|e| format!("cannot copy to {}: {e}", to.display()))?;
            outputs.add_files(OutputKind::Figure, stem, &[to])
        }
        "npy" => {
            let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
            let npy = neurozoo_datasets::npy::Npy::parse(&bytes).map_err(|e| e.0)?;
            let shape = npy.shape.clone();
            let a = ArrayD::from_shape_vec(IxDyn(&shape), npy.into_f32().map_err(|e| e.0)?).map_err(|e| e.to_string())?;
            outputs.array(stem.to_string(), a);
            Ok(())
        }
        "h5" => {
            for (n, a) in neurozoo_datasets::representation::read_arrays(path).map_err(|e| e.to_string())? {
                Outputs::check_name(&n)?;
                outputs.array(n, a);
            }
            Ok(())
        }
        other => Err(format!(
            ".{other} is none of the output kinds: a table (.csv, .parquet), figure (.png, .svg, .figure.json) or array (.npy, .h5)"
        )),
    }
}

/// The environment variable that marks every process of one plugin step: `PID-N`, this
/// process's id and a counter, so that steps of several runs are told apart.
pub const RUN_TOKEN: &str = "NEUROZOO_PLUGIN_RUN";

/// Kill every process of the group `pgid` (the plugin and what it started); none left is fine.
fn kill_group(pgid: u32) {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
    unsafe { libc::kill(-(pgid as libc::pid_t), libc::SIGKILL) };
}

/// Kill every process that carries `token` in its environment (one this user may read), until
/// none is left: what a plugin started outside its process group (`setsid`).
fn kill_marked(token: &str) {
    let wanted = format!("{RUN_TOKEN}={token}");
    for _ in 0..50 {
        let Ok(entries) = std::fs::read_dir("/proc") else { return };
        let marked: Vec<libc::pid_t> = entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<libc::pid_t>().ok())
            .filter(|pid| {
                let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|s| s.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])));
                alive
                    && std::fs::read(format!("/proc/{pid}/environ"))
                        .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == wanted.as_bytes()))
            })
            .collect();
        if marked.is_empty() {
            return;
        }
        for pid in marked {
            // SAFETY: kill(2) on a process id; no memory is involved.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run one `step` of a plugin (`describe`, `run`): `cmd` in a process group of its own with
/// `stdin` written to it, its stderr shown as it comes (prefixed by `label`) and its last lines
/// kept; the group killed at `deadline`, and when the program ends. Returns (succeeded,
/// stdout, stderr's last lines).
fn run_step(
    mut cmd: Command,
    stdin: Option<Vec<u8>>,
    deadline: Option<Deadline>,
    label: &str,
    step: &str,
) -> Result<(bool, Vec<u8>, Vec<String>), String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.process_group(0);
    static STEPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let token = format!("{}-{}", std::process::id(), STEPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    cmd.env(RUN_TOKEN, &token);
    // SAFETY: prctl is async-signal-safe and touches no memory of this process. The plugin is
    // killed if the host dies (Ctrl-C reaches the host's group, not the plugin's).
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot start {program}: {e}"))?;
    let pgid = child.id();
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A plugin that exits without reading its request closes the pipe: not our error.
        let _ = pipe.write_all(&bytes);
    }
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let stderr = child.stderr.take().expect("piped");
    let label = label.to_string();
    let reader = {
        let tail = Arc::clone(&tail);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{label}: {line}");
                let mut t = tail.lock().expect("no panics hold it");
                t.push_back(line);
                if t.len() > 5 {
                    t.pop_front();
                }
            }
        })
    };
    let mut stdout = child.stdout.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut buf);
        buf
    });
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("{program}: {e}"))? {
            break status;
        }
        if let Some(d) = deadline.filter(|d| Instant::now() > d.at) {
            kill_group(pgid);
            kill_marked(&token);
            let _ = child.wait();
            return Err(format!("`{step}` timed out after {} s and was stopped", d.limit.as_secs_f64()));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // What it left running would hold its pipes open (and outlive the run).
    kill_group(pgid);
    kill_marked(&token);
    let stdout = out_reader.join().unwrap_or_default();
    let _ = reader.join();
    let mut lines: Vec<String> = tail.lock().expect("no panics hold it").iter().cloned().collect();
    if !status.success() {
        lines.insert(0, format!("{status}"));
    }
    Ok((status.success(), stdout, lines))
}
