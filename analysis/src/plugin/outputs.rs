//! The output sink of a run: checks and writes each output a plugin hands over (tables,
//! figures, arrays), keeps the manifest current, and the C callbacks through which a library
//! plugin reaches it.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{ArrayD, IxDyn};
use neurozoo_plugin::abi::{self, Str};
use neurozoo_tables::{write_table, ColumnValues, Table};
use serde_json::Value;

use super::manifest::{write_manifest, InputRecord, Manifest, OutputFile, OutputKind, RunStatus, ARRAYS_FILE};
use super::{Plugin, PluginError, RunInput, RunReport};

/// The host side of a run: collects outputs as they come and keeps the manifest current, so
/// that whatever happens later (an error, a crash) what was reported stays on disk and listed.
pub(crate) struct Outputs {
    pub(crate) dir: PathBuf,
    manifest: Manifest,
    pub(crate) log: Vec<String>,
    /// Arrays accepted so far, written together as [`ARRAYS_FILE`] when the run ends, however
    /// it ends.
    arrays: Vec<(String, ArrayD<f32>)>,
    error: Option<String>,
    pub(crate) bar: ProgressBar,
}

impl Outputs {
    pub(crate) fn new(plugin: &Plugin, input: &RunInput<'_>, dir: &Path) -> Result<Outputs, PluginError> {
        let text = |key: &str| input.metadata[key].as_str().map(str::to_string);
        let manifest = Manifest {
            plugin: plugin.name.clone(),
            version: plugin.version.clone(),
            library: plugin.path.clone(),
            params: input.params.clone(),
            seed: input.seed,
            input: InputRecord { file: text("file"), name: text("name"), shape: input.representation.shape().to_vec() },
            status: RunStatus::Running,
            error: None,
            process: Some(neurozoo_util::process::Process::this()),
            files: Vec::new(),
        };
        let bar = ProgressBar::new(0)
            .with_style(ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed}").expect("valid template"));
        bar.set_prefix(plugin.name.clone());
        let outputs = Outputs { dir: dir.to_path_buf(), manifest, log: Vec::new(), arrays: Vec::new(), error: None, bar };
        write_manifest(&outputs.dir, &outputs.manifest)?;
        Ok(outputs)
    }

    fn save(&self) -> Result<(), String> {
        write_manifest(&self.dir, &self.manifest).map_err(|e| e.to_string())
    }

    pub(crate) fn add_files(&mut self, kind: OutputKind, name: &str, paths: &[PathBuf]) -> Result<(), String> {
        for p in paths {
            let path = p.strip_prefix(&self.dir).unwrap_or(p).display().to_string();
            self.manifest.files.retain(|f| f.path != path);
            self.manifest.files.push(OutputFile { path, kind, name: name.to_string() });
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
        self.add_files(OutputKind::Table, name, &paths)
    }

    /// An output array for [`ARRAYS_FILE`]; a later one of the same name replaces it.
    pub(crate) fn array(&mut self, name: String, a: ArrayD<f32>) {
        self.arrays.retain(|(n, _)| *n != name);
        self.arrays.push((name, a));
    }

    pub(crate) fn figure(&mut self, name: &str, spec: &Value) -> Result<(), String> {
        Self::check_name(name)?;
        let paths = crate::figures::draw(spec, &self.dir, name).map_err(|e| e.to_string())?;
        self.add_files(OutputKind::Figure, name, &paths)
    }

    /// End the run: write the arrays accepted (a later failure does not lose them), then the
    /// manifest with the run's status and every output kept.
    pub(crate) fn finish(mut self, code: i32) -> Result<RunReport, PluginError> {
        self.bar.finish_and_clear();
        if !self.arrays.is_empty() {
            let path = self.dir.join(ARRAYS_FILE);
            let file =
                neurozoo_datasets::representation::RepresentationFile { arrays: std::mem::take(&mut self.arrays), ..Default::default() };
            if let Err(e) =
                file.write(&path).map_err(|e| e.to_string()).and_then(|()| self.add_files(OutputKind::Arrays, "arrays", &[path]))
            {
                self.refuse(e);
            }
        }
        // An output the host refused fails the run even when the plugin then reports success:
        // a "complete" run must have every output it gave.
        let error = match (code, self.error.take()) {
            (abi::status::OK, None) => None,
            (_, Some(e)) => Some(e),
            (code, None) => Some(format!("the plugin failed with code {code} and gave no reason")),
        };
        self.manifest.status = if error.is_some() { RunStatus::Failed } else { RunStatus::Complete };
        self.manifest.error = error;
        self.manifest.process = None;
        self.save().map_err(PluginError::Output)?;
        Ok(RunReport { manifest: self.manifest, log: self.log })
    }

    /// Record a failed output: the plugin sees an error code, and the first reason is kept.
    pub(crate) fn refuse(&mut self, e: String) -> i32 {
        self.bar.suspend(|| eprintln!("error: {e}"));
        self.error.get_or_insert(e);
        abi::status::ERROR
    }

    /// The callbacks a library plugin reaches this sink through, for one call of its `run`.
    pub(crate) fn abi_host(&mut self) -> abi::Host {
        abi::Host {
            struct_size: std::mem::size_of::<abi::Host>(),
            ctx: (self as *mut Outputs).cast::<c_void>(),
            log: host_log,
            progress: host_progress,
            table: host_table,
            figure: host_figure,
            array: host_array,
            fail: host_fail,
        }
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
        o.bar.suspend(|| eprintln!("{}: {line}", o.manifest.plugin));
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
        // SAFETY: valid for the call. A refused output's reason, when there is one, stays: the
        // plugin most often gives up because of it, and says less ("the host refused …").
        let message = unsafe { text(message) }.unwrap_or_else(|e| e);
        o.error.get_or_insert(message);
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
