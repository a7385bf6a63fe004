//! `neurozoo insilico mei|tuning`: experiments on a fitted or imported response model, or on an
//! ensemble of them (the mean of their rates). The work is `neurozoo_zoo::insilico`; this reads
//! the runs and the data, resolves the units, and writes the experiment's files, tables and
//! figures into a new or empty directory.

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use neurozoo_analysis::figures::draw_figure;
use neurozoo_datasets::stats::median;
use neurozoo_datasets::Tier;
use neurozoo_job::{Experiment, InsilicoJob};
use neurozoo_tables::write_table;
use neurozoo_zoo::insilico::mei::{best_activation, optimise, MeiParams, StimulusStatistics};
use neurozoo_zoo::insilico::tuning::{measure, TuningParams, UnitTuning};
use neurozoo_zoo::model::Predictor;
use neurozoo_zoo::run::ensemble::Ensemble;

/// MEIs and tuning curves shown in the figures (of all units computed).
const SHOWN: usize = 16;

pub fn run(job: &InsilicoJob) -> Result<()> {
    let device = super::device(job.device)?;
    let ensemble = Ensemble::load(&job.runs, device).map_err(|e| super::run_error(e, ""))?;
    let (info, model, name) = (ensemble.info(), ensemble.model(), ensemble.name());
    let recordings: Vec<&str> = info.recordings.iter().map(|r| r.name.as_str()).collect();
    let recording = match (&job.recording, recordings.as_slice()) {
        (None, [_]) => 0,
        (None, _) => bail!("{name} has {} recordings ({}): choose one with --recording", recordings.len(), recordings.join(", ")),
        (Some(wanted), _) => recordings
            .iter()
            .position(|r| r == wanted)
            .with_context(|| format!("--recording {wanted:?}: {name} has no such recording (it has {})", recordings.join(", ")))?,
    };
    let n_units = info.recordings[recording].data.n_units;

    // The training images set the defaults; without them the settings must be given.
    let (statistics, unit_ids, data) = match &job.data {
        Some(path) => {
            let data = ensemble.recording(path, &Default::default()).map_err(|e| super::run_error(e, ""))?;
            if data.index != recording {
                bail!(
                    "--data {} is recording {:?} of the run, not --recording {:?}",
                    path.display(),
                    recordings[data.index],
                    recordings[recording]
                );
            }
            super::eval::note_other_data(&data);
            let normalizer = &info.recordings[recording].normalizer;
            let stimuli = normalizer.stimuli(&data.dataset, device, &model.inputs())?;
            let train: Vec<i64> = data.dataset.tier_indices(Tier::Train).into_iter().map(|i| i as i64).collect();
            let statistics = StimulusStatistics::of(&model, &stimuli, &train).with_context(|| path.display().to_string())?;
            let ids = data.dataset.units.ids.clone();
            (statistics, ids, Some((stimuli, train)))
        }
        None => {
            let norm = job
                .norm
                .context("without --data there are no training images to take the norm from: give --data (the recording) or --norm")?;
            let (min, max) = match (&job.experiment, job.range) {
                (_, Some(range)) => range,
                (Experiment::Mei { .. }, None) => {
                    bail!("without --data there is no pixel range to keep MEIs in: give --data or --range LO,HI")
                }
                // Gratings have no range to keep; a tuning experiment reads none.
                (Experiment::Tuning { .. }, None) => (f64::MIN, f64::MAX),
            };
            let extra = model.inputs().extra_channels();
            if extra > 0 {
                bail!("{name} reads {extra} behaviour channel(s) besides the image: give --data so they are held at their training means");
            }
            let statistics = StimulusStatistics {
                image_shape: info.recordings[recording].data.image_shape,
                mean_norm: norm,
                min,
                max,
                channel_means: Vec::new(),
                pupil_mean: None,
            };
            (statistics, (0..n_units as i64).collect(), None)
        }
    };
    let units: Vec<usize> = if job.units.is_empty() {
        (0..n_units).collect()
    } else {
        job.units
            .iter()
            .map(|id| {
                unit_ids.iter().position(|u| u == id).with_context(|| {
                    let ids = match (unit_ids.first(), unit_ids.last()) {
                        (Some(first), Some(last)) => format!("its ids run {first} … {last}"),
                        _ => "it has no units".to_string(),
                    };
                    format!("--units: recording {:?} has no unit {id} ({ids})", recordings[recording])
                })
            })
            .collect::<Result<_>>()?
    };
    // Checked before the experiment runs, and again when its outputs are moved into place.
    neurozoo_util::files::ensure_empty_dir(&job.out).map_err(|e| anyhow::anyhow!(e.advise("choose a new --out")))?;

    match &job.experiment {
        Experiment::Mei { steps, lr, blur, jitter, smoothness } => {
            let mut params = MeiParams::default().seed(job.seed);
            if let Some(v) = steps {
                params = params.steps(*v);
            }
            if let Some(v) = lr {
                params = params.lr(*v);
            }
            if let Some(v) = blur {
                params = params.blur_sigma(*v);
            }
            if let Some(v) = jitter {
                params = params.jitter(*v);
            }
            if let Some(v) = smoothness {
                params = params.smoothness(*v);
            }
            if let Some(v) = job.norm {
                params = params.norm(v);
            }
            if let Some((lo, hi)) = job.range {
                params = params.value_range(lo, hi);
            }
            if let Some(v) = job.batch_size {
                params = params.batch_size(v);
            }
            let params = params.check()?;
            let batches = units.len().div_ceil(params.batch_size());
            let bar = ProgressBar::new((params.steps() * batches) as u64).with_style(
                ProgressStyle::with_template("MEIs of {prefix} [{bar:30}] {pos}/{len} steps {elapsed} (eta {eta})")
                    .expect("valid template"),
            );
            bar.set_prefix(match batches {
                1 => format!("{} units", units.len()),
                b => format!("{} units in {b} batches", units.len()),
            });
            let meis = optimise(&model, recording, &units, &statistics, &params, device, |step| bar.set_position(step as u64))?;
            bar.finish_and_clear();
            let best = data.as_ref().map(|(stimuli, train)| best_activation(&model, recording, &units, stimuli, train));
            write_whole(&job.out, |dir| {
                meis.file(recordings[recording], &unit_ids, best.clone(), &params).write(&dir.join("meis.h5"))?;
                write_table(&meis.table(&unit_ids, best.as_deref()), dir, "mei")?;
                draw_figure(&meis.figure(&unit_ids, SHOWN), dir, "meis")?;
                Ok(())
            })?;
            let mean = meis.activation.iter().map(|&a| f64::from(a)).sum::<f64>() / units.len() as f64;
            let ratio = best.as_deref().map_or(String::new(), |best| {
                let ratio = meis.ratios(best).iter().sum::<f64>() / units.len() as f64;
                format!(", {ratio:.2}× the best training image on average")
            });
            eprintln!("{} MEIs, {} steps: mean rate {mean:.3}{ratio}", units.len(), meis.steps);
        }
        Experiment::Tuning { orientations, spatial_frequencies, phases } => {
            let mut params = TuningParams::default().seed(job.seed);
            if let Some(v) = orientations {
                params = params.orientations(*v);
            }
            if let Some(v) = spatial_frequencies {
                params = params.spatial_frequencies(*v);
            }
            if let Some(v) = phases {
                params = params.phases(*v);
            }
            if let Some(v) = job.norm {
                params = params.contrast(v);
            }
            if let Some(v) = job.batch_size {
                params = params.batch_size(v);
            }
            let params = params.check()?;
            eprintln!("tuning {} units", units.len());
            let tuning = measure(&model, recording, &units, &statistics, &params, None, device)?;
            write_whole(&job.out, |dir| {
                tuning.write_table(&unit_ids, dir)?;
                for (stem, figure) in tuning.figures(&unit_ids, SHOWN) {
                    draw_figure(&figure, dir, &stem)?;
                }
                Ok(())
            })?;
            let summary = tuning.summary();
            // Over the units whose measure is defined; "-" when no unit's is.
            let median = |f: fn(&UnitTuning) -> f64| median(&mut summary.iter().map(f).filter(|x| x.is_finite()).collect::<Vec<_>>());
            let show = |m: f64| if m.is_finite() { format!("{m:.2}") } else { "-".to_string() };
            eprintln!(
                "{} units: median OSI {}, median F1/F0 {}, median surround suppression {}, median c50 {}",
                units.len(),
                show(median(|t| t.osi)),
                show(median(|t| t.f1_f0)),
                show(median(|t| t.surround_suppression)),
                show(median(|t| t.c50))
            );
        }
    }
    eprintln!("wrote {}", job.out.display());
    Ok(())
}

/// The experiment's files, written into `out` (new or empty) whole or not at all.
fn write_whole(out: &std::path::Path, fill: impl FnOnce(&std::path::Path) -> Result<()>) -> Result<()> {
    neurozoo_util::files::write_whole(out, |path, reason| anyhow::anyhow!("{}: {reason}", path.display()), fill)
}
