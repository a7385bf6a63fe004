//! `neurozoo eval`: the field's metrics per tier, computed from a model's predictions.
//!
//! A metric that does not apply (no repeats, no ground truth, a readout without positions) is
//! absent, never filled in.

use std::collections::BTreeMap;

use ndarray::{Array2, Axis};
use neurozoo_datasets::{Dataset, Tier};
use serde::Serialize;
use tch::Device;

use crate::measures;
use crate::model::Model;
use crate::run::Normalizer;
use crate::train::predict;

/// Metrics of one tier; per-unit values averaged over units.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TierMetrics {
    pub trials: usize,
    /// Single-trial correlation between prediction and response.
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
    /// Jackknife oracle correlation: the ceiling that trial-to-trial noise puts on correlation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oracle_correlation: Option<f64>,
    /// 1 − MSE / Var of the prediction against the noiseless ground-truth rate (simulations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fev_ground_truth: Option<f64>,
    /// Median distance in pixels between the readout's and the true receptive-field centres.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rf_location_error_px: Option<f64>,
}

/// How well the readout found the receptive fields (simulations with a positional readout).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RfRecovery {
    pub median_error_px: f64,
    pub mean_error_px: f64,
    pub within_1px: f64,
    pub within_2px: f64,
    /// Per unit, in pixels.
    #[serde(skip)]
    pub errors: Vec<f64>,
}

pub struct Evaluation {
    pub tiers: BTreeMap<Tier, TierMetrics>,
    pub rf: Option<RfRecovery>,
    /// Predicted rates in response units, (N, U).
    pub predictions: Array2<f32>,
}

pub fn rf_recovery(model: &Model, ds: &Dataset) -> Option<RfRecovery> {
    let truth = &ds.ground_truth.as_ref()?.rf_position;
    let found = model.rf_positions()?;
    let mut errors: Vec<f64> = (0..truth.nrows())
        .map(|u| f64::from((found[[u, 0]] - truth[[u, 0]]).hypot(found[[u, 1]] - truth[[u, 1]])))
        .collect();
    let n = errors.len() as f64;
    let within = |d: f64| errors.iter().filter(|&&e| e <= d).count() as f64 / n;
    let (w1, w2, mean) = (within(1.0), within(2.0), errors.iter().sum::<f64>() / n);
    let mut sorted = errors.clone();
    sorted.sort_by(f64::total_cmp);
    let median = if sorted.len() % 2 == 0 { (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0 } else { sorted[sorted.len() / 2] };
    errors.shrink_to_fit();
    Some(RfRecovery { median_error_px: median, mean_error_px: mean, within_1px: w1, within_2px: w2, errors })
}

pub fn evaluate(model: &Model, ds: &Dataset, norm: &Normalizer, device: Device, batch_size: usize) -> Evaluation {
    let images = norm.images(ds, device).to_kind(tch::Kind::Float);
    let all: Vec<i64> = (0..ds.n_trials() as i64).collect();
    let scale = ndarray::Array1::from(norm.response_scale.clone());
    let predictions = predict(model, &images, &all, batch_size) * &scale;
    let rf = rf_recovery(model, ds);
    let responses = ds.responses.mapv(f64::from);
    let pred = predictions.mapv(f64::from);
    let mut tiers = BTreeMap::new();
    for tier in Tier::ALL {
        let idx = ds.tier_indices(tier);
        if idx.is_empty() {
            continue;
        }
        let r = responses.select(Axis(0), &idx);
        let p = pred.select(Axis(0), &idx);
        let mut m = TierMetrics { trials: idx.len(), correlation: mean(&measures::corr(r.view(), p.view())), ..TierMetrics::default() };
        let groups: Vec<Vec<usize>> = ds.repeats(tier).into_iter().filter(|g| g.len() > 1).collect();
        if !groups.is_empty() {
            let rep: Vec<Array2<f64>> = groups.iter().map(|g| responses.select(Axis(0), g)).collect();
            let rep_pred: Vec<Array2<f64>> = groups.iter().map(|g| pred.select(Axis(0), g)).collect();
            let fev = measures::explainable_var_fraction(&rep);
            let feve = measures::feve(&rep, &rep_pred);
            m.correlation_to_average = Some(mean(&measures::correlation_to_average(&rep, &rep_pred)));
            m.feve = measures::mean_over_reliable(&feve, &fev);
            m.feve_units = Some(fev.iter().filter(|&&f| f >= measures::FEV_THRESHOLD).count());
            m.fev = Some(mean(&fev));
            m.oracle_correlation = Some(mean(&measures::oracle_corr_jackknife(&rep)));
            m.rf_location_error_px = rf.as_ref().map(|rf| rf.median_error_px);
        }
        if let Some(gt) = &ds.ground_truth {
            let rates = gt.noiseless_rates.mapv(f64::from).select(Axis(0), &idx);
            m.fev_ground_truth = Some(mean(&measures::fev_ground_truth(rates.view(), p.view())));
        }
        tiers.insert(tier, m);
    }
    Evaluation { tiers, rf, predictions }
}

/// Mean over units, skipping NaN (units that never vary have no correlation).
fn mean(values: &ndarray::Array1<f64>) -> f64 {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    finite.iter().sum::<f64>() / finite.len().max(1) as f64
}
