//! The worker's side of a family of models: how a fit job becomes its request, what it says
//! and draws once trained, how its runs are evaluated and extracted from, and what it does not
//! do. The family is picked once, by [`with_family`]; the rest is generic over [`Worker`].

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use neurozoo_config::{ModelKind, Preset};
use neurozoo_job::{EvalJob, ExtractJob, FitJob, InsilicoJob};
use neurozoo_zoo::run::family::{ExtractOptions, FitOutcome, FitRequest, ModelFamily};
use neurozoo_zoo::run::{Operation, Responses, RunError, SpritePairs};

/// A family of models as the worker runs it.
pub trait Worker: ModelFamily {
    /// The template of the progress bar of a fit.
    const BAR: &'static str;
    /// The request of a fit job, refusing flags the family has no use for.
    fn request(job: &FitJob, config: Self::Config) -> Result<FitRequest<Self>>;
    /// What a fit writes and says once trained into `out`.
    fn finish(job: &FitJob, fitted: &FitOutcome<Self>, out: &Path) -> Result<()>;
    fn eval_job(job: &EvalJob) -> Result<()>;
    fn extract_job(job: &ExtractJob) -> Result<()>;
    /// In-silico experiments, which only some families have a meaning for.
    fn insilico_job(job: &InsilicoJob) -> Result<()> {
        let run = job.runs.first().cloned().unwrap_or_default();
        Err(RunError::Unsupported { run, family: Self::NAME, operation: Operation::Insilico }.into())
    }
}

/// A job run as one family's.
pub trait Task {
    fn run<F: Worker>(self) -> Result<()>;
}

/// A fit job's request for a family whose training length is `length` (its `--max-epochs` or
/// `--iterations`).
pub fn fit_request<F: ModelFamily>(job: &FitJob, config: F::Config, length: Option<usize>) -> Result<FitRequest<F>> {
    Ok(FitRequest {
        config,
        model: job.model.clone(),
        seed: job.seed,
        length,
        data: job.data.clone(),
        nwb: job.nwb.clone(),
        out: job.out.clone(),
        device: super::device(job.device)?,
        resume: job.resume,
    })
}

/// Run `task` as a job of the family `kind`: the one place a kind becomes its family.
pub fn with_family(kind: ModelKind, task: impl Task) -> Result<()> {
    match kind {
        ModelKind::Responses => task.run::<Responses>(),
        ModelKind::SpritePairs => task.run::<SpritePairs>(),
    }
}

/// The kind of the first of `runs`; a path that holds no readable run (a TorchScript file to
/// extract from, a directory that is not a run) is taken for a response model's, whose commands
/// say what is wrong with it, as they check an ensemble's other runs.
pub fn kind_of_run(runs: &[PathBuf]) -> ModelKind {
    runs.first().and_then(|path| neurozoo_job::RunInfo::load(path).ok()).map_or(ModelKind::Responses, |info| info.kind())
}

/// The one run of a job of a family without ensembles.
pub fn one_run<F: ModelFamily>(runs: &[PathBuf]) -> Result<&Path> {
    match runs {
        [run] => Ok(run),
        [] => bail!("no run given"),
        _ => bail!("{} is a {}, which has no ensembles: give one run (given {})", runs[0].display(), F::NAME, runs.len()),
    }
}

/// `--layer A,B`: the layers named, none twice; empty when none is named.
pub fn layers(layer: Option<&str>) -> Result<Vec<String>> {
    let named: Vec<String> = layer.map(|l| l.split(',').map(|s| s.trim().to_string()).collect()).unwrap_or_default();
    if let Some(twice) = named.iter().enumerate().find(|(i, l)| named[..*i].contains(l)).map(|(_, l)| l) {
        bail!("--layer names {twice:?} twice");
    }
    Ok(named)
}

/// What an extract job asks of a run.
pub fn extract_options(job: &ExtractJob) -> Result<ExtractOptions> {
    Ok(ExtractOptions {
        layers: layers(job.layer.as_deref())?,
        tiers: job.tiers.clone(),
        nwb: job.nwb.clone(),
        device: super::device(job.device)?,
    })
}

/// A fit job of the preset resolved.
pub struct FitTask<'a> {
    pub job: &'a FitJob,
    pub preset: Preset,
}

impl Task for FitTask<'_> {
    fn run<F: Worker>(self) -> Result<()> {
        let config = F::config(self.preset).expect("the family is the preset's kind");
        super::fit::run::<F>(self.job, config)
    }
}

impl Task for &EvalJob {
    fn run<F: Worker>(self) -> Result<()> {
        F::eval_job(self)
    }
}

impl Task for &ExtractJob {
    fn run<F: Worker>(self) -> Result<()> {
        F::extract_job(self)
    }
}

impl Task for &InsilicoJob {
    fn run<F: Worker>(self) -> Result<()> {
        F::insilico_job(self)
    }
}
