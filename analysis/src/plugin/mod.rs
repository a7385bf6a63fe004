//! Plugins, library or executable, behind one type: [`find`] or [`discover`] them on the plugin
//! path, check parameters against their schema ([`Plugin::params`]), [`Plugin::run`] them on a
//! representation. [`crate::host`] runs a whole job (input files, checks, isolation) on top.
//!
//! - `discovery`: the plugin path, by name or all;
//! - `library`: shared libraries, their ABI checks and their call;
//! - [`crate::executable`]: programs speaking [`neurozoo_plugin::protocol`];
//! - `params`: parameter schemas and values;
//! - `outputs`: the output sink and the C callbacks into it;
//! - `manifest`: the run's record in its output directory.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ndarray::{ArrayView2, ArrayViewD};
use neurozoo_plugin::abi::Descriptor;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

mod discovery;
mod library;
mod manifest;
pub(crate) mod outputs;
mod params;

pub(crate) use discovery::find_within;
pub use discovery::{discover, find};
pub use manifest::{
    manifest_state, read_manifest, write_manifest, InputRecord, Manifest, OutputFile, OutputKind, RunStatus, ARRAYS_FILE, MANIFEST,
};
pub use params::ParamError;

/// Plugin libraries are named `lib` + this + `*.so` (a crate called `neurozoo-plugin-NAME`).
pub const LIBRARY_PREFIX: &str = "libneurozoo_plugin_";

/// How long an executable plugin's `describe` may take when no timeout is given.
pub const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(30);

/// A loaded plugin, checked against this host's ABI or protocol.
pub struct Plugin {
    pub path: PathBuf,
    pub name: String,
    pub version: String,
    pub description: String,
    /// Parameter name → `{"type", "default", "description", "minimum", "maximum"}`.
    pub schema: Map<String, Value>,
    /// The descriptor's [`neurozoo_plugin::abi::flags::ACCEPTS_NON_FINITE`].
    pub accepts_non_finite: bool,
    code: Code,
}

/// How a plugin's code is reached.
enum Code {
    /// A shared library's `run`, called in this process.
    Library(&'static Descriptor),
    /// A program run once per call ([`crate::executable`]).
    Executable,
}

impl Plugin {
    /// Load the library at `path` and check its descriptor, or ask the executable plugin at
    /// `path` for its descriptor (stopped after [`DESCRIBE_TIMEOUT`]).
    pub fn load(path: &Path) -> Result<Plugin, PluginError> {
        Plugin::load_within(path, None)
    }

    /// [`Plugin::load`], an executable plugin's `describe` stopped at `deadline` (None: after
    /// [`DESCRIBE_TIMEOUT`]).
    pub(crate) fn load_within(path: &Path, deadline: Option<Deadline>) -> Result<Plugin, PluginError> {
        let plugin = if crate::executable::is_executable_plugin(path) {
            let d = crate::executable::describe(path, deadline.unwrap_or_else(|| Deadline::after(DESCRIBE_TIMEOUT)))?;
            Plugin {
                path: path.to_path_buf(),
                name: d.name,
                version: d.version,
                description: d.description,
                schema: d.params,
                accepts_non_finite: d.accepts_non_finite,
                code: Code::Executable,
            }
        } else {
            let l = library::open(path).map_err(PluginError::Load)?;
            Plugin {
                path: path.to_path_buf(),
                name: l.name,
                version: l.version,
                description: l.description,
                schema: l.schema,
                accepts_non_finite: l.accepts_non_finite,
                code: Code::Library(l.descriptor),
            }
        };
        params::check_schema(&plugin.schema).map_err(|e| PluginError::Load(format!("{}: parameter schema: {e}", path.display())))?;
        Ok(plugin)
    }

    /// Whether the plugin is a program ([`crate::executable`]) rather than a library.
    pub fn is_executable(&self) -> bool {
        matches!(self.code, Code::Executable)
    }

    /// Run the plugin on `input`, writing its outputs and `manifest.json` into `out` (which
    /// must exist). An executable plugin gets the input as a representation file written for
    /// it; [`crate::host::run`] hands it the caller's files instead. `Err` when nothing could be
    /// recorded; a run that failed is a report whose status says so, listing what was kept.
    pub fn run(&self, input: &RunInput<'_>, out: &Path) -> Result<RunReport, PluginError> {
        self.run_in(input, None, None, out)
    }

    /// [`Plugin::run`], an executable plugin reading `files` when given and stopped at
    /// `deadline`.
    pub(crate) fn run_in(
        &self,
        input: &RunInput<'_>,
        files: Option<&InputFiles<'_>>,
        deadline: Option<Deadline>,
        out: &Path,
    ) -> Result<RunReport, PluginError> {
        let mut outputs = outputs::Outputs::new(self, input, out)?;
        let code = match self.code {
            Code::Library(descriptor) => library::run(descriptor, input, &mut outputs),
            Code::Executable => crate::executable::run(self, input, files, deadline, &mut outputs),
        };
        outputs.finish(code)
    }
}

/// When an executable plugin is stopped: a limit given for a whole job, which its steps
/// (`describe`, `run`) share.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    pub at: Instant,
    /// The limit as given, for messages.
    pub limit: Duration,
}

impl Deadline {
    pub fn after(limit: Duration) -> Deadline {
        Deadline { at: Instant::now() + limit, limit }
    }
}

/// What to run a plugin on.
pub struct RunInput<'a> {
    pub representation: ArrayView2<'a, f32>,
    pub stimuli: Option<ArrayViewD<'a, f32>>,
    pub arrays: Vec<(String, ArrayViewD<'a, f32>)>,
    pub metadata: Value,
    pub params: Value,
    pub seed: u64,
}

/// The files a [`RunInput`] was read from, which an executable plugin reads itself.
pub(crate) struct InputFiles<'a> {
    pub representation_file: &'a Path,
    /// The representation's name in the file.
    pub representation: &'a str,
    pub arrays_files: &'a [PathBuf],
}

/// How a run went: its manifest (status, error, every output kept, relative to the output
/// directory) and the plugin's log lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub manifest: Manifest,
    /// Empty when the run was isolated (the lines were shown as they came).
    pub log: Vec<String>,
}

impl RunReport {
    /// The kept outputs' paths, relative to the output directory.
    pub fn files(&self) -> Vec<&str> {
        self.manifest.files.iter().map(|f| f.path.as_str()).collect()
    }
}

/// What can go wrong finding, loading or running a plugin. Every message names the plugin or
/// its file.
#[derive(Debug, thiserror::Error, Serialize, Deserialize)]
pub enum PluginError {
    /// A file that is no plugin this host can load: not a library or executable plugin, another
    /// ABI or protocol, a descriptor or parameter schema it refuses, or a name another plugin
    /// has first.
    #[error("{0}")]
    Load(String),
    /// No plugin of the name in the plugin path (with what is there, and what failed to load).
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Param(#[from] ParamError),
    /// An input the plugin cannot be run on: a representation file that does not read, values
    /// it does not take, an array given twice.
    #[error("{0}")]
    Input(String),
    /// An output directory that is not new or empty, or holds an earlier run.
    #[error("{0}")]
    OutputDir(String),
    /// A run that could not be recorded, or whose process ended without a report (what was
    /// written before stays, listed in the manifest).
    #[error("{0}")]
    Run(String),
    /// The manifest cannot be written.
    #[error("{0}")]
    Output(String),
}
