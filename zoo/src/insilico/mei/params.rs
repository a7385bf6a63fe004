//! The hyperparameters of an MEI optimisation, with sinzlab/mei's usual settings as defaults.
//!
//! References are to github.com/sinzlab/mei at commit ab9cc64 (its `mei.methods.gradient_ascent`
//! and the `mei.legacy.ops` it is configured with):
//!
//! | parameter | default | where it comes from |
//! |---|---|---|
//! | initial image | N(0, 1) per pixel | `mei/initial.py` `RandomNormal`, the initial guess of every example config |
//! | optimiser | SGD, no momentum | `torch.optim.SGD` in `README.md` and `demo/quickstart.ipynb` |
//! | `lr` | 1.0 | `demo/quickstart.ipynb` (`lr = 1`) |
//! | `steps` | 1000 | `mei.stoppers.NumIterations(1000)` in `README.md`, `demo/quickstart.ipynb`, `demo/dj_integration.ipynb` |
//! | `blur_sigma` | 1.0 px | precondition `mei.legacy.ops.GaussianBlur(sigma=1)` (`Examples.ipynb`; its window truncates at 4σ with reflection padding, `mei/legacy/ops.py` `GaussianBlur`) |
//! | `norm` | mean L2 norm of the training images | postprocessing `mei.legacy.ops.ChangeNorm` (`mei/legacy/ops.py`): every image is rescaled to exactly this norm after each step |
//! | `value_range` | the training images' min and max | `mei.legacy.ops.ClipRange` after `ChangeNorm` (`Examples.ipynb`: `Compose([ops.ChangeNorm(1), ops.ClipRange(-1, 1)])`) |
//! | `jitter` | 0 (off) | `mei.legacy.ops.Jitter` is an optional transform (`Examples.ipynb` uses 3 px) |
//! | `smoothness` | 0 (off) | an optional regulariser, as the Laplace penalty of `mei.legacy.ops.BoxContrastPixelL2` |
//! | `batch_size` | 256 | ours: units optimised together (the references do one at a time); a unit's MEI does not depend on it |
//!
//! All pixel values are in the model's z-scored image space.

use super::MeiError;

/// `steps` by default: `mei.stoppers.NumIterations(num_iterations=1000)`.
pub const DEFAULT_STEPS: usize = 1000;
/// `lr` by default: SGD's step in `demo/quickstart.ipynb`.
pub const DEFAULT_LR: f64 = 1.0;
/// `blur_sigma` by default: `GaussianBlur(sigma=1)` on the gradient.
pub const DEFAULT_BLUR_SIGMA: f64 = 1.0;
/// `batch_size` by default: 256 images of the sensorium core's size hold a few GB of
/// activations on the way back, which a laptop has; a GPU takes thousands.
pub const DEFAULT_BATCH_SIZE: usize = 256;

/// Checked MEI hyperparameters, made by [`MeiParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct MeiValidParams {
    steps: usize,
    lr: f64,
    blur_sigma: f64,
    jitter: usize,
    smoothness: f64,
    norm: Option<f64>,
    value_range: Option<(f64, f64)>,
    held_channels: Option<Vec<f32>>,
    held_pupil: Option<[f32; 2]>,
    seed: u64,
    batch_size: usize,
}

impl MeiValidParams {
    /// Gradient-ascent steps, the same for every unit.
    pub fn steps(&self) -> usize {
        self.steps
    }
    /// SGD learning rate.
    pub fn lr(&self) -> f64 {
        self.lr
    }
    /// Standard deviation (pixels) of the Gaussian that blurs each gradient; 0 is off.
    pub fn blur_sigma(&self) -> f64 {
        self.blur_sigma
    }
    /// Largest random shift (pixels) of the image before each step's forward pass; 0 is off.
    pub fn jitter(&self) -> usize {
        self.jitter
    }
    /// Weight of the summed squared Laplacian of each image subtracted from its objective.
    pub fn smoothness(&self) -> f64 {
        self.smoothness
    }
    /// The L2 norm every MEI is held at; `None`: the training images' mean norm.
    pub fn norm(&self) -> Option<f64> {
        self.norm
    }
    /// The range pixel values are clipped to; `None`: the training images' min and max.
    pub fn value_range(&self) -> Option<(f64, f64)> {
        self.value_range
    }
    /// Values of the channels the model reads besides the image (behaviour, pupil channels),
    /// normalised as the model sees them; `None`: their training mean.
    pub fn held_channels(&self) -> Option<&[f32]> {
        self.held_channels.as_deref()
    }
    /// The z-scored pupil position the shifter gets; `None`: the training mean.
    pub fn held_pupil(&self) -> Option<[f32; 2]> {
        self.held_pupil
    }
    /// Seed of the initial images and the jitter.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// Units optimised together, one image each: a large selection climbs in batches of this
    /// many, one after the other.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Every setting, as `meis.h5` records them (`null`: the training images' default).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "optimizer": "sgd",
            "steps": self.steps,
            "lr": self.lr,
            "blur_sigma": self.blur_sigma,
            "jitter": self.jitter,
            "smoothness": self.smoothness,
            "norm": self.norm,
            "value_range": self.value_range,
            "held_channels": self.held_channels,
            "held_pupil": self.held_pupil,
            "seed": self.seed,
            "batch_size": self.batch_size,
        })
    }
}

/// MEI hyperparameters being set; [`MeiParams::check`] validates them.
///
/// ```
/// use neurozoo_zoo::insilico::mei::{MeiError, MeiParams};
///
/// let params = MeiParams::default().steps(200).jitter(2).seed(7).check()?;
/// assert_eq!((params.steps(), params.lr(), params.blur_sigma()), (200, 1.0, 1.0));
/// assert_eq!(MeiParams::default().norm(0.0).check(), Err(MeiError::Norm(0.0)));
/// # Ok::<(), MeiError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MeiParams(MeiValidParams);

impl Default for MeiParams {
    fn default() -> Self {
        MeiParams(MeiValidParams {
            steps: DEFAULT_STEPS,
            lr: DEFAULT_LR,
            blur_sigma: DEFAULT_BLUR_SIGMA,
            jitter: 0,
            smoothness: 0.0,
            norm: None,
            value_range: None,
            held_channels: None,
            held_pupil: None,
            seed: 0,
            batch_size: DEFAULT_BATCH_SIZE,
        })
    }
}

impl MeiParams {
    pub fn steps(mut self, steps: usize) -> Self {
        self.0.steps = steps;
        self
    }
    pub fn lr(mut self, lr: f64) -> Self {
        self.0.lr = lr;
        self
    }
    pub fn blur_sigma(mut self, sigma: f64) -> Self {
        self.0.blur_sigma = sigma;
        self
    }
    pub fn jitter(mut self, pixels: usize) -> Self {
        self.0.jitter = pixels;
        self
    }
    pub fn smoothness(mut self, weight: f64) -> Self {
        self.0.smoothness = weight;
        self
    }
    pub fn norm(mut self, l2: f64) -> Self {
        self.0.norm = Some(l2);
        self
    }
    pub fn value_range(mut self, min: f64, max: f64) -> Self {
        self.0.value_range = Some((min, max));
        self
    }
    pub fn held_channels(mut self, values: Vec<f32>) -> Self {
        self.0.held_channels = Some(values);
        self
    }
    pub fn held_pupil(mut self, position: [f32; 2]) -> Self {
        self.0.held_pupil = Some(position);
        self
    }
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }
    pub fn batch_size(mut self, units: usize) -> Self {
        self.0.batch_size = units;
        self
    }

    /// The parameters, or the first one out of its range. What depends on the model and the
    /// images (units, image size, held channels) is checked by [`super::optimise`].
    pub fn check(self) -> Result<MeiValidParams, MeiError> {
        let p = &self.0;
        let finite_positive = |v: f64| v.is_finite() && v > 0.0;
        let finite_non_negative = |v: f64| v.is_finite() && v >= 0.0;
        if p.steps == 0 {
            return Err(MeiError::ZeroSteps);
        }
        if p.batch_size == 0 {
            return Err(MeiError::BatchSize);
        }
        if !finite_positive(p.lr) {
            return Err(MeiError::LearningRate(p.lr));
        }
        if !finite_non_negative(p.blur_sigma) {
            return Err(MeiError::BlurSigma(p.blur_sigma));
        }
        if !finite_non_negative(p.smoothness) {
            return Err(MeiError::Smoothness(p.smoothness));
        }
        if let Some(norm) = p.norm.filter(|&n| !finite_positive(n)) {
            return Err(MeiError::Norm(norm));
        }
        if let Some((min, max)) = p.value_range.filter(|&(lo, hi)| !(lo.is_finite() && hi.is_finite() && lo < hi)) {
            return Err(MeiError::ValueRange { min, max });
        }
        Ok(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each hyperparameter out of its range is refused, naming it.
    #[test]
    fn bad_parameters_are_refused() {
        let p = MeiParams::default;
        assert_eq!(p().steps(0).check(), Err(MeiError::ZeroSteps));
        assert_eq!(p().batch_size(0).check(), Err(MeiError::BatchSize));
        assert_eq!(p().norm(-1.0).check(), Err(MeiError::Norm(-1.0)));
        assert!(matches!(p().norm(f64::NAN).check(), Err(MeiError::Norm(n)) if n.is_nan()));
        assert_eq!(p().lr(0.0).check(), Err(MeiError::LearningRate(0.0)));
        assert_eq!(p().blur_sigma(-0.5).check(), Err(MeiError::BlurSigma(-0.5)));
        assert_eq!(p().smoothness(f64::INFINITY).check(), Err(MeiError::Smoothness(f64::INFINITY)));
        assert_eq!(p().value_range(1.0, 1.0).check(), Err(MeiError::ValueRange { min: 1.0, max: 1.0 }));
        assert_eq!(p().norm(0.0).check().unwrap_err().to_string(), "norm = 0: the L2 norm budget must be a finite number > 0");
        let ok = p().norm(3.0).value_range(-2.0, 2.0).blur_sigma(0.0).check().unwrap();
        assert_eq!((ok.norm(), ok.value_range(), ok.blur_sigma(), ok.steps()), (Some(3.0), Some((-2.0, 2.0)), 0.0, DEFAULT_STEPS));
    }
}
