//! The response models as the worker runs them: the fit request and summary here, `eval`,
//! `extract` and `insilico` in their modules.

use std::path::Path;

use anyhow::{bail, Result};
use neurozoo_job::{EvalJob, ExtractJob, FitJob, InsilicoJob};
use neurozoo_zoo::run::family::{FitOutcome, FitRequest};
use neurozoo_zoo::run::Responses;

use super::family::Worker;

impl Worker for Responses {
    const BAR: &'static str = "epoch {prefix:>3} [{bar:30}] {pos}/{len} batches {elapsed}";

    fn request(job: &FitJob, config: Self::Config) -> Result<FitRequest<Self>> {
        if job.iterations.is_some() {
            bail!("--iterations sets the steps of slowvae and betavae; {} trains by epochs: use --max-epochs", job.model);
        }
        super::family::fit_request(job, config, job.max_epochs)
    }

    fn finish(_: &FitJob, fitted: &FitOutcome<Self>, out: &Path) -> Result<()> {
        let info = &fitted.info;
        let data: Vec<String> = fitted.prepared.recordings.iter().map(|r| r.path.display().to_string()).collect();
        eprintln!(
            "best validation correlation {:.4} at epoch {} of {} ({:.0} s, peak memory {}); wrote {}\nevaluate with: neurozoo eval {} --data {}",
            info.best_validation_correlation.unwrap_or(f64::NAN),
            info.best_epoch,
            info.epochs,
            info.seconds,
            info.memory,
            out.display(),
            out.display(),
            data.join(" --data ")
        );
        Ok(())
    }

    fn eval_job(job: &EvalJob) -> Result<()> {
        super::eval::run(job)
    }

    fn extract_job(job: &ExtractJob) -> Result<()> {
        super::extract::run(job)
    }

    fn insilico_job(job: &InsilicoJob) -> Result<()> {
        super::insilico::run(job)
    }
}
