//! `neurozoo eval`: every recording given, by the run's readout for it, printed as text or
//! JSON, and the figures of what the model learned. Several runs are an ensemble: its mean
//! prediction is scored, and each run alone beside it. The work is `neurozoo_zoo::run::eval`
//! and `neurozoo_zoo::run::ensemble`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use neurozoo_analysis::figures::draw_figure;
use neurozoo_datasets::{Dataset, Tier};
use neurozoo_job::{EvalJob, EvalReport, PooledEvalReport};
use neurozoo_plugin::Figure;
use neurozoo_zoo::eval::{Evaluation, TierMetrics};
use neurozoo_zoo::model::{Core, Model, Readout};
use neurozoo_zoo::run::ensemble::Ensemble;
use neurozoo_zoo::run::eval::{pooled, RunRecording};

/// Say that a recording is not the data the run was fitted to (it is still evaluated).
pub fn note_other_data(recording: &RunRecording) {
    if let Some(note) = &recording.other_data {
        eprintln!("note: {note}");
    }
}

/// One recording scored: by the ensemble (or the one run), and by each run of an ensemble alone.
struct Scored {
    name: String,
    units: usize,
    evaluation: Evaluation,
    members: BTreeMap<String, BTreeMap<Tier, TierMetrics>>,
}

/// Every recording given, each by its own readout; with several, also the pooled metrics of
/// all their units together.
pub fn run(job: &EvalJob) -> Result<()> {
    let (data, as_json, figures, nwb) = (job.data.as_slice(), job.json, job.figures.as_deref(), &job.nwb);
    let device = super::device(job.device)?;
    if let Some(dir) = figures {
        neurozoo_util::files::ensure_empty_dir(dir).map_err(|e| anyhow::anyhow!(e.advise("choose a new --figures directory")))?;
    }
    neurozoo_datasets::check_distinct(&data.iter().map(std::path::PathBuf::as_path).collect::<Vec<_>>())?;
    let ensemble = Ensemble::load(&job.runs, device).map_err(|e| super::run_error(e, ""))?;
    let name = ensemble.name();
    let mut scored = Vec::new();
    for path in data {
        let recording = ensemble.recording(path, nwb).map_err(|e| super::run_error(e, ""))?;
        note_other_data(&recording);
        let evaluation = ensemble.evaluate(&recording, device).map_err(|e| super::run_error(e, ""))?;
        let mut members = BTreeMap::new();
        if ensemble.runs.len() > 1 {
            for run in &ensemble.runs {
                let alone = run.evaluate(&recording, device).map_err(|e| super::run_error(e, ""))?;
                members.insert(run.dir.display().to_string(), alone.tiers);
            }
        }
        let recording_name = ensemble.info().recordings[recording.index].name.clone();
        if let Some(dir) = figures {
            // One recording's figures are named plainly; several recordings' by recording.
            let prefix = if data.len() > 1 { format!("{recording_name}_") } else { String::new() };
            // What a model learned is one model's: an ensemble is drawn by its predictions.
            let model = match ensemble.runs.as_slice() {
                [one] => Some(&one.model),
                _ => None,
            };
            let written = draw_figures(model, recording.index, &recording.dataset, &evaluation, dir, &prefix)?;
            eprintln!("wrote {} figures of {} into {}", written.len(), path.display(), dir.display());
        }
        scored.push((path, Scored { name: recording_name, units: recording.dataset.n_units(), evaluation, members }));
    }
    if let [(path, one)] = scored.as_slice() {
        return report(&name, path, one, as_json);
    }
    let pooled = pooled(&scored.iter().map(|(_, s)| (s.units, &s.evaluation)).collect::<Vec<_>>());
    if as_json {
        let report = PooledEvalReport {
            run: name,
            recordings: scored.iter().map(|(path, s)| (s.name.clone(), eval_report(s, path, None))).collect(),
            pooled: pooled.iter().map(|(t, m)| (t.as_str().to_string(), m.clone())).collect(),
        };
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    for (path, s) in &scored {
        report(&name, path, s, false)?;
    }
    let units: usize = scored.iter().map(|(_, s)| s.units).sum();
    println!("pooled over {} recordings ({units} units)", scored.len());
    print_tiers(&pooled);
    Ok(())
}

/// One recording's metrics by tier, with the receptive-field recovery, the file, the run and an
/// ensemble's runs alone.
fn eval_report(scored: &Scored, data: &Path, run: Option<&str>) -> EvalReport {
    let by_name = |tiers: &BTreeMap<Tier, TierMetrics>| tiers.iter().map(|(tier, m)| (tier.as_str().to_string(), m.clone())).collect();
    EvalReport {
        tiers: by_name(&scored.evaluation.tiers),
        rf_recovery: scored.evaluation.rf.clone(),
        data: data.display().to_string(),
        run: run.map(str::to_string),
        members: scored.members.iter().map(|(run, tiers)| (run.clone(), by_name(tiers))).collect(),
    }
}

fn print_tiers(tiers: &BTreeMap<Tier, TierMetrics>) {
    let header = ["tier", "trials", "corr", "corr_avg", "feve", "oracle", "fev_gt"];
    println!("{}", tier_row(header.map(String::from)));
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    for (tier, m) in tiers {
        println!(
            "{}",
            tier_row([
                tier.as_str().to_string(),
                m.trials.to_string(),
                opt(Some(m.correlation).filter(|c| c.is_finite())),
                opt(m.correlation_to_average),
                opt(m.feve),
                opt(m.oracle_correlation),
                opt(m.fev_ground_truth),
            ])
        );
    }
}

/// One line of the tier table. Every column is set off by a space, so a value wider than its
/// column (a FEVE of -11.783) never runs into its neighbour.
fn tier_row(cells: [String; 7]) -> String {
    const WIDTHS: [usize; 7] = [10, 6, 7, 8, 6, 7, 7];
    let mut line = format!("  {:<w$}", cells[0], w = WIDTHS[0]);
    for (cell, w) in cells[1..].iter().zip(&WIDTHS[1..]) {
        line += &format!(" {cell:>w$}", w = *w);
    }
    line
}

fn report(run: &str, data: &Path, scored: &Scored, as_json: bool) -> Result<()> {
    if as_json {
        println!("{}", serde_json::to_string(&eval_report(scored, data, Some(run)))?);
        return Ok(());
    }
    println!("{run} on {}", data.display());
    let ev = &scored.evaluation;
    print_tiers(&ev.tiers);
    if let Some(rf) = &ev.rf {
        println!(
            "  receptive fields: median error {:.2} px, {:.0}% within 1 px, {:.0}% within 2 px",
            rf.median_error_px,
            100.0 * rf.within_1px,
            100.0 * rf.within_2px
        );
        println!(
            "  relative to each cell type's shared offset: median {:.2} px, {:.0}% within 1 px, {:.0}% within 2 px",
            rf.aligned_median_error_px,
            100.0 * rf.aligned_within_1px,
            100.0 * rf.aligned_within_2px
        );
        for (name, [dy, dx]) in &rf.type_offsets_px {
            println!("    {name:<18} offset ({dy:+.2}, {dx:+.2}) px");
        }
    }
    for (member, tiers) in &scored.members {
        println!("{member} alone");
        print_tiers(tiers);
    }
    Ok(())
}

/// What the model learned, drawn for one recording into `dir` (new or empty when eval began:
/// several recordings' figures share it) as PNG and SVG, stems after
/// `prefix`; returns the stems written. A figure the model or data cannot have (masks of a
/// Gaussian readout, true positions of a recording, any of an ensemble's but its predictions:
/// `model` is `None`) is left out.
fn draw_figures(model: Option<&Model>, recording: usize, ds: &Dataset, ev: &Evaluation, dir: &Path, prefix: &str) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut figures = Vec::new();
    if let (Some(found), Some(gt)) = (model.and_then(|m| m.rf_positions(recording)), &ds.ground_truth) {
        let axis = |k: usize| (0..found.nrows()).map(|u| (f64::from(gt.rf_position[[u, k]]), f64::from(found[[u, k]]))).collect();
        figures.push((
            "receptive_fields",
            Figure::Scatter {
                title: "Receptive-field centres: readout against truth (on the diagonal: recovered)".into(),
                x_label: "true position (px)".into(),
                y_label: "readout position (px)".into(),
                series: vec![("row".into(), axis(0)), ("column".into(), axis(1))],
            },
        ));
    }
    let grid = |t: &tch::Tensor| -> Vec<Vec<f64>> {
        let a = neurozoo_tensor::to_array(t);
        a.outer_iter().map(|row| row.iter().map(|&v| f64::from(v)).collect()).collect()
    };
    // A sample of neurons spread over the population, at most 16.
    let units = ds.n_units();
    let shown = units.min(16);
    let sample: Vec<usize> = (0..shown).map(|i| i * units / shown).collect();
    if let Some(Readout::Factorized(r)) = model.and_then(|m| m.readouts.get(recording)) {
        let masks = tch::no_grad(|| r.effective_mask());
        let images = sample.iter().map(|&u| (format!("unit {}", ds.units.ids[u]), grid(&masks.get(u as i64)))).collect();
        figures.push(("masks", Figure::ImageGrid { title: "Readout masks (where)".into(), images, columns: 4 }));
    }
    if let Some(Core::Stacked(core)) = model.and_then(|m| m.core.as_ref()) {
        let w = core.first_layer_filters();
        let n = w.size()[0].min(32);
        let images = (0..n).map(|f| (format!("{f}"), grid(&w.get(f).get(0)))).collect();
        figures.push(("filters", Figure::ImageGrid { title: "First-layer filters (image channel)".into(), images, columns: 8 }));
    }
    let mut series = Vec::new();
    for tier in Tier::ALL {
        let trials = ds.tier_indices(tier);
        // At most 4000 points a tier, evenly spread, so the figure stays light.
        let step = (trials.len() * units).div_ceil(4000).max(1);
        let points: Vec<(f64, f64)> = trials
            .iter()
            .flat_map(|&t| (0..units).map(move |u| (t, u)))
            .step_by(step)
            .map(|(t, u)| (f64::from(ds.responses[[t, u]]), f64::from(ev.predictions[[t, u]])))
            .collect();
        if !points.is_empty() {
            series.push((tier.as_str().to_string(), points));
        }
    }
    figures.push((
        "predicted_vs_recorded",
        Figure::Scatter {
            title: "Predicted against recorded responses".into(),
            x_label: "recorded".into(),
            y_label: "predicted".into(),
            series,
        },
    ));
    let mut stems = Vec::new();
    for (stem, figure) in figures {
        let stem = format!("{prefix}{stem}");
        draw_figure(&figure, dir, &stem)?;
        stems.push(stem);
    }
    Ok(stems)
}

#[cfg(test)]
mod tests {
    #[test]
    fn wide_values_stay_apart_in_the_tier_table() {
        let cells = ["validation", "40", "0.159", "-0.021", "-11.783", "-", "0.512"].map(String::from);
        let line = super::tier_row(cells.clone());
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words, cells.iter().map(String::as_str).collect::<Vec<_>>(), "{line:?}");
        // Ordinary values keep the columns of the header.
        let header = super::tier_row(["tier", "trials", "corr", "corr_avg", "feve", "oracle", "fev_gt"].map(String::from));
        let row = super::tier_row(["test", "400", "0.801", "0.912", "0.645", "0.871", "0.702"].map(String::from));
        assert_eq!(header.len(), row.len());
    }
}
