//! The plugin host: one typed [`PluginJob`] in, one [`RunReport`] out. It owns everything
//! between a command line and a plugin's code: finding the plugin, checking parameters and
//! input (NaN and infinite values, arrays given twice), the output directory and its
//! `manifest.json`, isolation in a child process, and both plugin kinds.
//!
//! ```no_run
//! use neurozoo_analysis::host::{self, Isolation, PluginJob};
//! use neurozoo_analysis::plugin::RunStatus;
//!
//! let job = PluginJob::new("summary", "responses.h5", "summary-out").isolation(Isolation::InProcess);
//! let report = host::run(&job)?;
//! assert_eq!(report.manifest.status, RunStatus::Complete);
//! for file in report.files() {
//!     println!("{file}");
//! }
//! # Ok::<(), neurozoo_analysis::plugin::PluginError>(())
//! ```
//!
//! Isolation re-runs the host in a child process: the job goes to `EXE ISOLATED_COMMAND` as
//! JSON on stdin and the report comes back as JSON on the child's stdout (the plugin's own
//! stdout goes to stderr there). A program that isolates must route [`ISOLATED_COMMAND`] to
//! [`serve_isolated`]; `neurozoo` does.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ndarray::ArrayD;
use neurozoo_datasets::representation::{read_arrays, RepresentationFile};
use neurozoo_util::files::{ensure_empty_dir, OutputDirError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::plugin::{self, read_manifest, write_manifest, Deadline, InputFiles, PluginError, RunInput, RunReport, RunStatus, MANIFEST};

/// The hidden subcommand a program that isolates plugin runs routes to [`serve_isolated`].
pub const ISOLATED_COMMAND: &str = "plugin-host";

/// Where a plugin's code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// In a child process of this program: a crash is an error message and loses no outputs
    /// (about 2 ms a call).
    #[default]
    ChildProcess,
    /// In this process: a crash takes it down.
    InProcess,
}

/// One plugin run, as a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginJob {
    /// A plugin's name on the plugin path, or the path of its file.
    pub plugin: String,
    pub representation_file: PathBuf,
    /// Which representation in the file; None when it holds one.
    pub representation: Option<String>,
    /// Created; must be new or empty.
    pub out: PathBuf,
    /// `key=value` parameters as given, checked against the plugin's schema.
    pub params: Vec<(String, String)>,
    /// More named input arrays (an earlier plugin's `arrays.h5`).
    pub arrays_files: Vec<PathBuf>,
    pub seed: u64,
    /// Executable plugins: a limit on the whole job, `describe` included; None: no limit on
    /// `run`, and [`crate::plugin::DESCRIBE_TIMEOUT`] on `describe`.
    pub timeout: Option<Duration>,
    pub isolation: Isolation,
}

impl PluginJob {
    /// A job with no parameters, no extra arrays, seed 0, no timeout, isolated.
    pub fn new(plugin: impl Into<String>, representation_file: impl Into<PathBuf>, out: impl Into<PathBuf>) -> PluginJob {
        PluginJob {
            plugin: plugin.into(),
            representation_file: representation_file.into(),
            representation: None,
            out: out.into(),
            params: Vec::new(),
            arrays_files: Vec::new(),
            seed: 0,
            timeout: None,
            isolation: Isolation::default(),
        }
    }

    pub fn isolation(mut self, isolation: Isolation) -> PluginJob {
        self.isolation = isolation;
        self
    }
}

/// Run `job`. `Err` when the plugin never ran (not found, a parameter, the input or the
/// output directory refused) or its run could not be recorded; otherwise the report, whose
/// manifest says whether the run completed, failed or crashed, and lists every output kept.
pub fn run(job: &PluginJob) -> Result<RunReport, PluginError> {
    check_out(&job.out)?;
    match job.isolation {
        Isolation::InProcess => run_here(job),
        Isolation::ChildProcess => isolated(job),
    }
}

/// The output directory: new or empty, and no earlier run's (which says what became of it).
fn check_out(out: &Path) -> Result<(), PluginError> {
    if let Some(state) = plugin::manifest_state(out) {
        return Err(PluginError::OutputDir(format!("{} holds a plugin run that is {state} (its {MANIFEST})", out.display())));
    }
    ensure_empty_dir(out).map_err(|e: OutputDirError| PluginError::OutputDir(e.to_string()))
}

/// An error with its sources, as `anyhow` shows them (`a: b: c`).
fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

fn run_here(job: &PluginJob) -> Result<RunReport, PluginError> {
    // One limit for the whole job: what `describe` takes counts against it.
    let deadline = job.timeout.map(Deadline::after);
    let plugin = plugin::find_within(&job.plugin, deadline)?;
    let params = plugin.params(&job.params)?;
    let shown = job.representation_file.display();
    let file = RepresentationFile::read(&job.representation_file).map_err(|e| PluginError::Input(with_sources(&e)))?;
    let rep = file.get(job.representation.as_deref()).map_err(|e| PluginError::Input(format!("{shown}: {}", with_sources(&e))))?;
    if !plugin.accepts_non_finite {
        if let Some((k, v)) = rep.data.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            let count = rep.data.iter().filter(|v| !v.is_finite()).count();
            let (row, col) = (k / rep.data.ncols(), k % rep.data.ncols());
            return Err(PluginError::Input(format!(
                "{shown}: representation {:?} has {count} NaN or infinite values (the first, {v}, at stimulus {row}, unit {col}); plugin {} does not take them",
                rep.name, plugin.name
            )));
        }
    }
    // Read the extra arrays before anything is created, so a bad file leaves nothing behind.
    let extra = extra_arrays(job, &file.arrays)?;
    std::fs::create_dir_all(&job.out).map_err(|e| PluginError::OutputDir(format!("cannot create {}: {e}", job.out.display())))?;
    let source: Value = serde_json::from_str(&rep.source).unwrap_or(Value::Null);
    let input = RunInput {
        representation: rep.data.view(),
        stimuli: file.stimuli.as_ref().map(|s| s.view().into_dyn()),
        arrays: file.arrays.iter().chain(&extra).map(|(n, a)| (n.clone(), a.view())).collect(),
        metadata: json!({
            "file": job.representation_file.display().to_string(),
            "name": rep.name,
            "source": source,
            "stimulus_ids": file.stimulus_ids,
            "arrays_files": job.arrays_files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        }),
        params,
        seed: job.seed,
    };
    let files = InputFiles { representation_file: &job.representation_file, representation: &rep.name, arrays_files: &job.arrays_files };
    plugin.run_in(&input, Some(&files), deadline, &job.out)
}

/// The arrays of every extra arrays file; a name given twice (there or in the representation
/// file) is refused, naming both places, rather than silently shadowed.
fn extra_arrays(job: &PluginJob, in_repr: &[(String, ArrayD<f32>)]) -> Result<Vec<(String, ArrayD<f32>)>, PluginError> {
    let mut seen: Vec<(String, &Path)> = in_repr.iter().map(|(n, _)| (n.clone(), job.representation_file.as_path())).collect();
    let mut out = Vec::new();
    for path in &job.arrays_files {
        for (name, array) in read_arrays(path).map_err(|e| PluginError::Input(with_sources(&e)))? {
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
                return Err(PluginError::Input(format!(
                    "array {name:?} is in both {} and {}: pass one of them",
                    first.display(),
                    path.display()
                )));
            }
            seen.push((name.clone(), path));
            out.push((name, array));
        }
    }
    Ok(out)
}

/// What the isolated process hands back on its stdout.
type Outcome = Result<RunReport, PluginError>;

/// Run `job` in a child process of this program ([`ISOLATED_COMMAND`]); a crash there becomes
/// a report saying so, and the manifest (kept current by the child) says what was written
/// before it. Nothing of the plugin runs here, not even its library's loading.
fn isolated(job: &PluginJob) -> Result<RunReport, PluginError> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(|e| PluginError::Run(format!("cannot locate the running program: {e}")))?;
    // The limit holds for the whole job, a library plugin's code included: the isolated process
    // stops an executable plugin itself and says so; past the limit and a grace for that, it is
    // stopped from here, with its process group.
    let deadline = job.timeout.map(|t| (Deadline::after(t).at + ISOLATED_GRACE, t));
    let mut child = Command::new(exe)
        .arg(ISOLATED_COMMAND)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| PluginError::Run(format!("cannot start the isolated plugin process: {e}")))?;
    let request = serde_json::to_vec(&job.clone().isolation(Isolation::InProcess)).expect("a job serialises");
    // A child that dies before reading says so through its exit status below.
    let _ = child.stdin.take().expect("piped").write_all(&request);
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut reply = Vec::new();
        let _ = stdout.read_to_end(&mut reply);
        reply
    });
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| PluginError::Run(format!("the isolated plugin process: {e}")))? {
            break status;
        }
        if let Some((_, limit)) = deadline.filter(|(at, _)| std::time::Instant::now() > *at) {
            // SAFETY: kill(2) with a negative pid signals the isolated process's group.
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            let _ = child.wait();
            let reason = format!("plugin {} timed out after {} s and was stopped", job.plugin, limit.as_secs_f64());
            return stopped(job, RunStatus::Failed, reason);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let reply = reader.join().unwrap_or_default();
    if status.success() {
        if let Ok(outcome) = serde_json::from_slice::<Outcome>(&reply) {
            return outcome;
        }
    }
    use std::os::unix::process::ExitStatusExt;
    let reason = match status.signal() {
        Some(signal) => format!("plugin {} crashed (signal {signal}) in the isolated process", job.plugin),
        None => format!("the isolated process of plugin {} ended ({status}) without a report", job.plugin),
    };
    stopped(job, RunStatus::Crashed, reason)
}

/// How long past its limit an isolated job has to report an executable plugin's own timeout
/// before it is stopped from outside.
const ISOLATED_GRACE: Duration = Duration::from_secs(2);

/// The report of an isolated job that ended without one (`status`, `reason`): its manifest, kept
/// current by the isolated process, says what was written before.
fn stopped(job: &PluginJob, status: RunStatus, reason: String) -> Result<RunReport, PluginError> {
    match read_manifest(&job.out) {
        Some(mut manifest) => {
            manifest.status = status;
            manifest.error = Some(reason);
            manifest.process = None;
            write_manifest(&job.out, &manifest)?;
            Ok(RunReport { manifest, log: Vec::new() })
        }
        None => Err(PluginError::Run(format!("{reason}; it wrote nothing"))),
    }
}

/// The isolated side of [`run`]: read a [`PluginJob`] as JSON on stdin, run it in this process,
/// and write the outcome as JSON on stdout. The plugin's own stdout is sent to stderr, so that
/// nothing it prints can be taken for the outcome.
pub fn serve_isolated() -> std::io::Result<()> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    // SAFETY: dup and dup2 on this process's own standard descriptors; the duplicate is owned
    // by `reply` alone.
    let reply = unsafe {
        let fd = libc::dup(1);
        if fd < 0 || libc::dup2(2, 1) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        OwnedFd::from_raw_fd(fd)
    };
    let outcome: Outcome = match serde_json::from_str::<PluginJob>(&text) {
        Ok(job) => run(&job.isolation(Isolation::InProcess)),
        Err(e) => Err(PluginError::Run(format!("the isolated plugin process got no valid job ({e})"))),
    };
    let mut reply = std::fs::File::from(reply);
    reply.write_all(&serde_json::to_vec(&outcome).expect("an outcome serialises"))?;
    reply.flush()
}
