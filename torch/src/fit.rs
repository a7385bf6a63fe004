//! `neurozoo fit`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use neurozoo_analysis::tables::{write_table, Table};
use neurozoo_cli::args::FitArgs;
use neurozoo_cli::data::load_checked;
use neurozoo_datasets::Tier;
use neurozoo_zoo::config::FitConfig;
use neurozoo_zoo::model::Model;
use neurozoo_zoo::run::{self, DataInfo, Normalizer, RecordingInfo, RunInfo, RunStatus};
use neurozoo_zoo::train::{self, EpochRecord, Event, Trainer};
use neurozoo_zoo::{peak_rss_bytes, TorchRuntime};
use tch::nn;

/// The config of the run `--resume` continues. The command line (`asked`, MODEL resolved) must
/// agree with it: the same model, the same `--seed`; `--max-epochs` may only raise the limit
/// (said; the caller saves the config once the run is known to be resumable).
fn resume_config(args: &FitArgs, asked: FitConfig) -> Result<FitConfig> {
    let out = &args.out;
    let mut saved = run::load_response_config(out).map_err(|e| anyhow::anyhow!("cannot resume: {e}"))?;

    let mut asked = asked.model;
    // The run keeps its own copy of a frozen core under another name.
    if let (Some(a), Some(s)) = (asked.frozen_core.as_mut(), saved.model.frozen_core.as_ref()) {
        a.file.clone_from(&s.file);
    }
    let t = &mut saved.train;
    super::check_resume(args, asked == saved.model, t.seed, ("max_epochs", args.max_epochs, &mut t.max_epochs))?;
    Ok(saved)
}

pub fn run(args: &FitArgs, asked: FitConfig) -> Result<()> {
    if args.iterations.is_some() {
        bail!("--iterations sets the steps of slowvae and betavae; {} trains by epochs: use --max-epochs", args.model);
    }
    if let Some(n) = args.threads {
        tch::set_num_threads(n);
    }
    let device = super::device(args.device)?;
    let out = &args.out;
    let cfg = if args.resume {
        resume_config(args, asked)?
    } else {
        let mut cfg = asked;
        if let Some(seed) = args.seed {
            cfg.train.seed = seed;
        }
        if let Some(n) = args.max_epochs {
            cfg.train.max_epochs = n;
        }
        cfg.check().map_err(|e| anyhow::anyhow!("{e} (from the command line)"))?;
        cfg
    };
    let paths: Vec<&Path> = match args.data.as_slice() {
        [] => cfg.data.iter().map(|d| d.path.as_path()).collect(),
        given => given.iter().map(PathBuf::as_path).collect(),
    };
    if paths.is_empty() {
        bail!("no recordings to fit: give --data (several times for several recordings), or a [[data]] list in the config");
    }
    let names = run::recording_names(&paths).map_err(anyhow::Error::msg)?;
    let nwb = args.nwb.options();
    let datasets = paths.iter().map(|p| load_checked(p, &nwb)).collect::<Result<Vec<_>>>()?;
    // Every response model trains on the Poisson loss, which has no meaning below zero.
    for (p, ds) in paths.iter().zip(&datasets) {
        let train = ds.tier_indices(Tier::Train);
        let (negative, min) = train
            .iter()
            .flat_map(|&t| ds.responses.row(t))
            .fold((0usize, f32::INFINITY), |(n, min), &r| (n + usize::from(r < 0.0), min.min(r)));
        if negative > 0 {
            bail!(
                "{}: responses has {negative} negative values in the train tier (min {min}): the Poisson loss needs responses ≥ 0",
                p.display()
            );
        }
    }
    // One core sees every recording's images: they must have one shape.
    let input = datasets[0].image_shape();
    if let Some((p, ds)) = paths.iter().zip(&datasets).find(|(_, ds)| ds.image_shape() != input) {
        bail!(
            "{} has {:?} images but {} has {input:?}: recordings fitted together share one core and need one image shape",
            p.display(),
            ds.image_shape(),
            paths[0].display()
        );
    }
    let mut recordings = Vec::new();
    for ((name, path), ds) in names.iter().zip(&paths).zip(&datasets) {
        let normalizer = Normalizer::from_train(ds).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        recordings.push(RecordingInfo { name: name.clone(), data: DataInfo::of(ds, path), normalizer });
    }
    if args.resume {
        let info = run::load_info(out).map_err(|e| anyhow::anyhow!("cannot resume: {e}"))?;
        let fitted: Vec<(&str, &str)> = info.recordings.iter().map(|r| (r.name.as_str(), r.data.fingerprint.as_str())).collect();
        let given: Vec<(&str, &str)> = recordings.iter().map(|r| (r.name.as_str(), r.data.fingerprint.as_str())).collect();
        if fitted != given {
            let list =
                |r: &[RecordingInfo]| r.iter().map(|r| format!("{} ({})", r.data.path, r.data.fingerprint)).collect::<Vec<_>>().join(", ");
            bail!("cannot resume {}: it was fitted to {}, not to {}", out.display(), list(&info.recordings), list(&recordings));
        }
        if info.status == RunStatus::Complete {
            bail!("cannot resume {}: it is already complete", out.display());
        }
        // A raised --max-epochs (resume_config) is now the run's.
        run::save_config(out, &cfg).map_err(anyhow::Error::msg)?;
    } else {
        neurozoo_cli::ensure_empty_dir(out, "choose a new --out, or add --resume to continue it")?;
    }
    tch::manual_seed(cfg.train.seed as i64);
    let vs = nn::VarStore::new(device);
    let mean_responses: Vec<Vec<f32>> = recordings.iter().zip(&datasets).map(|(r, ds)| r.normalizer.mean_train_response(ds)).collect();
    // Built before the run directory exists: a frozen core that does not load leaves nothing.
    let model = Model::shared(&vs.root(), &cfg.model, input, &mean_responses).map_err(anyhow::Error::msg)?;
    for (r, (ds, p)) in datasets.iter().zip(&paths).enumerate() {
        model.set_cortex(r, &ds.units).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
    }
    // Also before the run directory exists: a recording without what the model reads leaves nothing.
    let data = recordings
        .iter()
        .zip(&datasets)
        .zip(&paths)
        .map(|((r, ds), p)| r.normalizer.train_data(ds, device, &model.inputs()).map_err(|e| anyhow::anyhow!("{}: {e}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    if !args.resume {
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        run::save_config(out, &cfg).map_err(anyhow::Error::msg)?;
    }
    let mut info = RunInfo {
        neurozoo: env!("CARGO_PKG_VERSION").to_string(),
        libtorch: TorchRuntime::probe().version_full,
        device: format!("{device:?}"),
        recordings,
        status: RunStatus::Running,
        epochs: 0,
        best_epoch: 0,
        best_validation_correlation: None,
        seconds: 0.0,
        peak_rss_bytes: peak_rss_bytes(),
        fitter: Some(run::Fitter::this()),
    };
    run::save_info(out, &info).map_err(anyhow::Error::msg)?;

    for ((path, ds), d) in paths.iter().zip(&datasets).zip(&data) {
        eprintln!(
            "fit {} on {} ({} train, {} validation trials, {} units; {} images, {:.0} MiB) on {device:?}",
            cfg.preset.as_deref().unwrap_or(&args.model),
            path.display(),
            d.train.len(),
            d.validation.len(),
            ds.n_units(),
            ds.images.dtype(),
            ds.images.nbytes() as f64 / (1u64 << 20) as f64
        );
    }
    if paths.len() > 1 {
        eprintln!("{} recordings: one shared core, one readout each; every step takes a batch of each", paths.len());
    }
    if let Some(f) = &cfg.model.frozen_core {
        let [c, h, w] = model.feature_shape();
        eprintln!("frozen core: layer {:?} of {} ({c} × {h} × {w} features), not trained", f.layer, f.file.display());
    }
    let start = Instant::now();
    let trainer = Trainer { model: &model, vs: &vs, cfg: &cfg.train, checkpoint_dir: Some(out.clone()) };
    let bar = ProgressBar::new(0)
        .with_style(ProgressStyle::with_template("epoch {prefix:>3} [{bar:30}] {pos}/{len} batches {elapsed}").expect("valid template"));
    let schedule = trainer
        .fit(&data, args.resume, |event| match event {
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
        .map_err(anyhow::Error::msg)?;
    bar.finish_and_clear();

    write_table(&metrics_table(&schedule.history), out, run::METRICS_STEM).map_err(anyhow::Error::msg)?;
    train::write_safetensors_atomic(&train::named_weights(&vs), &out.join(run::MODEL_FILE)).map_err(anyhow::Error::msg)?;
    info.status = if schedule.finished { RunStatus::Complete } else { RunStatus::Running };
    info.epochs = schedule.epoch;
    info.best_epoch = schedule.best_epoch;
    info.best_validation_correlation = Some(schedule.best_score);
    info.seconds = start.elapsed().as_secs_f64();
    info.peak_rss_bytes = peak_rss_bytes();
    info.fitter = None;
    run::save_info(out, &info).map_err(anyhow::Error::msg)?;
    eprintln!(
        "best validation correlation {:.4} at epoch {} of {} ({:.0} s, peak memory {}); wrote {}\nevaluate with: neurozoo eval {} --data {}",
        schedule.best_score,
        schedule.best_epoch,
        schedule.epoch,
        info.seconds,
        info.peak_rss_bytes.map_or("unknown".into(), |b| format!("{:.0} MiB", b as f64 / (1u64 << 20) as f64)),
        out.display(),
        out.display(),
        paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" --data ")
    );
    Ok(())
}

fn metrics_table(history: &[EpochRecord]) -> Table {
    let f = |get: fn(&EpochRecord) -> f64| history.iter().map(get).collect();
    Table::new()
        .i64("epoch", history.iter().map(|r| r.epoch as i64).collect())
        .f64("lr", f(|r| r.lr))
        .f64("train_loss", f(|r| r.train_loss))
        .f64("regularizer", f(|r| r.regularizer))
        .f64("validation_correlation", f(|r| r.validation_correlation))
        .bool("best", history.iter().map(|r| r.best).collect())
        .f64("seconds", f(|r| r.seconds))
}
