//! `neurozoo eval`.

use std::path::Path;

use anyhow::{bail, Result};
use neurozoo_datasets::Dataset;
use neurozoo_zoo::config::FitConfig;
use neurozoo_zoo::eval::evaluate;
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
}

pub fn load(run_dir: &Path, data: &Path, device: tch::Device) -> Result<Loaded> {
    let info = run::load_info(run_dir).map_err(anyhow::Error::msg)?;
    let cfg = run::load_config(run_dir).map_err(anyhow::Error::msg)?;
    let ds = super::fit::load_checked(data)?;
    if ds.n_units() != info.data.n_units || ds.image_shape() != info.data.image_shape {
        bail!(
            "{} has {} units and {:?} images, but {} was fitted to {} units and {:?} images",
            data.display(),
            ds.n_units(),
            ds.image_shape(),
            run_dir.display(),
            info.data.n_units,
            info.data.image_shape
        );
    }
    if ds.fingerprint() != info.data.fingerprint {
        eprintln!("note: {} is not the file {} was fitted to ({})", data.display(), run_dir.display(), info.data.path);
    }
    let vs = nn::VarStore::new(device);
    let model = Model::new(&vs.root(), &cfg.model, ds.image_shape(), &vec![1.0; ds.n_units()]).map_err(anyhow::Error::msg)?;
    load_weights(&vs, &run_dir.join(run::MODEL_FILE)).map_err(anyhow::Error::msg)?;
    Ok(Loaded { info, cfg, ds, model })
}

pub fn run(run_dir: &Path, data: &Path, device: &str, as_json: bool) -> Result<()> {
    let device = super::device(device)?;
    let Loaded { info, ds, model, .. } = load(run_dir, data, device)?;
    let ev = evaluate(&model, &ds, &info.normalizer, device, 256);

    let mut out = Map::new();
    for (tier, m) in &ev.tiers {
        out.insert(tier.as_str().to_string(), serde_json::to_value(m)?);
    }
    if let Some(rf) = &ev.rf {
        out.insert("rf_recovery".into(), serde_json::to_value(rf)?);
    }
    out.insert("run".into(), json!(run_dir.display().to_string()));
    out.insert("data".into(), json!(data.display().to_string()));
    if as_json {
        println!("{}", Value::Object(out));
        return Ok(());
    }
    println!("{} on {}", run_dir.display(), data.display());
    println!("  {:<11}{:>7}{:>8}{:>9}{:>7}{:>8}{:>8}", "tier", "trials", "corr", "corr_avg", "feve", "oracle", "fev_gt");
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    for (tier, m) in &ev.tiers {
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
