//! Test fixtures shared by the MEI, tuning and ensemble tests: an LN model of two Gabor simple cells
//! whose filters are known, and statistics of a z-scored image space.

use std::f64::consts::PI;

use tch::{nn, Tensor};

use crate::config::{preset, Preset};
use crate::insilico::mei::StimulusStatistics;
use crate::model::{Model, Readout};

pub const H: i64 = 12;
pub const W: i64 = 16;

/// An LN model (full linear readout, softplus) of two simple cells and their filters: even
/// Gabors of wavelength 6 px, unit 0's wave vector along the columns (0°) centred at (5, 6),
/// unit 1's along the rows (90°) centred at (6, 9).
pub fn ln_model(vs: &nn::VarStore) -> (Model, Tensor) {
    let cfg = preset("ln").and_then(Preset::into_responses).unwrap().model;
    let model = Model::new(&vs.root(), &cfg, [1, H as usize, W as usize], &[1.0, 1.0]).unwrap();
    let Readout::Full(readout) = &model.readouts[0] else { panic!("ln has a full readout") };
    let gabor = |cy: f64, cx: f64, theta_deg: f64| {
        let (cos, sin) = (theta_deg.to_radians().cos(), theta_deg.to_radians().sin());
        let v: Vec<f32> = (0..H * W)
            .map(|i| {
                let (y, x) = ((i / W) as f64 - cy, (i % W) as f64 - cx);
                ((-(x * x + y * y) / 8.0).exp() * (2.0 * PI * (x * cos + y * sin) / 6.0).cos()) as f32
            })
            .collect();
        Tensor::from_slice(&v).reshape([1, 1, H, W])
    };
    let filters = Tensor::cat(&[gabor(5.0, 6.0, 0.0), gabor(6.0, 9.0, 90.0)], 0);
    tch::no_grad(|| readout.weight.shallow_clone().copy_(&filters));
    (model, filters)
}

/// A z-scored image space: norm budget 5, pixels within ±3, no extra channels or pupil.
pub fn statistics() -> StimulusStatistics {
    StimulusStatistics {
        image_shape: [1, H as usize, W as usize],
        mean_norm: 5.0,
        min: -3.0,
        max: 3.0,
        channel_means: vec![],
        pupil_mean: None,
    }
}
