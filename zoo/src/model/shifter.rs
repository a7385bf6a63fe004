//! neuralpredictors' `MLPShifter` for one recording: where the eye looks moves every receptive
//! field of the recording on the feature map by the same amount.

use tch::nn::{self, Module};
use tch::Tensor;

use crate::config::ShifterConfig;

pub struct Shifter {
    layers: Vec<nn::Linear>,
}

impl Shifter {
    pub fn new(vs: &nn::Path, cfg: &ShifterConfig) -> Shifter {
        let sizes: Vec<i64> =
            std::iter::once(2).chain(std::iter::repeat_n(cfg.hidden as i64, cfg.layers - 1)).chain(std::iter::once(2)).collect();
        let layers =
            sizes.windows(2).enumerate().map(|(i, io)| nn::linear(vs / format!("layer{i}"), io[0], io[1], Default::default())).collect();
        Shifter { layers }
    }

    /// The pupil positions (B, 2) → shifts (B, 2) in grid units (x, y), each in (−1, 1): tanh
    /// after every layer, the last included, as the reference.
    pub fn forward(&self, pupil: &Tensor) -> Tensor {
        self.layers.iter().fold(pupil.shallow_clone(), |h, l| l.forward(&h).tanh())
    }
}
