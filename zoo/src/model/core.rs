//! `Stacked2dCore`: convolutions with a large first kernel, batch norm and ELU.

use tch::nn::{self, ModuleT};
use tch::Tensor;

use crate::config::CoreConfig;
use crate::regularizers::{group_sparsity, laplace_l2norm};

pub struct Stacked2dCore {
    convs: Vec<nn::Conv2D>,
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
                ..Default::default()
            };
            let p = vs / format!("layer{layer}");
            convs.push(nn::conv2d(&p / "conv", cin as i64, cfg.channels as i64, k as i64, conv_cfg));
            norms.push(
                cfg.batch_norm.then(|| {
                    nn::batch_norm2d(&p / "norm", cfg.channels as i64, nn::BatchNormConfig { momentum: 0.1, ..Default::default() })
                }),
            );
        }
        Stacked2dCore { convs, norms, cfg: cfg.clone() }
    }

    pub fn layers(&self) -> usize {
        self.convs.len()
    }

    /// Output of every layer, first to last.
    pub fn layer_outputs(&self, x: &Tensor, train: bool) -> Vec<Tensor> {
        let mut outs = Vec::with_capacity(self.convs.len());
        let mut h = x.shallow_clone();
        for (layer, (conv, norm)) in self.convs.iter().zip(&self.norms).enumerate() {
            h = conv.forward_t(&h, train);
            if let Some(norm) = norm {
                h = norm.forward_t(&h, train);
            }
            if layer + 1 < self.convs.len() || self.cfg.final_nonlinearity {
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
        let smooth = laplace_l2norm(&self.convs[0].ws, 1) * self.cfg.gamma_input;
        let hidden = &self.convs[1..];
        if hidden.is_empty() {
            return smooth;
        }
        let sparsity = hidden.iter().map(|c| group_sparsity(&c.ws)).fold(smooth.zeros_like(), |acc, g| acc + g);
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

    pub fn first_layer_filters(&self) -> Tensor {
        self.convs[0].ws.detach()
    }
}
