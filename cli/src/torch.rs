//! Starting the `neurozoo-torch` worker on a [`Job`], after making sure libtorch can be loaded
//! at all.

use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Output, Stdio};

use anyhow::{bail, Context, Result};
use neurozoo_job::Job;

/// Name of the worker binary, installed next to `neurozoo`.
pub const WORKER: &str = "neurozoo-torch";

/// The libtorch library whose loading pulls in the whole CPU and CUDA stack the worker needs.
const LIBTORCH: &str = "libtorch.so";

/// Load libtorch the way the worker's dynamic loader would (`LD_LIBRARY_PATH`, then the RUNPATH
/// both binaries carry), so that a missing library is a sentence, not a loader crash.
pub fn check_libtorch() -> Result<()> {
    // SAFETY: libtorch's static initialisers are the only code this runs; they register
    // operators and touch nothing of ours. The library stays loaded until the process ends.
    match unsafe { libloading::Library::new(LIBTORCH) } {
        Ok(lib) => {
            std::mem::forget(lib);
            Ok(())
        }
        Err(e) => bail!(
            "cannot load libtorch ({}); neurozoo needs PyTorch 2.11.0's libraries: run `make setup` \
             in the neurozoo checkout, or set LD_LIBRARY_PATH to the lib/ directory of a \
             torch 2.11.0 installation",
            // libloading's own message is just "dlopen failed"; the loader's reason is its source.
            std::error::Error::source(&e).map_or_else(|| e.to_string(), ToString::to_string)
        ),
    }
}

fn worker_path() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot locate the running neurozoo binary")?;
    let path = exe.with_file_name(WORKER);
    if !path.exists() {
        bail!("{} is missing: neurozoo needs it beside {} for model commands", path.display(), exe.display());
    }
    Ok(path)
}

fn worker() -> Result<Command> {
    check_libtorch()?;
    Ok(Command::new(worker_path()?))
}

/// The worker, ready to run `job`: `neurozoo-torch job`, the job on its standard input.
pub fn command(job: &Job) -> Result<Command> {
    let mut cmd = worker()?;
    cmd.arg("job").stdin(job_input(job)?);
    Ok(cmd)
}

/// The job in an unlinked temporary file, to be the worker's standard input. A pipe would need
/// a writer after `exec` (this process is gone by then) or would block on a job larger than its
/// buffer; a file needs neither, and disappears with the worker.
fn job_input(job: &Job) -> Result<Stdio> {
    let mut file = tempfile::tempfile().with_context(|| format!("cannot write the job for {WORKER} (TMPDIR)"))?;
    let text = job.to_json()?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
        .with_context(|| format!("cannot write the job for {WORKER} (TMPDIR)"))?;
    Ok(file.into())
}

/// Replace this process by the worker running `job`; returns only if that fails.
///
/// Replacing rather than spawning keeps one process per command, so a signal sent to the
/// `neurozoo` a user started (a `kill`, a scheduler's time limit) reaches the fit itself
/// instead of orphaning it.
pub fn exec(job: &Job) -> anyhow::Error {
    use std::os::unix::process::CommandExt;
    match command(job) {
        Ok(mut cmd) => anyhow::Error::new(cmd.exec()).context(format!("cannot start {WORKER}")),
        Err(e) => e,
    }
}

/// Run `job` in the worker, inheriting stdout and stderr; returns its exit status.
pub fn run(job: &Job) -> Result<ExitStatus> {
    command(job)?.status().with_context(|| format!("cannot start {WORKER}"))
}

/// Run `job` in the worker and capture its stdout (stderr still goes to the user).
pub fn output(job: &Job) -> Result<Output> {
    let mut cmd = command(job)?;
    cmd.stderr(Stdio::inherit());
    cmd.output().with_context(|| format!("cannot start {WORKER}"))
}

/// The torch half of `neurozoo doctor`: what the worker's libtorch reports, as JSON on stdout.
pub fn doctor() -> Result<Output> {
    let mut cmd = worker()?;
    cmd.arg("doctor").stderr(Stdio::inherit());
    cmd.output().with_context(|| format!("cannot start {WORKER}"))
}
