//! SlowVAE (Klindt et al. 2021, "Towards nonlinear disentanglement in natural data with temporal
//! sparse coding"), as in bethgelab/slow_disentanglement: the β-VAE convolutional encoder and
//! Bernoulli decoder of Locatello et al. 2019 on 64 × 64 one-channel frames, trained on pairs of
//! consecutive frames with a Laplace prior on the latent transition.
//!
//! Loss of a batch of B pairs (2B frames, each encoded on its own; σ² = exp(logvar)):
//! 2·R + β·(CE_N − H) + γ·(CE_L − H), where R is the Bernoulli reconstruction error summed over
//! pixels and averaged over frames (×2: per pair), H the posterior entropy and CE_N its
//! cross-entropy with N(0, I) (both averaged over frames, so CE_N − H is the usual KL), and CE_L
//! the cross-entropy of each frame's posterior with a Laplace(0, 1/λ) prior centred on the other
//! frame's posterior mean, summed over both directions and averaged over pairs — in closed form,
//! E|u| for u ~ N(m, σ²) being σ√(2/π)·exp(−m²/2σ²) + m(1 − 2Φ(−m/σ)). As in the reference, H
//! is subtracted once for the two directions. γ = 0 is the β-VAE.
//!
//! ```no_run
//! use neurozoo_zoo::config::{Precision, VaeConfig};
//! use neurozoo_zoo::slowvae::SlowVae;
//! use tch::{nn, Device, Kind, Tensor};
//!
//! let vs = nn::VarStore::new(Device::Cpu);
//! let model = SlowVae::new(&vs.root(), &VaeConfig::default());
//! // Two pairs, interleaved as (x₀, x₀′, x₁, x₁′).
//! let frames = Tensor::rand([4, 1, 64, 64], (Kind::Float, Device::Cpu)).round();
//! let loss = model.loss(&frames, Precision::Fp32)?;
//! assert_eq!(loss.total.size(), Vec::<i64>::new());
//! # Ok::<(), neurozoo_tensor::TorchError>(())
//! ```

pub mod scores;
pub mod train;

use std::f64::consts::PI;

use neurozoo_tensor::{autocast, TorchError};
use tch::nn::init::{FanInOut, NonLinearity, NormalOrUniform};
use tch::nn::{self, ConvConfig, ConvTransposeConfig, Init, LinearConfig, Module};
use tch::{Kind, Reduction, Tensor};

use crate::config::{Precision, VaeConfig};

/// The encoder and decoder.
#[derive(Debug)]
pub struct SlowVae {
    encoder: nn::Sequential,
    decoder: nn::Sequential,
    pub cfg: VaeConfig,
}

/// The loss and its parts (scalars; `total` carries the graph).
pub struct Loss {
    pub total: Tensor,
    /// Bernoulli reconstruction error per frame (nats). The parts are detached scalars left on
    /// the model's device, so that logging them does not make the host wait for the GPU.
    pub reconstruction: Tensor,
    /// KL(q(z|x) ‖ N(0, I)) per frame.
    pub kl_normal: Tensor,
    /// CE_L − H: the temporal term as weighted by γ.
    pub kl_laplace: Tensor,
}

impl SlowVae {
    pub fn new(vs: &nn::Path, cfg: &VaeConfig) -> SlowVae {
        // The reference initialises Linear and Conv2d with Kaiming normal (fan-in, ReLU gain) and
        // zero biases; its transposed convolutions keep PyTorch's default.
        let kaiming = Init::Kaiming { dist: NormalOrUniform::Normal, fan: FanInOut::FanIn, non_linearity: NonLinearity::ReLU };
        let conv = |p: nn::Path, i, o, stride, padding| {
            nn::conv2d(p, i, o, 4, ConvConfig { stride, padding, ws_init: kaiming, bs_init: Init::Const(0.0), ..Default::default() })
        };
        let linear =
            |p: nn::Path, i, o| nn::linear(p, i, o, LinearConfig { ws_init: kaiming, bs_init: Some(Init::Const(0.0)), bias: true });
        let deconv = |p: nn::Path, i: i64, o: i64, stride, padding| {
            // PyTorch's default: Kaiming uniform with a = √5 (gain √(1/3)) on fan-in = o·k², and
            // biases U(±1/√fan-in).
            let bound = 1.0 / ((o * 16) as f64).sqrt();
            let ws_init = Init::Kaiming {
                dist: NormalOrUniform::Uniform,
                fan: FanInOut::FanIn,
                non_linearity: NonLinearity::ExplicitGain((1.0f64 / 3.0).sqrt()),
            };
            let bs_init = Init::Uniform { lo: -bound, up: bound };
            nn::conv_transpose2d(p, i, o, 4, ConvTransposeConfig { stride, padding, ws_init, bs_init, ..Default::default() })
        };
        let e = vs / "encoder";
        let encoder = nn::seq()
            .add(conv(&e / "conv1", 1, 32, 2, 1))
            .add_fn(Tensor::relu)
            .add(conv(&e / "conv2", 32, 32, 2, 1))
            .add_fn(Tensor::relu)
            .add(conv(&e / "conv3", 32, 64, 2, 1))
            .add_fn(Tensor::relu)
            .add(conv(&e / "conv4", 64, 64, 2, 1))
            .add_fn(Tensor::relu)
            .add(conv(&e / "conv5", 64, 256, 1, 0))
            .add_fn(Tensor::relu)
            .add_fn(|x| x.flatten(1, -1))
            .add(linear(&e / "out", 256, 2 * cfg.z_dim));
        let d = vs / "decoder";
        let decoder = nn::seq()
            .add(linear(&d / "in", cfg.z_dim, 256))
            .add_fn(|x| x.view([-1, 256, 1, 1]).relu())
            .add(deconv(&d / "deconv1", 256, 64, 1, 0))
            .add_fn(Tensor::relu)
            .add(deconv(&d / "deconv2", 64, 64, 2, 1))
            .add_fn(Tensor::relu)
            .add(deconv(&d / "deconv3", 64, 32, 2, 1))
            .add_fn(Tensor::relu)
            .add(deconv(&d / "deconv4", 32, 32, 2, 1))
            .add_fn(Tensor::relu)
            .add(deconv(&d / "deconv5", 32, 1, 2, 1));
        SlowVae { encoder, decoder, cfg: cfg.clone() }
    }

    /// Posterior mean and log-variance, each (frames, z_dim).
    pub fn encode(&self, frames: &Tensor) -> (Tensor, Tensor) {
        let out = self.encoder.forward(frames);
        let parts = out.chunk(2, 1);
        (parts[0].shallow_clone(), parts[1].shallow_clone())
    }

    /// Posterior means of frames (n, 1, 64, 64) of any kind, in batches of 256: (n, z_dim).
    pub fn posterior_means(&self, frames: &Tensor) -> ndarray::Array2<f64> {
        tch::no_grad(|| {
            let parts: Vec<Tensor> = frames.split(256, 0).iter().map(|chunk| self.encode(&chunk.to_kind(tch::Kind::Float)).0).collect();
            neurozoo_tensor::to_array2(&Tensor::cat(&parts, 0)).mapv(f64::from)
        })
    }

    /// Bernoulli logits (frames, 1, 64, 64).
    pub fn decode(&self, z: &Tensor) -> Tensor {
        self.decoder.forward(z)
    }

    /// The loss of pairs interleaved along the batch: (x₀, x₀′, x₁, x₁′, …), values in [0, 1];
    /// one posterior sample per frame. The encoder and decoder run in `precision`, the loss
    /// terms in f32.
    pub fn loss(&self, frames: &Tensor, precision: Precision) -> Result<Loss, TorchError> {
        assert!(frames.size()[0] % 2 == 0, "SlowVae::loss takes interleaved pairs");
        let device = frames.device();
        let (mu, logvar) = autocast(device, precision, || self.encode(frames))?;
        let (mu, logvar) = (mu.to_kind(Kind::Float), logvar.to_kind(Kind::Float));
        let z = &mu + (&logvar * 0.5).exp() * mu.randn_like();
        let logits = autocast(device, precision, || self.decode(&z))?.to_kind(Kind::Float);
        Ok(self.loss_terms(&mu, &logvar, &logits, frames))
    }

    /// The loss from the posterior parameters of interleaved pairs and the decoder's logits.
    pub fn loss_terms(&self, mu: &Tensor, logvar: &Tensor, logits: &Tensor, frames: &Tensor) -> Loss {
        let n = frames.size()[0];
        let std = (logvar * 0.5).exp();
        let reconstruction = logits.binary_cross_entropy_with_logits::<Tensor>(frames, None, None, Reduction::Sum) / n as f64;
        let per_frame = |t: Tensor| t.sum_dim_intlist([1i64].as_slice(), false, t.kind()).mean(t.kind());
        let entropy = per_frame((logvar + (2.0 * PI * std::f64::consts::E).ln()) * 0.5);
        let ce_normal = per_frame((mu.square() + std.square()) * 0.5 + 0.5 * (2.0 * PI).ln());
        let (mu0, mu1) = (mu.slice(0, 0, n, 2), mu.slice(0, 1, n, 2));
        let (std0, std1) = (std.slice(0, 0, n, 2), std.slice(0, 1, n, 2));
        let rate = self.cfg.rate_prior;
        let ce_laplace = per_frame(laplace_cross_entropy(&(&mu0 - &mu1), &std0, rate) + laplace_cross_entropy(&(&mu1 - &mu0), &std1, rate));
        let kl_normal = &ce_normal - &entropy;
        let kl_laplace = &ce_laplace - &entropy;
        let total = &reconstruction * 2.0 + &kl_normal * self.cfg.beta + &kl_laplace * self.cfg.gamma;
        Loss { reconstruction: reconstruction.detach(), kl_normal: kl_normal.detach(), kl_laplace: kl_laplace.detach(), total }
    }
}

/// Cross-entropy of N(m, σ²) with Laplace(0, 1/λ), elementwise: −ln(λ/2) + λ·E|u|.
fn laplace_cross_entropy(m: &Tensor, std: &Tensor, rate: f64) -> Tensor {
    let ratio = m / std;
    // Φ(−m/σ) through erf.
    let phi_neg = ((-&ratio) * std::f64::consts::FRAC_1_SQRT_2).erf() * 0.5 + 0.5;
    let mean_abs = std * (2.0 / PI).sqrt() * (ratio.square() * -0.5).exp() + m * (phi_neg * -2.0 + 1.0);
    mean_abs * rate - (rate / 2.0).ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// E|u| for u ~ N(m, σ²) in closed form against a Monte-Carlo average.
    #[test]
    fn laplace_cross_entropy_matches_sampling() {
        tch::manual_seed(0);
        let (m, s, rate) = (0.7, 0.4, 6.0);
        let samples = Tensor::randn([2_000_000], (Kind::Double, Device::Cpu)) * s + m;
        let sampled = samples.abs().mean(Kind::Double).double_value(&[]) * rate - (rate / 2.0f64).ln();
        let closed = laplace_cross_entropy(&Tensor::from(m), &Tensor::from(s), rate).double_value(&[]);
        assert!((closed - sampled).abs() < 5e-3, "{closed} vs {sampled}");
    }

    #[test]
    fn shapes_and_a_finite_loss() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let model = SlowVae::new(&vs.root(), &VaeConfig::default());
        let frames = Tensor::rand([4, 1, 64, 64], (Kind::Float, Device::Cpu)).round();
        let (mu, _) = model.encode(&frames);
        assert_eq!(mu.size(), [4, 10]);
        assert_eq!(model.decode(&mu).size(), [4, 1, 64, 64]);
        let loss = |precision| {
            // The same posterior sample in both precisions.
            tch::manual_seed(1);
            model.loss(&frames, precision).unwrap()
        };
        let exact = loss(Precision::Fp32);
        assert!(
            exact.total.double_value(&[]).is_finite()
                && exact.reconstruction.double_value(&[]) > 0.0
                && exact.kl_normal.double_value(&[]) >= 0.0
        );
        // bf16 networks: an f32 loss within bf16's rounding (8 bits of mantissa) of the exact one.
        let mixed = loss(Precision::Bf16);
        assert_eq!(mixed.total.kind(), Kind::Float);
        let (a, b) = (exact.total.double_value(&[]), mixed.total.double_value(&[]));
        assert!(a != b && (a - b).abs() <= 1e-2 * a.abs(), "fp32 loss {a}, bf16 loss {b}");
    }
}
