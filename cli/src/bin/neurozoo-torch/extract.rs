//! `neurozoo extract RUN`: a fitted model's representation of a dataset's distinct images; RUN
//! may also be a TorchScript file, a network used as it is (goal-driven features).

use std::path::Path;

use anyhow::Result;
use neurozoo_datasets::representation::{Representation, UniqueImages};
use neurozoo_zoo::model::TorchScriptCore;
use neurozoo_zoo::run::Normalizer;
use neurozoo_zoo::train::batched;
use serde_json::json;

pub fn run(run_dir: &Path, data: &Path, out: &Path, layer: Option<&str>, device: &str) -> Result<()> {
    let device = super::device(device)?;
    if !run_dir.exists() {
        anyhow::bail!("{} does not exist: give a run directory written by `neurozoo fit`, or a TorchScript file", run_dir.display());
    }
    if run_dir.is_file() {
        return torchscript(run_dir, data, out, layer.unwrap_or("forward"), device);
    }
    let layer = layer.unwrap_or("predicted");
    let loaded = super::eval::load(run_dir, data, device)?;
    let (ds, model) = (&loaded.ds, &loaded.model);
    // Refuse an unknown layer before any work, naming the ones there are.
    if !model.layer_names().iter().any(|l| l == layer) {
        anyhow::bail!("{}: no layer {layer:?} (layers: {})", run_dir.display(), model.layer_names().join(", "));
    }
    let images = UniqueImages::of(ds);
    let trials: Vec<i64> = images.first_trials().into_iter().map(|t| t as i64).collect();
    let normalized = loaded.info.normalizer.images(ds, device).to_kind(tch::Kind::Float);
    let data_rows = batched(&normalized, &trials, 256, |x| model.representation(x, layer).expect("layer checked above"));
    let source = json!({
        "kind": "model",
        "run": run_dir.display().to_string(),
        "preset": loaded.cfg.preset,
        "layer": layer,
        "file": data.display().to_string(),
        "unit_ids": if matches!(layer, "readout" | "predicted") { json!(ds.units.ids) } else { json!(null) },
    });
    let (n, d) = data_rows.dim();
    images.file(Representation { name: layer.to_string(), data: data_rows, source: source.to_string() }, ds).write(out)?;
    eprintln!("wrote {}: {layer} of {} for {n} images, {d} dimensions", out.display(), run_dir.display());
    Ok(())
}

/// A TorchScript network's `layer` (`forward` or an `@torch.jit.export`ed method) on the
/// dataset's distinct images, standardised as a fresh fit on this dataset would standardise them.
fn torchscript(file: &Path, data: &Path, out: &Path, layer: &str, device: tch::Device) -> Result<()> {
    let ds = super::fit::load_checked(data)?;
    let core = TorchScriptCore::load(file, layer, ds.image_shape(), device).map_err(anyhow::Error::msg)?;
    let norm = Normalizer::from_train(&ds).map_err(|e| anyhow::anyhow!("{}: {e}", data.display()))?;
    let images = UniqueImages::of(&ds);
    let trials: Vec<i64> = images.first_trials().into_iter().map(|t| t as i64).collect();
    let normalized = norm.images(&ds, device).to_kind(tch::Kind::Float);
    let data_rows = batched(&normalized, &trials, 256, |x| core.forward(x).flatten(1, -1));
    let source = json!({
        "kind": "torchscript",
        "model": file.display().to_string(),
        "layer": layer,
        "file": data.display().to_string(),
        "image_mean": norm.image_mean,
        "image_std": norm.image_std,
    });
    let (n, d) = data_rows.dim();
    images.file(Representation { name: layer.to_string(), data: data_rows, source: source.to_string() }, &ds).write(out)?;
    eprintln!("wrote {}: {layer} of {} for {n} images, {d} dimensions", out.display(), file.display());
    Ok(())
}
