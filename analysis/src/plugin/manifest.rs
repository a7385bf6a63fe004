//! `manifest.json`, the record of a plugin run in its output directory: what ran on what, how
//! it went, and every output it kept. Kept current after every output, so that whatever
//! happens later (an error, a crash, a kill) what was written stays listed.

use std::path::{Path, PathBuf};

use neurozoo_util::files::write_atomic;
use neurozoo_util::process::Process;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::PluginError;

pub const MANIFEST: &str = "manifest.json";

/// Where the arrays a plugin hands over are written, in the output directory.
pub const ARRAYS_FILE: &str = "arrays.h5";

/// A plugin run's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub plugin: String,
    pub version: String,
    /// The plugin's file: its library, or its program for an executable plugin.
    pub library: PathBuf,
    pub params: Value,
    pub seed: u64,
    pub input: InputRecord,
    pub status: RunStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Who is running it while it runs, so that a reader can tell a run in progress from one
    /// whose process died (a crash in process, a kill): see [`manifest_state`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    /// Every output kept, relative to the output directory, in the order they came.
    pub files: Vec<OutputFile>,
}

/// What a run ran on: the file and representation, not their metadata (stimulus ids can be
/// long).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRecord {
    pub file: Option<String>,
    pub name: Option<String>,
    pub shape: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Complete,
    /// The plugin's error, a timeout, or an output the host refused.
    Failed,
    /// The isolated process died of a signal.
    Crashed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Complete => "complete",
            RunStatus::Failed => "failed",
            RunStatus::Crashed => "crashed",
        }
    }
}

/// One kept output file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// Relative to the output directory.
    pub path: String,
    pub kind: OutputKind,
    /// The output's name as the plugin gave it.
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    Table,
    Figure,
    Arrays,
}

/// Write `DIR/manifest.json` through a temporary name: a reader sees the old or the new one.
pub fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), PluginError> {
    write_atomic(&dir.join(MANIFEST), serde_json::to_string_pretty(manifest).expect("a manifest serialises"))
        .map_err(|e| PluginError::Output(e.to_string()))
}

/// The manifest in `dir`, when there is one that reads.
pub fn read_manifest(dir: &Path) -> Option<Manifest> {
    serde_json::from_str(&std::fs::read_to_string(dir.join(MANIFEST)).ok()?).ok()
}

/// What the manifest in `dir` says of its run, when there is one: its status, with "running"
/// turned into "interrupted" when the process that was running it is gone.
pub fn manifest_state(dir: &Path) -> Option<String> {
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(MANIFEST)).ok()?).ok()?;
    let status = manifest["status"].as_str()?.to_string();
    let process: Option<Process> = serde_json::from_value(manifest["process"].clone()).ok();
    Some(match process {
        Some(p) if status == "running" && !p.alive() => "interrupted".into(),
        _ => status,
    })
}
