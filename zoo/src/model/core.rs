//! `Stacked2dCore`: convolutions with a large first kernel, batch norm and ELU.

use neurozoo_tensor::{channels_last, is_channels_last};
use tch::nn::{self, ModuleT};
use tch::Tensor;

use crate::config::{ConvInit, CoreConfig};
use crate::regularizers::{group_sparsity, laplace_l2norm};

/// One layer's convolution: a plain one, or neuralpredictors' `DepthSeparableConv2d` (a 1×1
/// convolution, a per-channel k×k one, another 1×1; each with a bias) that the sensorium
/// baseline uses for its hidden layers.
enum Conv {
    Plain(nn::Conv2D),
    DepthSeparable(Box<[nn::Conv2D; 3]>),
}

impl Conv {
    fn forward(&self, x: &Tensor) -> Tensor {
        match self {
            Conv::Plain(c) => c.forward_t(x, false),
            Conv::DepthSeparable(cs) => cs.iter().fold(x.shallow_clone(), |h, c| c.forward_t(&h, false)),
        }
    }

    fn weights(&self) -> Vec<&Tensor> {
        match self {
            Conv::Plain(c) => vec![&c.ws],
            Conv::DepthSeparable(cs) => cs.iter().map(|c| &c.ws).collect(),
        }
    }

    /// Group sparsity applies to plain filters; a depth-separable layer has none to group.
    fn group_sparsity(&self) -> Option<Tensor> {
        match self {
            Conv::Plain(c) => Some(group_sparsity(&c.ws)),
            Conv::DepthSeparable(_) => None,
        }
    }
}

/// A k × k convolution with `cin` input channels per group and `cout` outputs, its weights
/// started as `init` says (Xavier normal as `torch.nn.init.xavier_normal_`).
fn conv_config(init: ConvInit, cin: i64, cout: i64, k: i64) -> nn::ConvConfig {
    match init {
        ConvInit::XavierNormal => nn::ConvConfig {
            ws_init: nn::Init::Randn { mean: 0.0, stdev: (2.0 / ((cin + cout) * k * k) as f64).sqrt() },
            bs_init: nn::Init::Const(0.0),
            ..Default::default()
        },
        ConvInit::KaimingUniform => nn::ConvConfig::default(),
    }
}

pub struct Stacked2dCore {
    convs: Vec<Conv>,
    norms: Vec<Option<nn::BatchNorm>>,
    cfg: CoreConfig,
}

impl Stacked2dCore {
    pub fn new(vs: &nn::Path, in_channels: usize, cfg: &CoreConfig) -> Stacked2dCore {
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        for layer in 0..cfg.layers {
            let (cin, k, pad) =
                if layer == 0 { (in_channels, cfg.input_kernel, cfg.pad_input) } else { (cfg.channels, cfg.hidden_kernel, cfg.pad_hidden) };
            let conv_cfg = nn::ConvConfig {
                padding: if pad { (k / 2) as i64 } else { 0 },
                // Batch norm's shift makes a convolution bias redundant.
                bias: !cfg.batch_norm,
                ..conv_config(cfg.init, cin as i64, cfg.channels as i64, k as i64)
            };
            let p = vs / format!("layer{layer}");
            let c = cfg.channels as i64;
            convs.push(if layer > 0 && cfg.depth_separable {
                let biased = |padding: i64, groups: i64, k: i64| nn::ConvConfig {
                    padding,
                    groups,
                    bias: true,
                    ..conv_config(cfg.init, c / groups, c, k)
                };
                Conv::DepthSeparable(Box::new([
                    nn::conv2d(&p / "in_depth_conv", c, c, 1, biased(0, 1, 1)),
                    nn::conv2d(&p / "spatial_conv", c, c, k as i64, biased(conv_cfg.padding, c, k as i64)),
                    nn::conv2d(&p / "out_depth_conv", c, c, 1, biased(0, 1, 1)),
                ]))
            } else {
                Conv::Plain(nn::conv2d(&p / "conv", cin as i64, c, k as i64, conv_cfg))
            });
            norms.push(cfg.batch_norm.then(|| {
                nn::batch_norm2d(&p / "norm", c, nn::BatchNormConfig { momentum: cfg.batch_norm_momentum, ..Default::default() })
            }));
        }
        Stacked2dCore { convs, norms, cfg: cfg.clone() }
    }

    /// Lay the convolution weights out channels-last. libtorch then computes the convolutions'
    /// outputs channels-last too (batch norm and ELU keep the layout), and Adam's moments and
    /// the gradients follow the weights, so one change here makes the core NHWC up to the last
    /// convolution's output, which [`Stacked2dCore::layer_outputs`] turns back to NCHW.
    pub fn use_channels_last(&self) {
        for w in self.convs.iter().flat_map(Conv::weights) {
            let nhwc = channels_last(w);
            tch::no_grad(|| w.shallow_clone().set_data(&nhwc));
        }
    }

    pub fn layers(&self) -> usize {
        self.convs.len()
    }

    /// Output of every layer, first to last.
    pub fn layer_outputs(&self, x: &Tensor, train: bool) -> Vec<Tensor> {
        let mut outs = Vec::with_capacity(self.convs.len());
        let mut h = x.shallow_clone();
        let last = self.convs.len() - 1;
        for (layer, (conv, norm)) in self.convs.iter().zip(&self.norms).enumerate() {
            h = conv.forward(&h);
            if layer == last && is_channels_last(&h) {
                // The readouts hand back NCHW gradients, and batch norm's backward takes a slow
                // serial path when its input and gradient differ in layout: the head of the
                // core (norm, nonlinearity) and the readout run NCHW.
                h = h.contiguous();
            }
            if let Some(norm) = norm {
                h = norm.forward_t(&h, train);
            }
            if !self.cfg.linear && (layer + 1 < self.convs.len() || self.cfg.final_nonlinearity) {
                h = h.elu();
            }
            outs.push(h.shallow_clone());
        }
        outs
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        self.layer_outputs(x, train).pop().expect("at least one layer")
    }

    /// γ_input · LaplaceL2norm(first layer, padding 1) + γ_hidden · the mean over hidden
    /// layers of their group sparsity, as neuralpredictors' `Stacked2dCore.regularizer`.
    pub fn regularizer(&self) -> Tensor {
        let smooth = laplace_l2norm(&self.first_layer_filters_var().ws, 1) * self.cfg.gamma_input;
        let hidden = &self.convs[1..];
        if hidden.is_empty() {
            return smooth;
        }
        let sparsity = hidden.iter().filter_map(Conv::group_sparsity).fold(smooth.zeros_like(), |acc, g| acc + g);
        smooth + sparsity * (self.cfg.gamma_hidden / hidden.len() as f64)
    }

    /// Pixels lost at each border by unpadded layers: output position i sees image pixel
    /// i + offset at its centre.
    pub fn border_offset(&self) -> usize {
        let mut offset = 0;
        for layer in 0..self.cfg.layers {
            let (k, pad) =
                if layer == 0 { (self.cfg.input_kernel, self.cfg.pad_input) } else { (self.cfg.hidden_kernel, self.cfg.pad_hidden) };
            if !pad {
                offset += k / 2;
            }
        }
        offset
    }

    /// The first layer is always a plain convolution: its filters are what the Laplacian smooths.
    fn first_layer_filters_var(&self) -> &nn::Conv2D {
        match &self.convs[0] {
            Conv::Plain(c) => c,
            Conv::DepthSeparable(_) => unreachable!("the first layer is never depth-separable"),
        }
    }

    pub fn first_layer_filters(&self) -> Tensor {
        self.first_layer_filters_var().ws.detach()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `init = "xavier_normal"` gives every convolution, depth-separable parts included, torch's
    /// `xavier_normal_` scale (fan_in = in-channels per group · k², fan_out = out-channels · k²)
    /// and zero biases; the default is libtorch's, larger in the first layer.
    #[test]
    fn xavier_normal_init_has_torchs_scale_and_zero_biases() {
        let std = |t: &Tensor| t.std(true).double_value(&[]);
        let build = |init| {
            let cfg = CoreConfig {
                init,
                depth_separable: true,
                layers: 2,
                channels: 64,
                input_kernel: 9,
                hidden_kernel: 7,
                ..CoreConfig::default()
            };
            tch::manual_seed(0);
            let vs = nn::VarStore::new(tch::Device::Cpu);
            Stacked2dCore::new(&vs.root(), 1, &cfg);
            vs.variables()
        };
        let xavier = build(ConvInit::XavierNormal);
        let mut weights = 0;
        for (name, t) in &xavier {
            if name.ends_with("conv.weight") {
                let s = t.size();
                let expected = (2.0 / ((s[1] + s[0]) * s[2] * s[3]) as f64).sqrt();
                assert!((std(t) / expected - 1.0).abs() < 0.05, "{name}: std {} against {expected}", std(t));
                weights += 1;
            } else if name.ends_with("conv.bias") {
                assert_eq!(t.abs().max().double_value(&[]), 0.0, "{name}");
            }
        }
        assert_eq!(weights, 4, "the first layer and the three parts of the depth-separable one");
        let kaiming = build(ConvInit::KaimingUniform);
        let first = |vars: &std::collections::HashMap<String, Tensor>| std(&vars["layer0.conv.weight"]);
        assert!(first(&kaiming) > 2.5 * first(&xavier), "{} vs {}", first(&kaiming), first(&xavier));
    }
}
