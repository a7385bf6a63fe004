//! A system-identification model: an optional core (trainable, or a frozen TorchScript network),
//! one readout per recording, and an output nonlinearity that keeps predicted rates positive.
//!
//! Several recordings (mice, sessions) share the core and each has its own readout, as in
//! Lurz et al. 2021 and the sensorium baseline; a model of one recording is the special case.

mod core;
mod error;
mod predictor;
mod readout;
mod shifter;
mod torchscript;

use ndarray::Array2;
use tch::{nn, Kind, Tensor};

pub use self::core::Stacked2dCore;
pub use self::error::ModelError;
pub use self::predictor::{EnsembleError, EnsembleModel, Predictor};
pub use self::readout::{FactorizedReadout, FullReadout, Gaussian2dReadout};
pub use self::shifter::Shifter;
pub use self::torchscript::{FrozenCoreFailure, TorchScriptCore};
use crate::config::{ModelConfig, OutputNonlinearity, ReadoutConfig};
use crate::train::Batch;
use neurozoo_tensor::to_array2;

/// What a model reads besides the images, per trial: what `Normalizer::stimuli` must provide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Inputs {
    /// Behaviour as three constant image channels.
    pub behavior_channels: bool,
    /// The pupil position as two constant image channels.
    pub pupil_channels: bool,
    /// The pupil position for the shifter.
    pub pupil: bool,
}

impl Inputs {
    pub fn of(cfg: &ModelConfig) -> Inputs {
        Inputs { behavior_channels: cfg.behavior_channels, pupil_channels: cfg.pupil_channels, pupil: cfg.shifter.is_some() }
    }

    /// Channels added to the image's own.
    pub fn extra_channels(&self) -> usize {
        3 * usize::from(self.behavior_channels) + 2 * usize::from(self.pupil_channels)
    }
}

pub enum Readout {
    Factorized(FactorizedReadout),
    Gaussian(Gaussian2dReadout),
    Full(FullReadout),
}

/// What turns images into the features the readout sees.
pub enum Core {
    /// Trained with the readout.
    Stacked(Stacked2dCore),
    /// A fixed pretrained network.
    Frozen(TorchScriptCore),
}

impl Core {
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        match self {
            Core::Stacked(c) => c.forward(x, train),
            Core::Frozen(c) => c.forward(x),
        }
    }

    /// `core.K` for each layer of a stacked core; `core` for a frozen one, whose single
    /// visible layer is the one the config names.
    fn layer_names(&self) -> Vec<String> {
        match self {
            Core::Stacked(c) => (0..c.layers()).map(|k| format!("core.{k}")).collect(),
            Core::Frozen(_) => vec!["core".into()],
        }
    }

    /// The output of `layer` (one of [`Core::layer_names`]), in evaluation mode.
    fn layer_output(&self, x: &Tensor, layer: &str) -> Option<Tensor> {
        match self {
            Core::Stacked(c) => {
                let k = layer.strip_prefix("core.")?.parse::<usize>().ok().filter(|&k| k < c.layers())?;
                Some(c.layer_outputs(x, false).swap_remove(k))
            }
            Core::Frozen(c) => (layer == "core").then(|| c.forward(x)),
        }
    }

    /// Convolutions channels-last (see [`Stacked2dCore::use_channels_last`]); a frozen core
    /// keeps the layout its network was saved in.
    pub fn use_channels_last(&self) {
        if let Core::Stacked(c) = self {
            c.use_channels_last();
        }
    }

    /// The core's weighted penalties; none for a frozen core, which does not learn.
    fn regularizer(&self) -> Option<Tensor> {
        match self {
            Core::Stacked(c) => Some(c.regularizer()),
            Core::Frozen(_) => None,
        }
    }

    /// Output position i sees image pixel i + offset at its centre; unknown for a frozen core,
    /// whose strides and paddings are the network's own.
    fn border_offset(&self) -> Option<usize> {
        match self {
            Core::Stacked(c) => Some(c.border_offset()),
            Core::Frozen(_) => None,
        }
    }
}

pub struct Model {
    pub core: Option<Core>,
    /// One per recording, in the order the recordings were given.
    pub readouts: Vec<Readout>,
    /// One per recording when the config has a shifter, else none.
    pub shifters: Vec<Shifter>,
    inputs: Inputs,
    output: OutputNonlinearity,
    /// (C, h, w) of what the readout sees.
    feature_shape: [i64; 3],
}

impl Model {
    /// Build a model for images of `input` = (C, H, W) and `mean_response.len()` units; each
    /// readout bias starts at the output nonlinearity's inverse of that unit's mean response, so
    /// training starts from the right firing rates.
    ///
    /// A frozen core is loaded from `cfg.frozen_core.file` as given (resolve it first, see
    /// [`crate::config::FitConfig::resolve_files`]); failing to load it, or a layer that does not
    /// give a feature map, is the error.
    pub fn new(vs: &nn::Path, cfg: &ModelConfig, input: [usize; 3], mean_response: &[f32]) -> Result<Model, ModelError> {
        Model::shared(vs, cfg, input, &[mean_response.to_vec()])
    }

    /// One core for every recording and a readout for each: recording r has
    /// `mean_responses[r].len()` units. One recording's readout variables are named
    /// `readout.*`, several recordings' `readouts.<r>.*`.
    pub fn shared(vs: &nn::Path, cfg: &ModelConfig, input: [usize; 3], mean_responses: &[Vec<f32>]) -> Result<Model, ModelError> {
        let inputs = Inputs::of(cfg);
        // Behaviour and pupil channels stand beside the image's own.
        let input = [input[0] + inputs.extra_channels(), input[1], input[2]];
        check_size(cfg, input, mean_responses.iter().map(Vec::len).sum())?;
        let core = match (&cfg.core, &cfg.frozen_core) {
            (_, Some(f)) => Some(Core::Frozen(TorchScriptCore::load(&f.file, &f.layer, input, vs.device())?)),
            (Some(c), None) => Some(Core::Stacked(Stacked2dCore::new(&(vs / "core"), input[0], c))),
            (None, None) => None,
        };
        let feature_shape = match &core {
            Some(Core::Frozen(c)) => c.output_shape(),
            Some(core) => {
                let probe = Tensor::zeros([1, input[0] as i64, input[1] as i64, input[2] as i64], (Kind::Float, vs.device()));
                let out = tch::no_grad(|| core.forward(&probe, false));
                let s = out.size();
                [s[1], s[2], s[3]]
            }
            None => [input[0] as i64, input[1] as i64, input[2] as i64],
        };
        let readout = |r: nn::Path, mean_response: &[f32]| {
            let bias: Vec<f32> = mean_response.iter().map(|&m| inverse_output(cfg.output, m)).collect();
            let bias = Tensor::from_slice(&bias).to_device(vs.device());
            let units = mean_response.len() as i64;
            match &cfg.readout {
                ReadoutConfig::Factorized { constraint, l1, gamma, normalize_mask } => {
                    Readout::Factorized(FactorizedReadout::new(&r, feature_shape, units, &bias, *constraint, *l1, *gamma, *normalize_mask))
                }
                ReadoutConfig::Gaussian { init_mu_range, init_sigma, gamma, grid_mean_predictor } => {
                    Readout::Gaussian(Gaussian2dReadout::new(
                        &r,
                        feature_shape[0],
                        units,
                        &bias,
                        *init_mu_range,
                        *init_sigma,
                        *gamma,
                        grid_mean_predictor.as_ref(),
                    ))
                }
                ReadoutConfig::Full { gamma, gamma_laplace } => {
                    Readout::Full(FullReadout::new(&r, feature_shape, units, &bias, *gamma, *gamma_laplace))
                }
            }
        };
        let readouts = match mean_responses {
            [one] => vec![readout(vs / "readout", one)],
            many => many.iter().enumerate().map(|(i, m)| readout(vs / "readouts" / i, m)).collect(),
        };
        let shifters = match (&cfg.shifter, mean_responses.len()) {
            (None, _) => Vec::new(),
            (Some(s), 1) => vec![Shifter::new(&(vs / "shifter"), s)],
            (Some(s), k) => (0..k).map(|i| Shifter::new(&(vs / "shifters" / i), s)).collect(),
        };
        Ok(Model { core, readouts, shifters, inputs, output: cfg.output, feature_shape })
    }

    /// Hand recording `recording`'s cortical coordinates (`cell_motor_coordinates`) to its
    /// readout where it predicts positions from them (`grid_mean_predictor`); nothing otherwise.
    /// Fitting needs this; a loaded run has the coordinates in its weights.
    pub fn set_cortex(&self, recording: usize, units: &neurozoo_datasets::Units) -> Result<(), ModelError> {
        match &self.readouts[recording] {
            Readout::Gaussian(r) if r.learned_mu().is_none() => {
                let coordinates = units.coordinates.as_ref().ok_or_else(|| {
                    ModelError::Cortex(
                        "model.readout.grid_mean_predictor predicts positions from the neurons' cortical coordinates, and this \
                         recording has no cell_motor_coordinates"
                            .into(),
                    )
                })?;
                r.set_cortex(coordinates)
            }
            _ => Ok(()),
        }
    }

    pub fn feature_shape(&self) -> [i64; 3] {
        self.feature_shape
    }

    /// Recording `recording`'s number of units; `None` for a recording the model has no readout for.
    pub fn units(&self, recording: usize) -> Option<usize> {
        let bias = match self.readouts.get(recording)? {
            Readout::Factorized(r) => &r.bias,
            Readout::Gaussian(r) => &r.bias,
            Readout::Full(r) => &r.bias,
        };
        Some(bias.size()[0] as usize)
    }

    /// Whether gradients reach the input images: not through a frozen core, which runs without them.
    pub fn differentiable(&self) -> bool {
        !matches!(self.core, Some(Core::Frozen(_)))
    }

    /// What the model reads besides the images.
    pub fn inputs(&self) -> Inputs {
        self.inputs
    }

    /// What the readout sees: the core's output, or the image itself for the LN model.
    pub fn features(&self, x: &Tensor, train: bool) -> Tensor {
        match &self.core {
            Some(core) => core.forward(x, train),
            None => x.shallow_clone(),
        }
    }

    /// Recording `recording`'s readout output before the output nonlinearity, (B, U).
    fn drive(&self, x: &Batch, recording: usize, train: bool) -> Tensor {
        let f = self.features(&x.images, train);
        let shift =
            self.shifters.get(recording).map(|s| s.forward(x.pupil.as_ref().expect("a model with a shifter gets the pupil position")));
        match &self.readouts[recording] {
            Readout::Factorized(r) => r.forward(&f),
            Readout::Gaussian(r) => r.forward(&f, train, shift.as_ref()),
            Readout::Full(r) => r.forward(&f),
        }
    }

    /// Predicted rates of recording `recording`'s units, (B, U).
    pub fn forward(&self, x: &Batch, recording: usize, train: bool) -> Tensor {
        let drive = self.drive(x, recording, train);
        match self.output {
            OutputNonlinearity::Softplus => drive.softplus(),
            OutputNonlinearity::Elu1 => drive.elu() + 1.0,
        }
    }

    /// What `representation` can read: the core's layers (`core.K`, layer K of a trained core;
    /// `core`, the frozen core's layer), channels × positions flattened; `readout` (each
    /// neuron's drive before the output nonlinearity) and `predicted` (the predicted rates).
    pub fn layer_names(&self) -> Vec<String> {
        let core = self.core.as_ref().map_or_else(Vec::new, Core::layer_names);
        core.into_iter().chain(["readout".to_string(), "predicted".to_string()]).collect()
    }

    /// The representation of images `x` at `layer` (see [`Model::layer_names`]), (B, D), in
    /// evaluation mode; `readout` and `predicted` are those of recording `recording`.
    pub fn representation(&self, x: &Batch, recording: usize, layer: &str) -> Result<Tensor, ModelError> {
        match layer {
            "predicted" => Ok(self.forward(x, recording, false)),
            "readout" => Ok(self.drive(x, recording, false)),
            _ => self
                .core
                .as_ref()
                .and_then(|core| core.layer_output(&x.images, layer))
                .map(|t| t.flatten(1, -1))
                .ok_or_else(|| ModelError::NoLayer { layer: layer.to_string(), known: self.layer_names() }),
        }
    }

    /// The weighted penalties of one training step: every readout's, and the core's once per
    /// recording, as the sensorium trainer adds the core's penalty with each recording's batch
    /// (so the core is regularised against all the data it fits, not a K-th of it).
    pub fn regularizer(&self) -> Tensor {
        let readout = self
            .readouts
            .iter()
            .map(|r| match r {
                Readout::Factorized(r) => r.regularizer(),
                Readout::Gaussian(r) => r.regularizer(),
                Readout::Full(r) => r.regularizer(),
            })
            .reduce(|a, b| a + b)
            .expect("a model has a readout");
        match self.core.as_ref().and_then(Core::regularizer) {
            Some(core) => core * self.readouts.len() as f64 + readout,
            None => readout,
        }
    }

    /// Each unit's receptive-field centre in image pixels (row, column), where the readout
    /// has one: the centroid of the factorised mask's main lobe, or the Gaussian readout's
    /// mean position. `None` for the full readout, and for a frozen core, whose feature map's
    /// geometry in image pixels is unknown.
    pub fn rf_positions(&self, recording: usize) -> Option<Array2<f32>> {
        let offset = match &self.core {
            Some(core) => core.border_offset()?,
            None => 0,
        } as f32;
        let [_, h, w] = self.feature_shape;
        match &self.readouts[recording] {
            Readout::Factorized(r) => {
                let energy = to_array2(&r.effective_mask().square().reshape([-1, h * w]));
                Some(centres(energy.rows().into_iter().map(|m| lobe_centre(m, w as usize)), offset))
            }
            Readout::Gaussian(r) => {
                // With a shifter, a receptive field is where it sits at the mean (z-scored zero)
                // pupil position: the shifter's output there moves every (clamped) position.
                let mu = match self.shifters.get(recording) {
                    Some(s) => {
                        let at_mean = tch::no_grad(|| s.forward(&Tensor::zeros([1, 2], (Kind::Float, r.sigma.device()))));
                        to_array2(&tch::no_grad(|| r.mu().clamp(-1.0, 1.0) + at_mean))
                    }
                    None => to_array2(&tch::no_grad(|| r.mu())),
                };
                // align_corners: grid -1 and +1 are the centres of the first and last pixels.
                Some(Array2::from_shape_fn((mu.nrows(), 2), |(u, k)| {
                    let (g, extent) = if k == 0 { (mu[[u, 1]], h) } else { (mu[[u, 0]], w) };
                    offset + (g + 1.0) / 2.0 * (extent - 1) as f32
                }))
            }
            Readout::Full(_) => None,
        }
    }
}

/// Refuse, before libtorch allocates anything, a stacked core that cannot take `input` (C, H, W)
/// images, or a model whose parameters, with their gradients and Adam's two moments, need more
/// memory than is available (counted in f64: absurd channel counts must not overflow).
fn check_size(cfg: &ModelConfig, [c, h, w]: [usize; 3], units: usize) -> Result<(), ModelError> {
    let (mut fc, mut fh, mut fw) = (c as f64, h as f64, w as f64);
    let mut params = 0.0;
    if let Some(core) = &cfg.core {
        let (k, kh, ch) = (core.input_kernel as f64, core.hidden_kernel as f64, core.channels as f64);
        if !core.pad_input {
            if core.input_kernel > h || core.input_kernel > w {
                return Err(ModelError::Shape {
                    key: "model.core.input_kernel",
                    value: core.input_kernel,
                    problem: format!("is larger than the {h}×{w} images: without pad_input the first layer needs one whole window"),
                });
            }
            (fh, fw) = (fh - k + 1.0, fw - k + 1.0);
        }
        let hidden = core.layers.saturating_sub(1) as f64;
        if !core.pad_hidden {
            (fh, fw) = (fh - hidden * (kh - 1.0), fw - hidden * (kh - 1.0));
            if fh < 1.0 || fw < 1.0 {
                return Err(ModelError::Shape {
                    key: "model.core.hidden_kernel",
                    value: core.hidden_kernel,
                    problem: format!("over {} unpadded layers shrinks the feature map below one pixel", core.layers),
                });
            }
        }
        let per_hidden = if core.depth_separable { 2.0 * ch * ch + ch * kh * kh } else { ch * ch * kh * kh };
        params += fc * ch * k * k + hidden * per_hidden;
        fc = ch;
    }
    params += units as f64
        * match cfg.readout {
            ReadoutConfig::Factorized { .. } => fh * fw + fc,
            ReadoutConfig::Gaussian { .. } => fc + 7.0,
            ReadoutConfig::Full { .. } => fc * fh * fw,
        };
    let bytes = params * 4.0 * 4.0;
    match neurozoo_util::available_memory() {
        Some(available) if bytes > available as f64 => Err(ModelError::Memory { params, bytes, available: available as f64 }),
        _ => Ok(()),
    }
}

/// Centres as a (units, 2) array, each moved by `offset` pixels in both directions.
fn centres(found: impl Iterator<Item = [f32; 2]>, offset: f32) -> Array2<f32> {
    let rows: Vec<[f32; 2]> = found.collect();
    Array2::from_shape_fn((rows.len(), 2), |(u, k)| offset + rows[u][k])
}

/// Centroid (row, column) of a non-negative map of width `w` flattened row-major, weighted by
/// its square: a plain centroid is dragged towards the centre by small values spread over the
/// whole map and the arg-max jumps between side lobes; the square keeps the main lobe.
fn lobe_centre(map: ndarray::ArrayView1<f32>, w: usize) -> [f32; 2] {
    let (mut sum, mut row, mut col) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &v) in map.iter().enumerate() {
        let weight = f64::from(v).powi(2);
        sum += weight;
        row += weight * (i / w) as f64;
        col += weight * (i % w) as f64;
    }
    [(row / sum) as f32, (col / sum) as f32]
}

/// The drive at which the output nonlinearity gives `rate`.
fn inverse_output(output: OutputNonlinearity, rate: f32) -> f32 {
    let r = rate.max(1e-3);
    match output {
        // softplus⁻¹(r) = ln(eʳ − 1), computed stably for large r.
        OutputNonlinearity::Softplus => r + (-(-r).exp()).ln_1p(),
        OutputNonlinearity::Elu1 if r >= 1.0 => r - 1.0,
        OutputNonlinearity::Elu1 => r.ln(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{preset, Preset};

    /// A linear-nonlinear neuron whose filter is one pixel is sensitive at that pixel and
    /// nowhere else; another whose filter is two equal pixels, halfway between them.
    #[test]
    fn sensitivity_centre_is_where_the_filter_is() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let model =
            Model::new(&vs.root(), &preset("ln").and_then(Preset::into_responses).unwrap().model, [1, 12, 16], &[1.0, 1.0]).unwrap();
        let Readout::Full(readout) = &model.readouts[0] else { panic!("ln has a full readout") };
        let filter = Tensor::zeros([2, 1, 12, 16], (Kind::Float, tch::Device::Cpu));
        let _ = filter.get(0).get(0).get(5).get(7).fill_(1.0);
        let _ = filter.get(1).get(0).get(2).narrow(0, 3, 1).fill_(-2.0);
        let _ = filter.get(1).get(0).get(8).narrow(0, 3, 1).fill_(2.0);
        tch::no_grad(|| readout.weight.shallow_clone().copy_(&filter));
        let x = Batch { images: Tensor::randn([4, 1, 12, 16], (Kind::Float, tch::Device::Cpu)), pupil: None };
        let found = model.sensitivity_centres(0, &x, 1, &[0, 1]).unwrap();
        assert_eq!(found, ndarray::arr2(&[[5.0, 7.0], [5.0, 3.0]]));
        assert_eq!(model.sensitivity_centres(0, &x, 1, &[1]).unwrap(), ndarray::arr2(&[[5.0, 3.0]]));
    }
}
