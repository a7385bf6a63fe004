//! Starting the `neurozoo-torch` worker, after making sure libtorch can be loaded at all.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Output};

use anyhow::{bail, Context, Result};

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

fn worker<I, S>(args: I) -> Result<Command>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    check_libtorch()?;
    let mut cmd = Command::new(worker_path()?);
    cmd.args(args);
    Ok(cmd)
}

/// Replace this process by the worker with these arguments; returns only if that fails.
///
/// Replacing rather than spawning keeps one process per command, so a signal sent to the
/// `neurozoo` a user started (a `kill`, a scheduler's time limit) reaches the fit itself
/// instead of orphaning it.
pub fn exec<I, S>(args: I) -> anyhow::Error
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    use std::os::unix::process::CommandExt;
    match worker(args) {
        Ok(mut cmd) => anyhow::Error::new(cmd.exec()).context(format!("cannot start {WORKER}")),
        Err(e) => e,
    }
}

/// Run the worker with these arguments, inheriting stdio; returns its exit status.
pub fn run<I, S>(args: I) -> Result<ExitStatus>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = worker(args)?;
    cmd.status().with_context(|| format!("cannot start {WORKER}"))
}

/// Run the worker and capture its stdout (stderr still goes to the user).
pub fn output<I, S>(args: I) -> Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = worker(args)?;
    cmd.stderr(std::process::Stdio::inherit());
    cmd.output().with_context(|| format!("cannot start {WORKER}"))
}
