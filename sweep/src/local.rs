//! The local executor: N points at a time on this machine, each as its own
//! `neurozoo sweep run-point` process, with one progress bar over the points.

use std::collections::VecDeque;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

use crate::plan::Plan;
use crate::point::PointDirs;

/// How a local run went.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LocalSummary {
    pub done: usize,
    /// Names of the points that failed (their errors are in their status files).
    pub failed: Vec<String>,
}

/// Run the points `todo` (plan indices; [`crate::pending`] gives those not done), `jobs` at a
/// time, the machine's cores split between them. A point interrupted before (Ctrl-C, a kill)
/// resumes; a failed one is tried again.
pub fn run(dir: &Path, plan: &Plan, exe: &Path, jobs: usize, todo: &[usize]) -> LocalSummary {
    let queue: VecDeque<usize> = todo.iter().copied().collect();
    let jobs = jobs.clamp(1, queue.len().max(1));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (cores / jobs).max(1);
    let bar = ProgressBar::new(queue.len() as u64)
        .with_style(ProgressStyle::with_template("points [{bar:30}] {pos}/{len} {elapsed} {msg}").expect("valid template"));
    let queue = Mutex::new(queue);
    let outcome = Mutex::new((0usize, Vec::new()));
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                while let Some(i) = queue.lock().expect("no panics hold it").pop_front() {
                    let name = &plan.points[i].name;
                    bar.set_message(name.clone());
                    let ok = Command::new(exe)
                        .args(["sweep", "run-point"])
                        .arg(dir)
                        .arg(i.to_string())
                        .args(["--threads", &threads.to_string()])
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .is_ok_and(|s| s.success());
                    let mut o = outcome.lock().expect("no panics hold it");
                    if ok {
                        o.0 += 1;
                    } else {
                        bar.suspend(|| eprintln!("point {name} failed: see {}", PointDirs::new(dir, &plan.points[i]).log().display()));
                        o.1.push(name.clone());
                    }
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    let (done, failed) = outcome.into_inner().expect("no panics hold it");
    LocalSummary { done, failed }
}
