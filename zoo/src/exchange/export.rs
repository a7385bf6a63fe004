//! Models out to PyTorch: a run becomes `state_dict.pth` under neuralpredictors 0.3.0's names
//! plus `model.py`, which builds the same model from neuralpredictors' modules and loads the
//! state dict with `strict=True`.
//!
//! The names are [`super::neuralpredictors::source`]'s table read backwards. A run that was
//! imported exports under its checkpoint's own keys: the biases its layers did not have (zero
//! in zoo, listed in its `imported.json`) are left out again, so the builder it came from (the
//! sensorium starter kit's, for the SOTA model) loads the export strictly. The non-parameter
//! buffers that `strict=True` wants (the input regulariser's Laplace filter, batch norm's step
//! counters) are written with the values neuralpredictors builds them with.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::neuralpredictors::{core_buffers, source, Layout};
use neurozoo_util::files::write_whole;

use super::{ImportReport, IMPORT_FILE};
use crate::config::{Constraint, FitConfig, OutputNonlinearity, ReadoutConfig};
use crate::run::{load_config, load_info, RunError, MODEL_FILE};

/// The exported state dict's file.
pub const STATE_DICT_FILE: &str = "state_dict.pth";
/// The Python file that builds the model and loads the state dict.
pub const MODEL_PY_FILE: &str = "model.py";
/// The export's report, [`ExportReport`].
pub const EXPORT_FILE: &str = "exported.json";

/// What to export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRequest {
    /// A response model's run directory.
    pub run: PathBuf,
    /// The directory to create: new or empty.
    pub out: PathBuf,
}

/// What an export did: also the output's `exported.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportReport {
    pub run: PathBuf,
    pub preset: Option<String>,
    /// The data keys (the run's recordings) with their numbers of neurons.
    pub recordings: Vec<(String, usize)>,
    /// (C, H, W) of the model's input: the image's channels, then 3 behaviour channels and 2
    /// pupil-position channels where the model has them.
    pub input_shape: [usize; 3],
    /// (zoo variable, state_dict key), in the state dict's order.
    pub mapped: Vec<(String, String)>,
    /// Zoo variables left out: biases that the imported checkpoint's layers did not have.
    pub left_out: Vec<String>,
    /// Buffers that are not parameters, written as neuralpredictors builds them.
    pub buffers: Vec<String>,
    /// The checkpoint the run was imported from, if it was.
    pub imported_from: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The run's model has no neuralpredictors counterpart.
    #[error("cannot export {} to neuralpredictors: {reason}", run.display())]
    Unsupported { run: PathBuf, reason: String },
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("{}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    #[error("{}: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
}

/// Export a run as [`ExportRequest`] says; the output directory appears whole or not at all.
pub fn export_run(request: &ExportRequest) -> Result<ExportReport, ExportError> {
    let run = &request.run;
    let unsupported = |reason: String| ExportError::Unsupported { run: run.clone(), reason };
    let cfg = load_config(run)?
        .into_responses()
        .ok_or_else(|| unsupported("a sprite-pair model (a VAE) is not a neuralpredictors encoder".into()))?;
    check_architecture(&cfg).map_err(unsupported)?;
    let info = load_info(run)?;
    let keys: Vec<String> = info.recordings.iter().map(|r| r.name.clone()).collect();
    if let Some(k) = keys.iter().find(|k| k.is_empty() || k.contains('.')) {
        return Err(unsupported(format!("recording name {k:?} cannot be a data key (a PyTorch module name has no '.')")));
    }
    let imported = read_import_report(run)?;

    let weights_file = run.join(MODEL_FILE);
    let mut weights =
        Tensor::read_safetensors(&weights_file).map_err(|e| ExportError::Read { path: weights_file.clone(), reason: e.to_string() })?;
    weights.sort_by(|a, b| a.0.cmp(&b.0));
    let zero: &[String] = imported.as_ref().map_or(&[], |r| &r.zero);
    let mut tensors = Vec::with_capacity(weights.len());
    let (mut mapped, mut left_out) = (Vec::new(), Vec::new());
    for (name, t) in &weights {
        if zero.contains(name) {
            left_out.push(name.clone());
            continue;
        }
        let src = source(name, &t.size(), &cfg.model.readout, &keys)
            .ok_or_else(|| unsupported(format!("zoo's {name} has no neuralpredictors counterpart")))?;
        let value = match src.layout {
            Layout::Same => t.shallow_clone(),
            Layout::Reshape => t.reshape(&src.shape),
            // (U, C) in zoo, (1, C, 1, U) in neuralpredictors.
            Layout::ChannelsByUnits => t.tr().contiguous().reshape(&src.shape),
        };
        tensors.push((src.key.clone(), to_pth(&value)));
        mapped.push((name.clone(), src.key));
    }

    let core = cfg.model.core.as_ref().expect("checked: a trained core");
    let buffers = core_buffers(core.layers, core.batch_norm);
    if let Some(r) = &imported {
        // The checkpoint's own buffers come back under their keys, or the export says why not.
        let mut want: Vec<&str> = r.not_parameters.iter().map(String::as_str).collect();
        let mut have: Vec<&str> = buffers.iter().map(|(k, _)| k.as_str()).collect();
        want.sort();
        have.sort();
        if want != have {
            return Err(unsupported(format!("the imported checkpoint's buffers {want:?} are not the {have:?} this export writes")));
        }
    }
    let bias = core_bias(core, &mapped).map_err(unsupported)?;
    let buffer_names = buffers.iter().map(|(k, _)| k.clone()).collect();
    tensors.extend(buffers);

    let image_shape = info.recordings.first().map(|r| r.data.image_shape).ok_or_else(|| unsupported("the run has no recordings".into()))?;
    let channels = image_shape[0] + if cfg.model.behavior_channels { 3 } else { 0 } + if cfg.model.pupil_channels { 2 } else { 0 };
    let report = ExportReport {
        run: run.clone(),
        preset: cfg.preset.clone(),
        recordings: info.recordings.iter().map(|r| (r.name.clone(), r.data.n_units)).collect(),
        input_shape: [channels, image_shape[1], image_shape[2]],
        mapped,
        left_out,
        buffers: buffer_names,
        imported_from: imported.map(|r| r.checkpoint),
    };
    let script = model_py(&cfg, &report, bias);
    let err = |path: &Path, reason: String| ExportError::Write { path: path.to_path_buf(), reason };
    write_whole(&request.out, err, |tmp| {
        let write = |name: &str, bytes: &[u8]| std::fs::write(tmp.join(name), bytes).map_err(|e| err(&tmp.join(name), e.to_string()));
        write(STATE_DICT_FILE, &neurozoo_pth::to_bytes(&tensors))?;
        write(MODEL_PY_FILE, script.as_bytes())?;
        write(EXPORT_FILE, serde_json::to_string_pretty(&report).expect("the report serialises").as_bytes())
    })?;
    Ok(report)
}

/// Why the architecture has no neuralpredictors counterpart, if it has none.
fn check_architecture(cfg: &FitConfig) -> Result<(), String> {
    let m = &cfg.model;
    if m.frozen_core.is_some() {
        return Err("a frozen TorchScript core is not a neuralpredictors core".into());
    }
    if m.core.is_none() {
        return Err("a model without a convolutional core (the `ln` preset) has no neuralpredictors counterpart".into());
    }
    match &m.readout {
        ReadoutConfig::Full { .. } => {
            return Err("zoo's full readout (a dense (C, h, w) filter per neuron) has no neuralpredictors counterpart".into())
        }
        ReadoutConfig::Factorized { normalize_mask: true, .. } => {
            return Err("the factorised readout's `normalize_mask` is not checked against SpatialXFeatureLinear's \
                        `normalize`; a run without it exports"
                .into())
        }
        _ => {}
    }
    Ok(())
}

/// The `bias` argument of `Stacked2dCore` that gives the core's convolutions exactly the
/// biases the export has: its hidden convolutions have biases iff `bias`, its first one iff
/// `bias and not batch_norm`.
fn core_bias(core: &crate::config::CoreConfig, mapped: &[(String, String)]) -> Result<bool, String> {
    let conv_biases: Vec<&str> = mapped
        .iter()
        .map(|(_, k)| k.as_str())
        .filter(|k| k.starts_with("core.features.") && k.ends_with(".bias") && !k.contains(".norm."))
        .collect();
    let bias = conv_biases.iter().any(|k| !k.starts_with("core.features.layer0."));
    let first = conv_biases.iter().any(|k| k.starts_with("core.features.layer0."));
    if first != (bias && !core.batch_norm)
        || (bias && conv_biases.len() != (core.layers - 1) * if core.depth_separable { 3 } else { 1 } + usize::from(first))
    {
        return Err(format!(
            "the core's convolution biases ({}) are not those of a Stacked2dCore with bias={} and batch_norm={}",
            conv_biases.join(", "),
            py_bool(bias),
            py_bool(core.batch_norm)
        ));
    }
    Ok(bias)
}

fn read_import_report(run: &Path) -> Result<Option<ImportReport>, ExportError> {
    let path = run.join(IMPORT_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let read = |reason: String| ExportError::Read { path: path.clone(), reason };
    let text = std::fs::read_to_string(&path).map_err(|e| read(e.to_string()))?;
    serde_json::from_str(&text).map(Some).map_err(|e| read(e.to_string()))
}

/// A zoo variable (float32) as a contiguous pth tensor.
fn to_pth(t: &Tensor) -> neurozoo_pth::Tensor {
    let t = t.to_kind(Kind::Float).contiguous();
    let values = Vec::<f32>::try_from(t.flatten(0, -1)).expect("a float tensor");
    neurozoo_pth::Tensor {
        dtype: neurozoo_pth::DType::F32,
        shape: t.size().iter().map(|&d| d as usize).collect(),
        data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// A Python string literal (JSON's is one, for the names used here).
fn py_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// The Python that builds the model from neuralpredictors 0.3.0's modules, as the sensorium
/// starter kit's builder does, and loads `state_dict.pth` into it with `strict=True`.
fn model_py(cfg: &FitConfig, report: &ExportReport, bias: bool) -> String {
    let m = &cfg.model;
    let core = m.core.as_ref().expect("checked: a trained core");
    let [c, h, w] = report.input_shape;
    let data_keys = report.recordings.iter().map(|(k, u)| format!("{}: {u}", py_str(k))).collect::<Vec<_>>().join(", ");
    let mut inputs = String::from("the image");
    if m.behavior_channels {
        inputs += ", then the 3 behaviour variables, each a constant channel (sensorium's AddBehaviorAsChannels)";
    }
    if m.pupil_channels {
        inputs += ", then the 2 pupil-position coordinates, each a constant channel (AddPupilCenterAsChannels)";
    }
    let shifter_call = if m.shifter.is_some() { ", pupil_center=PUPIL (B, 2)" } else { "" };
    let origin = match &report.imported_from {
        Some(p) => format!("imported from {}", p.display()),
        None => "fitted by neurozoo".into(),
    };
    let hidden_padding = if core.pad_hidden { "None" } else { "0" };
    let (readout_import, readout_class, readout) = match &m.readout {
        ReadoutConfig::Gaussian { init_mu_range, init_sigma, gamma, grid_mean_predictor } => {
            let predictor = match grid_mean_predictor {
                None => String::new(),
                Some(g) => format!(
                    "\n        grid_mean_predictor={{\"hidden_layers\": {}, \"hidden_features\": {}, \"final_tanh\": {}}},\n        \
                     grid_mean_predictor_type=\"cortex\",\n        \
                     source_grids={{k: state_dict[f\"readout.{{k}}.source_grid\"].numpy() for k in DATA_KEYS}},",
                    g.hidden_layers,
                    g.hidden_features,
                    py_bool(g.final_tanh)
                ),
            };
            (
                "FullGaussian2d, MultiReadoutSharedParametersBase",
                "\n\nclass MultipleFullGaussian2d(MultiReadoutSharedParametersBase):\n    \
                 \"\"\"sensorium.models.readouts.MultipleFullGaussian2d: one FullGaussian2d per data key.\"\"\"\n\n    \
                 _base_readout = FullGaussian2d\n",
                format!(
                    "MultipleFullGaussian2d(\n        in_shape_dict=in_shape_dict,\n        loader=None,\n        \
                     n_neurons_dict=DATA_KEYS,\n        init_mu_range={init_mu_range:?},\n        bias=True,\n        \
                     init_sigma={init_sigma:?},\n        gamma_readout={gamma:?},\n        gauss_type=\"full\",{predictor}\n    )"
                ),
            )
        }
        ReadoutConfig::Factorized { constraint, .. } => {
            let (class, base) = match constraint {
                Constraint::Free => ("", "SpatialXFeatureLinear"),
                // neuralpredictors' `positive_weights`/`constrain_pos` clamp the stored weights
                // in place instead; the subclass keeps them raw, as zoo does, so the state dict
                // is the run's own and imports back bit for bit.
                Constraint::Abs => (
                    "\n\nclass AbsSpatialXFeatureLinear(SpatialXFeatureLinear):\n    \
                     \"\"\"SpatialXFeatureLinear with neurozoo's `abs` constraint: |spatial| and |features| in the\n    \
                     forward pass; the stored weights stay raw.\"\"\"\n\n    \
                     def forward(self, x, shift=None, **kwargs):\n        \
                     if shift is not None:\n            \
                     raise NotImplementedError(\"shift is not implemented for this readout\")\n        \
                     y = torch.einsum(\"ncwh,owh->nco\", x, self.spatial.abs())\n        \
                     return torch.einsum(\"nco,oc->no\", y, self.features.abs()) + self.bias\n",
                    "AbsSpatialXFeatureLinear",
                ),
            };
            (
                "MultiReadoutBase, SpatialXFeatureLinear",
                class,
                format!(
                    "MultiReadoutBase(\n        in_shape_dict=in_shape_dict,\n        n_neurons_dict=DATA_KEYS,\n        \
                     base_readout={base},\n        bias=True,\n        normalize=False,\n    )"
                ),
            )
        }
        ReadoutConfig::Full { .. } => unreachable!("checked: refused"),
    };
    let shifter = match &m.shifter {
        None => "None".to_string(),
        Some(s) => format!(
            "MLPShifter(data_keys=list(DATA_KEYS), input_channels=2, hidden_channels_shifter={}, shift_layers={})",
            s.hidden, s.layers
        ),
    };
    let (encoder_class, encoder) = match m.output {
        OutputNonlinearity::Elu1 => ("", "FiringRateEncoder"),
        OutputNonlinearity::Softplus => (
            "\n\nclass SoftplusEncoder(FiringRateEncoder):\n    \
             \"\"\"FiringRateEncoder with neurozoo's softplus output in place of ELU + 1.\"\"\"\n\n    \
             def forward(self, inputs, *args, data_key=None, pupil_center=None, trial_idx=None, shift=None, **kwargs):\n        \
             x = self.core(inputs)\n        \
             if self.shifter:\n            \
             shift = self.shifter[data_key](pupil_center, trial_idx)\n        \
             x = self.readout(x, data_key=data_key, shift=shift, **kwargs)\n        \
             return torch.nn.functional.softplus(x)\n",
            "SoftplusEncoder",
        ),
    };
    let first_key = report.recordings.first().map(|(k, _)| py_str(k)).unwrap_or_default();
    format!(
        r#""""A neurozoo model ({preset}, {origin}) exported for neuralpredictors 0.3.0.

Builds the model from neuralpredictors' modules, as the sensorium starter kit's builder does,
and loads state_dict.pth (beside this file) into it with strict=True:

    from model import build
    model = build()  # in eval mode
    rates = model(x, data_key={first_key}{shifter_call})

x is (B, {c}, {h}, {w}): {inputs}. Inputs are normalised as the run normalised them (run.json's
normalizer: images z-scored with image_mean and image_std, behaviour divided by behavior_std,
pupil position z-scored); rates are in the run's response units divided by its response_scale.
"""

import collections.abc
import sys
import types
from pathlib import Path

import torch

# neuralpredictors 0.3.0 imports collections.Iterable (gone since Python 3.10), and torchvision,
# which only its TransferLearningCore uses; neither shim changes the package.
collections.Iterable = collections.abc.Iterable
sys.modules.setdefault("torchvision", types.ModuleType("torchvision"))
from neuralpredictors.layers.cores import Stacked2dCore  # noqa: E402
from neuralpredictors.layers.encoders import FiringRateEncoder  # noqa: E402
from neuralpredictors.layers.readouts import {readout_import}  # noqa: E402
from neuralpredictors.layers.shifters import MLPShifter  # noqa: E402, F401
from neuralpredictors.utils import get_module_output  # noqa: E402

HERE = Path(__file__).parent
# Data key -> number of neurons.
DATA_KEYS = {{{data_keys}}}
INPUT_SHAPE = ({c}, {h}, {w})
{readout_class}{encoder_class}

def build(state_dict_path=HERE / "state_dict.pth"):
    state_dict = torch.load(state_dict_path, weights_only=True)
    # gamma_* are the run's penalty weights for neurozoo's loss (a mean over the batch); the
    # sensorium trainer's loss is a sum scaled by sqrt(N / B), see neurozoo's docs/models.md.
    # They change training, not predictions.
    core = Stacked2dCore(
        input_channels={c},
        hidden_channels={channels},
        input_kern={input_kern},
        hidden_kern={hidden_kern},
        layers={layers},
        gamma_hidden={gamma_hidden:?},
        gamma_input={gamma_input:?},
        skip=0,
        final_nonlinearity={final_nonlinearity},
        bias={bias},
        momentum={momentum:?},
        pad_input={pad_input},
        hidden_padding={hidden_padding},
        batch_norm={batch_norm},
        laplace_padding=None,
        input_regularizer="LaplaceL2norm",
        stack=-1,
        use_avg_reg=False,
        depth_separable={depth_separable},
        linear={linear},
    )
    in_shape = get_module_output(core, (1, *INPUT_SHAPE), use_cuda=False)[1:]
    in_shape_dict = {{k: in_shape for k in DATA_KEYS}}
    readout = {readout}
    shifter = {shifter}
    model = {encoder}(core=core, readout=readout, shifter=shifter, elu_offset=0)
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


if __name__ == "__main__":
    print(build())
"#,
        preset = cfg.preset.as_deref().unwrap_or("a custom config"),
        channels = core.channels,
        input_kern = core.input_kernel,
        hidden_kern = core.hidden_kernel,
        layers = core.layers,
        gamma_hidden = core.gamma_hidden,
        gamma_input = core.gamma_input,
        final_nonlinearity = py_bool(core.final_nonlinearity),
        bias = py_bool(bias),
        momentum = core.batch_norm_momentum,
        pad_input = py_bool(core.pad_input),
        batch_norm = py_bool(core.batch_norm),
        depth_separable = py_bool(core.depth_separable),
        linear = py_bool(core.linear),
    )
}
