//! `neurozoo fit`, for any family of models: the request from the job, what is about to be
//! fitted, the progress bar and log lines of its training events, and the family's own last
//! words ([`Worker::finish`]). The work is `neurozoo_zoo::run::family::Fit`.

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use neurozoo_job::FitJob;
use neurozoo_zoo::run::family::{Fit, Progress};

use super::family::Worker;

pub fn run<F: Worker>(job: &FitJob, config: F::Config) -> Result<()> {
    let request = F::request(job, config)?;
    super::set_threads(job.threads);
    let fit = Fit::prepare(request).map_err(super::prepare_error)?;
    if let Some((from, to)) = fit.raised {
        eprintln!("{} raised from {from} to {to}", F::LENGTH);
    }
    for line in F::describe(&fit) {
        eprintln!("{line}");
    }
    let out = fit.out.clone();
    let bar = ProgressBar::new(0).with_style(ProgressStyle::with_template(F::BAR).expect("valid template"));
    let fitted = fit
        .train(|event| {
            if let Some(p) = event.position() {
                bar.set_length(p.total);
                if let Some(stage) = p.stage {
                    bar.set_prefix(stage.to_string());
                }
                bar.set_position(p.done);
            }
            if let Some(line) = event.line() {
                bar.suspend(|| eprintln!("{line}"));
            }
        })
        .map_err(|e| super::run_error(e, ""))?;
    bar.finish_and_clear();
    F::finish(job, &fitted, &out)
}
