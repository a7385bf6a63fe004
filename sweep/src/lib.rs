//! Sweeps: many fits of one base config — every recording, several seeds, a grid of
//! hyperparameters — planned, run, resumed and collected, on this machine or as a SLURM job
//! array.
//!
//! A sweep file names a base (a preset or a fit config), a `[grid]` of dotted config keys with
//! the values to try, the seeds and the recordings; the points are the product. Each point is an
//! ordinary run directory (`DIR/runs/NAME`, made by the worker's fit job, then its eval job:
//! what `neurozoo fit` and `neurozoo eval --json` run, built as typed `neurozoo_job::Job`s),
//! so the sweep adds nothing a run does not already have, and re-running skips finished points
//! and resumes interrupted ones.
//!
//! ```
//! use neurozoo_sweep::plan::Plan;
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("v1.h5"), b"")?; // only its existence is checked here
//! let file = dir.path().join("sweep.toml");
//! std::fs::write(&file, r#"
//! base = "klindt2017"
//! seeds = [1, 2, 3]
//! data = ["v1.h5"]
//! [grid]
//! "model.core.channels" = [16, 32]
//! "train.lr" = [0.002, 0.005]
//! "#)?;
//! let (plan, configs) = Plan::from_file(&file)?;
//! assert_eq!(plan.points.len(), 2 * 2 * 3);
//! assert_eq!(plan.points[0].name, "v1_channels-16_lr-0.002_seed-1");
//! assert_eq!(configs.len(), plan.points.len()); // each point's complete config, checked
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod collect;
pub mod local;
pub mod plan;
pub mod point;
pub mod slurm;

use std::path::{Path, PathBuf};

use neurozoo_config::Preset;

use crate::plan::{Plan, PLAN_FILE};
use std::collections::BTreeMap;

use crate::point::{read_status, state, PointDirs, State, Status};

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The sweep file or the saved plan is at fault.
    #[error("{}: {message}", file.display())]
    Plan { file: PathBuf, message: String },
    /// The directory holds another sweep (made from the sweep file `from`).
    #[error("{}: holds another sweep, made from {} ({PLAN_FILE} has other points or settings)", dir.display(), from.display())]
    OtherSweep { dir: PathBuf, from: PathBuf },
    /// The directory holds files and is no sweep directory.
    #[error("{}: exists, is not empty and is no sweep directory", dir.display())]
    NotASweep { dir: PathBuf },
    /// The directory cannot be made or written.
    #[error("{}: {message}", dir.display())]
    Dir { dir: PathBuf, message: String },
    #[error("point {name}: {message}")]
    Point { name: String, message: String },
    #[error("{0}")]
    Slurm(String),
    #[error("{0}")]
    Write(String),
}

/// The workspace's atomic writer, its error as a sweep's.
fn write_atomic(path: &Path, text: &str) -> Result<(), SweepError> {
    neurozoo_util::files::write_atomic(path, text).map_err(|e| SweepError::Write(e.to_string()))
}

/// Set up `dir` for the plan: a new directory gets `sweep.json` and each point's config; an
/// existing sweep directory must hold the same plan (re-running continues it). Nothing is
/// written when the directory is neither new, nor empty, nor this sweep's.
pub fn prepare(dir: &Path, plan: &Plan, configs: &[Preset]) -> Result<(), SweepError> {
    let at = |message: String| SweepError::Dir { dir: dir.to_path_buf(), message };
    let plan_file = dir.join(PLAN_FILE);
    if plan_file.is_file() {
        let saved = Plan::load(dir)?;
        if saved.points != plan.points || saved.kind != plan.kind || saved.device != plan.device {
            return Err(SweepError::OtherSweep { dir: dir.to_path_buf(), from: saved.sweep_file });
        }
    } else if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(SweepError::NotASweep { dir: dir.to_path_buf() });
    } else if dir.exists() && !dir.is_dir() {
        return Err(at("is not a directory".into()));
    }
    // The plan first: a setup stopped half-way (a full disk, a kill) leaves a directory that
    // says which sweep it is, and the same command finishes it (every config is written again).
    std::fs::create_dir_all(dir).map_err(|e| at(format!("cannot create it: {e}")))?;
    write_atomic(&plan_file, &serde_json::to_string_pretty(plan).expect("a plan serialises"))?;
    for (p, cfg) in plan.points.iter().zip(configs) {
        let dirs = PointDirs::new(dir, p);
        std::fs::create_dir_all(&dirs.dir).map_err(|e| at(format!("cannot create {}: {e}", dirs.dir.display())))?;
        write_atomic(&dirs.config(), &cfg.to_toml())?;
    }
    std::fs::create_dir_all(dir.join("runs")).map_err(|e| at(format!("cannot create runs/: {e}")))
}

/// A point as `status` and the executors see it: its files, and what SLURM says of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub state: State,
    /// SLURM's state of the point's array task: from `squeue` while SLURM holds it, from
    /// `sacct` (where the cluster keeps accounting) once it ended without finishing the point.
    pub slurm: Option<String>,
}

/// Every point's state, in plan order. A point whose process runs on another host cannot be
/// checked from here: when the sweep went to SLURM and `squeue` no longer holds its task (a
/// `--time` limit, a cancelled job, a lost node), it is interrupted.
pub fn observe(dir: &Path, plan: &Plan) -> Vec<Observed> {
    let jobs = slurm::load_jobs(dir);
    let queued: BTreeMap<usize, String> = slurm::queue_states(&jobs).into_iter().collect();
    let this_host = neurozoo_util::process::hostname();
    let mut seen: Vec<Observed> = plan
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let dirs = PointDirs::new(dir, p);
            let mut state = state(&dirs);
            if state == State::Running && !jobs.jobs.is_empty() && !queued.contains_key(&i) {
                if let Some(Status::Running { process }) = read_status(&dirs) {
                    if process.host != this_host {
                        state = State::Interrupted;
                    }
                }
            }
            Observed { state, slurm: queued.get(&i).cloned() }
        })
        .collect();
    if seen.iter().any(|o| o.state == State::Interrupted && o.slurm.is_none()) {
        for (i, ended) in slurm::accounting_states(&jobs) {
            if let Some(o) = seen.get_mut(i).filter(|o| o.state == State::Interrupted && o.slurm.is_none()) {
                o.slurm = Some(ended);
            }
        }
    }
    seen
}

/// The indices of the points that still need running: not done, not running, not waiting in
/// SLURM's queue.
pub fn pending(observed: &[Observed]) -> Vec<usize> {
    observed
        .iter()
        .enumerate()
        .filter(|(_, o)| !matches!(o.state, State::Done | State::Running) && o.slurm.as_deref().is_none_or(|s| !slurm::is_active(s)))
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use neurozoo_util::process::Process;

    use super::*;

    #[test]
    fn a_point_running_on_another_host_is_interrupted_once_slurm_no_longer_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("v1.h5"), b"").unwrap();
        let file = dir.path().join("sweep.toml");
        std::fs::write(&file, "base = \"klindt2017\"\nseeds = [1, 2]\ndata = [\"v1.h5\"]\n").unwrap();
        let (plan, configs) = Plan::from_file(&file).unwrap();
        let out = dir.path().join("out");
        prepare(&out, &plan, &configs).unwrap();
        let running = Status::Running { process: Process { pid: 1, host: "node-elsewhere".into() } };
        let dirs = PointDirs::new(&out, &plan.points[0]);
        write_atomic(&dirs.status(), &serde_json::to_string(&running).unwrap()).unwrap();

        // Run locally (no SLURM jobs): another host's process cannot be checked, it runs.
        let seen = observe(&out, &plan);
        assert_eq!((seen[0].state, seen[1].state), (State::Running, State::Pending));
        assert_eq!(pending(&seen), [1]);

        // Sent to SLURM, whose queue no longer holds the task: the node is gone.
        let jobs = slurm::Jobs { jobs: vec![slurm::Job { job_id: "999999".into(), indices: vec![0, 1] }] };
        std::fs::create_dir_all(out.join("slurm")).unwrap();
        write_atomic(&slurm::jobs_file(&out), &serde_json::to_string(&jobs).unwrap()).unwrap();
        let seen = observe(&out, &plan);
        assert_eq!(seen[0].state, State::Interrupted);
        assert_eq!(pending(&seen), [0, 1]);
    }

    #[test]
    fn a_directory_with_another_plan_or_other_files_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("v1.h5"), b"").unwrap();
        let file = dir.path().join("sweep.toml");
        std::fs::write(&file, "base = \"klindt2017\"\nseeds = [1]\ndata = [\"v1.h5\"]\n").unwrap();
        let (plan, configs) = Plan::from_file(&file).unwrap();
        let out = dir.path().join("out");
        prepare(&out, &plan, &configs).unwrap();
        prepare(&out, &plan, &configs).unwrap(); // the same plan again: continued
                                                 // Stopped half-way through the setup (a full disk): the plan is there, a point's config
                                                 // and runs/ are not. The same plan finishes it.
        let half = dir.path().join("half");
        prepare(&half, &plan, &configs).unwrap();
        std::fs::remove_dir_all(half.join("points")).unwrap();
        std::fs::remove_dir(half.join("runs")).unwrap();
        prepare(&half, &plan, &configs).unwrap();
        assert!(PointDirs::new(&half, &plan.points[0]).config().is_file() && half.join("runs").is_dir());
        std::fs::write(&file, "base = \"klindt2017\"\nseeds = [2]\ndata = [\"v1.h5\"]\n").unwrap();
        let (other, configs) = Plan::from_file(&file).unwrap();
        let err = prepare(&out, &other, &configs).unwrap_err().to_string();
        assert!(err.contains("holds another sweep"), "{err}");
    }
}
