//! What the worker leaves for the others to read: a run's `run.json`, and `eval --json` of
//! several recordings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use neurozoo_config::ModelKind;
use neurozoo_metrics::report::{EvalReport, TierMetrics};
use neurozoo_util::process::Process;
use serde::{Deserialize, Serialize};

/// The run directory's record of its fit.
pub const RUN_FILE: &str = "run.json";

/// Whether a run's fit finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Complete,
}

/// `run.json` as a reader outside the worker needs it, whatever the model: how far the fit got
/// and whether it finished. The worker writes the whole record (`neurozoo_zoo::run`); this is
/// the part every kind of run shares.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RunInfo {
    pub status: RunStatus,
    pub seconds: f64,
    /// The process fitting the run, while it runs.
    #[serde(default)]
    pub fitter: Option<Process>,
    #[serde(flatten)]
    pub trained: Trained,
}

/// How much a run has been trained, in its family's unit — which also tells the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Trained {
    /// A response model trains by epochs.
    Epochs { epochs: usize },
    /// A sprite-pair model trains by steps.
    Iterations { iterations: usize },
}

/// A `run.json` that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct RunFileError {
    pub path: PathBuf,
    pub reason: String,
}

impl RunInfo {
    /// The `run.json` of the run directory `dir`.
    pub fn load(dir: &Path) -> Result<RunInfo, RunFileError> {
        let path = dir.join(RUN_FILE);
        let at = |reason: String| RunFileError { path: path.clone(), reason };
        let text = std::fs::read_to_string(&path).map_err(|e| at(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| at(format!("is not a run's run.json ({e})")))
    }

    pub fn kind(&self) -> ModelKind {
        match self.trained {
            Trained::Epochs { .. } => ModelKind::Responses,
            Trained::Iterations { .. } => ModelKind::SpritePairs,
        }
    }

    /// Epochs or steps trained so far.
    pub fn trained(&self) -> usize {
        match self.trained {
            Trained::Epochs { epochs } => epochs,
            Trained::Iterations { iterations } => iterations,
        }
    }

    pub fn is_complete(&self) -> bool {
        self.status == RunStatus::Complete
    }
}

/// `eval --json` of a run on several of its recordings: each by its own readout, and all their
/// units pooled, by tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PooledEvalReport {
    pub run: String,
    /// By recording name.
    pub recordings: BTreeMap<String, EvalReport>,
    /// By tier name.
    pub pooled: BTreeMap<String, TierMetrics>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_kinds_of_run_json_read_with_their_kind() {
        let dir = tempfile::tempdir().unwrap();
        // Abridged as the worker writes them: the shared fields and the family's own.
        let responses = r#"{"neurozoo": "0.1.0", "device": "cpu", "recordings": [], "status": "complete", "epochs": 12,
            "best_epoch": 9, "best_validation_correlation": 0.4, "seconds": 3.5, "peak_rss_bytes": 1}"#;
        std::fs::write(dir.path().join("run.json"), responses).unwrap();
        let info = RunInfo::load(dir.path()).unwrap();
        assert_eq!((info.kind(), info.trained(), info.is_complete()), (ModelKind::Responses, 12, true));

        let sprites = r#"{"neurozoo": "0.1.0", "device": "cpu", "data": "s.h5", "pairs": 8, "status": "running",
            "iterations": 40, "seconds": 1.0, "fitter": {"pid": 1, "host": "h"}}"#;
        std::fs::write(dir.path().join("run.json"), sprites).unwrap();
        let info = RunInfo::load(dir.path()).unwrap();
        assert_eq!((info.kind(), info.trained(), info.is_complete()), (ModelKind::SpritePairs, 40, false));
        assert_eq!(info.fitter.map(|f| f.pid), Some(1));

        std::fs::write(dir.path().join("run.json"), r#"{"status": "complete", "seconds": 1.0}"#).unwrap();
        let err = RunInfo::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("run.json") && err.contains("is not a run's"), "{err}");
    }
}
