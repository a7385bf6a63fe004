//! The stimulus sets of an in-silico tuning experiment, with defaults.
//!
//! | parameter | default | meaning |
//! |---|---|---|
//! | `orientations` | 16 | evenly over [0°, 180°): the direction of the grating's wave vector, 0° = luminance varies along columns (vertical bars), 90° = along rows (horizontal bars); angles grow clockwise on screen (rows grow downwards) |
//! | `spatial_frequencies` | 8 | log-spaced in cycles/pixel over `sf_range` |
//! | `sf_range` | (1 / max(H, W), 0.25) | from one cycle across the image to a 4-pixel period |
//! | `phases` | 8 | evenly over [0, 2π) |
//! | `contrast` | the training images' mean L2 norm | every full-field grating is scaled to this L2 norm in the model's z-scored pixel space: the MEI's budget (Walker et al. 2019 match their gratings' norm to the MEIs') |
//! | `sizes` | 10 | disk radii, log-spaced from 1 pixel to the image's diagonal (the last disk covers the image from any centre) |
//! | `contrasts` | 8 | fractions of the norm budget, log-spaced from `lowest_contrast` to 1 |
//! | `lowest_contrast` | 1/32 | |
//! | `held_channels`, `held_pupil` | the training means | as for MEIs |
//! | `batch_size` | 256 | stimuli per forward pass |
//! | `seed` | 0 | the noise images that locate receptive fields |

use super::TuningError;

/// The least counts the per-unit measures need: four orientations give an orthogonal one and a
/// second harmonic; four phases resolve the first harmonic (F1) beside the mean (F0); two
/// sizes and two contrasts make a curve.
pub const MIN_ORIENTATIONS: usize = 4;
pub const MIN_SPATIAL_FREQUENCIES: usize = 1;
pub const MIN_PHASES: usize = 4;
pub const MIN_SIZES: usize = 2;
pub const MIN_CONTRASTS: usize = 2;

/// Checked tuning parameters, made by [`TuningParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct TuningValidParams {
    orientations: usize,
    spatial_frequencies: usize,
    sf_range: Option<(f64, f64)>,
    phases: usize,
    contrast: Option<f64>,
    sizes: usize,
    contrasts: usize,
    lowest_contrast: f64,
    held_channels: Option<Vec<f32>>,
    held_pupil: Option<[f32; 2]>,
    batch_size: usize,
    seed: u64,
}

impl TuningValidParams {
    pub fn orientations(&self) -> usize {
        self.orientations
    }
    pub fn spatial_frequencies(&self) -> usize {
        self.spatial_frequencies
    }
    /// Lowest and highest spatial frequency (cycles/pixel); `None`: (1 / max(H, W), 0.25).
    pub fn sf_range(&self) -> Option<(f64, f64)> {
        self.sf_range
    }
    pub fn phases(&self) -> usize {
        self.phases
    }
    /// L2 norm of every full-field grating (z-scored pixels); `None`: the training images' mean norm.
    pub fn contrast(&self) -> Option<f64> {
        self.contrast
    }
    pub fn sizes(&self) -> usize {
        self.sizes
    }
    pub fn contrasts(&self) -> usize {
        self.contrasts
    }
    pub fn lowest_contrast(&self) -> f64 {
        self.lowest_contrast
    }
    pub fn held_channels(&self) -> Option<&[f32]> {
        self.held_channels.as_deref()
    }
    pub fn held_pupil(&self) -> Option<[f32; 2]> {
        self.held_pupil
    }
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Every setting (`null`: derived from the images).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "orientations": self.orientations,
            "spatial_frequencies": self.spatial_frequencies,
            "sf_range": self.sf_range,
            "phases": self.phases,
            "contrast": self.contrast,
            "sizes": self.sizes,
            "contrasts": self.contrasts,
            "lowest_contrast": self.lowest_contrast,
            "held_channels": self.held_channels,
            "held_pupil": self.held_pupil,
            "batch_size": self.batch_size,
            "seed": self.seed,
        })
    }
}

/// Tuning parameters being set; [`TuningParams::check`] validates them.
///
/// ```
/// use neurozoo_zoo::insilico::tuning::{TuningError, TuningParams};
///
/// let params = TuningParams::default().orientations(24).check()?;
/// assert_eq!((params.orientations(), params.spatial_frequencies(), params.phases()), (24, 8, 8));
/// assert_eq!(TuningParams::default().contrast(0.0).check(), Err(TuningError::Contrast(0.0)));
/// # Ok::<(), TuningError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TuningParams(TuningValidParams);

impl Default for TuningParams {
    fn default() -> Self {
        TuningParams(TuningValidParams {
            orientations: 16,
            spatial_frequencies: 8,
            sf_range: None,
            phases: 8,
            contrast: None,
            sizes: 10,
            contrasts: 8,
            lowest_contrast: 1.0 / 32.0,
            held_channels: None,
            held_pupil: None,
            batch_size: 256,
            seed: 0,
        })
    }
}

impl TuningParams {
    pub fn orientations(mut self, n: usize) -> Self {
        self.0.orientations = n;
        self
    }
    pub fn spatial_frequencies(mut self, n: usize) -> Self {
        self.0.spatial_frequencies = n;
        self
    }
    pub fn sf_range(mut self, min: f64, max: f64) -> Self {
        self.0.sf_range = Some((min, max));
        self
    }
    pub fn phases(mut self, n: usize) -> Self {
        self.0.phases = n;
        self
    }
    pub fn contrast(mut self, l2: f64) -> Self {
        self.0.contrast = Some(l2);
        self
    }
    pub fn sizes(mut self, n: usize) -> Self {
        self.0.sizes = n;
        self
    }
    pub fn contrasts(mut self, n: usize) -> Self {
        self.0.contrasts = n;
        self
    }
    pub fn lowest_contrast(mut self, fraction: f64) -> Self {
        self.0.lowest_contrast = fraction;
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
    pub fn batch_size(mut self, n: usize) -> Self {
        self.0.batch_size = n;
        self
    }
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }

    /// The parameters, or the first one out of its range. What depends on the model and the
    /// images (units, image size, held channels) is checked by [`super::measure`].
    pub fn check(self) -> Result<TuningValidParams, TuningError> {
        let p = &self.0;
        for (what, count, min) in [
            ("orientations", p.orientations, MIN_ORIENTATIONS),
            ("spatial frequencies", p.spatial_frequencies, MIN_SPATIAL_FREQUENCIES),
            ("phases", p.phases, MIN_PHASES),
            ("sizes", p.sizes, MIN_SIZES),
            ("contrasts", p.contrasts, MIN_CONTRASTS),
        ] {
            if count < min {
                return Err(TuningError::TooFew { what, count, min });
            }
        }
        if let Some(c) = p.contrast.filter(|&c| !(c.is_finite() && c > 0.0)) {
            return Err(TuningError::Contrast(c));
        }
        if let Some((min, max)) = p.sf_range.filter(|&(lo, hi)| !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo < hi && hi <= 0.5)) {
            return Err(TuningError::SpatialFrequencies { min, max });
        }
        if !(p.lowest_contrast > 0.0 && p.lowest_contrast < 1.0) {
            return Err(TuningError::LowestContrast(p.lowest_contrast));
        }
        if p.batch_size == 0 {
            return Err(TuningError::BatchSize);
        }
        Ok(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each parameter out of its range is refused, naming it.
    #[test]
    fn bad_tuning_parameters_are_refused() {
        let p = TuningParams::default;
        assert_eq!(p().orientations(3).check(), Err(TuningError::TooFew { what: "orientations", count: 3, min: 4 }));
        assert_eq!(p().phases(2).check(), Err(TuningError::TooFew { what: "phases", count: 2, min: 4 }));
        assert_eq!(p().spatial_frequencies(0).check(), Err(TuningError::TooFew { what: "spatial frequencies", count: 0, min: 1 }));
        assert_eq!(p().sizes(1).check(), Err(TuningError::TooFew { what: "sizes", count: 1, min: 2 }));
        assert_eq!(p().contrast(-1.0).check(), Err(TuningError::Contrast(-1.0)));
        assert!(matches!(p().contrast(f64::NAN).check(), Err(TuningError::Contrast(c)) if c.is_nan()));
        assert_eq!(p().sf_range(0.1, 0.6).check(), Err(TuningError::SpatialFrequencies { min: 0.1, max: 0.6 }));
        assert_eq!(p().lowest_contrast(1.0).check(), Err(TuningError::LowestContrast(1.0)));
        assert_eq!(p().batch_size(0).check(), Err(TuningError::BatchSize));
        assert_eq!(p().phases(1).check().unwrap_err().to_string(), "1 phases: at least 4 are needed");
        let ok = p().orientations(36).sf_range(0.05, 0.5).check().unwrap();
        assert_eq!((ok.orientations(), ok.sf_range(), ok.phases(), ok.contrast()), (36, Some((0.05, 0.5)), 8, None));
    }
}
