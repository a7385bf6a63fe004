//! The SLURM executor: one job array over the points not done yet, each task running
//! `neurozoo sweep run-point DIR INDEX` — the front end, which checks libtorch on the node and
//! hands the point's fit and eval jobs to the worker as a local run does.

use std::path::{Path, PathBuf};
use std::process::Command;

use neurozoo_config::DeviceChoice;
use serde::{Deserialize, Serialize};

use crate::plan::{Plan, SlurmSettings};
use crate::SweepError;

/// `DIR/slurm/jobs.json`: every array submitted for the sweep.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Jobs {
    pub jobs: Vec<Job>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub job_id: String,
    /// The points (plan indices) of its array tasks.
    pub indices: Vec<usize>,
}

pub fn jobs_file(dir: &Path) -> PathBuf {
    dir.join("slurm").join("jobs.json")
}

pub fn load_jobs(dir: &Path) -> Jobs {
    std::fs::read_to_string(jobs_file(dir)).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
}

/// `0-3,5,7-8`: SLURM's array syntax for these (sorted) indices.
pub fn array_spec(indices: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let mut j = i;
        while j + 1 < indices.len() && indices[j + 1] == indices[j] + 1 {
            j += 1;
        }
        parts.push(if i == j { indices[i].to_string() } else { format!("{}-{}", indices[i], indices[j]) });
        i = j + 1;
    }
    parts.join(",")
}

/// The batch script of an array over `indices`, at most `max_parallel` tasks at once.
pub fn script(dir: &Path, plan: &Plan, settings: &SlurmSettings, indices: &[usize], max_parallel: Option<usize>, exe: &Path) -> String {
    let name = dir.file_name().map_or("sweep".into(), |n| n.to_string_lossy().into_owned());
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        format!("#SBATCH --job-name=neurozoo-{name}"),
        format!("#SBATCH --array={}{}", array_spec(indices), max_parallel.map_or(String::new(), |m| format!("%{m}"))),
        format!("#SBATCH --time={}", settings.time),
        format!("#SBATCH --mem={}", settings.mem),
        format!("#SBATCH --cpus-per-task={}", settings.cpus_per_task),
        format!("#SBATCH --output={}/slurm/%A_%a.out", dir.display()),
    ];
    if plan.device == DeviceChoice::Cuda {
        lines.push("#SBATCH --gres=gpu:1".into());
    }
    if let Some(p) = &settings.partition {
        lines.push(format!("#SBATCH --partition={p}"));
    }
    if let Some(a) = &settings.account {
        lines.push(format!("#SBATCH --account={a}"));
    }
    lines.push(String::new());
    lines.push("# One point of the sweep: fit (or resume) it, then evaluate it.".into());
    lines.push(format!(
        "exec {} sweep run-point {} \"$SLURM_ARRAY_TASK_ID\" --threads \"${{SLURM_CPUS_PER_TASK:-1}}\"",
        quote(&exe.display().to_string()),
        quote(&dir.display().to_string())
    ));
    lines.join("\n") + "\n"
}

/// Single-quoted for bash.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Submit `script` (already written to `path`) with `sbatch --parsable`; returns the job id.
pub fn submit(path: &Path) -> Result<String, SweepError> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .arg(path)
        .output()
        .map_err(|e| SweepError::Slurm(format!("cannot run sbatch ({e}): is SLURM installed and on PATH?")))?;
    if !out.status.success() {
        return Err(SweepError::Slurm(format!("sbatch {} failed: {}", path.display(), String::from_utf8_lossy(&out.stderr).trim())));
    }
    // `--parsable` prints `id` or `id;cluster`.
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text.trim().split(';').next().unwrap_or_default().to_string();
    if id.is_empty() {
        return Err(SweepError::Slurm(format!("sbatch {} printed no job id", path.display())));
    }
    Ok(id)
}

/// SLURM's state of each array task still known to `squeue` (plan index → state, e.g. PENDING,
/// RUNNING); empty when squeue is missing or knows none of them.
pub fn queue_states(jobs: &Jobs) -> Vec<(usize, String)> {
    if jobs.jobs.is_empty() {
        return Vec::new();
    }
    let ids: Vec<&str> = jobs.jobs.iter().map(|j| j.job_id.as_str()).collect();
    let Ok(out) = Command::new("squeue").args(["-h", "-r", "-o", "%F %K %T", "-j", &ids.join(",")]).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_job, task, state) = (f.next()?, f.next()?.parse().ok()?, f.next()?);
            Some((task, state.to_string()))
        })
        .collect()
}

/// Whether a task in this SLURM state will still run the point (waiting or running).
pub fn is_active(state: &str) -> bool {
    matches!(state, "PENDING" | "RUNNING" | "CONFIGURING" | "COMPLETING" | "REQUEUED" | "RESIZING" | "SUSPENDED")
}

/// SLURM's final state of each array task from `sacct` (plan index → TIMEOUT, OUT_OF_MEMORY,
/// CANCELLED, …); empty where the cluster keeps no accounting.
pub fn accounting_states(jobs: &Jobs) -> Vec<(usize, String)> {
    if jobs.jobs.is_empty() {
        return Vec::new();
    }
    let ids: Vec<&str> = jobs.jobs.iter().map(|j| j.job_id.as_str()).collect();
    let Ok(out) = Command::new("sacct").args(["-n", "-P", "-X", "-o", "JobID,State", "-j", &ids.join(",")]).output() else {
        return Vec::new();
    };
    if !out.status.success() {
        return Vec::new();
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            // `123_4|TIMEOUT`; a state may carry a reason (`CANCELLED by 0`).
            let (id, state) = l.split_once('|')?;
            let task = id.split_once('_')?.1.parse().ok()?;
            Some((task, state.split_whitespace().next()?.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_spec_joins_runs_of_indices() {
        assert_eq!(array_spec(&[0, 1, 2, 3, 5, 7, 8]), "0-3,5,7-8");
        assert_eq!(array_spec(&[4]), "4");
    }
}
