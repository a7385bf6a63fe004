//! In-silico experiments checked against the simulator's ground truth: a klindt2017 model fitted
//! to a simulated V1 population once, then each unit's MEI against its true filter and its
//! grating tuning against its true orientation and cell type.

mod common;

use std::time::Instant;

use neurozoo_datasets::simulate::truth::{MeisAgainstTruth, TuningAgainstTruth};
use neurozoo_datasets::simulate::v1::{self, V1Config};
use neurozoo_datasets::stats::median;
use neurozoo_datasets::Tier;
use neurozoo_zoo::config::{preset, Preset, TrainConfig};
use neurozoo_zoo::insilico::mei::{best_activation, optimise, MeiParams, StimulusStatistics};
use neurozoo_zoo::insilico::tuning::{measure, TuningParams};
use neurozoo_zoo::model::Model;
use neurozoo_zoo::run::Normalizer;
use neurozoo_zoo::train::Trainer;
use tch::{nn, Device};

/// Acceptance of the in-silico experiments (issue 30) on one klindt2017 model fitted to a
/// simulated V1 population (the simulator's own 1/f images and Poisson noise):
/// - MEIs match the true filters within each receptive-field window — a simple cell's its even
///   Gabor, a complex cell's the best phase of its quadrature pair, median correlation ≥ 0.7
///   each — and drive their units at least 1.5× as hard as the best training image, on average;
/// - gratings find the oriented cells' true orientations (median circular error ≤ 10°) and
///   F1/F0 tells simple from complex cells (AUC ≥ 0.9).
fn meis_and_tuning_recover_the_truth(device: Device) {
    let started = Instant::now();
    let sim = V1Config {
        seed: 3,
        n_units: 40,
        height: 24,
        width: 24,
        n_train: 2000,
        n_validation: 300,
        n_test: 0,
        n_final_test: 0,
        ..V1Config::default()
    };
    let ds = v1::simulate(&sim).unwrap();
    let truth = ds.ground_truth.as_ref().unwrap();

    let mut cfg = preset("klindt2017").and_then(Preset::into_responses).unwrap();
    let core = cfg.model.core.as_mut().unwrap();
    (core.layers, core.channels) = (2, 8);
    let normalizer = Normalizer::from_train(&ds).unwrap();
    let vs = nn::VarStore::new(device);
    let model = Model::new(&vs.root(), &cfg.model, ds.image_shape(), &normalizer.mean_train_response(&ds)).unwrap();
    let data = normalizer.train_data(&ds, device, &model.inputs()).unwrap();
    let train_cfg = TrainConfig { max_epochs: 15, batch_size: 64, ..cfg.train };
    Trainer { model: &model, vs: &vs, cfg: &train_cfg, checkpoint_dir: None }.fit(std::slice::from_ref(&data), false, |_| {}).unwrap();
    let fitted = started.elapsed();

    let train: Vec<i64> = ds.tier_indices(Tier::Train).into_iter().map(|t| t as i64).collect();
    let statistics = StimulusStatistics::of(&model, &data.images, &train).unwrap();
    let units: Vec<usize> = (0..sim.n_units).collect();
    let params = MeiParams::default().seed(1).check().unwrap();
    let meis = optimise(&model, 0, &units, &statistics, &params, device, |_| {}).unwrap();
    let best = best_activation(&model, 0, &units, &data.images, &train);

    let scored = MeisAgainstTruth::of(meis.images.view(), &units, truth).unwrap();
    let (simple, complex, center_surround) = (&scored.simple, &scored.complex, &scored.center_surround);
    let ratios: Vec<f64> = meis.activation.iter().zip(&best).map(|(&m, &b)| f64::from(m / b)).collect();
    let mean_ratio = ratios.iter().sum::<f64>() / ratios.len() as f64;
    let [r_simple, r_complex, r_cs] = scored.medians();
    println!(
        "{device:?}: fitted in {:.1} s, MEIs of {} units ({} steps) in {:.1} s; median MEI-filter correlation: simple {r_simple:.3} \
         (n {}), complex best phase {r_complex:.3} (n {}), centre-surround {r_cs:.3} (n {}); MEI / best training image rate: mean \
         {mean_ratio:.2}, min {:.2}; norm {:.2}, range [{:.2}, {:.2}]",
        fitted.as_secs_f64(),
        units.len(),
        meis.steps,
        (started.elapsed() - fitted).as_secs_f64(),
        simple.len(),
        complex.len(),
        center_surround.len(),
        ratios.iter().copied().fold(f64::INFINITY, f64::min),
        meis.norm,
        meis.value_range.0,
        meis.value_range.1
    );

    let tuned = Instant::now();
    let tuning = measure(&model, 0, &units, &statistics, &TuningParams::default().check().unwrap(), None, device).unwrap();
    let tuning_time = tuned.elapsed();
    let summary = tuning.summary();
    let orientation: Vec<f64> = summary.iter().map(|t| t.preferred_orientation_deg).collect();
    let f1: Vec<f64> = summary.iter().map(|t| t.f1_f0).collect();
    let against = TuningAgainstTruth::of(&units, &orientation, &f1, truth).unwrap();
    let (orientation_errors, f1_simple, f1_complex) = (&against.orientation_errors_deg, &against.f1_f0_simple, &against.f1_f0_complex);
    let centre_errors: Vec<f64> = units
        .iter()
        .enumerate()
        .map(|(k, &u)| {
            let [row, col] = tuning.rf_centres[k];
            (row - f64::from(truth.rf_position[[u, 0]])).hypot(col - f64::from(truth.rf_position[[u, 1]]))
        })
        .collect();
    let orientation_error = against.median_orientation_error();
    let f1_auc = against.f1_f0_auc();
    println!(
        "tuning of {} units ({} full-field gratings) in {:.1} s: median preferred-orientation error {orientation_error:.2}° over {} \
         oriented cells (max {:.2}°); F1/F0 simple median {:.2} (n {}), complex median {:.2} (n {}), AUC {f1_auc:.3}; median RF-centre \
         error {:.2} px",
        units.len(),
        tuning.full_field.len() / units.len(),
        tuning_time.as_secs_f64(),
        orientation_errors.len(),
        orientation_errors.iter().copied().fold(0.0, f64::max),
        median(&mut f1_simple.clone()),
        f1_simple.len(),
        median(&mut f1_complex.clone()),
        f1_complex.len(),
        median(&mut centre_errors.clone()),
    );

    assert!(!simple.is_empty() && !complex.is_empty(), "the population has simple and complex cells");
    assert!(f1_simple.iter().chain(f1_complex).all(|r| r.is_finite()), "every oriented cell is driven by its preferred grating");
    assert!(orientation_error <= 10.0, "median preferred-orientation error {orientation_error}° ({orientation_errors:?})");
    assert!(f1_auc >= 0.9, "F1/F0 separates simple from complex cells with AUC {f1_auc} (simple {f1_simple:?}, complex {f1_complex:?})");
    assert!(r_simple >= 0.7, "simple cells: median correlation {r_simple} of MEI and true filter ({simple:?})");
    assert!(r_complex >= 0.7, "complex cells: median best-phase correlation {r_complex} ({complex:?})");
    assert!(mean_ratio >= 1.5, "MEIs drive their units {mean_ratio}× the best training image on average ({ratios:?})");
}

device_tests!(meis_and_tuning_recover_the_truth);
