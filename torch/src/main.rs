//! `neurozoo-torch`: the half of the command line that links libtorch. Users run `neurozoo`,
//! which parses the command line, checks that libtorch loads and then hands a model command to
//! this binary as a [`Job`] (`neurozoo_job`): `neurozoo-torch job` reads it from standard input,
//! `neurozoo-torch job FILE` from a file. `neurozoo-torch doctor` prints the torch half of
//! `neurozoo doctor` as JSON.
//!
//! A model command runs as one family's ([`family::Worker`]): the family is picked once, from
//! the preset of a fit or the `run.json` of a run, by [`family::with_family`]; `fit` is generic
//! over it, and each family says how its runs are evaluated and extracted from (`responses`,
//! `slowvae`).

mod eval;
mod exchange;
mod extract;
mod family;
mod fit;
mod insilico;
mod responses;
mod slowvae;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use neurozoo_config::DeviceChoice;
use neurozoo_job::Job;
use neurozoo_tensor::DeviceError;
use neurozoo_zoo::config::Preset;
use neurozoo_zoo::model::FrozenCoreFailure;
use neurozoo_zoo::run::{ResumeConflict, RunError, Unfinished};
use neurozoo_zoo::TorchRuntime;

fn main() -> ExitCode {
    neurozoo_util::memory::keep_freed_memory();
    // A frozen network failing on a batch is the user's input at fault, not a crash of ours.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| match info.payload().downcast_ref::<FrozenCoreFailure>() {
        Some(FrozenCoreFailure(message)) => {
            eprintln!("error: {message}");
            std::process::exit(1);
        }
        None => default_hook(info),
    }));
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match start(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn start(args: &[OsString]) -> Result<()> {
    let words: Vec<&str> = args.iter().map(|a| a.to_str().unwrap_or("?")).collect();
    let text = match words.as_slice() {
        ["doctor"] => {
            println!("{}", serde_json::to_string(&TorchRuntime::probe())?);
            return Ok(());
        }
        ["job"] => std::io::read_to_string(std::io::stdin()).context("cannot read the job from standard input")?,
        ["job", _] => {
            let file = Path::new(&args[1]);
            std::fs::read_to_string(file).with_context(|| format!("cannot read the job {}", file.display()))?
        }
        _ => bail!("neurozoo-torch does not run `{}`: it runs the jobs neurozoo hands it; use `neurozoo`", words.join(" ")),
    };
    run(Job::from_json(&text)?)
}

fn run(job: Job) -> Result<()> {
    use family::{kind_of_run, with_family, FitTask};
    // One writer per output: held until the job ends, released by the kernel if it dies.
    let _lock = job.output().map(|out| neurozoo_util::lock::lock(out, &job.describe())).transpose()?;
    match job {
        Job::Fit(job) => {
            let preset = Preset::resolve(&job.model)?;
            with_family(preset.kind(), FitTask { job: &job, preset })
        }
        Job::Eval(job) => with_family(kind_of_run(&job.runs), &job),
        Job::Extract(job) => with_family(kind_of_run(&job.runs), &job),
        Job::Insilico(job) => with_family(kind_of_run(&job.runs), &job),
        Job::Import(job) => exchange::import(&job),
        Job::Export(job) => exchange::export(&job),
    }
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
        RunError::Output(e) => anyhow::anyhow!(e.advise(advice)),
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

/// `--threads`: libtorch's intra-op threads, when asked for.
fn set_threads(threads: Option<u32>) {
    if let Some(n) = threads {
        // More threads than i32 holds are no different from as many as libtorch will make.
        tch::set_num_threads(i32::try_from(n).unwrap_or(i32::MAX));
    }
}
