//! `neurozoo-torch`: the half of the command line that links libtorch. Users run `neurozoo`,
//! which checks that libtorch loads and then hands model commands to this binary.

mod eval;
mod extract;
mod fit;
mod slowvae;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Parser;
use neurozoo_cli::args::{Cli, Command};
use neurozoo_config::DeviceChoice;
use neurozoo_tensor::DeviceError;
use neurozoo_zoo::config::{Preset, VaeFitConfig};
use neurozoo_zoo::model::FrozenCoreFailure;
use neurozoo_zoo::run::{self, ResumeConflict, RunError, Unfinished};
use neurozoo_zoo::TorchRuntime;

fn main() -> ExitCode {
    neurozoo_zoo::keep_freed_memory();
    // A frozen network failing on a batch is the user's input at fault, not a crash of ours.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| match info.payload().downcast_ref::<FrozenCoreFailure>() {
        Some(FrozenCoreFailure(message)) => {
            eprintln!("error: {message}");
            std::process::exit(1);
        }
        None => default_hook(info),
    }));
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
        Command::Fit(args) => match Preset::resolve(&args.model)? {
            Preset::SpritePairs(cfg) => slowvae::fit(&args, cfg),
            Preset::Responses(cfg) => fit::run(&args, cfg),
        },
        Command::Eval { run, data, device, json, intervention_points, figures, nwb } => match run_config(&run)? {
            Some(_) if figures.is_some() => {
                bail!("--figures: {} is a sprite-pair model, whose fit already drew its figures", run.display())
            }
            Some(cfg) => match data.as_slice() {
                [one] => slowvae::eval(&run, cfg, one, device, json, intervention_points),
                _ => bail!("{} is a sprite-pair model: evaluate it on one sprites file (--data given {} times)", run.display(), data.len()),
            },
            None => eval::run(&run, &data, device, json, figures.as_deref(), &nwb.options()),
        },
        Command::Extract { run: Some(run), data, out, layer, tiers, device, nwb, .. } => match run_config(&run)? {
            Some(_) if !tiers.is_empty() => anyhow::bail!("--tiers: {} is a sprite-pair model, whose data have no tiers", run.display()),
            Some(cfg) => slowvae::extract(&run, cfg, &data, &out, layer.as_deref(), device),
            None => extract::run(&run, &data, &out, layer.as_deref(), &tiers, device, &nwb.options()),
        },
        other => bail!("neurozoo-torch does not run {other:?}; use `neurozoo`"),
    }
}

/// The config of a sprite-pair run, None for a response model's run (or a path that is not a
/// run directory: a TorchScript file to extract from, which the response path reports on).
fn run_config(run_dir: &Path) -> Result<Option<VaeFitConfig>> {
    if !run_dir.join(run::CONFIG_FILE).is_file() {
        return Ok(None);
    }
    Ok(match run::load_config(run_dir)? {
        Preset::SpritePairs(cfg) => Some(cfg),
        Preset::Responses(_) => None,
    })
}

/// A run API error as the command line says it: a resume conflict or an interrupted run names
/// the flag concerned, and an output directory that is taken gets `advice` (a flag to change).
fn run_error(e: RunError, advice: &str) -> anyhow::Error {
    match e {
        RunError::Resume { run, conflict } => resume_error(&run, conflict),
        RunError::Unfinished(Unfinished::Interrupted { dir, epochs: Some(epochs) }) => anyhow::anyhow!(
            "{} was interrupted after {epochs} epoch(s): `neurozoo fit` with --out {} --resume continues it",
            dir.display(),
            dir.display()
        ),
        RunError::Unfinished(Unfinished::Interrupted { dir, epochs: None }) => anyhow::anyhow!(
            "{} was interrupted before it finished: continue it with `neurozoo fit … --out {} --resume`",
            dir.display(),
            dir.display()
        ),
        RunError::Output(e) => neurozoo_cli::output_dir_error(e, advice),
        other => other.into(),
    }
}

/// Why a fit (of either kind of model) cannot start, as the command line says it.
fn prepare_error(e: RunError) -> anyhow::Error {
    match e {
        // The config was checked when it was read: only the flags changed it since.
        RunError::Config(e) => anyhow::anyhow!("{e} (from the command line)"),
        e => run_error(e, "choose a new --out, or add --resume to continue it"),
    }
}

/// Why `fit --resume` of the run at `run` is refused, naming the flag that conflicts.
fn resume_error(run: &Path, conflict: ResumeConflict) -> anyhow::Error {
    let run = run.display();
    match conflict {
        ResumeConflict::Seed { asked, saved } => {
            anyhow::anyhow!("cannot resume {run}: --seed {asked} conflicts with the run's seed {saved}")
        }
        ResumeConflict::Lowered { key, asked, saved } => anyhow::anyhow!(
            "cannot resume {run}: --{} {asked} is below the run's {saved}; a resumed run can only be given more",
            key.replace('_', "-")
        ),
        other => anyhow::anyhow!("cannot resume {run}: {other}"),
    }
}

/// `--device auto|cpu|cuda` as a tch device.
fn device(choice: DeviceChoice) -> Result<tch::Device> {
    neurozoo_tensor::device(choice).map_err(|e| match e {
        DeviceError::CudaUnavailable => {
            anyhow::anyhow!("--device cuda was requested but libtorch sees no CUDA device (run `neurozoo doctor`)")
        }
        other => other.into(),
    })
}
