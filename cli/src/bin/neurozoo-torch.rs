//! `neurozoo-torch`: the half of the command line that links libtorch. Users run `neurozoo`,
//! which checks that libtorch loads and then hands model commands to this binary.

use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Parser;
use neurozoo_cli::args::{Cli, Command};
use neurozoo_zoo::TorchRuntime;

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        // The torch half of `neurozoo doctor`; always JSON, the front end formats it.
        Command::Doctor { .. } => {
            println!("{}", serde_json::to_string(&TorchRuntime::probe())?);
            Ok(())
        }
        other => bail!("neurozoo-torch does not run {other:?}; use `neurozoo`"),
    }
}
