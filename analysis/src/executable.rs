//! Executable plugins, in any language: a program named `neurozoo-plugin-NAME` on the plugin
//! path. `PROGRAM describe` prints its descriptor as JSON; `PROGRAM run` reads one JSON request
//! on stdin and writes its outputs into the directory the request names, with a `result.json`.
//! The host turns those files into the same outputs a library plugin hands over (CSV into
//! Parquet and CSV, figure specs into PNG and SVG, `.npy` and HDF5 arrays into `arrays.h5`) and
//! writes the same `manifest.json`. The protocol is in docs/plugins.md.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ndarray::{ArrayD, IxDyn};
use serde_json::{json, Map, Value};

use crate::plugin::{Outputs, Plugin, PluginError, RunInput, RunReport};
use neurozoo_tables::{read_csv, read_parquet, write_frame};

/// Executable plugins are named this + NAME.
pub const EXECUTABLE_PREFIX: &str = "neurozoo-plugin-";

/// The file a plugin writes last, saying whether it succeeded.
pub const RESULT_FILE: &str = "result.json";

/// How long `describe` may take.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether `path` looks like an executable plugin: the name, and an execute bit.
pub fn is_executable_plugin(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(EXECUTABLE_PREFIX) && !n.contains('.'))
        && std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// What `PROGRAM describe` prints.
pub(crate) struct Described {
    pub name: String,
    pub version: String,
    pub description: String,
    pub params: Map<String, Value>,
    /// Optional in the JSON, default false.
    pub accepts_non_finite: bool,
}

/// Ask the program at `path` for its descriptor.
pub(crate) fn describe(path: &Path) -> Result<Described, String> {
    let shown = path.display();
    let mut cmd = Command::new(path);
    cmd.arg("describe").stdin(Stdio::null());
    let (status, stdout, tail) = run_with_timeout(cmd, None, Some(DESCRIBE_TIMEOUT), "describe")?;
    if !status {
        return Err(format!("{shown}: `describe` failed: {}", tail.join(" | ")));
    }
    let value: Value = serde_json::from_slice(&stdout).map_err(|e| format!("{shown}: `describe` printed no JSON object ({e})"))?;
    let text = |key: &str| {
        value.get(key).and_then(Value::as_str).map(str::to_string).ok_or_else(|| format!("{shown}: `describe` gave no string {key:?}"))
    };
    let params = match value.get("params") {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(format!("{shown}: `describe`'s params is not a JSON object")),
    };
    Ok(Described {
        name: text("name")?,
        version: text("version")?,
        description: text("description")?,
        params,
        accepts_non_finite: value.get("accepts_non_finite").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// What an executable plugin is asked to run on.
pub struct Request<'a> {
    pub representation_file: &'a Path,
    /// The representation's name in the file.
    pub representation: &'a str,
    pub arrays_files: &'a [PathBuf],
    /// None: no limit.
    pub timeout: Option<Duration>,
}

/// Run `plugin run` on `request`, then collect what it wrote into `out` as for a library.
pub fn run(plugin: &Plugin, input: &RunInput<'_>, request: &Request<'_>, out: &Path) -> Result<RunReport, PluginError> {
    run_files(plugin, input, request, out).map_err(PluginError::Run)
}

fn run_files(plugin: &Plugin, input: &RunInput<'_>, request: &Request<'_>, out: &Path) -> Result<RunReport, String> {
    let staging = out.join(".plugin-output");
    std::fs::create_dir_all(&staging).map_err(|e| format!("cannot create {}: {e}", staging.display()))?;
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string();
    let body = json!({
        "representation_file": absolute(request.representation_file),
        "representation": request.representation,
        "arrays_files": request.arrays_files.iter().map(|p| absolute(p)).collect::<Vec<_>>(),
        "params": input.params,
        "seed": input.seed,
        "out": absolute(&staging),
        "metadata": input.metadata,
    });
    let mut outputs = Outputs::new(plugin, input, out)?;
    let mut cmd = Command::new(&plugin.path);
    cmd.arg("run");
    let result = run_with_timeout(cmd, Some(body.to_string().into_bytes()), request.timeout, &plugin.name);
    let code = match result {
        Err(e) => outputs.refuse(e),
        Ok((false, _, tail)) => outputs.refuse(format!("exited with an error: {}", tail.join(" | "))),
        Ok((true, _, _)) => collect(&mut outputs, &staging),
    };
    let _ = std::fs::remove_dir_all(&staging);
    outputs.bar.finish_and_clear();
    outputs.finish(code)
}

/// Turn the files in `staging` into outputs; `result.json` says how the run went.
fn collect(outputs: &mut Outputs, staging: &Path) -> i32 {
    use neurozoo_plugin::abi::status;
    let result_path = staging.join(RESULT_FILE);
    let result: Value = match std::fs::read_to_string(&result_path) {
        Ok(text) => match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => return outputs.refuse(format!("{RESULT_FILE} is not JSON ({e})")),
        },
        Err(_) => return outputs.refuse(format!("the plugin exited without writing {RESULT_FILE}")),
    };
    for line in result["log"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        outputs.log.push(line.to_string());
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
    if let Some(missing) = result["outputs"].as_array().into_iter().flatten().filter_map(Value::as_str).find(|n| !staging.join(n).exists())
    {
        return outputs.refuse(format!("{RESULT_FILE} lists {missing}, which the plugin did not write"));
    }
    match result["status"].as_str() {
        Some("ok") => status::OK,
        Some("error") => outputs.refuse(result["error"].as_str().unwrap_or("the plugin reported an error and gave no reason").to_string()),
        other => outputs.refuse(format!("{RESULT_FILE}: status is {other:?}, expected \"ok\" or \"error\"")),
    }
}

/// One output file, by its extension.
fn take(outputs: &mut Outputs, path: &Path, name: &str) -> Result<(), String> {
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
            outputs.add_files("table", stem, &paths)
        }
        "figure.json" => {
            let spec: Value =
                serde_json::from_str(&std::fs::read_to_string(path).map_err(|e| e.to_string())?).map_err(|e| format!("not JSON ({e})"))?;
            outputs.figure(stem, &spec)
        }
        "png" | "svg" => {
            let to = outputs.dir.join(name);
            std::fs::copy(path, &to).map_err(|e| format!("cannot copy to {}: {e}", to.display()))?;
            outputs.add_files("figure", stem, &[to])
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

/// Run `cmd` with `stdin` written to it, its stderr shown as it comes (prefixed by `label`) and
/// its last lines kept; killed after `timeout`. Returns (succeeded, stdout, stderr's last lines).
fn run_with_timeout(
    mut cmd: Command,
    stdin: Option<Vec<u8>>,
    timeout: Option<Duration>,
    label: &str,
) -> Result<(bool, Vec<u8>, Vec<String>), String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot start {program}: {e}"))?;
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
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("{program}: {e}"))? {
            break status;
        }
        if timeout.is_some_and(|t| start.elapsed() > t) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {:.0} s and was stopped", timeout.unwrap_or_default().as_secs_f64()));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let _ = reader.join();
    let mut lines: Vec<String> = tail.lock().expect("no panics hold it").iter().cloned().collect();
    if !status.success() {
        lines.insert(0, format!("{status}"));
    }
    Ok((status.success(), stdout, lines))
}
