//! `neurozoo eval`: the field's metrics per tier, computed from a model's predictions.
//!
//! A metric that does not apply (no repeats, no ground truth, a frozen core's receptive fields)
//! is absent, never filled in.

use std::collections::BTreeMap;

use ndarray::{Array2, Axis};
use neurozoo_datasets::stats::median;
use neurozoo_datasets::{Dataset, GroundTruth, Tier};
use tch::{Device, Tensor};

use crate::measures;
use crate::model::Predictor;
use crate::run::Normalizer;
use crate::train::{predict, Stimuli};
pub use neurozoo_metrics::report::{RfRecovery, TierMetrics};

pub struct Evaluation {
    pub tiers: BTreeMap<Tier, TierMetrics>,
    pub rf: Option<RfRecovery>,
    /// Predicted rates in response units, (N, U).
    pub predictions: Array2<f32>,
}

/// Images a receptive field is mapped with: the first of the validation tier (unique images).
const RF_MAPPING_IMAGES: usize = 16;
/// Neurons mapped at most, evenly spaced through a larger population: each costs a backward
/// pass over the mapping images, which for a sensorium-sized simulation would take many minutes.
const RF_MAPPING_NEURONS: usize = 1000;

/// How well recording `recording`'s model neurons found the simulated receptive fields: where
/// each is sensitive ([`Model::sensitivity_centres`]) on a few validation images, with the pupil
/// at its mean position, against where the simulation put it.
pub fn rf_recovery(model: &dyn Predictor, recording: usize, ds: &Dataset, images: &Stimuli) -> Option<RfRecovery> {
    let gt = ds.ground_truth.as_ref()?;
    let mut trials = ds.tier_indices(Tier::Validation);
    if trials.is_empty() {
        trials = (0..ds.n_trials()).collect();
    }
    trials.truncate(RF_MAPPING_IMAGES);
    let idx = Tensor::from_slice(&trials.iter().map(|&t| t as i64).collect::<Vec<_>>()).to_device(images.device());
    let mut x = images.batch(&idx);
    x.pupil = x.pupil.map(|p| p.zeros_like());
    let image_channels = x.images.size()[1] - model.inputs().extra_channels() as i64;
    let n = gt.rf_position.nrows();
    let neurons: Vec<usize> = (0..n.min(RF_MAPPING_NEURONS)).map(|k| k * n / n.min(RF_MAPPING_NEURONS)).collect();
    Some(rf_recovery_of(&model.sensitivity_centres(recording, &x, image_channels, &neurons)?, gt, &neurons))
}

/// Compare found receptive-field centres (row `i` for unit `units[i]`; (row, column), pixels)
/// with the ground truth.
pub fn rf_recovery_of(found: &Array2<f32>, gt: &GroundTruth, units: &[usize]) -> RfRecovery {
    let mut offset = (found - &gt.rf_position.select(Axis(0), units)).mapv(f64::from);
    let distances = |o: &Array2<f64>| -> Vec<f64> { o.rows().into_iter().map(|d| d[0].hypot(d[1])).collect() };
    let errors = distances(&offset);
    let mut type_offsets_px = BTreeMap::new();
    for (t, name) in gt.cell_type_names.iter().enumerate() {
        let rows: Vec<usize> = (0..offset.nrows()).filter(|&i| gt.cell_type[units[i]] as usize == t).collect();
        if rows.is_empty() {
            continue;
        }
        let shift = [0, 1].map(|k| median(&mut rows.iter().map(|&i| offset[[i, k]]).collect::<Vec<_>>()));
        for &i in &rows {
            offset[[i, 0]] -= shift[0];
            offset[[i, 1]] -= shift[1];
        }
        type_offsets_px.insert(name.clone(), shift);
    }
    let aligned = distances(&offset);
    let within = |e: &[f64], d: f64| e.iter().filter(|&&x| x <= d).count() as f64 / e.len().max(1) as f64;
    RfRecovery {
        neurons: units.len(),
        median_error_px: median(&mut errors.clone()),
        within_1px: within(&errors, 1.0),
        within_2px: within(&errors, 2.0),
        type_offsets_px,
        aligned_median_error_px: median(&mut aligned.clone()),
        aligned_within_1px: within(&aligned, 1.0),
        aligned_within_2px: within(&aligned, 2.0),
        errors,
    }
}

/// Recording `recording` of `model` (its readout) evaluated on `ds`, tier by tier; a recording
/// without the behaviour or pupil position the model reads is the error.
pub fn evaluate(
    model: &dyn Predictor,
    recording: usize,
    ds: &Dataset,
    norm: &Normalizer,
    device: Device,
    batch_size: usize,
) -> Result<Evaluation, crate::run::MissingInput> {
    let images = norm.stimuli(ds, device, &model.inputs())?;
    let all: Vec<i64> = (0..ds.n_trials() as i64).collect();
    let scale = ndarray::Array1::from(norm.response_scale.clone());
    let predictions = predict(model, recording, &images, &all, batch_size) * &scale;
    let rf = rf_recovery(model, recording, ds, &images);
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
        // A unit whose responses never vary in this tier has no correlation, oracle or
        // explainable variance: undefined, left out of every mean (the reference's epsilon
        // would score it 0), and counted.
        let varies: Vec<bool> = r.axis_iter(Axis(1)).map(|c| c.iter().any(|&x| x != c[0])).collect();
        let constant = varies.iter().filter(|v| !**v).count();
        let mean = |values: &ndarray::Array1<f64>| mean_over(values, &varies);
        let mut m = TierMetrics {
            trials: idx.len(),
            correlation: mean(&measures::corr(r.view(), p.view())).unwrap_or(f64::NAN),
            constant_units: (constant > 0).then_some(constant),
            ..TierMetrics::default()
        };
        let groups: Vec<Vec<usize>> = ds.repeats(tier).into_iter().filter(|g| g.len() > 1).collect();
        if !groups.is_empty() {
            let rep: Vec<Array2<f64>> = groups.iter().map(|g| responses.select(Axis(0), g)).collect();
            let rep_pred: Vec<Array2<f64>> = groups.iter().map(|g| pred.select(Axis(0), g)).collect();
            let fev = measures::explainable_var_fraction(&rep);
            let feve = measures::feve(&rep, &rep_pred);
            m.correlation_to_average = mean(&measures::correlation_to_average(&rep, &rep_pred));
            m.feve = measures::mean_over_reliable(&feve, &fev);
            m.feve_units = Some(fev.iter().filter(|&&f| f >= measures::FEV_THRESHOLD).count());
            m.fev = mean(&fev);
            m.oracle_correlation = mean(&measures::oracle_corr_jackknife(&rep));
        }
        if let Some(gt) = &ds.ground_truth {
            let rates = gt.noiseless_rates.mapv(f64::from).select(Axis(0), &idx);
            m.fev_ground_truth = mean_over(&measures::fev_ground_truth(rates.view(), p.view()), &vec![true; varies.len()]);
            m.rf_location_error_px = rf.as_ref().map(|rf| rf.median_error_px);
        }
        tiers.insert(tier, m);
    }
    Ok(Evaluation { tiers, rf, predictions })
}

/// Mean over the units marked in `keep`, skipping NaN and infinities (a noiseless rate that
/// never varies has no fraction of variance); `None` when no unit is left: undefined, not 0.
fn mean_over(values: &ndarray::Array1<f64>, keep: &[bool]) -> Option<f64> {
    let finite: Vec<f64> = values.iter().zip(keep).filter(|(v, k)| **k && v.is_finite()).map(|(v, _)| *v).collect();
    (!finite.is_empty()).then(|| finite.iter().sum::<f64>() / finite.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two cell types, each found with its own shared shift plus a small per-unit error: the
    /// raw error sees the shifts, the aligned error only the per-unit part.
    #[test]
    fn rf_recovery_separates_type_shifts_from_unit_errors() {
        let n = 8;
        let truth = Array2::from_shape_fn((n, 2), |(u, k)| 5.0 + u as f32 + 2.0 * k as f32);
        let cell_type: Vec<u32> = (0..n as u32).map(|u| u % 2).collect();
        let shift = [[1.5f32, -2.0], [0.0, 3.0]];
        let jitter = [0.1f32, -0.1, 0.2, -0.2, 0.0, 0.05, -0.05, 0.3];
        let found =
            Array2::from_shape_fn((n, 2), |(u, k)| truth[[u, k]] + shift[cell_type[u] as usize][k] + if k == 0 { jitter[u] } else { 0.0 });
        let gt = GroundTruth {
            rf_position: truth,
            cell_type,
            cell_type_names: vec!["simple".into(), "complex".into()],
            noiseless_rates: Array2::zeros((1, n)),
            params_json: "{}".into(),
            selectivity: None,
        };
        let rf = rf_recovery_of(&found, &gt, &(0..n).collect::<Vec<_>>());
        assert!(rf.median_error_px > 2.0 && rf.within_1px == 0.0, "{rf:?}");
        let [dy, dx] = rf.type_offsets_px["simple"];
        assert!((dy - 1.5).abs() < 0.11 && (dx + 2.0).abs() < 1e-6, "{rf:?}");
        assert!(rf.aligned_median_error_px < 0.2 && rf.aligned_within_1px == 1.0, "{rf:?}");
        assert_eq!(rf.errors.len(), n);
    }
}
