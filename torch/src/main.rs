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
use neurozoo_cli::args::{Cli, Command, FitArgs};
use neurozoo_config::DeviceChoice;
use neurozoo_tensor::DeviceError;
use neurozoo_zoo::config::{Preset, VaeFitConfig};
use neurozoo_zoo::model::FrozenCoreFailure;
use neurozoo_zoo::run;
use neurozoo_zoo::TorchRuntime;

fn main() -> ExitCode {
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
        Command::Fit(args) => match Preset::resolve(&args.model).map_err(anyhow::Error::msg)? {
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
    Ok(match run::load_config(run_dir).map_err(anyhow::Error::msg)? {
        Preset::SpritePairs(cfg) => Some(cfg),
        Preset::Responses(_) => None,
    })
}

/// What `fit --resume` checks of the command line against the run it continues, for both kinds
/// of model: the same model (`same_model`), no other `--seed`, and a training length (`limit`:
/// its config key, what the command line asks, the run's) that may only be raised, which is
/// said and taken.
fn check_resume(args: &FitArgs, same_model: bool, seed: u64, limit: (&str, Option<usize>, &mut usize)) -> Result<()> {
    let out = args.out.display();
    if !same_model {
        bail!("cannot resume {out}: {} is not the model it was fitted with (see its config.toml)", args.model);
    }
    if let Some(asked) = args.seed.filter(|&s| s != seed) {
        bail!("cannot resume {out}: --seed {asked} conflicts with the run's seed {seed}");
    }
    let (key, asked, saved) = limit;
    if let Some(n) = asked.filter(|&n| n != *saved) {
        if n < *saved {
            bail!("cannot resume {out}: --{} {n} is below the run's {saved}; a resumed run can only be given more", key.replace('_', "-"));
        }
        eprintln!("{key} raised from {saved} to {n}");
        *saved = n;
    }
    Ok(())
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
