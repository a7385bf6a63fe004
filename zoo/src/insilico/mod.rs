//! In-silico experiments on fitted response models: the model stands in for the animal.
//!
//! [`mei`] finds each unit's most exciting input (Walker et al. 2019, "Inception loops"), for
//! all requested units at once: one image per unit in one batch. [`tuning`] shows every unit
//! gratings (orientation, spatial frequency, phase, size, contrast) and reads off its classic
//! tuning measures.

#[cfg(test)]
pub(crate) mod fixtures;
pub mod mei;
pub mod tuning;

use tch::{Device, Tensor};

use crate::model::Predictor;
use crate::train::Batch;

/// The model with the inputs besides the image held fixed: rates of a batch of images.
pub(crate) struct Probe<'a> {
    pub model: &'a dyn Predictor,
    recording: usize,
    held: Tensor,
    pupil: Option<Tensor>,
}

impl Probe<'_> {
    /// `model`'s recording `recording` with the channels besides the image held at `held` and,
    /// for a shifter, the z-scored pupil at `pupil` (its training mean, 0, when `None`).
    pub fn new<'a>(model: &'a dyn Predictor, recording: usize, held: &[f32], pupil: Option<[f32; 2]>, device: Device) -> Probe<'a> {
        Probe {
            model,
            recording,
            held: Tensor::from_slice(held).to_device(device).reshape([1, held.len() as i64, 1, 1]),
            pupil: model.inputs().pupil.then(|| Tensor::from_slice(&pupil.unwrap_or([0.0; 2])).to_device(device).reshape([1, 2])),
        }
    }

    /// (B, U) rates of every unit to (B, C, H, W) images.
    pub fn rates(&self, images: &Tensor) -> Tensor {
        let (b, _, h, w) = images.size4().expect("(B, C, H, W) images");
        let extra = self.held.size()[1];
        let images = if extra > 0 {
            Tensor::cat(&[images.shallow_clone(), self.held.expand([b, extra, h, w], false)], 1)
        } else {
            images.shallow_clone()
        };
        let batch = Batch { images, pupil: self.pupil.as_ref().map(|p| p.expand([b, 2], false)) };
        self.model.rates(&batch, self.recording)
    }

    /// (B,) rate of unit `units[i]` to image i.
    pub fn own_rates(&self, images: &Tensor, units: &[usize]) -> Tensor {
        let index = Tensor::from_slice(&units.iter().map(|&u| u as i64).collect::<Vec<_>>()).to_device(images.device()).unsqueeze(1);
        self.rates(images).gather(1, &index, false).squeeze_dim(1)
    }
}
