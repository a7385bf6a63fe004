//! The plugin host: find plugins, check their ABI before calling anything, validate parameters
//! against their schema, run them on borrowed views of a representation and write what they
//! report into an output directory, with a `manifest.json` kept current after every output.
//!
//! Libraries are never unloaded: a plugin may leave threads or thread-locals behind, and
//! unloading code that still runs is undefined behaviour.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{ArrayD, ArrayView2, ArrayViewD, IxDyn};
use neurozoo_plugin::abi::{self, Descriptor, Str};
use serde_json::{json, Map, Value};

use neurozoo_util::files::write_atomic;

use neurozoo_tables::{write_table, ColumnValues, Table};

/// Plugin libraries are named `lib` + this + `*.so` (a crate called `neurozoo-plugin-NAME`).
pub const LIBRARY_PREFIX: &str = "libneurozoo_plugin_";

/// A loaded plugin, checked against this host's ABI.
pub struct Plugin {
    pub path: PathBuf,
    pub name: String,
    pub version: String,
    pub description: String,
    /// Parameter name → `{"type", "default", "description", "minimum", "maximum"}`.
    pub schema: Map<String, Value>,
    /// The descriptor's [`abi::flags::ACCEPTS_NON_FINITE`].
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

/// The parameter types a schema may declare.
const PARAM_TYPES: [&str; 4] = ["number", "integer", "boolean", "string"];

/// A parameter's declared type; `string` when it names none.
fn spec_type(spec: &Value) -> &str {
    spec["type"].as_str().unwrap_or("string")
}

/// Refuse what the host would otherwise guess at: a parameter that is not an object, a type
/// outside [`PARAM_TYPES`], a default of another type or outside its own range and choices.
fn check_schema(schema: &Map<String, Value>) -> Result<(), String> {
    for (key, spec) in schema {
        if !spec.is_object() {
            return Err(format!("{key}: expected an object ({{\"type\": …, \"default\": …}}), found {spec}"));
        }
        let ty = spec_type(spec);
        if !PARAM_TYPES.contains(&ty) || !spec.get("type").is_none_or(Value::is_string) {
            return Err(format!("{key}: type {} is none of {}", spec["type"], PARAM_TYPES.join(", ")));
        }
        let Some(default) = spec.get("default") else { continue };
        let fits = match ty {
            "number" => default.as_f64().is_some_and(f64::is_finite),
            "integer" => default.is_i64(),
            "boolean" => default.is_boolean(),
            _ => default.is_string(),
        };
        if !fits {
            return Err(format!("{key}: default {default} is not a{} {ty}", if ty == "integer" { "n" } else { "" }));
        }
        if let Some(v) = default.as_f64() {
            let (min, max) = (spec["minimum"].as_f64(), spec["maximum"].as_f64());
            if min.is_some_and(|m| v < m) || max.is_some_and(|m| v > m) {
                return Err(format!("{key}: default {default} is outside its own minimum and maximum"));
            }
        }
        if let Some(choices) = spec["enum"].as_array().filter(|c| !c.contains(default)) {
            return Err(format!("{key}: default {default} is not among its own choices {}", Value::from(choices.clone())));
        }
    }
    Ok(())
}

/// Read a string the plugin owns for the life of the process.
///
/// # Safety
/// The descriptor's strings are static in the (never unloaded) library.
unsafe fn static_str(s: Str, what: &str, path: &Path) -> Result<String, String> {
    unsafe { s.as_str() }.map(str::to_string).map_err(|e| format!("{}: the plugin's {what} is not UTF-8 ({e})", path.display()))
}

impl Plugin {
    /// Load the library at `path` and check its descriptor, or ask the executable plugin at
    /// `path` for its descriptor.
    pub fn load(path: &Path) -> Result<Plugin, PluginError> {
        Plugin::open(path).map_err(PluginError::Load)
    }

    fn open(path: &Path) -> Result<Plugin, String> {
        if crate::executable::is_executable_plugin(path) {
            let d = crate::executable::describe(path)?;
            check_schema(&d.params).map_err(|e| format!("{}: parameter schema: {e}", path.display()))?;
            return Ok(Plugin {
                path: path.to_path_buf(),
                name: d.name,
                version: d.version,
                description: d.description,
                schema: d.params,
                accepts_non_finite: d.accepts_non_finite,
                code: Code::Executable,
            });
        }
        let shown = path.display();
        // SAFETY: loading runs the library's initialisers; a plugin is code the user chose to run.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|e| {
            format!("{shown}: cannot load ({})", std::error::Error::source(&e).map_or_else(|| e.to_string(), ToString::to_string))
        })?;
        // Never unloaded (see the module docs).
        let lib: &'static libloading::Library = Box::leak(Box::new(lib));
        // SAFETY: the symbol's type is fixed by the ABI; a library without it is refused here.
        let entry: libloading::Symbol<abi::EntryFn> = unsafe { lib.get(abi::ENTRY.as_bytes()) }
            .map_err(|_| format!("{shown}: not a neurozoo plugin (no `{}` symbol)", abi::ENTRY))?;
        // SAFETY: the entry returns a pointer to a static descriptor.
        let ptr = unsafe { entry() };
        if ptr.is_null() {
            return Err(format!("{shown}: the plugin returned no descriptor"));
        }
        // Read only the two fields whose place every ABI version keeps, then decide.
        // SAFETY: every version starts with `abi_version: u32, struct_size: usize`.
        let (version, size) = unsafe { (std::ptr::addr_of!((*ptr).abi_version).read(), std::ptr::addr_of!((*ptr).struct_size).read()) };
        if version != abi::ABI_VERSION {
            return Err(format!(
                "{shown}: built for plugin ABI version {version}, but this neurozoo speaks version {}: rebuild the plugin against this neurozoo's SDK",
                abi::ABI_VERSION
            ));
        }
        if size < abi::DESCRIPTOR_V1_SIZE {
            return Err(format!("{shown}: descriptor is {size} bytes, expected at least {}: rebuild the plugin", abi::DESCRIPTOR_V1_SIZE));
        }
        // A NULL function pointer is no valid `fn` value: look at its bits before taking a
        // reference to the descriptor.
        // SAFETY: the size check says `run` is there; read as a plain pointer.
        if unsafe { std::ptr::addr_of!((*ptr).run).cast::<*const c_void>().read() }.is_null() {
            return Err(format!("{shown}: the descriptor's run function is NULL"));
        }
        // SAFETY: version, size and `run` checked: the v1 fields have this layout, in static
        // memory; `flags` is read only when the plugin's descriptor has it.
        let descriptor: &'static Descriptor = unsafe { &*ptr };
        let flags = if size >= std::mem::size_of::<Descriptor>() { descriptor.flags } else { 0 };
        // SAFETY: static strings of the descriptor.
        let (name, version, description, schema) = unsafe {
            (
                static_str(descriptor.name, "name", path)?,
                static_str(descriptor.version, "version", path)?,
                static_str(descriptor.description, "description", path)?,
                static_str(descriptor.params_schema, "parameter schema", path)?,
            )
        };
        let schema = match serde_json::from_str::<Value>(if schema.trim().is_empty() { "{}" } else { &schema }) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err(format!("{shown}: the parameter schema is not a JSON object")),
            Err(e) => return Err(format!("{shown}: the parameter schema is not JSON ({e})")),
        };
        check_schema(&schema).map_err(|e| format!("{shown}: parameter schema: {e}"))?;
        let accepts_non_finite = flags & abi::flags::ACCEPTS_NON_FINITE != 0;
        Ok(Plugin { path: path.to_path_buf(), name, version, description, schema, accepts_non_finite, code: Code::Library(descriptor) })
    }

    /// Whether the plugin is a program ([`crate::executable`]) rather than a library.
    pub fn is_executable(&self) -> bool {
        matches!(self.code, Code::Executable)
    }

    /// Turn `key=value` pairs into the full parameter object: every key declared, every value
    /// of its type and in range, defaults for what is not given.
    pub fn params(&self, given: &[(String, String)]) -> Result<Value, ParamError> {
        let mut out = Map::new();
        for (i, (key, raw)) in given.iter().enumerate() {
            if let Some((_, first)) = given[..i].iter().find(|(k, _)| k == key) {
                return Err(ParamError::Twice { key: key.clone(), first: first.clone(), second: raw.clone() });
            }
            let spec = self.schema.get(key).ok_or_else(|| ParamError::Unknown {
                plugin: self.name.clone(),
                key: key.clone(),
                known: self.schema.keys().cloned().collect(),
            })?;
            let value_error = |value: String, wanted: String| ParamError::Value { key: key.clone(), value, wanted };
            let bad = |want: &str| value_error(format!("{raw:?}"), format!("expected {want}"));
            let value = match spec_type(spec) {
                "number" => raw.parse::<f64>().ok().filter(|v| v.is_finite()).map(Value::from).ok_or_else(|| bad("a number"))?,
                "integer" => raw.parse::<i64>().map(Value::from).map_err(|_| bad("an integer"))?,
                "boolean" => raw.parse::<bool>().map(Value::from).map_err(|_| bad("true or false"))?,
                _ => Value::from(raw.as_str()),
            };
            if let Some(v) = value.as_f64() {
                if let Some(min) = spec["minimum"].as_f64().filter(|&m| v < m) {
                    return Err(value_error(raw.clone(), format!("must be at least {min}")));
                }
                if let Some(max) = spec["maximum"].as_f64().filter(|&m| v > m) {
                    return Err(value_error(raw.clone(), format!("must be at most {max}")));
                }
            }
            if let Some(choices) = spec["enum"].as_array().filter(|c| !c.contains(&value)) {
                let choices: Vec<String> = choices.iter().map(|c| c.as_str().map_or(c.to_string(), str::to_string)).collect();
                return Err(value_error(format!("{raw:?}"), format!("expected one of {}", choices.join(", "))));
            }
            out.insert(key.clone(), value);
        }
        for (key, spec) in &self.schema {
            if !out.contains_key(key) {
                let default = spec.get("default").ok_or_else(|| ParamError::Missing { plugin: self.name.clone(), key: key.clone() })?;
                out.insert(key.clone(), default.clone());
            }
        }
        Ok(Value::Object(out))
    }

    /// Run a library plugin on `input`, writing outputs into `out` (which must exist). An
    /// executable plugin reads its input from files: [`crate::executable::run`].
    pub fn run(&self, input: &RunInput<'_>, out: &Path) -> Result<RunReport, PluginError> {
        self.run_library(input, out).map_err(PluginError::Run)
    }

    fn run_library(&self, input: &RunInput<'_>, out: &Path) -> Result<RunReport, String> {
        let Code::Library(descriptor) = self.code else {
            return Err(format!("{} is an executable plugin: it runs on files (executable::run)", self.path.display()));
        };
        let rep = input.representation.as_standard_layout();
        let rep_shape = rep.shape().to_vec();
        let stimuli = input.stimuli.as_ref().map(|s| s.as_standard_layout());
        let stim_shape = stimuli.as_ref().map(|s| s.shape().to_vec());
        let arrays: Vec<_> = input.arrays.iter().map(|(n, a)| (n.as_str(), a.as_standard_layout(), a.shape().to_vec())).collect();
        let borrow = |name: &str, data: &[f32], shape: &[usize]| abi::Array {
            name: Str::new(name),
            data: data.as_ptr(),
            shape: shape.as_ptr(),
            ndim: shape.len(),
        };
        let abi_arrays: Vec<abi::Array> = arrays.iter().map(|(n, a, s)| borrow(n, a.as_slice().expect("standard layout"), s)).collect();
        let metadata = input.metadata.to_string();
        let params = input.params.to_string();
        let abi_input = abi::Input {
            struct_size: std::mem::size_of::<abi::Input>(),
            representation: borrow("representation", rep.as_slice().expect("standard layout"), &rep_shape),
            stimuli: match (&stimuli, &stim_shape) {
                (Some(s), Some(shape)) => borrow("stimuli", s.as_slice().expect("standard layout"), shape),
                _ => abi::Array::ABSENT,
            },
            arrays: abi_arrays.as_ptr(),
            n_arrays: abi_arrays.len(),
            metadata_json: Str::new(&metadata),
            params_json: Str::new(&params),
            seed: input.seed,
        };
        let mut outputs = Outputs::new(self, input, out)?;
        let host = abi::Host {
            struct_size: std::mem::size_of::<abi::Host>(),
            ctx: (&mut outputs as *mut Outputs).cast::<c_void>(),
            log: host_log,
            progress: host_progress,
            table: host_table,
            figure: host_figure,
            array: host_array,
            fail: host_fail,
        };
        // SAFETY: the descriptor passed the ABI checks; every pointer in `host` and `abi_input`
        // refers to data alive until the call returns.
        let code = unsafe { (descriptor.run)(&host, &abi_input) };
        outputs.bar.finish_and_clear();
        outputs.finish(code)
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

/// What a run wrote, relative to the output directory.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    pub files: Vec<String>,
    pub log: Vec<String>,
}

/// The host side of a run: collects outputs as they come and keeps the manifest current, so
/// that whatever happens later (an error, a crash) what was reported stays on disk and listed.
pub(crate) struct Outputs {
    pub(crate) dir: PathBuf,
    manifest: Value,
    pub(crate) log: Vec<String>,
    arrays: Vec<(String, ArrayD<f32>)>,
    error: Option<String>,
    pub(crate) bar: ProgressBar,
}

pub const MANIFEST: &str = "manifest.json";

/// Write `DIR/manifest.json` through a temporary name: a reader sees the old or the new one.
pub fn write_manifest(dir: &Path, manifest: &Value) -> Result<(), PluginError> {
    write_atomic(&dir.join(MANIFEST), serde_json::to_string_pretty(manifest).expect("JSON values serialise"))
        .map_err(|e| PluginError::Output(e.to_string()))
}
pub const ARRAYS_FILE: &str = "arrays.h5";

/// What the manifest in `dir` says of its run, when there is one: its status, with "running"
/// turned into "interrupted" when the process that was running it is gone.
pub fn manifest_state(dir: &Path) -> Option<String> {
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(MANIFEST)).ok()?).ok()?;
    let status = manifest["status"].as_str()?.to_string();
    let process: Option<neurozoo_util::process::Process> = serde_json::from_value(manifest["process"].clone()).ok();
    Some(match process {
        Some(p) if status == "running" && !p.alive() => "interrupted".into(),
        _ => status,
    })
}

impl Outputs {
    pub(crate) fn new(plugin: &Plugin, input: &RunInput<'_>, dir: &Path) -> Result<Outputs, String> {
        let manifest = json!({
            "plugin": plugin.name,
            "version": plugin.version,
            "library": plugin.path.display().to_string(),
            "params": input.params,
            "seed": input.seed,
            // What ran, not the metadata itself (stimulus ids can be long).
            "input": {"file": input.metadata["file"], "name": input.metadata["name"], "shape": input.representation.shape()},
            "status": "running",
            // Who is running it, so that a reader can tell a run in progress from one whose
            // process died (a crash with --in-process, a kill): see [`manifest_state`].
            "process": neurozoo_util::process::Process::this(),
            "files": [],
        });
        let bar = ProgressBar::new(0)
            .with_style(ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed}").expect("valid template"));
        bar.set_prefix(plugin.name.clone());
        let outputs = Outputs { dir: dir.to_path_buf(), manifest, log: Vec::new(), arrays: Vec::new(), error: None, bar };
        outputs.save()?;
        Ok(outputs)
    }

    fn save(&self) -> Result<(), String> {
        write_manifest(&self.dir, &self.manifest).map_err(|e| e.to_string())
    }

    pub(crate) fn add_files(&mut self, kind: &str, name: &str, paths: &[PathBuf]) -> Result<(), String> {
        let files = self.manifest["files"].as_array_mut().expect("files is an array");
        for p in paths {
            let file = p.strip_prefix(&self.dir).unwrap_or(p).display().to_string();
            files.retain(|f| f["path"] != file.as_str());
            files.push(json!({"path": file, "kind": kind, "name": name}));
        }
        self.save()
    }

    /// An output name becomes a file name: keep it to a plain, safe stem.
    pub(crate) fn check_name(name: &str) -> Result<(), String> {
        let ok = !name.is_empty()
            && name.len() <= 100
            && name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
            && !name.starts_with('.');
        if ok {
            Ok(())
        } else {
            Err(format!("output name {name:?}: use letters, digits, '_', '-' and '.' (not first)"))
        }
    }

    fn table(&mut self, name: &str, table: Table) -> Result<(), String> {
        Self::check_name(name)?;
        let paths = write_table(&table, &self.dir, name).map_err(|e| e.to_string())?;
        self.add_files("table", name, &paths)
    }

    /// An output array for `arrays.h5` (written when the run succeeds); a later one of the same
    /// name replaces it.
    pub(crate) fn array(&mut self, name: String, a: ArrayD<f32>) {
        self.arrays.retain(|(n, _)| *n != name);
        self.arrays.push((name, a));
    }

    pub(crate) fn figure(&mut self, name: &str, spec: &Value) -> Result<(), String> {
        Self::check_name(name)?;
        let paths = crate::figures::draw(spec, &self.dir, name).map_err(|e| e.to_string())?;
        self.add_files("figure", name, &paths)
    }

    pub(crate) fn finish(mut self, code: i32) -> Result<RunReport, String> {
        if !self.arrays.is_empty() && code == abi::status::OK && self.error.is_none() {
            let path = self.dir.join(ARRAYS_FILE);
            let file =
                neurozoo_datasets::representation::RepresentationFile { arrays: std::mem::take(&mut self.arrays), ..Default::default() };
            file.write(&path).map_err(|e| e.to_string())?;
            self.add_files("arrays", "arrays", &[path])?;
        }
        // An output the host refused fails the run even when the plugin then reports success:
        // a "complete" run must have every output it gave.
        let error = match (code, self.error.clone()) {
            (abi::status::OK, None) => None,
            (_, Some(e)) => Some(e),
            (code, None) => Some(format!("the plugin failed with code {code} and gave no reason")),
        };
        self.manifest["status"] = json!(if error.is_some() { "failed" } else { "complete" });
        self.manifest.as_object_mut().expect("an object").remove("process");
        if let Some(e) = &error {
            self.manifest["error"] = json!(e);
        }
        self.save()?;
        let files =
            self.manifest["files"].as_array().expect("files").iter().filter_map(|f| f["path"].as_str().map(str::to_string)).collect();
        match error {
            Some(e) => Err(e),
            None => Ok(RunReport { files, log: self.log }),
        }
    }

    /// Record a failed output: the plugin sees an error code, and the reason is kept.
    pub(crate) fn refuse(&mut self, e: String) -> i32 {
        self.bar.suspend(|| eprintln!("error: {e}"));
        self.error = Some(e);
        abi::status::ERROR
    }
}

/// Run a callback body without letting a panic unwind into the plugin.
fn guarded(ctx: *mut c_void, body: impl FnOnce(&mut Outputs) -> i32) -> i32 {
    // SAFETY: `ctx` is the `Outputs` this host put in `Host::ctx` for the running call.
    let outputs = unsafe { &mut *ctx.cast::<Outputs>() };
    catch_unwind(AssertUnwindSafe(|| body(outputs))).unwrap_or(abi::status::ERROR)
}

/// # Safety
/// A `Str` from the plugin, valid for the call.
unsafe fn text(s: Str) -> Result<String, String> {
    unsafe { s.as_str() }.map(str::to_string).map_err(|e| format!("a string from the plugin is not UTF-8 ({e})"))
}

unsafe extern "C" fn host_log(ctx: *mut c_void, level: u32, message: Str) {
    guarded(ctx, |o| {
        // SAFETY: valid for the call.
        let line = unsafe { text(message) }.unwrap_or_else(|e| e);
        let line = if level == abi::level::WARN { format!("warning: {line}") } else { line };
        o.bar.suspend(|| eprintln!("{}: {line}", o.manifest["plugin"].as_str().unwrap_or("plugin")));
        o.log.push(line);
        abi::status::OK
    });
}

unsafe extern "C" fn host_progress(ctx: *mut c_void, done: u64, total: u64) {
    guarded(ctx, |o| {
        o.bar.set_length(total);
        o.bar.set_position(done);
        abi::status::OK
    });
}

unsafe extern "C" fn host_fail(ctx: *mut c_void, message: Str) {
    guarded(ctx, |o| {
        // SAFETY: valid for the call.
        o.error = Some(unsafe { text(message) }.unwrap_or_else(|e| e));
        abi::status::OK
    });
}

unsafe extern "C" fn host_table(ctx: *mut c_void, name: Str, columns: *const abi::Column, n: usize) -> i32 {
    guarded(ctx, |o| {
        // SAFETY: the plugin passes `n` columns valid for the call.
        let result = unsafe { read_table(name, columns, n) }.and_then(|(name, table)| o.table(&name, table));
        result.map_or_else(|e| o.refuse(e), |()| abi::status::OK)
    })
}

unsafe extern "C" fn host_figure(ctx: *mut c_void, name: Str, spec: Str) -> i32 {
    guarded(ctx, |o| {
        // SAFETY: valid for the call.
        let result = unsafe { text(name).and_then(|n| Ok((n, text(spec)?))) }
            .and_then(|(n, s)| Ok((n, serde_json::from_str::<Value>(&s).map_err(|e| format!("figure spec is not JSON ({e})"))?)))
            .and_then(|(n, s)| o.figure(&n, &s));
        result.map_or_else(|e| o.refuse(e), |()| abi::status::OK)
    })
}

unsafe extern "C" fn host_array(ctx: *mut c_void, array: abi::Array) -> i32 {
    guarded(ctx, |o| {
        // SAFETY: valid for the call; copied before it returns.
        let result = unsafe { text(array.name) }.and_then(|name| {
            Outputs::check_name(&name)?;
            let (shape, data) = unsafe { array.parts() }.ok_or_else(|| format!("array {name:?} has no dimensions"))?;
            let a = ArrayD::from_shape_vec(IxDyn(shape), data.to_vec()).map_err(|e| format!("array {name:?}: {e}"))?;
            o.array(name, a);
            Ok(())
        });
        result.map_or_else(|e| o.refuse(e), |()| abi::status::OK)
    })
}

/// Copy the plugin's columns into a host table.
///
/// # Safety
/// `columns` points at `n` columns whose buffers follow the ABI and are valid for the call.
unsafe fn read_table(name: Str, columns: *const abi::Column, n: usize) -> Result<(String, Table), String> {
    let name = unsafe { text(name) }?;
    let cols = if n == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(columns, n) } };
    let mut table = Table::new();
    for c in cols {
        let col_name = unsafe { text(c.name) }?;
        let valid = |i: usize| c.valid.is_null() || unsafe { *c.valid.add(i) } != 0;
        // Plugins pass byte buffers: read unaligned.
        let values = match c.kind {
            abi::column_kind::F64 => {
                ColumnValues::F64((0..c.len).map(|i| valid(i).then(|| unsafe { c.data.cast::<f64>().add(i).read_unaligned() })).collect())
            }
            abi::column_kind::I64 => {
                ColumnValues::I64((0..c.len).map(|i| valid(i).then(|| unsafe { c.data.cast::<i64>().add(i).read_unaligned() })).collect())
            }
            abi::column_kind::BOOL => {
                ColumnValues::Bool((0..c.len).map(|i| valid(i).then(|| unsafe { *c.data.cast::<u8>().add(i) } != 0)).collect())
            }
            abi::column_kind::STR => ColumnValues::Str(
                (0..c.len)
                    .map(|i| if valid(i) { unsafe { text(c.data.cast::<Str>().add(i).read_unaligned()) }.map(Some) } else { Ok(None) })
                    .collect::<Result<_, _>>()?,
            ),
            other => return Err(format!("table {name}: column {col_name} has unknown type code {other}")),
        };
        table = table.column(&col_name, values);
    }
    Ok((name, table))
}

/// The plugin libraries and executables in the search path, directory by directory, each
/// directory's sorted.
fn plugin_files() -> Vec<PathBuf> {
    let mut all = Vec::new();
    for dir in crate::plugin_search_path() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(LIBRARY_PREFIX) && n.ends_with(std::env::consts::DLL_SUFFIX))
                    || crate::executable::is_executable_plugin(p)
            })
            .collect();
        paths.sort();
        all.extend(paths);
    }
    all
}

/// The library file a plugin of this name is expected in: `libneurozoo_plugin_NAME.so`, with
/// `-` as `_` (what cargo makes of a crate `neurozoo-plugin-NAME`).
fn library_file_name(name: &str) -> String {
    format!("{LIBRARY_PREFIX}{}{}", name.replace('-', "_"), std::env::consts::DLL_SUFFIX)
}

/// What can go wrong finding, loading or running a plugin. Every message names the plugin or
/// its file.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// A file that is no plugin this host can load: not a library or executable plugin, another
    /// ABI, a descriptor or parameter schema it refuses, or a name another plugin has first.
    #[error("{0}")]
    Load(String),
    /// No plugin of the name in the plugin path (with what is there, and what failed to load).
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Param(#[from] ParamError),
    /// A run that failed: the plugin's own error, a crash, a timeout, or outputs the host
    /// refuses (what was written before stays, listed in the manifest).
    #[error("{0}")]
    Run(String),
    /// The manifest cannot be written.
    #[error("{0}")]
    Output(String),
}

/// A plugin parameter given wrongly on the way in; every message names the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("parameter {key} is given twice ({key}={first} and {key}={second}): give it once")]
    Twice { key: String, first: String, second: String },
    #[error("plugin {plugin} has no parameter {key:?} (it has: {})", if known.is_empty() { "none".to_string() } else { known.join(", ") })]
    Unknown { plugin: String, key: String, known: Vec<String> },
    /// A value of another type, out of range or not among the choices: the key, the value as
    /// given, and what was wanted.
    #[error("parameter {key} = {value}: {wanted}")]
    Value { key: String, value: String, wanted: String },
    #[error("plugin {plugin} needs a value for its parameter {key} (it has no default)")]
    Missing { plugin: String, key: String },
}

/// Every plugin library in the search path, loaded; libraries that fail to load are returned
/// as errors (a listing shows them rather than hiding them). The first plugin of a name is
/// used; a later one of the same name is an error saying which one is used instead.
pub fn discover() -> Vec<Result<Plugin, PluginError>> {
    let mut found: Vec<Result<Plugin, PluginError>> = Vec::new();
    for path in plugin_files() {
        let plugin = Plugin::load(&path).and_then(|p| match found.iter().flatten().find(|q| q.name == p.name) {
            Some(first) => Err(PluginError::Load(format!(
                "{}: plugin {:?} is not used: {} has the same name and comes first in the plugin path",
                path.display(),
                p.name,
                first.path.display()
            ))),
            None => Ok(p),
        });
        found.push(plugin);
    }
    found
}

/// A plugin by name or by the path of its library. By name, only the library whose file is
/// named after it is opened (a broken library elsewhere in the path does not matter); when no
/// file is, every library is, and the first whose descriptor has the name is used. A plugin
/// of the same name further down the path is reported on stderr, naming the one used.
pub fn find(name_or_path: &str) -> Result<Plugin, PluginError> {
    let path = Path::new(name_or_path);
    if name_or_path.contains('/') || name_or_path.ends_with(std::env::consts::DLL_SUFFIX) {
        return Plugin::load(path);
    }
    let files = [library_file_name(name_or_path), format!("{}{name_or_path}", crate::executable::EXECUTABLE_PREFIX)];
    let named: Vec<PathBuf> = plugin_files()
        .into_iter()
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| files.iter().any(|f| f == n)))
        .collect();
    if let Some(first) = named.first() {
        let plugin = Plugin::load(first)?;
        if plugin.name == name_or_path {
            for other in &named[1..] {
                eprintln!(
                    "warning: using plugin {name_or_path} from {}; {} has the same name and is not used",
                    first.display(),
                    other.display()
                );
            }
            return Ok(plugin);
        }
    }
    let (mut names, mut failed) = (Vec::new(), Vec::new());
    for p in discover() {
        match p {
            Ok(p) if p.name == name_or_path => return Ok(p),
            Ok(p) => names.push(p.name),
            Err(e) => failed.push(e),
        }
    }
    let mut message = format!(
        "no plugin {name_or_path:?} in the plugin path ({}); found: {}",
        crate::plugin_search_path().iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(":"),
        if names.is_empty() { "none".into() } else { names.join(", ") }
    );
    // A library that did not load may be the one meant: say why it did not.
    for e in failed {
        message.push_str(&format!("\n  not loaded: {e}"));
    }
    Err(PluginError::NotFound(message))
}
