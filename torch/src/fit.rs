//! `neurozoo fit` of a response model: the request from the command line, the progress and the
//! summary printed; the work is `neurozoo_zoo::run::fit`.

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use neurozoo_job::FitJob;
use neurozoo_zoo::config::FitConfig;
use neurozoo_zoo::run::fit::{Fit, FitRequest};
use neurozoo_zoo::train::Event;

pub fn run(args: &FitJob, config: FitConfig) -> Result<()> {
    if args.iterations.is_some() {
        bail!("--iterations sets the steps of slowvae and betavae; {} trains by epochs: use --max-epochs", args.model);
    }
    super::set_threads(args.threads);
    let request = FitRequest {
        config,
        model: args.model.clone(),
        seed: args.seed,
        max_epochs: args.max_epochs,
        data: args.data.clone(),
        nwb: args.nwb.clone(),
        out: args.out.clone(),
        device: super::device(args.device)?,
        resume: args.resume,
    };
    // Where the run's recordings were, to say so when the same data comes from elsewhere.
    let fitted = args.resume.then(|| neurozoo_zoo::run::load_info(&args.out).ok()).flatten();
    let fit = Fit::prepare(request).map_err(super::prepare_error)?;
    for (r, was) in fit.recordings.iter().zip(fitted.iter().flat_map(|i| &i.recordings)) {
        if r.path.display().to_string() != was.data.path {
            eprintln!(
                "{}: the same data (fingerprint {}) as {}, which the run was fitted to",
                r.path.display(),
                was.data.fingerprint,
                was.data.path
            );
        }
    }
    if let Some((from, to)) = fit.raised {
        eprintln!("max_epochs raised from {from} to {to}");
    }
    let model_name = fit.config.preset.clone().unwrap_or_else(|| args.model.clone());
    for r in &fit.recordings {
        eprintln!(
            "fit {model_name} on {} ({} train, {} validation trials, {} units; {} images, {:.0} MiB) on {:?}",
            r.path.display(),
            r.train_trials,
            r.validation_trials,
            r.units,
            r.image_dtype,
            r.image_bytes as f64 / (1u64 << 20) as f64,
            fit.device
        );
    }
    if fit.recordings.len() > 1 {
        eprintln!("{} recordings: one shared core, one readout each; every step takes a batch of each", fit.recordings.len());
    }
    if let Some(f) = &fit.config.model.frozen_core {
        let [c, h, w] = fit.model.feature_shape();
        eprintln!("frozen core: layer {:?} of {} ({c} × {h} × {w} features), not trained", f.layer, f.file.display());
    }
    let out = fit.out.clone();
    let data: Vec<String> = fit.recordings.iter().map(|r| r.path.display().to_string()).collect();
    let bar = ProgressBar::new(0)
        .with_style(ProgressStyle::with_template("epoch {prefix:>3} [{bar:30}] {pos}/{len} batches {elapsed}").expect("valid template"));
    let fitted = fit
        .train(|event| match event {
            Event::Batch { epoch, done, total } => {
                bar.set_length(total as u64);
                bar.set_prefix(epoch.to_string());
                bar.set_position(done as u64);
            }
            Event::Epoch(r) => bar.suspend(|| {
                eprintln!(
                    "epoch {:>3}  loss {:.4}  validation correlation {:.4}{}  lr {:.2e}  {:.1} s",
                    r.epoch,
                    r.train_loss,
                    r.validation_correlation,
                    if r.best { " *" } else { "  " },
                    r.lr,
                    r.seconds
                )
            }),
            Event::Decay { epoch, lr, restored_epoch, stop } => bar.suspend(|| {
                if stop {
                    eprintln!(
                        "epoch {epoch:>3}  no improvement after the last learning-rate decay: restored epoch {restored_epoch}, stopping"
                    )
                } else {
                    eprintln!("epoch {epoch:>3}  no improvement: restored epoch {restored_epoch}, learning rate now {lr:.2e}")
                }
            }),
        })
        .map_err(|e| super::run_error(e, ""))?;
    bar.finish_and_clear();
    let info = &fitted.info;
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
