//! What evaluation and in-silico experiments ask of a response model, whether one fitted model
//! or an ensemble of them: the predicted rates of a recording's units, in evaluation mode.
//!
//! An ensemble ([`EnsembleModel`]) predicts the mean of its members' rates, as the ensembles of
//! the field do (sinzlab/mei's and sensorium's `EnsembleModel`: members trained with different
//! seeds, outputs averaged). Its gradient is the mean of theirs, so an MEI of an ensemble is the
//! image the members agree drives a unit, not one member's idiosyncrasy.

use ndarray::Array2;
use tch::{Kind, Tensor};

use super::{centres, lobe_centre, Inputs, Model};
use crate::train::Batch;
use neurozoo_tensor::to_array2;

/// A response model as evaluation and in-silico experiments use it.
pub trait Predictor {
    /// Predicted rates of recording `recording`'s units to a batch, (B, U), in evaluation mode
    /// (batch norm with its running statistics, no dropout).
    fn rates(&self, x: &Batch, recording: usize) -> Tensor;
    /// Recording `recording`'s number of units; `None` for a recording it has no readout for.
    fn units(&self, recording: usize) -> Option<usize>;
    /// How many recordings it has a readout for.
    fn recordings(&self) -> usize;
    /// Whether gradients reach the input images: not through a frozen core, which runs without them.
    fn differentiable(&self) -> bool;
    /// What it reads besides the images.
    fn inputs(&self) -> Inputs;

    /// Where each of recording `recording`'s model neurons looks in the image, whatever its core
    /// and readout: the centre ([`lobe_centre`]) of its sensitivity map, the squared gradient of
    /// its predicted rate with respect to the pixels of the image channels, averaged over the
    /// images of `x`. Pixels (row, column). A readout's own position is not this: a core's
    /// filters and a readout's positions can trade a shift between them and predict the same.
    /// `None` when gradients do not reach the images. Only the neurons `units` are mapped, in
    /// that order.
    fn sensitivity_centres(&self, recording: usize, x: &Batch, image_channels: i64, units: &[usize]) -> Option<Array2<f32>> {
        if !self.differentiable() {
            return None;
        }
        let (b, _, h, w) = x.images.size4().expect("(B, C, H, W) images");
        // Every neuron of a group gets its own copy of the images, so that one backward pass
        // gives each its own gradient; a group holds about 2²¹ pixels.
        let group = ((1usize << 21) / (b * h * w) as usize).max(1);
        let mut found = Vec::with_capacity(units.len());
        for chunk in units.chunks(group) {
            let g = chunk.len() as i64;
            let images = x.images.detach().repeat([g, 1, 1, 1]).set_requires_grad(true);
            let pupil = x.pupil.as_ref().map(|p| p.repeat([g, 1]));
            let out = self.rates(&Batch { images: images.shallow_clone(), pupil }, recording);
            let chunk: Vec<i64> = chunk.iter().map(|&u| u as i64).collect();
            let unit = Tensor::from_slice(&chunk).to_device(out.device()).repeat_interleave_self_int(b, 0, None);
            let picked = out.gather(1, &unit.unsqueeze(1), false).sum(Kind::Float);
            let grad = Tensor::run_backward(&[picked], &[&images], false, false).remove(0);
            let energy = grad
                .narrow(1, 0, image_channels)
                .square()
                .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
                .reshape([g, b, h * w])
                .mean_dim([1i64].as_slice(), false, Kind::Float);
            found.extend(to_array2(&energy).rows().into_iter().map(|m| lobe_centre(m, w as usize)));
        }
        Some(centres(found.into_iter(), 0.0))
    }
}

impl Predictor for Model {
    fn rates(&self, x: &Batch, recording: usize) -> Tensor {
        self.forward(x, recording, false)
    }

    fn units(&self, recording: usize) -> Option<usize> {
        Model::units(self, recording)
    }

    fn recordings(&self) -> usize {
        self.readouts.len()
    }

    fn differentiable(&self) -> bool {
        Model::differentiable(self)
    }

    fn inputs(&self) -> Inputs {
        Model::inputs(self)
    }
}

/// Several models of the same recordings (the same units, images and inputs) predicting
/// together: the mean of their rates.
pub struct EnsembleModel<'a> {
    members: Vec<&'a Model>,
}

/// Why models cannot form an ensemble.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnsembleError {
    #[error("an ensemble needs at least one model")]
    Empty,
    /// Member `member` (0-based) differs from the first: `what`, in a sentence.
    #[error("ensemble member {member}: {what}")]
    Differs { member: usize, what: String },
}

impl<'a> EnsembleModel<'a> {
    /// The ensemble of `members`, which must have the same recordings, units and inputs.
    pub fn new(members: Vec<&'a Model>) -> Result<EnsembleModel<'a>, EnsembleError> {
        let first = *members.first().ok_or(EnsembleError::Empty)?;
        for (member, m) in members.iter().enumerate().skip(1) {
            let differs = |what: String| Err(EnsembleError::Differs { member, what });
            if m.recordings() != first.recordings() {
                return differs(format!("has {} recordings, the first member {}", m.recordings(), first.recordings()));
            }
            if let Some(r) = (0..first.recordings()).find(|&r| m.units(r) != first.units(r)) {
                let units = |m: &Model| m.units(r).unwrap_or(0);
                return differs(format!("has {} units in recording {r}, the first member {}", units(m), units(first)));
            }
            if m.inputs() != first.inputs() {
                return differs(format!("reads {:?} besides the images, the first member {:?}", m.inputs(), first.inputs()));
            }
        }
        Ok(EnsembleModel { members })
    }

    pub fn members(&self) -> &[&'a Model] {
        &self.members
    }
}

impl Predictor for EnsembleModel<'_> {
    fn rates(&self, x: &Batch, recording: usize) -> Tensor {
        match self.members.as_slice() {
            [one] => one.rates(x, recording),
            many => {
                let rates: Vec<Tensor> = many.iter().map(|m| m.rates(x, recording)).collect();
                Tensor::stack(&rates, 0).mean_dim([0i64].as_slice(), false, Kind::Float)
            }
        }
    }

    fn units(&self, recording: usize) -> Option<usize> {
        self.members[0].units(recording)
    }

    fn recordings(&self) -> usize {
        self.members[0].recordings()
    }

    fn differentiable(&self) -> bool {
        self.members.iter().all(|m| m.differentiable())
    }

    fn inputs(&self) -> Inputs {
        self.members[0].inputs()
    }
}

#[cfg(test)]
mod tests {
    use tch::{nn, Device};

    use super::*;
    use crate::config::{preset, Preset};
    use crate::insilico::fixtures::{ln_model, H, W};

    #[test]
    fn an_ensemble_predicts_its_members_mean_and_refuses_other_units() {
        tch::manual_seed(0);
        let (vs_a, vs_b) = (nn::VarStore::new(Device::Cpu), nn::VarStore::new(Device::Cpu));
        let (a, _) = ln_model(&vs_a);
        let (b, filters) = ln_model(&vs_b);
        // The second member sees the filters with the opposite sign: other rates, other gradients.
        let crate::model::Readout::Full(readout) = &b.readouts[0] else { panic!("ln has a full readout") };
        tch::no_grad(|| readout.weight.shallow_clone().copy_(&-filters));
        let x = Batch { images: Tensor::randn([4, 1, H, W], (Kind::Float, Device::Cpu)), pupil: None };
        let ensemble = EnsembleModel::new(vec![&a, &b]).unwrap();
        let mean = (a.rates(&x, 0) + b.rates(&x, 0)) / 2.0;
        let gap = (ensemble.rates(&x, 0) - &mean).abs().max().double_value(&[]);
        assert!(gap < 1e-6, "{gap}");
        assert!((a.rates(&x, 0) - &mean).abs().max().double_value(&[]) > 1e-3, "the members must differ for this to test anything");
        assert_eq!((ensemble.units(0), ensemble.recordings(), ensemble.differentiable()), (Some(2), 1, true));
        assert_eq!(ensemble.sensitivity_centres(0, &x, 1, &[0, 1]).map(|c| c.dim()), Some((2, 2)));

        let vs_c = nn::VarStore::new(Device::Cpu);
        let cfg = preset("ln").and_then(Preset::into_responses).unwrap().model;
        let c = Model::new(&vs_c.root(), &cfg, [1, H as usize, W as usize], &[1.0; 3]).unwrap();
        let err = EnsembleModel::new(vec![&a, &b, &c]).err().unwrap();
        assert_eq!(err.to_string(), "ensemble member 2: has 3 units in recording 0, the first member 2");
        assert_eq!(EnsembleModel::new(vec![]).err(), Some(EnsembleError::Empty));
    }
}
