//! One point: its files in the sweep directory, its state, and running it (a fit job, then an
//! eval job, in the worker).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use neurozoo_job::{EvalJob, FitJob, Job, RunInfo, RUN_FILE};
use neurozoo_util::process::Process;
use serde::{Deserialize, Serialize};

use crate::plan::{Plan, Point};
use crate::SweepError;

/// Where a point's files are.
pub struct PointDirs {
    /// `DIR/runs/NAME`: an ordinary run directory, made by `fit`.
    pub run: PathBuf,
    /// `DIR/points/NAME`: the sweep's own files of the point.
    pub dir: PathBuf,
}

impl PointDirs {
    pub fn new(sweep: &Path, point: &Point) -> PointDirs {
        PointDirs { run: sweep.join("runs").join(&point.name), dir: sweep.join("points").join(&point.name) }
    }
    /// The point's complete fit config, written when the plan is.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    /// `eval --json` of the fitted run.
    pub fn eval(&self) -> PathBuf {
        self.dir.join("eval.json")
    }
    pub fn status(&self) -> PathBuf {
        self.dir.join("status.json")
    }
    /// Everything `fit` and `eval` printed, appended over attempts.
    pub fn log(&self) -> PathBuf {
        self.dir.join("log.txt")
    }
}

/// `status.json` of a point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Status {
    /// Being fitted or evaluated by this process.
    Running { process: Process },
    /// Fitted and evaluated.
    Done { seconds: f64 },
    /// `fit` or `eval` failed: the end of what it printed.
    Failed { error: String, seconds: f64 },
}

/// What a point is, as `sweep status` and the executors see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Pending,
    Running,
    /// Its process died (a kill, Ctrl-C, a node lost): the next run resumes it.
    Interrupted,
    Failed,
    Done,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Running => "running",
            State::Interrupted => "interrupted",
            State::Failed => "failed",
            State::Done => "done",
        }
    }
}

/// The point's status file, if it has one.
pub fn read_status(dirs: &PointDirs) -> Option<Status> {
    serde_json::from_str(&std::fs::read_to_string(dirs.status()).ok()?).ok()
}

/// The point's `eval --json` report, or why it cannot be read (naming the file).
pub fn read_eval(dirs: &PointDirs) -> Result<serde_json::Value, String> {
    let path = dirs.eval();
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not eval's JSON report: {e}", path.display()))
}

/// Why a point is failed: its status's error, or a report that does not read.
pub fn failure(dirs: &PointDirs) -> Option<String> {
    match read_status(dirs)? {
        Status::Failed { error, .. } => Some(error),
        Status::Done { .. } if dirs.eval().is_file() => read_eval(dirs).err(),
        _ => None,
    }
}

pub fn state(dirs: &PointDirs) -> State {
    match read_status(dirs) {
        None => State::Pending,
        // A report that does not read is no result: the point is run again.
        Some(Status::Done { .. }) if dirs.eval().is_file() && read_eval(dirs).is_err() => State::Failed,
        Some(Status::Done { .. }) if dirs.eval().is_file() => State::Done,
        Some(Status::Done { .. }) => State::Interrupted,
        Some(Status::Failed { .. }) => State::Failed,
        Some(Status::Running { process }) if process.alive() => State::Running,
        Some(Status::Running { .. }) => State::Interrupted,
    }
}

fn write_status(dirs: &PointDirs, status: &Status) -> Result<(), SweepError> {
    crate::write_atomic(&dirs.status(), &serde_json::to_string_pretty(status).expect("a status serialises"))
}

/// How a point's jobs reach the worker: a command that runs one, its stdout and stderr left for
/// the point to direct (the front end's, which checks that libtorch loads); an error is the
/// point's.
pub type Launch<'a> = &'a dyn Fn(&Job) -> Result<Command, String>;

/// Run point `index` of the sweep in `sweep`: a fit job (resuming an interrupted run), then an
/// eval job with a JSON report, both started by `launch`, their output appended to the point's
/// log. Records the outcome in the point's status; an error is the point failing.
pub fn run_point(sweep: &Path, index: usize, launch: Launch, threads: Option<u32>) -> Result<(), SweepError> {
    let plan = Plan::load(sweep)?;
    let point = plan.points.get(index).ok_or_else(|| SweepError::Plan {
        file: sweep.join(crate::plan::PLAN_FILE),
        message: format!("no point {index}: the sweep has {} (0 to {})", plan.points.len(), plan.points.len().saturating_sub(1)),
    })?;
    let dirs = PointDirs::new(sweep, point);
    // One process per point: a second one (another sweep's, a SLURM task run twice) is refused
    // before it touches the point's status.
    let _lock = neurozoo_util::lock::lock(&dirs.dir, &format!("neurozoo sweep run-point {} {index}", sweep.display()))
        .map_err(|e| SweepError::Point { name: point.name.clone(), message: e.to_string() })?;
    if state(&dirs) == State::Done {
        return Ok(());
    }
    write_status(&dirs, &Status::Running { process: Process::this() })?;
    let start = Instant::now();
    let result = fit_and_eval(&plan, point, &dirs, launch, threads);
    let seconds = start.elapsed().as_secs_f64();
    match result {
        Ok(()) => write_status(&dirs, &Status::Done { seconds }),
        Err(error) => {
            write_status(&dirs, &Status::Failed { error: error.clone(), seconds })?;
            Err(SweepError::Point { name: point.name.clone(), message: error })
        }
    }
}

fn fit_and_eval(plan: &Plan, point: &Point, dirs: &PointDirs, launch: Launch, threads: Option<u32>) -> Result<(), String> {
    let log = || File::options().create(true).append(true).open(dirs.log()).map_err(|e| format!("{}: {e}", dirs.log().display()));
    if !RunInfo::load(&dirs.run).is_ok_and(|info| info.is_complete()) {
        let resume = dirs.run.join(RUN_FILE).is_file();
        if !resume && dirs.run.exists() {
            // No run.json: killed before training began, with nothing to resume.
            std::fs::remove_dir_all(&dirs.run).map_err(|e| format!("cannot start {} over: {e}", dirs.run.display()))?;
        }
        let model = dirs.config().display().to_string();
        let fit = FitJob { device: plan.device, threads, resume, ..FitJob::new(model, point.data.clone(), dirs.run.clone()) };
        run_logged(launch(&Job::Fit(fit))?, "fit", log()?, Stdio::null(), dirs)?;
    }
    // eval's JSON goes to the partial file, which becomes eval.json only when eval succeeded.
    let log = log()?;
    neurozoo_util::files::write_atomic_with(&dirs.eval(), |tmp| {
        let out = File::create(tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        let eval = EvalJob { device: plan.device, json: true, ..EvalJob::new(dirs.run.clone(), point.data.clone()) };
        run_logged(launch(&Job::Eval(eval))?, "eval", log, out.into(), dirs)
    })
    .map_err(|e| e.message)
}

/// Run a job's command with stderr into the log; a failure is the last lines of the log.
fn run_logged(mut cmd: Command, what: &str, log: File, stdout: Stdio, dirs: &PointDirs) -> Result<(), String> {
    let status = cmd.stdout(stdout).stderr(log).status().map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    if status.success() {
        return Ok(());
    }
    let text = std::fs::read_to_string(dirs.log()).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().filter(|l| !l.trim().is_empty()).take(3).collect();
    Err(format!("{what} exited with {status}: {}", tail.into_iter().rev().collect::<Vec<_>>().join(" | ")))
}
