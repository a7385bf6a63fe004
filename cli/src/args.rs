//! Command-line arguments, shared by `neurozoo` and the `neurozoo-torch` worker.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "neurozoo", version, about = "Neural system identification and representation analysis")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Versions of neurozoo, libtorch, CUDA and HDF5, and where plugins are looked for.
    Doctor {
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run the whole pipeline on built-in simulated data.
    Demo {
        /// Output directory.
        #[arg(long, default_value = "demo-out")]
        out: PathBuf,
    },
}

impl Command {
    /// Whether the command runs in the `neurozoo-torch` worker.
    pub fn needs_torch(&self) -> bool {
        false
    }
}
