//! What an evaluation of a fitted model reports, as `neurozoo eval --json` writes it and other
//! programs (the demo, sweeps) read it back: the field's metrics per tier and the recovery of
//! receptive fields on simulated data. Computing them needs the model (`neurozoo-zoo`);
//! reading them needs only this crate.
//!
//! ```
//! use neurozoo_metrics::report::EvalReport;
//!
//! let json = r#"{"data": "v1.h5", "test": {"trials": 500, "correlation": 0.41, "oracle_correlation": 0.62}}"#;
//! let report: EvalReport = serde_json::from_str(json).unwrap();
//! assert_eq!(report.tiers["test"].oracle_correlation, Some(0.62));
//! assert!(report.rf_recovery.is_none());
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Metrics of one tier; per-unit values averaged over units.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TierMetrics {
    pub trials: usize,
    /// Single-trial correlation between prediction and response; NaN (null in JSON) when no
    /// unit's responses vary in the tier.
    #[serde(deserialize_with = "nan_if_null")]
    pub correlation: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_to_average: Option<f64>,
    /// Fraction of explainable variance explained, over units with FEV ≥ 0.15 (sensorium).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feve: Option<f64>,
    /// Units that pass the FEV ≥ 0.15 filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feve_units: Option<usize>,
    /// Mean fraction of the response variance that is explainable (not noise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fev: Option<f64>,
    /// Units whose responses never vary in this tier: their correlations are undefined and left
    /// out of every mean here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constant_units: Option<usize>,
    /// Jackknife oracle correlation: the ceiling that trial-to-trial noise puts on correlation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oracle_correlation: Option<f64>,
    /// 1 − MSE / Var of the prediction against the noiseless ground-truth rate (simulations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fev_ground_truth: Option<f64>,
    /// Median distance in pixels between the model neurons' and the true receptive-field centres
    /// (the same for every tier: a property of the model; details in `rf_recovery`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rf_location_error_px: Option<f64>,
}

/// serde_json writes a NaN as null; read it back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// How well the model found the receptive fields (simulations; any model but a frozen core).
///
/// A model neuron's receptive field is where in the image it is sensitive
/// (`neurozoo_zoo::model::Model::sensitivity_centres`), not its readout position: a core's filters and the readout
/// positions reading them can trade a shift and predict exactly the same, so a position alone is
/// off by whatever shift the core's channels took. Besides the raw error this reports each cell
/// type's median offset and the error once it is removed (`aligned_*`): how well the model
/// placed the neurons relative to each other, apart from a bias shared by a type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfRecovery {
    /// Neurons compared: all of them, or an evenly spaced 1000 of a larger population.
    pub neurons: usize,
    /// Median distance between found and true centres, pixels.
    pub median_error_px: f64,
    pub within_1px: f64,
    pub within_2px: f64,
    /// Per cell type, the median (row, column) offset of found minus true centres.
    pub type_offsets_px: BTreeMap<String, [f64; 2]>,
    /// The same distances after removing each type's offset.
    pub aligned_median_error_px: f64,
    pub aligned_within_1px: f64,
    pub aligned_within_2px: f64,
    /// Raw distance per unit, pixels.
    #[serde(skip)]
    pub errors: Vec<f64>,
}

impl TierMetrics {
    /// One tier of several recordings as one population: means weighted by each recording's
    /// units (FEVE by the units that pass its filter), trials summed. A metric is pooled only
    /// when every recording has it; receptive-field errors stay per recording.
    pub fn pool(parts: &[(usize, &TierMetrics)]) -> TierMetrics {
        // Units whose responses never vary are in no recording's means: they weigh nothing.
        let defined = |u: usize, m: &TierMetrics| u.saturating_sub(m.constant_units.unwrap_or(0));
        let units = parts.iter().map(|(u, m)| defined(*u, m)).sum::<usize>() as f64;
        let mean = |get: fn(&TierMetrics) -> Option<f64>| -> Option<f64> {
            parts
                .iter()
                .map(|(u, m)| match defined(*u, m) {
                    0 => Some(0.0),
                    d => get(m).map(|v| v * d as f64),
                })
                .sum::<Option<f64>>()
                .filter(|_| units > 0.0)
                .map(|s| s / units)
        };
        let feve_units = parts.iter().map(|(_, m)| m.feve_units).sum::<Option<usize>>();
        let feve = feve_units.filter(|&n| n > 0).and_then(|n| {
            parts.iter().map(|(_, m)| Some(m.feve.unwrap_or(0.0) * m.feve_units? as f64)).sum::<Option<f64>>().map(|s| s / n as f64)
        });
        TierMetrics {
            trials: parts.iter().map(|(_, m)| m.trials).sum(),
            correlation: mean(|m| Some(m.correlation).filter(|c| c.is_finite())).unwrap_or(f64::NAN),
            constant_units: parts.iter().filter_map(|(_, m)| m.constant_units).reduce(|a, b| a + b),
            correlation_to_average: mean(|m| m.correlation_to_average),
            feve,
            feve_units,
            fev: mean(|m| m.fev),
            oracle_correlation: mean(|m| m.oracle_correlation),
            fev_ground_truth: mean(|m| m.fev_ground_truth),
            rf_location_error_px: None,
        }
    }
}

/// One recording's evaluation: metrics by tier name (`train`, `validation`, `test`,
/// `final_test`), the receptive-field recovery where the data have ground truth, the file, and
/// the run when it was one run's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    #[serde(flatten)]
    pub tiers: BTreeMap<String, TierMetrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rf_recovery: Option<RfRecovery>,
    pub data: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// An ensemble's runs, each evaluated alone: run directory → tier name → metrics.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub members: BTreeMap<String, BTreeMap<String, TierMetrics>>,
}
