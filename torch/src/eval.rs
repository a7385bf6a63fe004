//! `neurozoo eval`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use neurozoo_analysis::figures::draw;
use neurozoo_datasets::nwb::NwbOptions;
use neurozoo_datasets::{Dataset, Tier};
use neurozoo_plugin::Figure;
use neurozoo_zoo::config::FitConfig;
use neurozoo_zoo::eval::{evaluate, Evaluation, TierMetrics};
use neurozoo_zoo::model::{Core, Model, Readout};
use neurozoo_zoo::run;
use neurozoo_zoo::train::load_weights;
use serde_json::{json, Map, Value};
use tch::nn;

/// A fitted run's model with its weights, and the dataset checked against what it was fitted to.
pub struct Loaded {
    pub info: run::RunInfo,
    pub cfg: FitConfig,
    pub ds: Dataset,
    pub model: Model,
    /// Which of the run's recordings (readouts) the dataset is.
    pub recording: usize,
}

/// A run's model with every recording's readout, weights loaded.
fn load_model(run_dir: &Path, device: tch::Device) -> Result<(run::RunInfo, FitConfig, Model, nn::VarStore)> {
    let info = run::load_info(run_dir).map_err(anyhow::Error::msg)?;
    info.check_complete(run_dir).map_err(anyhow::Error::msg)?;
    let cfg = run::load_response_config(run_dir).map_err(anyhow::Error::msg)?;
    let vs = nn::VarStore::new(device);
    let units: Vec<Vec<f32>> = info.recordings.iter().map(|r| vec![1.0; r.data.n_units]).collect();
    let input = info
        .recordings
        .first()
        .map(|r| r.data.image_shape)
        .ok_or_else(|| anyhow::anyhow!("{}: no recordings in run.json", run_dir.display()))?;
    let model = Model::shared(&vs.root(), &cfg.model, input, &units).map_err(anyhow::Error::msg)?;
    load_weights(&vs, &run_dir.join(run::MODEL_FILE)).map_err(anyhow::Error::msg)?;
    Ok((info, cfg, model, vs))
}

/// `data`, checked against the run's recording of its name: same units and image shape.
fn load_recording(run_dir: &Path, info: &run::RunInfo, data: &Path, nwb: &NwbOptions) -> Result<(usize, Dataset)> {
    let r = info.recording_of(data).map_err(|e| anyhow::anyhow!("{}: {e}", run_dir.display()))?;
    let fitted = &info.recordings[r].data;
    let ds = neurozoo_cli::data::load_checked(data, nwb)?;
    if ds.n_units() != fitted.n_units || ds.image_shape() != fitted.image_shape {
        bail!(
            "{} has {} units and {:?} images, but {} was fitted to {} units and {:?} images",
            data.display(),
            ds.n_units(),
            ds.image_shape(),
            run_dir.display(),
            fitted.n_units,
            fitted.image_shape
        );
    }
    if ds.fingerprint() != fitted.fingerprint {
        eprintln!(
            "note: {} is not the data {} was fitted to ({}, fingerprint {}; this is {})",
            data.display(),
            run_dir.display(),
            fitted.path,
            fitted.fingerprint,
            ds.fingerprint()
        );
    }
    Ok((r, ds))
}

pub fn load(run_dir: &Path, data: &Path, device: tch::Device, nwb: &NwbOptions) -> Result<Loaded> {
    let (info, cfg, model, _vs) = load_model(run_dir, device)?;
    let (recording, ds) = load_recording(run_dir, &info, data, nwb)?;
    Ok(Loaded { info, cfg, ds, model, recording })
}

/// Every recording given, each by its own readout; with several, also the pooled metrics of
/// all their units together.
pub fn run(
    run_dir: &Path,
    data: &[PathBuf],
    device: neurozoo_config::DeviceChoice,
    as_json: bool,
    figures: Option<&Path>,
    nwb: &NwbOptions,
) -> Result<()> {
    let device = super::device(device)?;
    if let Some(dir) = figures {
        neurozoo_cli::ensure_empty_dir(dir, "choose a new --figures directory")?;
    }
    let (info, _cfg, model, _vs) = load_model(run_dir, device)?;
    let mut reports = Vec::new();
    for path in data {
        let (r, ds) = load_recording(run_dir, &info, path, nwb)?;
        let ev = evaluate(&model, r, &ds, &info.recordings[r].normalizer, device, 256)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if let Some(dir) = figures {
            // One recording's figures are named plainly; several recordings' by recording.
            let prefix = if data.len() > 1 { format!("{}_", info.recordings[r].name) } else { String::new() };
            let written = draw_figures(&model, r, &ds, &ev, dir, &prefix)?;
            eprintln!("wrote {} figures of {} into {}", written.len(), path.display(), dir.display());
        }
        reports.push((info.recordings[r].name.clone(), path, ds.n_units(), ev));
    }
    if let [(_, path, _, ev)] = reports.as_slice() {
        return report(run_dir, path, ev, as_json);
    }
    let mut pooled = BTreeMap::new();
    for tier in Tier::ALL {
        let parts: Vec<(usize, &TierMetrics)> = reports.iter().filter_map(|(_, _, u, ev)| Some((*u, ev.tiers.get(&tier)?))).collect();
        if parts.len() == reports.len() {
            pooled.insert(tier, TierMetrics::pool(&parts));
        }
    }
    if as_json {
        let mut recordings = Map::new();
        for (name, path, _, ev) in &reports {
            recordings.insert(name.clone(), metrics_json(ev, path)?);
        }
        let pooled: Map<String, Value> =
            pooled.iter().map(|(t, m)| Ok((t.as_str().to_string(), serde_json::to_value(m)?))).collect::<Result<_>>()?;
        println!("{}", json!({"run": run_dir.display().to_string(), "recordings": recordings, "pooled": pooled}));
        return Ok(());
    }
    for (_, path, _, ev) in &reports {
        report(run_dir, path, ev, false)?;
    }
    let units: usize = reports.iter().map(|r| r.2).sum();
    println!("pooled over {} recordings ({units} units)", reports.len());
    print_tiers(&pooled);
    Ok(())
}

/// The metrics of one recording by tier, with the receptive-field recovery and the file.
fn metrics_json(ev: &Evaluation, data: &Path) -> Result<Value> {
    let mut out = Map::new();
    for (tier, m) in &ev.tiers {
        out.insert(tier.as_str().to_string(), serde_json::to_value(m)?);
    }
    if let Some(rf) = &ev.rf {
        out.insert("rf_recovery".into(), serde_json::to_value(rf)?);
    }
    out.insert("data".into(), json!(data.display().to_string()));
    Ok(Value::Object(out))
}

fn print_tiers(tiers: &BTreeMap<Tier, TierMetrics>) {
    println!("  {:<11}{:>7}{:>8}{:>9}{:>7}{:>8}{:>8}", "tier", "trials", "corr", "corr_avg", "feve", "oracle", "fev_gt");
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    for (tier, m) in tiers {
        println!(
            "  {:<11}{:>7}{:>8.3}{:>9}{:>7}{:>8}{:>8}",
            tier.as_str(),
            m.trials,
            m.correlation,
            opt(m.correlation_to_average),
            opt(m.feve),
            opt(m.oracle_correlation),
            opt(m.fev_ground_truth)
        );
    }
}

fn report(run_dir: &Path, data: &Path, ev: &Evaluation, as_json: bool) -> Result<()> {
    if as_json {
        let mut out = metrics_json(ev, data)?;
        out["run"] = json!(run_dir.display().to_string());
        println!("{out}");
        return Ok(());
    }
    println!("{} on {}", run_dir.display(), data.display());
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
    Ok(())
}

/// What the model learned, drawn for one recording into `dir` (new or empty when eval began:
/// several recordings' figures share it) as PNG and SVG, stems after
/// `prefix`; returns the stems written. A figure the model or data cannot have (masks of a
/// Gaussian readout, true positions of a recording) is left out.
fn draw_figures(model: &Model, recording: usize, ds: &Dataset, ev: &Evaluation, dir: &Path, prefix: &str) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut figures = Vec::new();
    if let (Some(found), Some(gt)) = (model.rf_positions(recording), &ds.ground_truth) {
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
    if let Some(Readout::Factorized(r)) = model.readouts.get(recording) {
        let masks = tch::no_grad(|| r.effective_mask());
        let images = sample.iter().map(|&u| (format!("unit {}", ds.units.ids[u]), grid(&masks.get(u as i64)))).collect();
        figures.push(("masks", Figure::ImageGrid { title: "Readout masks (where)".into(), images, columns: 4 }));
    }
    if let Some(Core::Stacked(core)) = &model.core {
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
        draw(&figure.to_json(), dir, &stem).map_err(anyhow::Error::msg)?;
        stems.push(stem);
    }
    Ok(stems)
}
