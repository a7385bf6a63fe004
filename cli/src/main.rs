use std::process::ExitCode;

use clap::Parser;
use neurozoo_cli::args::{Cli, Command, ZooCommand};
use neurozoo_cli::{analyze, data, doctor, torch};

fn main() -> ExitCode {
    // Analysis plugins train in this process (sparse autoencoders): their batches reuse freed memory.
    neurozoo_util::memory::keep_freed_memory();
    let cli = Cli::parse();
    // Checked here for both halves: the worker writes what `extract RUN` extracts.
    let refused = match &cli.command {
        Command::Extract { runs, data, out, force, .. } => {
            let inputs: Vec<&std::path::Path> = std::iter::once(data).chain(runs).map(std::path::PathBuf::as_path).collect();
            neurozoo_cli::check_output_file(out, &inputs, *force).err()
        }
        _ => None,
    };
    let result = match (refused, cli.command.job()) {
        (Some(e), _) => Err(e),
        (None, Err(e)) => Err(e.into()),
        (None, Ok(Some(job))) => match job.output().map(|out| neurozoo_util::files::check_outside_inputs(out, &job.inputs())) {
            Some(Err(e)) => Err(e.into()),
            _ => Err(torch::exec(&job)),
        },
        (None, Ok(None)) => run(cli.command).map(|()| ExitCode::SUCCESS),
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
        Command::Demo { out, max_epochs, quick } => neurozoo_cli::demo::run(&out, max_epochs, quick),
        // Without runs (with them, `extract` is a model command and never comes here).
        Command::Extract { layer: Some(layer), .. } => {
            anyhow::bail!(
                "--layer {layer} reads a model: give the run directory or TorchScript file (`neurozoo extract RUN --data F --layer {layer} --out R.h5`)"
            )
        }
        Command::Extract { data, out, tiers, nwb, .. } => analyze::extract_responses(&data, &out, &tiers, &nwb.options()),
        Command::Plugins { command } => analyze::plugins(command),
        Command::Analyze(args) => analyze::analyze(&args),
        Command::PluginHost => analyze::plugin_host(),
        Command::Compare(args) => analyze::compare(&args),
        Command::Sweep(args) => neurozoo_cli::sweep::run(args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "neurozoo", &mut std::io::stdout());
            Ok(())
        }
        Command::Zoo { command: ZooCommand::List } => {
            for (name, description) in neurozoo_config::PRESETS {
                println!("{name:<13} {description}");
            }
            Ok(())
        }
        Command::Fit(_) | Command::Eval { .. } | Command::Import(_) | Command::Export { .. } | Command::Insilico { .. } => {
            unreachable!("model commands run in {}", torch::WORKER)
        }
    }
}
