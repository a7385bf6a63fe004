//! `neurozoo eval`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use neurozoo_datasets::{Dataset, Tier};
use neurozoo_zoo::config::FitConfig;
use neurozoo_zoo::eval::{evaluate, Evaluation, TierMetrics};
use neurozoo_zoo::model::Model;
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
    let cfg = run::load_config(run_dir).map_err(anyhow::Error::msg)?;
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
fn load_recording(run_dir: &Path, info: &run::RunInfo, data: &Path) -> Result<(usize, Dataset)> {
    let r = info.recording_of(data).map_err(|e| anyhow::anyhow!("{}: {e}", run_dir.display()))?;
    let fitted = &info.recordings[r].data;
    let ds = super::fit::load_checked(data)?;
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
        eprintln!("note: {} is not the file {} was fitted to ({})", data.display(), run_dir.display(), fitted.path);
    }
    Ok((r, ds))
}

pub fn load(run_dir: &Path, data: &Path, device: tch::Device) -> Result<Loaded> {
    let (info, cfg, model, _vs) = load_model(run_dir, device)?;
    let (recording, ds) = load_recording(run_dir, &info, data)?;
    Ok(Loaded { info, cfg, ds, model, recording })
}

/// Every recording given, each by its own readout; with several, also the pooled metrics of
/// all their units together.
pub fn run(run_dir: &Path, data: &[PathBuf], device: &str, as_json: bool) -> Result<()> {
    let device = super::device(device)?;
    let (info, _cfg, model, _vs) = load_model(run_dir, device)?;
    let mut reports = Vec::new();
    for path in data {
        let (r, ds) = load_recording(run_dir, &info, path)?;
        let ev = evaluate(&model, r, &ds, &info.recordings[r].normalizer, device, 256)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
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
