//! Representations of a recording's distinct images by a fitted run's layers (an ensemble's
//! predicted rates), or by a TorchScript network used as it is (goal-driven features): what
//! `neurozoo extract RUN` writes, one representation per layer, rows in the order of the images'
//! first presentation.

use std::path::Path;

use neurozoo_datasets::representation::{Representation, RepresentationFile, UniqueImages};
use neurozoo_datasets::Tier;
use serde_json::json;
use tch::Device;

use super::eval::{Run, RunRecording};
use super::{Normalizer, RunError};
use crate::model::{EnsembleModel, Predictor, TorchScriptCore};
use crate::train::batched;

/// `layers` of `runs` (at least one; `core.K`, `readout`, `predicted`, …; see
/// [`crate::model::Model::layer_names`]; none: `predicted`) on the distinct images of
/// `recording` first shown in `tiers` (all when empty). Several runs are an ensemble (checked by
/// [`super::ensemble::Ensemble::load`]), which has only one layer of its own: `predicted`, the mean
/// of their rates; each member's core is its own.
pub fn extract(
    runs: &[Run],
    recording: &RunRecording,
    layers: &[&str],
    tiers: &[Tier],
    device: Device,
) -> Result<RepresentationFile, RunError> {
    let (ds, run, model) = (&recording.dataset, &runs[0], &runs[0].model);
    let layers = if layers.is_empty() { &["predicted"][..] } else { layers };
    // An unknown layer is refused before any work, naming the ones there are.
    for layer in layers {
        if runs.len() > 1 && *layer != "predicted" {
            return Err(RunError::Mismatch(format!(
                "--layer {layer}: an ensemble of {} runs has one layer, `predicted` (the mean of their rates); each run's own \
                 layers are extracted from that run alone",
                runs.len()
            )));
        }
        if !model.layer_names().iter().any(|l| l == layer) {
            return Err(RunError::at(&run.dir, format!("no layer {layer:?} (layers: {})", model.layer_names().join(", "))));
        }
    }
    let ensemble = EnsembleModel::new(runs.iter().map(|r| &r.model).collect()).map_err(|e| RunError::Mismatch(e.to_string()))?;
    let images = UniqueImages::of(ds).in_tiers(ds, tiers).map_err(|e| RunError::at(&recording.path, e))?;
    let trials: Vec<i64> = images.first_trials().into_iter().map(|t| t as i64).collect();
    let fitted = &run.info.recordings[recording.index];
    let normalized = fitted.normalizer.stimuli(ds, device, &model.inputs()).map_err(|e| RunError::at(&recording.path, e))?;
    let representations = layers
        .iter()
        .map(|&layer| {
            let rows = batched(&normalized, &trials, 256, |x| match layer {
                "predicted" => ensemble.rates(x, recording.index),
                _ => model.representation(x, recording.index, layer).expect("layer checked above"),
            });
            let dirs: Vec<String> = runs.iter().map(|r| r.dir.display().to_string()).collect();
            let source = json!({
                "kind": "model",
                "run": run.dir.display().to_string(),
                "runs": if runs.len() > 1 { json!(dirs) } else { json!(null) },
                "preset": run.config.preset,
                "layer": layer,
                "recording": fitted.name,
                "file": recording.path.display().to_string(),
                "unit_ids": if matches!(layer, "readout" | "predicted") { json!(ds.units.ids) } else { json!(null) },
            });
            Representation { name: layer.to_string(), data: rows, source: source.to_string() }
        })
        .collect();
    Ok(images.file(representations, ds))
}

/// A TorchScript network's `layers` (`forward` or `@torch.jit.export`ed methods) on the distinct
/// images of the recording `data` first shown in `tiers`, standardised as a fresh fit on that
/// recording would standardise them.
pub fn extract_torchscript(
    file: &Path,
    data: &Path,
    nwb: &neurozoo_datasets::nwb::NwbOptions,
    layers: &[&str],
    tiers: &[Tier],
    device: Device,
) -> Result<RepresentationFile, RunError> {
    let ds = neurozoo_datasets::load_checked(data, nwb)?;
    // Every layer is loaded first, so that a missing one fails before any work.
    let cores = layers
        .iter()
        .map(|layer| TorchScriptCore::load(file, layer, ds.image_shape(), device).map_err(RunError::from))
        .collect::<Result<Vec<_>, _>>()?;
    let norm = Normalizer::from_train(&ds).map_err(|e| RunError::at(data, e))?;
    let images = UniqueImages::of(&ds).in_tiers(&ds, tiers).map_err(|e| RunError::at(data, e))?;
    let trials: Vec<i64> = images.first_trials().into_iter().map(|t| t as i64).collect();
    let normalized = norm.stimuli(&ds, device, &Default::default()).map_err(|e| RunError::at(data, e))?;
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
    Ok(images.file(representations, &ds))
}
