//! Sparse autoencoders: an amortised encoder z = f((x − b_dec)W_enc + b_enc) and a linear
//! decoder x̂ = zW_dec + b_dec, in the forms used for interpretability work.
//!
//! * **ReLU** (Anthropic's April 2024 recipe): f = ReLU, loss ½‖x − x̂‖² + λ Σᵢ zᵢ‖W_dec,i‖.
//!   Weighting the L1 by decoder norms makes the penalty the lasso's on unit-norm atoms, so the
//!   SAE and sparse inference on its decoder minimise the same objective (O'Neill et al. 2024).
//! * **TopK** (Gao et al. 2024): f keeps the k largest pre-activations (then ReLU), loss
//!   ½‖x − x̂‖² plus Gao et al.'s AuxK term: latents that have not fired for `dead_after`
//!   samples reconstruct the residual with their top k_aux pre-activations, the squared error
//!   normalised by the residual's energy. The decoder rows stay unit norm: the gradient
//!   component parallel to each row is removed before the step and rows are renormalised after.
//!
//! The three newer kinds follow SAELens 6.18 (`sae_lens/saes/`) term by term, and are pinned
//! to it by a golden test (`tests/sae_reference.rs`): loss ‖x − x̂‖² (not halved) plus
//! * **BatchTopK** (Bussmann et al. 2024): the ⌊k·batch⌋ largest ReLU'd pre-activations of the
//!   whole batch are kept, so k is the mean number of active latents per sample. Pre-activations
//!   are scaled by the decoder row norms and codes divided by them before decoding, so the
//!   selection does not drift with the norms. SAELens's AuxK (no normalisation; scaled by
//!   min(dead / k_aux, 1), k_aux = dims / 2). At inference it is a JumpReLU whose threshold is a
//!   running average (rate 0.01) of the smallest active pre-activation of each training batch.
//! * **Matryoshka** BatchTopK (Bussmann et al. 2025): BatchTopK plus, for each nested prefix
//!   width but the last, the squared error of reconstructing x from the first `width` latents
//!   alone, which pushes general features into the early latents.
//! * **JumpReLU** (Rajamanoharan et al. 2024): z = pre · H(pre − θ) with a learned threshold
//!   θ = exp(log θ) per latent, and an L0 penalty c · Σ H(pre − θ). H has no gradient; θ gets
//!   the straight-through estimate through a rectangle kernel of width `bandwidth`.

use tch::nn::{self, OptimizerConfig};
use tch::{Kind, Tensor};

use crate::dictionary::unit_rows;

/// The running-average rate of the BatchTopK inference threshold (SAELens' `topk_threshold_lr`).
const BATCH_THRESHOLD_RATE: f64 = 0.01;

/// The norm of the decoder's rows at the start of training for the kinds that follow SAELens
/// (its `decoder_init_norm`).
const SAELENS_DECODER_NORM: f64 = 0.1;

#[derive(Debug, Clone, PartialEq)]
pub enum SaeKind {
    /// ReLU encoder with an L1 penalty of weight λ on decoder-norm-weighted codes.
    Relu { lambda: f64 },
    /// Top-k encoder; AuxK uses `aux_k` dead latents (0: half the input dimensions).
    TopK { k: usize, aux_k: usize },
    /// k latents active per sample on average over a batch.
    BatchTopK { k: f64 },
    /// Learned per-latent thresholds; `l0_coefficient` weighs the L0 penalty, thresholds start
    /// at `init_threshold` and their gradient is estimated over a window of `bandwidth`.
    JumpRelu { l0_coefficient: f64, bandwidth: f64, init_threshold: f64 },
    /// BatchTopK with nested reconstructions from the first `widths[i]` latents; the last
    /// width is the number of latents.
    Matryoshka { k: f64, widths: Vec<usize> },
}

impl SaeKind {
    /// The family's name, as the `sparse-coding` plugin's `method` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            SaeKind::Relu { .. } => "sae-relu",
            SaeKind::TopK { .. } => "sae-topk",
            SaeKind::BatchTopK { .. } => "sae-batchtopk",
            SaeKind::JumpRelu { .. } => "sae-jumprelu",
            SaeKind::Matryoshka { .. } => "sae-matryoshka",
        }
    }

    /// Settings that cannot hold for `n_latents` latents, said before training: a k that
    /// keeps every latent (or none) active, thresholds or bandwidths ≤ 0, widths that do not
    /// nest up to `n_latents`.
    pub fn check(&self, n_latents: usize) -> Result<(), String> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("{name} = {v}: it must be a positive number"))
            }
        };
        match self {
            SaeKind::Relu { lambda } if !(lambda.is_finite() && *lambda >= 0.0) => Err(format!("lambda = {lambda}: it must be ≥ 0")),
            SaeKind::Relu { .. } => Ok(()),
            SaeKind::TopK { k, .. } => check_k(*k as f64, n_latents),
            SaeKind::BatchTopK { k } => check_k(*k, n_latents),
            SaeKind::JumpRelu { l0_coefficient, bandwidth, init_threshold } => {
                positive("bandwidth", *bandwidth)?;
                positive("threshold", *init_threshold)?;
                if l0_coefficient.is_finite() && *l0_coefficient >= 0.0 {
                    Ok(())
                } else {
                    Err(format!("l0_coefficient = {l0_coefficient}: it must be ≥ 0"))
                }
            }
            SaeKind::Matryoshka { k, widths } => {
                check_k(*k, n_latents)?;
                if widths.last() != Some(&n_latents) {
                    return Err(format!("matryoshka widths {widths:?} must end at the number of latents, {n_latents}"));
                }
                if widths[0] == 0 || widths.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(format!("matryoshka widths {widths:?} must be positive and strictly increasing"));
                }
                Ok(())
            }
        }
    }

    /// Pre-activations scaled by decoder norms and codes divided by them (SAELens'
    /// `rescale_acts_by_decoder_norm`, on for its TopK family).
    fn rescaled(&self) -> bool {
        matches!(self, SaeKind::BatchTopK { .. } | SaeKind::Matryoshka { .. })
    }

    /// BatchTopK, Matryoshka and JumpReLU, which follow SAELens 6.18 (its loss, unhalved, and
    /// its initialisation); ReLU and TopK follow their papers.
    fn follows_saelens(&self) -> bool {
        !matches!(self, SaeKind::Relu { .. } | SaeKind::TopK { .. })
    }
}

fn check_k(k: f64, n_latents: usize) -> Result<(), String> {
    if !(k.is_finite() && k > 0.0) {
        return Err(format!("k = {k}: at least some latents must be active (k > 0)"));
    }
    if k >= n_latents as f64 {
        return Err(format!("k = {k}: with k ≥ the {n_latents} latents nothing is sparse; choose k < n_atoms"));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
pub struct SaeConfig {
    pub kind: SaeKind,
    pub n_latents: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    /// A latent is dead once it has not fired for this many training samples.
    pub dead_after: usize,
    /// Weight of the AuxK loss (TopK family).
    pub aux_coef: f64,
    pub seed: u64,
}

impl SaeConfig {
    /// Defaults of each kind's reference: AuxK weighted 1/32 for TopK (Gao et al.), 1 for
    /// BatchTopK and Matryoshka (SAELens' `aux_loss_coefficient`).
    pub fn new(kind: SaeKind, n_latents: usize) -> SaeConfig {
        let aux_coef = if kind.rescaled() { 1.0 } else { 1.0 / 32.0 };
        SaeConfig { kind, n_latents, epochs: 200, batch_size: 256, lr: 1e-3, dead_after: 10_000, aux_coef, seed: 0 }
    }
}

/// One epoch of training, averaged over its batches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SaeEpoch {
    pub epoch: usize,
    pub loss: f64,
    /// Mean squared error per element.
    pub mse: f64,
    /// Mean non-zero codes per sample.
    pub l0: f64,
    /// Latents counted dead at the end of the epoch.
    pub dead_fraction: f64,
    /// Wall-clock seconds since training began, at the end of this epoch.
    pub seconds: f64,
}

/// One batch through the SAE as it trains: its codes and each term of its loss.
pub struct Forward {
    /// Encoder pre-activations (scaled by decoder norms for BatchTopK and Matryoshka).
    pub pre: Tensor,
    /// The activations the loss sees, as the decoder took them: only the active entries in
    /// the TopK family ([`Forward::codes`] spreads them out).
    active: Active,
    /// Which latents fired (a code > 0), one bool each, and how many codes are > 0 (double).
    fired: Tensor,
    positive: Tensor,
    pub reconstruction: Tensor,
    /// ‖x − x̂‖², mean over the batch.
    pub squared: Tensor,
    /// The L1 (ReLU) or L0 (JumpReLU) penalty, weighted; 0 for the TopK family.
    pub sparsity: Tensor,
    /// The AuxK loss, weighted; 0 outside the TopK family or when no latent is dead.
    pub auxiliary: Tensor,
    /// Matryoshka: ‖x − x̂_w‖² (batch mean) for each inner width w; empty otherwise.
    pub inner: Vec<Tensor>,
    pub loss: Tensor,
}

impl Forward {
    /// The activations the loss sees (SAELens' `feature_acts`), (rows, latents).
    pub fn codes(&self) -> Tensor {
        self.active.dense()
    }
}

pub struct Sae {
    pub kind: SaeKind,
    vs: nn::VarStore,
    w_enc: Tensor,
    b_enc: Tensor,
    w_dec: Tensor,
    b_dec: Tensor,
    /// JumpReLU: log θ per latent (trained). BatchTopK and Matryoshka: the inference threshold
    /// (a running average, not trained). Unused otherwise.
    threshold: Tensor,
}

/// The weights of an SAE (dims = input dimensions, n = latents): W_enc (dims, n), b_enc (n),
/// W_dec (n, dims), b_dec (dims), and the threshold — θ per latent (n) for JumpReLU, one value
/// ([]) for BatchTopK and Matryoshka, ignored otherwise.
pub struct SaeWeights<'a> {
    pub w_enc: &'a Tensor,
    pub b_enc: &'a Tensor,
    pub w_dec: &'a Tensor,
    pub b_dec: &'a Tensor,
    pub threshold: &'a Tensor,
}

impl Sae {
    /// An SAE with the given weights (for instance one trained with SAELens).
    pub fn from_weights(kind: SaeKind, w: SaeWeights<'_>) -> Sae {
        let vs = nn::VarStore::new(w.w_enc.device());
        let root = vs.root();
        let threshold = match kind {
            SaeKind::JumpRelu { .. } => root.var_copy("log_threshold", &w.threshold.log()),
            _ => w.threshold.to_kind(Kind::Double).detach(),
        };
        Sae {
            w_enc: root.var_copy("w_enc", w.w_enc),
            b_enc: root.var_copy("b_enc", w.b_enc),
            w_dec: root.var_copy("w_dec", w.w_dec),
            b_dec: root.var_copy("b_dec", w.b_dec),
            threshold,
            kind,
            vs,
        }
    }

    /// The trained parameters by name (`w_enc`, `b_enc`, `w_dec`, `b_dec`, and `log_threshold`
    /// for JumpReLU), for their gradients.
    pub fn parameters(&self) -> std::collections::HashMap<String, Tensor> {
        self.vs.variables()
    }

    /// The inference threshold: θ per latent (JumpReLU) or the batch threshold (BatchTopK,
    /// Matryoshka); `None` for kinds without one.
    pub fn threshold(&self) -> Option<Tensor> {
        match self.kind {
            SaeKind::JumpRelu { .. } => Some(self.threshold.exp()),
            SaeKind::BatchTopK { .. } | SaeKind::Matryoshka { .. } => Some(self.threshold.shallow_clone()),
            SaeKind::Relu { .. } | SaeKind::TopK { .. } => None,
        }
    }

    fn decoder_norms(&self) -> Tensor {
        self.w_dec.norm_scalaropt_dim(2, [1], false)
    }

    fn pre_activations(&self, x: &Tensor) -> Tensor {
        // (x − b_dec)·W_enc + b_enc as x·W_enc + (b_enc − b_dec·W_enc): the same value, but
        // b_dec's gradient is then a vector times W_enc, not the (rows × latents × dims) product
        // the input's gradient would be (x itself needs none), and both biases are added in the
        // product (addmm) instead of in two more passes over (rows × latents).
        let pre = (&self.b_enc - self.b_dec.matmul(&self.w_enc)).addmm(x, &self.w_enc);
        if self.kind.rescaled() {
            pre * self.decoder_norms()
        } else {
            pre
        }
    }

    /// x̂ from the codes the loss sees (divided by the decoder norms first where the
    /// pre-activations were scaled by them), from the first `width` latents only when given:
    /// from the active entries alone where few are ([`Active`]: the TopK family), densely
    /// otherwise (the ReLU SAE, whose codes are not sparse while it trains; JumpReLU early on).
    fn decode(&self, codes: &Active, width: Option<i64>) -> Tensor {
        match codes {
            Active::Dense(codes) => {
                let n = width.unwrap_or(self.w_dec.size()[0]);
                let (codes, w_dec) = (codes.narrow(1, 0, n), self.w_dec.narrow(0, 0, n));
                let codes = if self.kind.rescaled() { codes / self.decoder_norms().narrow(0, 0, n) } else { codes };
                self.b_dec.addmm(&codes, &w_dec)
            }
            Active::Sparse(entries) => {
                let entries = match width {
                    Some(w) => entries.below(w),
                    None => entries.shallow_clone(),
                };
                let values = if self.kind.rescaled() {
                    &entries.values / self.decoder_norms().index_select(0, &entries.latents)
                } else {
                    entries.values.shallow_clone()
                };
                entries.decode(&self.w_dec, &values) + &self.b_dec
            }
        }
    }

    /// The training-time forward pass and loss on the batch `x`, with `dead` (bool, one per
    /// latent) marking the latents AuxK may use.
    pub fn forward(&self, x: &Tensor, dead: &Tensor, aux_coef: f64) -> Forward {
        let pre = self.pre_activations(x);
        let dims = x.size()[1];
        let zero = || Tensor::zeros([], (Kind::Float, x.device()));
        // JumpReLU's L0 penalty comes from the same gate as its codes.
        // The entries decoding needs: the active codes, and for JumpReLU also the closed gates
        // near the threshold, whose codes are 0 but carry the threshold's gradient.
        let (active, l0_penalty, tally) = match &self.kind {
            SaeKind::Relu { .. } => (Active::Dense(pre.relu()), None, None),
            SaeKind::TopK { k, .. } => (Active::Sparse(top_k_entries(&pre, *k).relu()), None, None),
            SaeKind::BatchTopK { k } | SaeKind::Matryoshka { k, .. } => (Active::of_entries(batch_top_k_entries(&pre, *k)), None, None),
            SaeKind::JumpRelu { l0_coefficient, bandwidth, .. } => {
                let gate = Gate::new(&pre, &self.threshold, *bandwidth);
                let codes = gate.jump_relu(&pre);
                // Open gates alone past DENSE_ABOVE decide it, without the union's pass.
                let open_fraction = gate.open_count.double_value(&[]) / gate.open.numel().max(1) as f64;
                let active =
                    if open_fraction > DENSE_ABOVE { Active::Dense(codes) } else { Active::of(&codes, &(&gate.open + &gate.near).gt(0.0)) };
                // A code is > 0 exactly where its gate is open (θ > 0): counted from the gates.
                let tally = (gate.open_per_latent.gt(0.0), gate.open_count.to_kind(Kind::Double));
                (active, Some(gate.l0() * *l0_coefficient), Some(tally))
            }
        };
        let (fired, positive) = tally.unwrap_or_else(|| active.tally());
        let reconstruction = self.decode(&active, None);
        let residual = x - &reconstruction;
        let squared = residual.square().sum_dim_intlist([1i64].as_slice(), false, Kind::Float).mean(Kind::Float);
        let sparsity = match (&self.kind, l0_penalty) {
            (SaeKind::Relu { lambda }, _) => {
                (active.dense() * self.decoder_norms()).sum_dim_intlist([1i64].as_slice(), false, Kind::Float).mean(Kind::Float) * *lambda
            }
            (_, Some(l0)) => l0,
            _ => zero(),
        };
        let auxiliary = match &self.kind {
            SaeKind::TopK { aux_k, .. } => {
                let aux_k = if *aux_k == 0 { (dims as usize / 2).max(1) } else { *aux_k };
                gao_aux_k_loss(&pre, &residual, &self.w_dec, dead, aux_k) * aux_coef
            }
            SaeKind::BatchTopK { .. } | SaeKind::Matryoshka { .. } => self.saelens_aux_k_loss(x, &reconstruction, &pre, dead) * aux_coef,
            _ => zero(),
        };
        let inner: Vec<Tensor> = match &self.kind {
            SaeKind::Matryoshka { widths, .. } => widths[..widths.len() - 1]
                .iter()
                .map(|&w| {
                    (x - self.decode(&active, Some(w as i64)))
                        .square()
                        .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
                        .mean(Kind::Float)
                })
                .collect(),
            _ => Vec::new(),
        };
        // ReLU and TopK halve the squared error (their references' objective ½‖x − x̂‖²);
        // SAELens does not.
        let reconstruction_loss = if self.kind.follows_saelens() { squared.shallow_clone() } else { &squared * 0.5 };
        let loss = inner.iter().fold(reconstruction_loss + &sparsity + &auxiliary, |acc, t| acc + t);
        Forward { pre, active, fired, positive, reconstruction, squared, sparsity, auxiliary, inner, loss }
    }

    /// SAELens' AuxK: the top k_aux = dims / 2 pre-activations of dead latents, decoded like
    /// codes (decoder bias included), reconstruct the residual; squared error summed over dims
    /// and averaged over the batch, scaled by min(dead / k_aux, 1). Zero when nothing is dead.
    fn saelens_aux_k_loss(&self, x: &Tensor, reconstruction: &Tensor, pre: &Tensor, dead: &Tensor) -> Tensor {
        let n_dead = dead.sum(Kind::Int64).int64_value(&[]);
        if n_dead == 0 {
            return Tensor::zeros([], (Kind::Float, x.device()));
        }
        let residual = (x - reconstruction).detach();
        let k_aux = (x.size()[1] / 2).max(1);
        let scale = (n_dead as f64 / k_aux as f64).min(1.0);
        let masked = pre.masked_fill(&dead.logical_not(), f64::NEG_INFINITY);
        // Every entry picked, zeros and negatives included (no ReLU here, as in SAELens).
        let picked = top_k_entries(&masked, k_aux.min(n_dead) as usize);
        (self.decode(&Active::of_entries(picked), None) - residual)
            .square()
            .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
            .mean(Kind::Float)
            * scale
    }

    /// After a training step on `batch`: BatchTopK's and Matryoshka's inference threshold moves
    /// a step of 0.01 towards the batch's smallest active code (unchanged when none was
    /// active); other kinds keep no running threshold.
    pub fn update_threshold(&self, batch: &Forward) {
        if self.kind.rescaled() {
            tch::no_grad(|| self.threshold.shallow_clone().copy_(&batch_threshold(&self.threshold, &batch.active.smallest_positive())));
        }
    }

    /// Codes of the rows of `x` (samples, dims) on the decoder rows as they are:
    /// `encode(x) · W_dec + b_dec` is the reconstruction. BatchTopK and Matryoshka encode as
    /// the JumpReLU SAELens saves them as: every ReLU'd pre-activation above the threshold.
    pub fn encode(&self, x: &Tensor) -> Tensor {
        tch::no_grad(|| {
            let pre = self.pre_activations(x);
            match &self.kind {
                SaeKind::Relu { .. } => pre.relu(),
                SaeKind::TopK { k, .. } => top_k_entries(&pre, *k).relu().dense(),
                SaeKind::BatchTopK { .. } | SaeKind::Matryoshka { .. } => {
                    pre.relu() * pre.gt_tensor(&self.threshold) / self.decoder_norms()
                }
                SaeKind::JumpRelu { .. } => &pre * pre.gt_tensor(&self.threshold.exp()),
            }
        })
    }

    /// The decoder's atoms scaled to unit norm (atoms, dims) with their norms (atoms, 1):
    /// `encode(x) * norms.tr()` are codes on these atoms giving the same reconstruction.
    pub fn atoms(&self) -> (Tensor, Tensor) {
        tch::no_grad(|| unit_rows(&self.w_dec))
    }

    /// The decoder bias: the origin codes are measured from.
    pub fn bias(&self) -> Tensor {
        self.b_dec.detach()
    }

    /// Train on the rows of `x` (samples, dims); `on_epoch` sees every epoch.
    pub fn train(x: &Tensor, cfg: &SaeConfig, mut on_epoch: impl FnMut(&SaeEpoch)) -> Result<(Sae, Vec<SaeEpoch>), tch::TchError> {
        let (samples, dims) = x.size2()?;
        let device = x.device();
        tch::manual_seed(cfg.seed as i64);
        let n = cfg.n_latents as i64;
        // Decoder rows start in random directions and the encoder as their transpose. ReLU and
        // TopK as Gao et al.: Gaussian directions, unit rows, the decoder bias at the data mean,
        // so the first codes explain the variation. The kinds that follow SAELens start as its
        // TrainingSAE does: directions uniform in a cube (kaiming_uniform_, whose bound the
        // rescaling cancels), rows of norm 0.1 (`decoder_init_norm`), the decoder bias at zero.
        // Seeded alike, the two then train to the same L0 and FVU.
        let (b_dec, atoms) = if cfg.kind.follows_saelens() {
            let cube = Tensor::rand([n, dims], (Kind::Float, device)) * 2.0 - 1.0;
            (Tensor::zeros([dims], (Kind::Float, device)), unit_rows(&cube).0 * SAELENS_DECODER_NORM)
        } else {
            (x.mean_dim([0i64].as_slice(), false, Kind::Float), unit_rows(&Tensor::randn([n, dims], (Kind::Float, device))).0)
        };
        let threshold = match cfg.kind {
            SaeKind::JumpRelu { init_threshold, .. } => Tensor::full([n], init_threshold, (Kind::Float, device)),
            _ => Tensor::zeros([], (Kind::Double, device)),
        };
        let sae = Sae::from_weights(
            cfg.kind.clone(),
            SaeWeights {
                w_enc: &atoms.tr().contiguous(),
                b_enc: &Tensor::zeros([n], (Kind::Float, device)),
                w_dec: &atoms,
                b_dec: &b_dec,
                threshold: &threshold,
            },
        );
        let mut opt = nn::Adam::default().build(&sae.vs, cfg.lr)?;
        let unit_decoder = matches!(cfg.kind, SaeKind::TopK { .. });
        let mut since_fired = Tensor::zeros([n], (Kind::Int64, device));
        let batch = cfg.batch_size.clamp(1, samples as usize) as i64;
        let mut history = Vec::with_capacity(cfg.epochs);
        let began = std::time::Instant::now();
        for epoch in 1..=cfg.epochs {
            let order = Tensor::randperm(samples, (Kind::Int64, device));
            // Epoch sums stay on the device: reading a value back per batch would wait for the
            // GPU every step.
            let zero = || Tensor::zeros([], (Kind::Double, device));
            let (mut loss_sum, mut se_sum, mut l0_sum) = (zero(), zero(), zero());
            for start in (0..samples).step_by(batch as usize) {
                let xb = x.index_select(0, &order.narrow(0, start, batch.min(samples - start)));
                let rows = xb.size()[0];
                let f = sae.forward(&xb, &since_fired.ge(cfg.dead_after as i64), cfg.aux_coef);
                let (fired, positive) = (&f.fired, &f.positive);
                since_fired = tch::no_grad(|| (&since_fired + rows).masked_fill(fired, 0));
                opt.zero_grad();
                f.loss.backward();
                if unit_decoder {
                    tch::no_grad(|| {
                        let mut grad = sae.w_dec.grad();
                        let parallel = (&grad * &sae.w_dec).sum_dim_intlist([1i64].as_slice(), true, Kind::Float) * &sae.w_dec;
                        let _ = grad.f_sub_(&parallel);
                    });
                }
                opt.step();
                tch::no_grad(|| {
                    if unit_decoder {
                        let (unit, _) = unit_rows(&sae.w_dec);
                        sae.w_dec.shallow_clone().copy_(&unit);
                    }
                    sae.update_threshold(&f);
                    loss_sum += f.loss.to_kind(Kind::Double) * rows;
                    se_sum += f.squared.to_kind(Kind::Double) * rows;
                    l0_sum += positive;
                });
            }
            let dead = since_fired.ge(cfg.dead_after as i64).sum(Kind::Double).double_value(&[]) / n as f64;
            let stats = SaeEpoch {
                epoch,
                loss: loss_sum.double_value(&[]) / samples as f64,
                mse: se_sum.double_value(&[]) / (samples * dims) as f64,
                l0: l0_sum.double_value(&[]) / samples as f64,
                dead_fraction: dead,
                seconds: began.elapsed().as_secs_f64(),
            };
            on_epoch(&stats);
            history.push(stats);
        }
        Ok((sae, history))
    }
}

/// Codes as the decoder takes them: the dense matrix, or its entries in `mask` ([`Entries`]).
enum Active {
    Dense(Tensor),
    Sparse(Entries),
}

/// Above this fraction of entries a batch decodes densely: a bag of entries costs more per
/// entry than a matrix product does (measured on 200k × 128, 512 latents: the TopK family at 3 %
/// ran 1.2–1.3× faster sparse, JumpReLU at ~40 % 2.2× slower).
const DENSE_ABOVE: f64 = 0.125;

impl Active {
    /// The entries of `codes` (rows, latents) where `mask` holds, or all of them when most hold.
    fn of(codes: &Tensor, mask: &Tensor) -> Active {
        let density = mask.sum(Kind::Double).double_value(&[]) / mask.numel().max(1) as f64;
        if density > DENSE_ABOVE {
            Active::Dense(codes.shallow_clone())
        } else {
            Active::Sparse(Entries::of(codes, mask))
        }
    }

    /// A selection's entries, spread out densely when they are most of the matrix.
    fn of_entries(entries: Entries) -> Active {
        let density = entries.values.numel() as f64 / (entries.batch * entries.width).max(1) as f64;
        if density > DENSE_ABOVE {
            Active::Dense(entries.dense())
        } else {
            Active::Sparse(entries)
        }
    }

    /// The (rows, latents) codes.
    fn dense(&self) -> Tensor {
        match self {
            Active::Dense(codes) => codes.shallow_clone(),
            Active::Sparse(entries) => entries.dense(),
        }
    }

    /// The codes' values that can be non-zero: every code, or the entries'.
    fn values(&self) -> &Tensor {
        match self {
            Active::Dense(codes) => codes,
            Active::Sparse(entries) => &entries.values,
        }
    }

    /// Which latents fired (a code > 0) in the batch, one bool per latent, and how many codes
    /// are > 0 (a double scalar on the codes' device).
    fn tally(&self) -> (Tensor, Tensor) {
        let positive = self.values().gt(0.0);
        let fired = match self {
            Active::Dense(_) => positive.any_dim(0, false),
            // A sum per latent (no selection of a data-dependent size, which waits for a GPU).
            Active::Sparse(e) => {
                let counts = Tensor::zeros([e.width], (Kind::Float, positive.device()));
                counts.index_add(0, &e.latents, &positive.to_kind(Kind::Float)).gt(0.0)
            }
        };
        (fired, positive.sum(Kind::Double))
    }

    /// The smallest code > 0 (double), +∞ when none is.
    fn smallest_positive(&self) -> Tensor {
        // The minimum is one of the values, so it is taken in their own type and only then
        // widened: no double copy of every code.
        let values = self.values().detach().flatten(0, -1);
        let inf = Tensor::full([1], f64::INFINITY, (values.kind(), values.device()));
        Tensor::cat(&[values.masked_fill(&values.le(0.0), f64::INFINITY), inf], 0).min().to_kind(Kind::Double)
    }
}

/// Some entries of a (rows, latents) code matrix, in row order: their rows, latents and values
/// (taken from the codes, so gradients flow back into them). Decoding k of n latents per row
/// costs k/n of the dense product forward and backward; in the TopK family k/n is a few per
/// cent, and the dense decoder's three (rows × latents × dims) products were half of a step.
/// Counting and thresholding from the entries spares the dense matrix altogether.
struct Entries {
    rows: Tensor,
    latents: Tensor,
    values: Tensor,
    /// Rows and latents of the whole matrix.
    batch: i64,
    width: i64,
}

impl Entries {
    fn of(codes: &Tensor, mask: &Tensor) -> Entries {
        let (batch, width) = codes.size2().expect("(rows, latents) codes");
        // nonzero lists indices in row-major order: rows come sorted, as the bags need.
        let index = mask.nonzero();
        let (rows, latents) = (index.select(1, 0), index.select(1, 1));
        let values = codes.flatten(0, -1).index_select(0, &(&rows * width + &latents));
        Entries { rows, latents, values, batch, width }
    }

    /// The same entries with ReLU'd values.
    fn relu(self) -> Entries {
        Entries { values: self.values.relu(), ..self }
    }

    /// The (rows, latents) matrix: the entries' values, zeros elsewhere.
    fn dense(&self) -> Tensor {
        let flat = Tensor::zeros([self.batch * self.width], (self.values.kind(), self.values.device()));
        flat.index_put(&[Some(&self.rows * self.width + &self.latents)], &self.values, false).reshape([self.batch, self.width])
    }

    /// The entries of latents below `width`.
    fn below(&self, width: i64) -> Entries {
        let keep = self.latents.lt(width);
        Entries {
            rows: self.rows.masked_select(&keep),
            latents: self.latents.masked_select(&keep),
            values: self.values.masked_select(&keep),
            batch: self.batch,
            width,
        }
    }

    fn shallow_clone(&self) -> Entries {
        Entries {
            rows: self.rows.shallow_clone(),
            latents: self.latents.shallow_clone(),
            values: self.values.shallow_clone(),
            batch: self.batch,
            width: self.width,
        }
    }

    /// Σ over each row's entries of value · `w_dec`[latent], (rows, dims): one bag per row
    /// (`embedding_bag`, sum mode, the values as per-sample weights).
    fn decode(&self, w_dec: &Tensor, values: &Tensor) -> Tensor {
        let counts = self.rows.bincount(None::<Tensor>, self.batch);
        let offsets = counts.cumsum(0, Kind::Int64) - &counts;
        let (sums, ..) = Tensor::embedding_bag(w_dec, &self.latents, &offsets, false, 0, false, Some(values), false);
        sums
    }
}

/// The k largest entries of each row of `pre` (rows, latents), as they are (no ReLU), straight
/// from the selection.
fn top_k_entries(pre: &Tensor, k: usize) -> Entries {
    let (batch, width) = pre.size2().expect("(rows, latents) pre-activations");
    let k = (k as i64).min(width);
    let (values, indices) = pre.topk(k, 1, true, false);
    let rows = Tensor::arange(batch, (Kind::Int64, pre.device())).repeat_interleave_self_int(k, 0, None);
    Entries { rows, latents: indices.flatten(0, -1), values: values.flatten(0, -1), batch, width }
}

/// The ⌊k · rows⌋ largest ReLU'd entries of the whole batch.
fn batch_top_k_entries(pre: &Tensor, k: f64) -> Entries {
    let (batch, width) = pre.size2().expect("(rows, latents) pre-activations");
    let flat = pre.relu().flatten(0, -1);
    let keep = ((k * batch as f64) as i64).min(batch * width);
    // In row order, as the bags need; the values are read again in that order.
    let (picked, _) = flat.topk(keep, -1, true, false).1.sort(0, false);
    Entries {
        rows: picked.floor_divide_scalar(width),
        latents: picked.remainder(width),
        values: flat.index_select(0, &picked),
        batch,
        width,
    }
}

/// The BatchTopK inference threshold moved a step of [`BATCH_THRESHOLD_RATE`] towards the
/// batch's smallest active code, unchanged when nothing was active (`smallest` is +∞).
fn batch_threshold(threshold: &Tensor, smallest: &Tensor) -> Tensor {
    let moved = threshold * (1.0 - BATCH_THRESHOLD_RATE) + smallest * BATCH_THRESHOLD_RATE;
    moved.where_self(&smallest.isfinite(), threshold)
}

/// A batch's JumpReLU gate, shared by the activation and the L0 penalty: θ = exp(log θ), the
/// open gates H(pre − θ) and the entries near the threshold, where the rectangle kernel
/// K((pre − θ) / ε) of the straight-through estimator is 1; the last two without gradient.
/// θ's estimated gradients enter through zero-valued terms (θ − θ̄)·s, θ̄ = θ without
/// gradient: the value is untouched and the gradient in θ is s, as SAELens' hand-written
/// backward passes give it. In the codes that is one fused product-and-add over (rows ×
/// latents); in the L0 penalty a vector, s being there the window's count per latent.
struct Gate {
    threshold: Tensor,
    open: Tensor,
    /// Open gates of each latent in the batch, and in all (floats).
    open_per_latent: Tensor,
    open_count: Tensor,
    near: Tensor,
    bandwidth: f64,
}

impl Gate {
    fn new(pre: &Tensor, log_threshold: &Tensor, bandwidth: f64) -> Gate {
        let threshold = log_threshold.exp();
        let fixed = threshold.detach();
        // Indicators as floats, made as sign(v)⁺ = 1 where v > 0, else 0: a comparison makes
        // bools (slower than arithmetic on CPU), which a product converts to floats again each
        // time, forward and backward. H(pre − θ) is 1 where pre − θ > 0, exactly where pre > θ;
        // the window, where ε/2 − |pre − θ| > 0.
        let above = pre.detach() - &fixed;
        let open = above.sign().relu_();
        let near = (bandwidth / 2.0 - above.abs()).sign().relu_();
        let open_per_latent = open.sum_dim_intlist([0i64].as_slice(), false, Kind::Float);
        let open_count = open_per_latent.sum(Kind::Float);
        Gate { threshold, open, open_per_latent, open_count, near, bandwidth }
    }

    /// θ − θ̄: zero, with θ's gradient.
    fn zero_with_gradient(&self) -> Tensor {
        &self.threshold - self.threshold.detach()
    }

    /// pre · H(pre − θ): the gradient in pre is H (no estimate), in θ −(θ / ε) K.
    fn jump_relu(&self, pre: &Tensor) -> Tensor {
        (pre * &self.open).addcmul(&(self.zero_with_gradient() * (-self.threshold.detach() / self.bandwidth)), &self.near)
    }

    /// Σᵢ H(pre − θ) averaged over the batch: no gradient in pre, −(1 / ε) K in θ, summed
    /// over the batch and averaged.
    fn l0(&self) -> Tensor {
        let rows = self.open.size()[0].max(1) as f64;
        let slope = self.near.sum_dim_intlist([0i64].as_slice(), false, Kind::Float) / (-self.bandwidth * rows);
        &self.open_count / rows + (self.zero_with_gradient() * slope).sum(Kind::Float)
    }
}

/// AuxK (Gao et al. 2024): the dead latents' top-k_aux activations reconstruct the main
/// reconstruction's residual; the squared error is normalised by the residual's own energy.
/// Zero when nothing is dead.
fn gao_aux_k_loss(pre: &Tensor, residual: &Tensor, w_dec: &Tensor, dead: &Tensor, aux_k: usize) -> Tensor {
    let n_dead = dead.sum(Kind::Int64).int64_value(&[]);
    if n_dead == 0 {
        return Tensor::zeros([], (Kind::Float, pre.device()));
    }
    let masked = pre.masked_fill(&dead.logical_not(), f64::NEG_INFINITY);
    let z_aux = top_k_entries(&masked, (aux_k as i64).min(n_dead) as usize).relu();
    let target = residual.detach();
    let error = (&target - z_aux.decode(w_dec, &z_aux.values)).square().sum(Kind::Float);
    error / target.square().sum(Kind::Float).clamp_min(1e-12)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decoding a few entries as bags gives the dense product's reconstruction and the same
    /// gradients in the codes and the decoder, nested widths included.
    #[test]
    fn sparse_decoding_is_the_dense_product() {
        tch::manual_seed(0);
        let (rows, n, dims) = (6, 40, 5);
        let pre = Tensor::randn([rows, n], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        let w_dec = Tensor::randn([n, dims], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        let codes = top_k_entries(&pre, 3).relu().dense();
        let entries = Entries::of(&codes, &codes.ne(0.0));
        for width in [None, Some(17)] {
            let dense = {
                let w = width.unwrap_or(n);
                codes.narrow(1, 0, w).matmul(&w_dec.narrow(0, 0, w))
            };
            let bags = match width {
                Some(w) => entries.below(w),
                None => entries.shallow_clone(),
            };
            let sparse = bags.decode(&w_dec, &bags.values);
            assert!((&dense - &sparse).abs().max().double_value(&[]) < 1e-5, "width {width:?}");
            let weights = Tensor::randn([rows, dims], (Kind::Float, tch::Device::Cpu));
            let grads = |out: &Tensor| Tensor::run_backward(&[(out * &weights).sum(Kind::Float)], &[&pre, &w_dec], true, false);
            let (a, b) = (grads(&dense), grads(&sparse));
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs().max().double_value(&[]) < 1e-5, "width {width:?}");
            }
        }
        // A mostly active batch is decoded densely.
        assert!(matches!(Active::of(&pre, &pre.ne(0.0)), Active::Dense(_)));
        assert!(matches!(Active::of(&codes, &codes.ne(0.0)), Active::Sparse(_)));
    }

    /// BatchTopK's entries are the batch's ⌊k · rows⌋ largest ReLU'd pre-activations, in row
    /// order; what training counts from entries (latents fired, codes > 0, the smallest of
    /// them) is what the dense codes give.
    #[test]
    fn entries_count_as_the_dense_codes_do() {
        tch::manual_seed(1);
        let (rows, n) = (7, 30);
        // Most of row 2 negative, so the batch selection is uneven across rows.
        let pre =
            Tensor::randn([rows, n], (Kind::Float, tch::Device::Cpu)) - Tensor::from_slice(&[0f32, 0., 3., 0., 0., 0., 0.]).unsqueeze(1);
        let entries = batch_top_k_entries(&pre, 2.5);
        let flat = pre.relu().flatten(0, -1);
        let (values, indices) = flat.topk(17, -1, true, false);
        let want = flat.zeros_like().scatter(-1, &indices, &values).reshape([rows, n]);
        assert!(entries.dense().equal(&want));
        let sorted = &entries.rows.narrow(0, 1, 16) - &entries.rows.narrow(0, 0, 16);
        assert!(bool::try_from(sorted.ge(0).all()).unwrap(), "rows in order");
        let (sparse, dense) = (Active::Sparse(entries), Active::Dense(want));
        let ((fired_s, count_s), (fired_d, count_d)) = (sparse.tally(), dense.tally());
        assert!(fired_s.equal(&fired_d));
        assert_eq!(count_s.double_value(&[]), count_d.double_value(&[]));
        assert_eq!(sparse.smallest_positive().double_value(&[]), dense.smallest_positive().double_value(&[]));
        let none = Active::Dense(Tensor::zeros([2, 3], (Kind::Float, tch::Device::Cpu)));
        assert_eq!(none.smallest_positive().double_value(&[]), f64::INFINITY);
    }
}
