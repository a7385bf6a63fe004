use std::process::ExitCode;

use clap::Parser;
use neurozoo_cli::args::{Cli, Command};
use neurozoo_cli::{data, doctor, torch};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = if cli.command.needs_torch() {
        // Model commands run in the worker, which parses the very same arguments.
        torch::run(std::env::args_os().skip(1)).map(|status| match status.code() {
            Some(0) => ExitCode::SUCCESS,
            Some(code) => ExitCode::from(code.clamp(1, 255) as u8),
            None => {
                eprintln!("error: {} was killed ({status})", torch::WORKER);
                ExitCode::FAILURE
            }
        })
    } else {
        run(cli.command).map(|()| ExitCode::SUCCESS)
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Doctor { json } => doctor::run(json),
        Command::Data { command } => data::run(command),
        Command::Demo { out } => neurozoo_cli::demo::run(&out),
    }
}
