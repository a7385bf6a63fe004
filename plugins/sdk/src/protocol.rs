//! The executable-plugin protocol, as types: what `neurozoo-plugin-NAME describe` prints
//! ([`Descriptor`]), the request `neurozoo-plugin-NAME run` reads on stdin ([`Request`]) and the
//! `result.json` it writes last ([`RunResult`]). Serde types and checks only, no I/O: the host
//! (`neurozoo-analysis`) speaks the protocol with them, and a plugin written in Rust can too.
//! The same protocol in prose, for authors in other languages, is in docs/plugins.md.
//!
//! ```
//! use neurozoo_plugin::protocol::{Descriptor, RunResult, ResultStatus, PROTOCOL_VERSION};
//!
//! // A descriptor from before the protocol had a version is version 1.
//! let d: Descriptor = serde_json::from_str(r#"{"name": "peaks", "version": "0.1.0", "description": "peak per unit"}"#).unwrap();
//! assert_eq!(d.protocol, 1);
//! d.check_protocol().unwrap();
//!
//! let r: RunResult = serde_json::from_str(r#"{"status": "error", "error": "no units"}"#).unwrap();
//! assert_eq!((r.status, r.error.as_deref(), r.protocol), (ResultStatus::Error, Some("no units"), PROTOCOL_VERSION));
//! ```

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The protocol version this SDK speaks. A message without a `protocol` key is version 1 (the
/// protocol before it had a version is version 1).
pub const PROTOCOL_VERSION: u32 = 1;

/// Executable plugins are programs named this + NAME.
pub const EXECUTABLE_PREFIX: &str = "neurozoo-plugin-";

/// The file a plugin writes last into the request's `out`, saying how the run went.
pub const RESULT_FILE: &str = "result.json";

fn version_one() -> u32 {
    1
}

/// What `PROGRAM describe` prints on stdout: the same descriptor a library plugin has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(default = "version_one")]
    pub protocol: u32,
    pub name: String,
    pub version: String,
    pub description: String,
    /// Parameter name → `{"type", "default", "minimum", "maximum", "enum", "description"}`.
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Whether the plugin takes NaN and infinite values in the representation.
    #[serde(default)]
    pub accepts_non_finite: bool,
}

impl Descriptor {
    /// Refuse a plugin that speaks a later protocol than this SDK.
    pub fn check_protocol(&self) -> Result<(), String> {
        check_version(self.protocol)
    }
}

/// What `PROGRAM run` reads on stdin (one JSON object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub protocol: u32,
    /// Absolute path of the representation file (HDF5: `/representations/NAME`, `/stimulus_ids`,
    /// `/stimuli`, `/arrays/*`).
    pub representation_file: PathBuf,
    /// The NAME of the representation to use.
    pub representation: String,
    /// Absolute paths of more array files (HDF5, `/arrays/*`).
    pub arrays_files: Vec<PathBuf>,
    /// Every declared parameter, validated, defaults filled in.
    pub params: Value,
    pub seed: u64,
    /// The directory to write into: it exists and is empty.
    pub out: PathBuf,
    /// What a library plugin gets as its metadata (source, stimulus ids).
    pub metadata: Value,
}

/// How a run went, in `result.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultStatus {
    Ok,
    Error,
}

/// What `PROGRAM run` writes last, as `out/result.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    #[serde(default = "version_one")]
    pub protocol: u32,
    pub status: ResultStatus,
    /// Why, when `status` is `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<String>,
    /// File names in `out` the plugin says it wrote: each must be there (a plain name, not a
    /// path).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
}

impl RunResult {
    /// Refuse a result of a later protocol than this SDK.
    pub fn check_protocol(&self) -> Result<(), String> {
        check_version(self.protocol)
    }
}

fn check_version(version: u32) -> Result<(), String> {
    if (1..=PROTOCOL_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(format!("speaks executable-plugin protocol version {version}, but this neurozoo speaks version {PROTOCOL_VERSION}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_protocol_is_refused_and_the_request_round_trips() {
        let d: Descriptor =
            serde_json::from_str(r#"{"protocol": 2, "name": "n", "version": "1", "description": "d", "params": {}}"#).unwrap();
        assert_eq!(d.check_protocol().unwrap_err(), "speaks executable-plugin protocol version 2, but this neurozoo speaks version 1");
        let r: RunResult = serde_json::from_str(r#"{"protocol": 0, "status": "ok"}"#).unwrap();
        assert!(r.check_protocol().is_err());
        assert!(serde_json::from_str::<RunResult>(r#"{"status": "done"}"#).is_err());
        let request = Request {
            protocol: PROTOCOL_VERSION,
            representation_file: "/r.h5".into(),
            representation: "layer".into(),
            arrays_files: vec![],
            params: serde_json::json!({"bins": 3}),
            seed: 7,
            out: "/o".into(),
            metadata: Value::Null,
        };
        let text = serde_json::to_string(&request).unwrap();
        assert!(text.contains(r#""representation_file":"/r.h5""#), "{text}");
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), request);
    }
}
