//! In-silico experiments checked against the simulator's ground truth: a klindt2017 model fitted
//! to a simulated V1 population once, then each unit's MEI against its true filter and its
//! grating tuning against its true orientation and cell type.

mod common;

use std::time::Instant;

use neurozoo_datasets::simulate::v1::CellType;
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

/// Pearson correlation of two equally long pixel lists.
fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (ma, mb) = (mean(a), mean(b));
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ab += (x - ma) * (y - mb);
        aa += (x - ma).powi(2);
        bb += (y - mb).powi(2);
    }
    ab / (aa * bb).sqrt()
}

/// Area under the ROC curve of `positives` against `negatives` (Mann–Whitney U over all pairs,
/// ties count half): the chance that a random positive scores above a random negative.
fn auc(positives: &[f64], negatives: &[f64]) -> f64 {
    let wins: f64 = positives
        .iter()
        .flat_map(|p| {
            negatives.iter().map(move |n| {
                if p > n {
                    1.0
                } else if p == n {
                    0.5
                } else {
                    0.0
                }
            })
        })
        .sum();
    wins / (positives.len() * negatives.len()) as f64
}

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
    let filters = v1::true_filters(truth).unwrap();

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

    let (mut simple, mut complex, mut center_surround) = (Vec::new(), Vec::new(), Vec::new());
    for (k, &u) in units.iter().enumerate() {
        let f = &filters[u];
        let (fh, fw) = f.even.dim();
        let window: Vec<f64> = (0..fh * fw).map(|i| f64::from(meis.images[[k, 0, f.top + i / fw, f.left + i % fw]])).collect();
        let even: Vec<f64> = f.even.iter().copied().collect();
        let name = &truth.cell_type_names[truth.cell_type[u] as usize];
        match &f.odd {
            // The energy model responds to every phase alike: the MEI may take any, so it is
            // compared with the pair's filter at the phase (1° steps) that fits it best.
            Some(odd) => {
                let best_phase = (0..360)
                    .map(|deg| {
                        let phi = f64::from(deg).to_radians();
                        let phased: Vec<f64> = even.iter().zip(odd.iter()).map(|(e, o)| phi.cos() * e + phi.sin() * o).collect();
                        correlation(&window, &phased)
                    })
                    .fold(f64::NEG_INFINITY, f64::max);
                complex.push(best_phase);
            }
            None if name.starts_with("simple") => simple.push(correlation(&window, &even)),
            None => center_surround.push(correlation(&window, &even)),
        }
    }
    let ratios: Vec<f64> = meis.activation.iter().zip(&best).map(|(&m, &b)| f64::from(m / b)).collect();
    let mean_ratio = ratios.iter().sum::<f64>() / ratios.len() as f64;
    let (r_simple, r_complex, r_cs) = (median(&mut simple.clone()), median(&mut complex.clone()), median(&mut center_surround.clone()));
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
    let params: serde_json::Value = serde_json::from_str(&truth.params_json).unwrap();
    let config: V1Config = serde_json::from_value(params["config"].clone()).unwrap();
    let (mut orientation_errors, mut f1_simple, mut f1_complex, mut centre_errors) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (k, &u) in units.iter().enumerate() {
        let t = &summary[k];
        let true_deg = match config.cell_types[truth.cell_type[u] as usize] {
            CellType::Simple { orientation_deg } => {
                f1_simple.push(t.f1_f0);
                orientation_deg
            }
            CellType::Complex { orientation_deg } => {
                f1_complex.push(t.f1_f0);
                orientation_deg
            }
            CellType::CenterSurround => continue,
        };
        let d = (t.preferred_orientation_deg - true_deg).rem_euclid(180.0);
        orientation_errors.push(d.min(180.0 - d));
        let [row, col] = tuning.rf_centres[k];
        centre_errors.push((row - f64::from(truth.rf_position[[u, 0]])).hypot(col - f64::from(truth.rf_position[[u, 1]])));
    }
    let orientation_error = median(&mut orientation_errors.clone());
    let f1_auc = auc(&f1_simple, &f1_complex);
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
    assert!(f1_simple.iter().chain(&f1_complex).all(|r| r.is_finite()), "every oriented cell is driven by its preferred grating");
    assert!(orientation_error <= 10.0, "median preferred-orientation error {orientation_error}° ({orientation_errors:?})");
    assert!(f1_auc >= 0.9, "F1/F0 separates simple from complex cells with AUC {f1_auc} (simple {f1_simple:?}, complex {f1_complex:?})");
    assert!(r_simple >= 0.7, "simple cells: median correlation {r_simple} of MEI and true filter ({simple:?})");
    assert!(r_complex >= 0.7, "complex cells: median best-phase correlation {r_complex} ({complex:?})");
    assert!(mean_ratio >= 1.5, "MEIs drive their units {mean_ratio}× the best training image on average ({ratios:?})");
}

device_tests!(meis_and_tuning_recover_the_truth);
