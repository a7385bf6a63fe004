//! Readouts: from a (B, C, h, w) feature map to one value per neuron (B, U).

use super::ModelError;
use tch::nn::{self, Init};
use tch::{Kind, Tensor};

use crate::config::{Constraint, GridMeanPredictor, L1Form};
use crate::regularizers::laplace_l2norm;

/// Klindt et al. 2017's "what × where" readout: neuron n's drive is
/// Σ_c,y,x features[n,c] · mask[n,y,x] · input[c,y,x] + bias[n].
pub struct FactorizedReadout {
    pub mask: Tensor,
    pub features: Tensor,
    pub bias: Tensor,
    constraint: Constraint,
    l1: L1Form,
    gamma: f64,
    normalize_mask: bool,
}

impl FactorizedReadout {
    // One argument per field of the readout's config.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        vs: &nn::Path,
        [c, h, w]: [i64; 3],
        units: i64,
        bias: &Tensor,
        constraint: Constraint,
        l1: L1Form,
        gamma: f64,
        normalize_mask: bool,
    ) -> Self {
        // Small random masks and features (Klindt et al.: truncated normal, sd 0.01); the
        // scale is the batch-normalised input's, so drives start near the bias.
        let mask = vs.var("mask", &[units, h, w], Init::Randn { mean: 0.0, stdev: 0.01 });
        let features = vs.var("features", &[units, c], Init::Randn { mean: 0.0, stdev: 0.01 });
        let bias = vs.var_copy("bias", bias);
        FactorizedReadout { mask, features, bias, constraint, l1, gamma, normalize_mask }
    }

    fn constrained(&self, w: &Tensor) -> Tensor {
        match self.constraint {
            Constraint::Abs => w.abs(),
            Constraint::Free => w.shallow_clone(),
        }
    }

    /// The mask as the forward pass uses it (after the constraint and normalisation), (U, h, w).
    pub fn effective_mask(&self) -> Tensor {
        let m = self.constrained(&self.mask);
        if self.normalize_mask {
            // neuralpredictors' normalisation: eps after the square root.
            let norm = m.square().sum_dim_intlist([1i64, 2].as_slice(), true, Kind::Float).sqrt() + 1e-6;
            m / norm
        } else {
            m
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let (b, c, h, w) = x.size4().expect("(B, C, h, w) input");
        let u = self.mask.size()[0];
        // (B·C, hw) × (hw, U) → (B, C, U): each neuron's mask-weighted feature vector.
        let pooled = x.reshape([b * c, h * w]).matmul(&self.effective_mask().reshape([u, h * w]).tr()).reshape([b, c, u]);
        (pooled * self.constrained(&self.features).tr().unsqueeze(0)).sum_dim_intlist([1i64].as_slice(), false, Kind::Float) + &self.bias
    }

    pub fn regularizer(&self) -> Tensor {
        let mask = self.mask.abs().sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Float);
        let features = self.features.abs().sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
        let penalty = match self.l1 {
            L1Form::Product => (mask * features).sum(Kind::Float),
            L1Form::Separate => mask.sum(Kind::Float) + features.sum(Kind::Float),
        };
        penalty * self.gamma
    }
}

/// A Gaussian readout with a full covariance per neuron (neuralpredictors' FullGaussian2d):
/// during training the read position is sampled from N(μ, ΣΣᵀ), at evaluation it is μ.
pub struct Gaussian2dReadout {
    positions: Positions,
    /// (U, 2, 2) square root of the covariance.
    pub sigma: Tensor,
    pub features: Tensor,
    pub bias: Tensor,
    gamma: f64,
}

/// Where the Gaussian readout's positions come from.
enum Positions {
    /// (U, 2), learned per neuron.
    Learned(Tensor),
    /// From each neuron's cortical position, (U, D), through an MLP (`grid_mean_predictor`).
    /// The coordinates are a non-trained variable, so a saved run carries them.
    Predicted { cortex: Tensor, layers: Vec<nn::Linear>, final_tanh: bool },
}

impl Gaussian2dReadout {
    // One argument per field of the readout's config.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        vs: &nn::Path,
        c: i64,
        units: i64,
        bias: &Tensor,
        init_mu_range: f64,
        init_sigma: f64,
        gamma: f64,
        grid_mean_predictor: Option<&GridMeanPredictor>,
    ) -> Self {
        let positions = match grid_mean_predictor {
            None => Positions::Learned(vs.var("mu", &[units, 2], Init::Uniform { lo: -init_mu_range, up: init_mu_range })),
            Some(g) => {
                // PyTorch's Sequential numbering (ELUs at the odd indices), so names match.
                let widths: Vec<i64> = std::iter::once(g.input_dimensions as i64)
                    .chain(std::iter::repeat_n(g.hidden_features as i64, g.hidden_layers))
                    .chain(std::iter::once(2))
                    .collect();
                let mlp = vs / "mu_transform";
                let layers =
                    widths.windows(2).enumerate().map(|(i, w)| nn::linear(&mlp / (2 * i), w[0], w[1], Default::default())).collect();
                let cortex = vs.zeros_no_train("cortex", &[units, g.input_dimensions as i64]);
                Positions::Predicted { cortex, layers, final_tanh: g.final_tanh }
            }
        };
        let sigma = vs.var("sigma", &[units, 2, 2], Init::Uniform { lo: -init_sigma, up: init_sigma });
        let features = vs.var("features", &[units, c], Init::Const(1.0 / c as f64));
        let bias = vs.var_copy("bias", bias);
        Gaussian2dReadout { positions, sigma, features, bias, gamma }
    }

    /// Give a position-predicting readout its neurons' cortical coordinates, (U, ≥ D) in any
    /// unit: the first D columns, centred and divided by their largest absolute value, as
    /// neuralpredictors does. An error for a readout that learns its positions.
    pub fn set_cortex(&self, coordinates: &ndarray::Array2<f32>) -> Result<(), ModelError> {
        let Positions::Predicted { cortex, .. } = &self.positions else {
            return Err(ModelError::Cortex("this readout learns its positions; it takes no cortical coordinates".into()));
        };
        let [units, d] = cortex.size()[..] else { unreachable!("(U, D) coordinates") };
        if coordinates.nrows() as i64 != units || (coordinates.ncols() as i64) < d {
            return Err(ModelError::Cortex(format!("cell_motor_coordinates is {:?}: ({units}, at least {d}) wanted", coordinates.shape())));
        }
        let used = coordinates.slice(ndarray::s![.., ..d as usize]).mapv(f64::from);
        let centred = &used - &used.mean_axis(ndarray::Axis(0)).expect("at least one unit");
        let scale = centred.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if !(scale > 0.0 && scale.is_finite()) {
            return Err(ModelError::Cortex("cell_motor_coordinates are all the same (or not finite): no positions to predict from".into()));
        }
        let normalised: Vec<f32> = centred.iter().map(|v| (v / scale) as f32).collect();
        let normalised = Tensor::from_slice(&normalised).reshape([units, d]).to_device(cortex.device());
        tch::no_grad(|| cortex.shallow_clone().copy_(&normalised));
        Ok(())
    }

    /// (U, 2) positions (x, y) in grid units.
    pub fn mu(&self) -> Tensor {
        match &self.positions {
            Positions::Learned(mu) => mu.shallow_clone(),
            Positions::Predicted { cortex, layers, final_tanh } => {
                let mut h = cortex.shallow_clone();
                for (i, layer) in layers.iter().enumerate() {
                    if i > 0 {
                        h = h.elu();
                    }
                    h = h.apply(layer);
                }
                if *final_tanh {
                    h.tanh()
                } else {
                    h
                }
            }
        }
    }

    /// The learned positions, where they are parameters (golden tests set them).
    pub fn learned_mu(&self) -> Option<&Tensor> {
        match &self.positions {
            Positions::Learned(mu) => Some(mu),
            Positions::Predicted { .. } => None,
        }
    }

    /// Drive (B, U); `shift` (B, 2), grid units, moves every position of a trial (the shifter's
    /// output), added after clamping as the reference does.
    pub fn forward(&self, x: &Tensor, train: bool, shift: Option<&Tensor>) -> Tensor {
        let (b, _, _, _) = x.size4().expect("(B, C, h, w) input");
        let mu = self.mu();
        let u = mu.size()[0];
        let grid = if train {
            let z = Tensor::randn([b, u, 2, 1], (Kind::Float, x.device()));
            mu.unsqueeze(0) + self.sigma.unsqueeze(0).matmul(&z).squeeze_dim(-1)
        } else {
            mu.unsqueeze(0).expand([b, u, 2], false)
        };
        let grid = grid.clamp(-1.0, 1.0);
        let grid = match shift {
            Some(s) => grid + s.unsqueeze(1),
            None => grid,
        }
        .unsqueeze(2); // (B, U, 1, 2)
                       // bilinear, zero padding, align_corners = true: grid ±1 are the outer pixel centres.
        let sampled = x.grid_sampler(&grid, 0, 0, true).squeeze_dim(-1); // (B, C, U)
        (sampled * self.features.tr().unsqueeze(0)).sum_dim_intlist([1i64].as_slice(), false, Kind::Float) + &self.bias
    }

    pub fn regularizer(&self) -> Tensor {
        self.features.abs().sum(Kind::Float) * self.gamma
    }
}

/// A dense readout: a (C, h, w) weight per neuron. On the image itself it is the LN model's
/// linear filter.
pub struct FullReadout {
    pub weight: Tensor,
    pub bias: Tensor,
    gamma: f64,
    gamma_laplace: f64,
}

impl FullReadout {
    pub fn new(vs: &nn::Path, [c, h, w]: [i64; 3], units: i64, bias: &Tensor, gamma: f64, gamma_laplace: f64) -> Self {
        let weight = vs.var("weight", &[units, c, h, w], Init::Randn { mean: 0.0, stdev: 0.01 });
        let bias = vs.var_copy("bias", bias);
        FullReadout { weight, bias, gamma, gamma_laplace }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let b = x.size()[0];
        let u = self.weight.size()[0];
        x.reshape([b, -1]).matmul(&self.weight.reshape([u, -1]).tr()) + &self.bias
    }

    pub fn regularizer(&self) -> Tensor {
        let l1 = self.weight.abs().sum(Kind::Float) * self.gamma;
        if self.gamma_laplace > 0.0 {
            // Pad by one so the Laplacian also sees each filter's border.
            l1 + laplace_l2norm(&self.weight, 1) * self.gamma_laplace
        } else {
            l1
        }
    }
}
