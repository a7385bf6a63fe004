//! `neurozoo extract RUN`: a fitted model's representation of a dataset's distinct images; RUN
//! may also be a TorchScript file, a network used as it is (goal-driven features). `--layer` may
//! name several layers, comma-separated: one representation each, in one file (what `compare`
//! scores layer by layer).

use std::path::Path;

use anyhow::Result;
use neurozoo_datasets::nwb::NwbOptions;
use neurozoo_datasets::representation::{Representation, UniqueImages};
use neurozoo_datasets::{Dataset, Tier};
use neurozoo_zoo::model::TorchScriptCore;
use neurozoo_zoo::run::Normalizer;
use neurozoo_zoo::train::batched;
use serde_json::json;

pub fn run(
    run_dir: &Path,
    data: &Path,
    out: &Path,
    layer: Option<&str>,
    tiers: &[Tier],
    device: neurozoo_config::DeviceChoice,
    nwb: &NwbOptions,
) -> Result<()> {
    let device = super::device(device)?;
    if !run_dir.exists() {
        anyhow::bail!("{} does not exist: give a run directory written by `neurozoo fit`, or a TorchScript file", run_dir.display());
    }
    let layers = |default: &'static str| -> Vec<&str> { layer.unwrap_or(default).split(',').map(str::trim).collect() };
    let named = layers("");
    if let Some(twice) = named.iter().enumerate().find(|(i, l)| named[..*i].contains(l)).map(|(_, l)| l) {
        anyhow::bail!("--layer names {twice:?} twice");
    }
    if run_dir.is_file() {
        return torchscript(run_dir, data, out, &layers("forward"), tiers, device, nwb);
    }
    let layers = layers("predicted");
    let loaded = super::eval::load(run_dir, data, device, nwb)?;
    let (ds, model) = (&loaded.ds, &loaded.model);
    // Refuse an unknown layer before any work, naming the ones there are.
    for layer in &layers {
        if !model.layer_names().iter().any(|l| l == layer) {
            anyhow::bail!("{}: no layer {layer:?} (layers: {})", run_dir.display(), model.layer_names().join(", "));
        }
    }
    let images = UniqueImages::of(ds).in_tiers(ds, tiers).map_err(|e| anyhow::anyhow!("{}: {e}", data.display()))?;
    let trials: Vec<i64> = images.first_trials().into_iter().map(|t| t as i64).collect();
    let recording = &loaded.info.recordings[loaded.recording];
    let normalized = recording.normalizer.stimuli(ds, device, &model.inputs()).map_err(|e| anyhow::anyhow!("{}: {e}", data.display()))?;
    let representations = layers
        .iter()
        .map(|&layer| {
            let rows =
                batched(&normalized, &trials, 256, |x| model.representation(x, loaded.recording, layer).expect("layer checked above"));
            let source = json!({
                "kind": "model",
                "run": run_dir.display().to_string(),
                "preset": loaded.cfg.preset,
                "layer": layer,
                "recording": recording.name,
                "file": data.display().to_string(),
                "unit_ids": if matches!(layer, "readout" | "predicted") { json!(ds.units.ids) } else { json!(null) },
            });
            Representation { name: layer.to_string(), data: rows, source: source.to_string() }
        })
        .collect();
    write(images, representations, ds, out, run_dir)
}

/// One file with every representation, rows the distinct images.
fn write(images: UniqueImages, representations: Vec<Representation>, ds: &Dataset, out: &Path, from: &Path) -> Result<()> {
    let file = images.file(representations, ds);
    file.write(out)?;
    for r in &file.representations {
        let (n, d) = r.data.dim();
        eprintln!("wrote {}: {} of {} for {n} images, {d} dimensions", out.display(), r.name, from.display());
    }
    Ok(())
}

/// A TorchScript network's `layers` (`forward` or `@torch.jit.export`ed methods) on the
/// dataset's distinct images, standardised as a fresh fit on this dataset would standardise them.
fn torchscript(file: &Path, data: &Path, out: &Path, layers: &[&str], tiers: &[Tier], device: tch::Device, nwb: &NwbOptions) -> Result<()> {
    let ds = neurozoo_cli::data::load_checked(data, nwb)?;
    // Load every layer first, so that a missing one fails before any work.
    let cores = layers
        .iter()
        .map(|layer| TorchScriptCore::load(file, layer, ds.image_shape(), device).map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()?;
    let norm = Normalizer::from_train(&ds).map_err(|e| anyhow::anyhow!("{}: {e}", data.display()))?;
    let images = UniqueImages::of(&ds).in_tiers(&ds, tiers).map_err(|e| anyhow::anyhow!("{}: {e}", data.display()))?;
    let trials: Vec<i64> = images.first_trials().into_iter().map(|t| t as i64).collect();
    let normalized = norm.stimuli(&ds, device, &Default::default()).map_err(anyhow::Error::msg)?;
    let representations = layers
        .iter()
        .zip(&cores)
        .map(|(&layer, core)| {
            let rows = batched(&normalized, &trials, 256, |x| core.forward(&x.images).flatten(1, -1));
            let source = json!({
                "kind": "torchscript",
                "model": file.display().to_string(),
                "layer": layer,
                "file": data.display().to_string(),
                "image_mean": norm.image_mean,
                "image_std": norm.image_std,
            });
            Representation { name: layer.to_string(), data: rows, source: source.to_string() }
        })
        .collect();
    write(images, representations, &ds, out, file)
}
