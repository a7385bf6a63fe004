//! The `neurozoo` command line: argument definitions and the commands that need no libtorch.
//!
//! The binary is split in two so that a missing or broken libtorch gives a clear error instead of
//! a dynamic-loader crash: `neurozoo` (this crate, no libtorch in its dependency graph) runs the
//! data and analysis commands itself and hands the model commands to `neurozoo-torch`, after
//! checking that libtorch can be loaded. Both binaries parse the same [`args::Cli`].

pub mod analyze;
pub mod args;
pub mod data;
pub mod demo;
pub mod doctor;
pub mod report;
pub mod scaffold;
pub mod torch;

/// Refuse an output directory that already holds something, before any work: nothing a user
/// had is overwritten. `advice` completes the message ("choose a new --out").
pub fn ensure_empty_dir(dir: &std::path::Path, advice: &str) -> anyhow::Result<()> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        anyhow::bail!("{} already exists and is not empty: {advice}", dir.display());
    }
    Ok(())
}
