//! neuralpredictors' parameter and buffer names for each variable of a zoo model.
//!
//! | zoo variable | neuralpredictors 0.3.0 |
//! |---|---|
//! | `core.layerL.conv.{weight,bias}` | `core.features.layerL.conv.{weight,bias}` |
//! | `core.layerL.{in_depth_conv,spatial_conv,out_depth_conv}.{weight,bias}` | `core.features.layerL.ds_conv.*` (no biases in the sensorium baseline: zero) |
//! | `core.layerL.norm.{weight,bias,running_mean,running_var}` | `core.features.layerL.norm.*` |
//! | Gaussian `readout.features` (U, C) | `readout.<key>._features` (1, C, 1, U) |
//! | Gaussian `readout.sigma` (U, 2, 2) | `readout.<key>.sigma` (1, U, 2, 2), `gauss_type = "full"` |
//! | Gaussian `readout.mu` (U, 2) | `readout.<key>._mu` (1, U, 1, 2) |
//! | Gaussian `readout.cortex` (U, D) | `readout.<key>.source_grid` (U, D), already normalised |
//! | Gaussian `readout.mu_transform.N.*` | `readout.<key>.mu_transform.N.*` |
//! | factorised `readout.{mask,features}` | `SpatialXFeatureLinear`'s `readout.<key>.{spatial,_features}` |
//! | `readout.bias` | `readout.<key>.bias` |
//! | `shifter.layerI.*` | `MLPShifter`'s `shifter.<key>.mlp.(2I).*` |
//!
//! With several recordings zoo's `readouts.R.*` and `shifters.R.*` are recording R's, whose
//! data key is the R-th in the checkpoint. `num_batches_tracked` and the input regulariser's
//! buffers (`core._input_weights_regularizer.*`, the Laplace filter) are not parameters.
//!
//! The export ([`super::export_run`]) reads the same table backwards: [`source`] names each
//! variable's key and [`Layout`] is undone.

use crate::config::ReadoutConfig;

/// How a neuralpredictors tensor becomes a zoo variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The same shape.
    Same,
    /// The same elements in the same order, another shape (singleton dimensions).
    Reshape,
    /// (1, C, 1, U) in neuralpredictors, (U, C) in zoo.
    ChannelsByUnits,
}

/// Where a zoo variable's values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The checkpoint's key.
    pub key: String,
    /// The shape neuralpredictors gives it.
    pub shape: Vec<i64>,
    pub layout: Layout,
    /// The variable is exactly zero when the checkpoint has no such key: neuralpredictors built
    /// that layer without a bias (`bias=False`), where zoo always has one.
    pub zero_if_absent: bool,
}

/// A checkpoint key that is not a model parameter: the training regulariser's buffers and
/// batch norm's step counter.
pub fn is_non_parameter(key: &str) -> bool {
    key.ends_with(".num_batches_tracked") || key.starts_with("core._input_weights_regularizer.")
}

/// The buffers a neuralpredictors `Stacked2dCore` of `layers` layers has besides its
/// parameters, with the values it is built with: its input regulariser's 3×3 Laplace filter
/// (`LaplaceL2norm`, `laplace_padding=None`) and, with batch norm, each layer's step counter
/// (0: the count only matters to a batch norm with `momentum=None`). These are the
/// [`is_non_parameter`] keys; `torch.load_state_dict(strict=True)` wants them.
pub fn core_buffers(layers: usize, batch_norm: bool) -> Vec<(String, neurozoo_pth::Tensor)> {
    use neurozoo_pth::{DType, Tensor};
    let laplace: [f32; 9] = [0.0, -1.0, 0.0, -1.0, 4.0, -1.0, 0.0, -1.0, 0.0];
    let mut out = vec![(
        "core._input_weights_regularizer.laplace.filter".to_string(),
        Tensor { dtype: DType::F32, shape: vec![1, 1, 3, 3], data: laplace.iter().flat_map(|v| v.to_le_bytes()).collect() },
    )];
    if batch_norm {
        for l in 0..layers {
            out.push((
                format!("core.features.layer{l}.norm.num_batches_tracked"),
                Tensor { dtype: DType::I64, shape: vec![], data: 0i64.to_le_bytes().to_vec() },
            ));
        }
    }
    out
}

/// The source of zoo variable `name` of shape `shape` in a model with readouts of kind
/// `readout` and one data key per recording (`data_keys[r]` is recording r's); None for a
/// variable with no neuralpredictors counterpart.
pub fn source(name: &str, shape: &[i64], readout: &ReadoutConfig, data_keys: &[String]) -> Option<Source> {
    let same = |key: String| Source { key, shape: shape.to_vec(), layout: Layout::Same, zero_if_absent: false };
    let parts: Vec<&str> = name.split('.').collect();
    match parts.as_slice() {
        ["core", layer, "conv", p] => Some(same(format!("core.features.{layer}.conv.{p}"))),
        ["core", layer, "norm", p] => Some(same(format!("core.features.{layer}.norm.{p}"))),
        ["core", layer, part @ ("in_depth_conv" | "spatial_conv" | "out_depth_conv"), p] => {
            Some(Source { zero_if_absent: *p == "bias", ..same(format!("core.features.{layer}.ds_conv.{part}.{p}")) })
        }
        ["readout", rest @ ..] => readout_source(&data_keys[0], rest, shape, readout),
        ["readouts", r, rest @ ..] => readout_source(data_keys.get(r.parse::<usize>().ok()?)?, rest, shape, readout),
        ["shifter", layer, p] => shifter_source(&data_keys[0], layer, p, shape),
        ["shifters", r, layer, p] => shifter_source(data_keys.get(r.parse::<usize>().ok()?)?, layer, p, shape),
        _ => None,
    }
}

fn readout_source(key: &str, rest: &[&str], shape: &[i64], readout: &ReadoutConfig) -> Option<Source> {
    let at = |p: &str| format!("readout.{key}.{p}");
    let same = |p: &str| Source { key: at(p), shape: shape.to_vec(), layout: Layout::Same, zero_if_absent: false };
    let reshape = |p: &str, s: Vec<i64>| Source { key: at(p), shape: s, layout: Layout::Reshape, zero_if_absent: false };
    match (readout, rest) {
        (_, ["bias"]) => Some(same("bias")),
        (ReadoutConfig::Gaussian { .. }, ["features"]) => Some(Source {
            key: at("_features"),
            shape: vec![1, shape[1], 1, shape[0]],
            layout: Layout::ChannelsByUnits,
            zero_if_absent: false,
        }),
        (ReadoutConfig::Gaussian { .. }, ["sigma"]) => Some(reshape("sigma", [&[1], shape].concat())),
        (ReadoutConfig::Gaussian { .. }, ["mu"]) => Some(reshape("_mu", vec![1, shape[0], 1, 2])),
        (ReadoutConfig::Gaussian { .. }, ["cortex"]) => Some(same("source_grid")),
        (ReadoutConfig::Gaussian { .. }, ["mu_transform", n, p]) => Some(same(&format!("mu_transform.{n}.{p}"))),
        (ReadoutConfig::Factorized { .. }, ["mask"]) => Some(same("spatial")),
        (ReadoutConfig::Factorized { .. }, ["features"]) => Some(same("_features")),
        _ => None,
    }
}

fn shifter_source(key: &str, layer: &str, p: &str, shape: &[i64]) -> Option<Source> {
    let i: usize = layer.strip_prefix("layer")?.parse().ok()?;
    // Linear layers at the even places of the MLP's Sequential, tanh between.
    Some(Source { key: format!("shifter.{key}.mlp.{}.{p}", 2 * i), shape: shape.to_vec(), layout: Layout::Same, zero_if_absent: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_shapes_follow_neuralpredictors() {
        let gaussian = ReadoutConfig::Gaussian { init_mu_range: 0.3, init_sigma: 0.1, gamma: 0.0, grid_mean_predictor: None };
        let keys = vec!["a".to_string(), "b".to_string()];
        let s = source("readouts.1.features", &[7, 64], &gaussian, &keys).unwrap();
        assert_eq!((s.key.as_str(), s.shape.as_slice(), s.layout), ("readout.b._features", &[1, 64, 1, 7][..], Layout::ChannelsByUnits));
        let s = source("readout.mu", &[7, 2], &gaussian, &keys).unwrap();
        assert_eq!((s.key.as_str(), s.shape.as_slice()), ("readout.a._mu", &[1, 7, 1, 2][..]));
        let s = source("core.layer2.spatial_conv.bias", &[64], &gaussian, &keys).unwrap();
        assert_eq!(s.key, "core.features.layer2.ds_conv.spatial_conv.bias");
        assert!(s.zero_if_absent);
        assert_eq!(source("shifters.0.layer2.weight", &[2, 5], &gaussian, &keys).unwrap().key, "shifter.a.mlp.4.weight");
        let full = ReadoutConfig::Full { gamma: 0.0, gamma_laplace: 0.0 };
        assert_eq!(source("readout.weight", &[7, 1, 3, 3], &full, &keys), None);
        assert!(is_non_parameter("core._input_weights_regularizer.laplace.filter"));
        assert!(is_non_parameter("core.features.layer0.norm.num_batches_tracked"));
        assert!(!is_non_parameter("core.features.layer0.norm.running_mean"));
    }
}
