//! A system-identification model: an optional convolutional core, a readout, and an output
//! nonlinearity that keeps predicted rates positive.

mod core;
mod readout;

use ndarray::Array2;
use tch::{nn, Kind, Tensor};

pub use self::core::Stacked2dCore;
pub use self::readout::{FactorizedReadout, FullReadout, Gaussian2dReadout};
use crate::config::{ModelConfig, OutputNonlinearity, ReadoutConfig};
use crate::convert::to_array2;

pub enum Readout {
    Factorized(FactorizedReadout),
    Gaussian(Gaussian2dReadout),
    Full(FullReadout),
}

pub struct Model {
    pub core: Option<Stacked2dCore>,
    pub readout: Readout,
    output: OutputNonlinearity,
    /// (C, h, w) of what the readout sees.
    feature_shape: [i64; 3],
}

impl Model {
    /// Build a model for images of `input` = (C, H, W) and `mean_response.len()` units; each
    /// readout bias starts at the output nonlinearity's inverse of that unit's mean response, so
    /// training starts from the right firing rates.
    pub fn new(vs: &nn::Path, cfg: &ModelConfig, input: [usize; 3], mean_response: &[f32]) -> Model {
        let core = cfg.core.as_ref().map(|c| Stacked2dCore::new(&(vs / "core"), input[0], c));
        let feature_shape = match &core {
            Some(core) => {
                let probe = Tensor::zeros([1, input[0] as i64, input[1] as i64, input[2] as i64], (Kind::Float, vs.device()));
                let out = tch::no_grad(|| core.forward(&probe, false));
                let s = out.size();
                [s[1], s[2], s[3]]
            }
            None => [input[0] as i64, input[1] as i64, input[2] as i64],
        };
        let bias: Vec<f32> = mean_response.iter().map(|&m| inverse_output(cfg.output, m)).collect();
        let bias = Tensor::from_slice(&bias).to_device(vs.device());
        let units = mean_response.len() as i64;
        let r = vs / "readout";
        let readout = match &cfg.readout {
            ReadoutConfig::Factorized { constraint, l1, gamma, normalize_mask } => {
                Readout::Factorized(FactorizedReadout::new(&r, feature_shape, units, &bias, *constraint, *l1, *gamma, *normalize_mask))
            }
            ReadoutConfig::Gaussian { init_mu_range, init_sigma, gamma } => {
                Readout::Gaussian(Gaussian2dReadout::new(&r, feature_shape[0], units, &bias, *init_mu_range, *init_sigma, *gamma))
            }
            ReadoutConfig::Full { gamma, gamma_laplace } => {
                Readout::Full(FullReadout::new(&r, feature_shape, units, &bias, *gamma, *gamma_laplace))
            }
        };
        Model { core, readout, output: cfg.output, feature_shape }
    }

    pub fn feature_shape(&self) -> [i64; 3] {
        self.feature_shape
    }

    /// What the readout sees: the core's output, or the image itself for the LN model.
    pub fn features(&self, x: &Tensor, train: bool) -> Tensor {
        match &self.core {
            Some(core) => core.forward(x, train),
            None => x.shallow_clone(),
        }
    }

    /// The readout's output before the output nonlinearity, (B, U).
    fn drive(&self, x: &Tensor, train: bool) -> Tensor {
        let f = self.features(x, train);
        match &self.readout {
            Readout::Factorized(r) => r.forward(&f),
            Readout::Gaussian(r) => r.forward(&f, train),
            Readout::Full(r) => r.forward(&f),
        }
    }

    /// Predicted rates, (B, U).
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let drive = self.drive(x, train);
        match self.output {
            OutputNonlinearity::Softplus => drive.softplus(),
            OutputNonlinearity::Elu1 => drive.elu() + 1.0,
        }
    }

    /// What `representation` can read: `core.K` (layer K's output, channels × positions
    /// flattened), `readout` (each neuron's drive before the output nonlinearity) and
    /// `predicted` (the predicted rates).
    pub fn layer_names(&self) -> Vec<String> {
        let layers = self.core.as_ref().map_or(0, Stacked2dCore::layers);
        (0..layers).map(|k| format!("core.{k}")).chain(["readout".to_string(), "predicted".to_string()]).collect()
    }

    /// The representation of images `x` at `layer` (see [`Model::layer_names`]), (B, D), in
    /// evaluation mode.
    pub fn representation(&self, x: &Tensor, layer: &str) -> Result<Tensor, String> {
        let core_layer = layer.strip_prefix("core.").and_then(|k| k.parse::<usize>().ok());
        match (layer, core_layer, &self.core) {
            ("predicted", _, _) => Ok(self.forward(x, false)),
            ("readout", _, _) => Ok(self.drive(x, false)),
            (_, Some(k), Some(core)) if k < core.layers() => Ok(core.layer_outputs(x, false).swap_remove(k).flatten(1, -1)),
            _ => Err(format!("no layer {layer:?} in this model (layers: {})", self.layer_names().join(", "))),
        }
    }

    /// Sum of every weighted penalty of core and readout.
    pub fn regularizer(&self) -> Tensor {
        let readout = match &self.readout {
            Readout::Factorized(r) => r.regularizer(),
            Readout::Gaussian(r) => r.regularizer(),
            Readout::Full(r) => r.regularizer(),
        };
        match &self.core {
            Some(core) => core.regularizer() + readout,
            None => readout,
        }
    }

    /// Each unit's receptive-field centre in image pixels (row, column), where the readout
    /// has one: the centroid of the factorised mask's main lobe, or the Gaussian readout's
    /// mean position. `None` for the full readout.
    pub fn rf_positions(&self) -> Option<Array2<f32>> {
        let offset = self.core.as_ref().map_or(0, Stacked2dCore::border_offset) as f32;
        let [_, h, w] = self.feature_shape;
        match &self.readout {
            Readout::Factorized(r) => {
                let mask = to_array2(&r.effective_mask().abs().reshape([-1, h * w]));
                Some(Array2::from_shape_fn((mask.nrows(), 2), |(u, k)| {
                    // Centroid weighted by |mask|⁴: a plain centroid is dragged towards the
                    // centre by the small weights spread over the whole map, the arg-max jumps
                    // between side lobes; the fourth power keeps the main lobe and its shape.
                    let (mut sum, mut at) = (0.0f64, 0.0f64);
                    for (i, &v) in mask.row(u).iter().enumerate() {
                        let wgt = f64::from(v).powi(4);
                        sum += wgt;
                        at += wgt * if k == 0 { (i as i64 / w) as f64 } else { (i as i64 % w) as f64 };
                    }
                    offset + (at / sum) as f32
                }))
            }
            Readout::Gaussian(r) => {
                let mu = to_array2(&r.mu);
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
