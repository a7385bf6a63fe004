//! The `neurozoo` command line: argument definitions and the commands that need no libtorch.
//!
//! The binary is split in two so that a missing or broken libtorch gives a clear error instead of
//! a dynamic-loader crash: `neurozoo` (this crate, no libtorch in its dependency graph) runs the
//! data and analysis commands itself and hands the model commands to `neurozoo-torch`, after
//! checking that libtorch can be loaded, as typed jobs ([`neurozoo_job::Job`], from
//! [`args::Command::job`]): the user's arguments stop here.

pub mod analyze;
pub mod args;
pub mod data;
pub mod demo;
pub mod doctor;
pub mod report;
pub mod scaffold;
pub mod sweep;
pub mod torch;

/// Refuse, before any work, to write the output file `out` over something the user has: an
/// existing path only with `force`, and never one of the `inputs` or a path inside one (a run
/// directory, a file tree).
pub fn check_output_file(out: &std::path::Path, inputs: &[&std::path::Path], force: bool) -> anyhow::Result<()> {
    neurozoo_util::files::check_outside_inputs(out, inputs)?;
    let Ok(target) = std::fs::canonicalize(out) else {
        return Ok(());
    };
    if target.is_dir() {
        anyhow::bail!("--out {} is a directory: name a file", out.display());
    }
    // --force replaces a file the user wrote, never a device, a pipe or a socket.
    if !target.is_file() {
        anyhow::bail!("--out {} is not a regular file (a device, a pipe or a socket): name a file", out.display());
    }
    if !force {
        anyhow::bail!("{} already exists: choose another --out, or add --force to replace it", out.display());
    }
    Ok(())
}

/// [`neurozoo_util::files::ensure_empty_dir`], for the commands: `advice` names a flag.
pub fn ensure_empty_dir(dir: &std::path::Path, advice: &str) -> anyhow::Result<()> {
    neurozoo_util::files::ensure_empty_dir(dir).map_err(|e| anyhow::anyhow!(e.advise(advice)))
}
