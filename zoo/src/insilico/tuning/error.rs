//! What can be wrong with a tuning request.

use crate::insilico::mei::MeiError;

/// A request [`super::measure`] refuses before showing the model anything.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TuningError {
    /// What tuning shares with an MEI request: the unit selection (empty, unknown or repeated
    /// units, an unknown recording), a model without gradients (for the receptive-field
    /// centres), held channels of the wrong count, a norm budget that is not positive.
    #[error(transparent)]
    Request(#[from] MeiError),
    #[error("{count} {what}: at least {min} are needed")]
    TooFew { what: &'static str, count: usize, min: usize },
    #[error("contrast = {0}: the grating's L2 norm must be a finite number > 0")]
    Contrast(f64),
    #[error("spatial frequencies [{min}, {max}] cycles/pixel: both must be finite, > 0, min < max and max ≤ 0.5 (Nyquist)")]
    SpatialFrequencies { min: f64, max: f64 },
    #[error("lowest contrast {0}: the contrast series' smallest fraction of the norm budget must be in (0, 1)")]
    LowestContrast(f64),
    #[error("batch size 0: stimuli go through the model in batches of at least one")]
    BatchSize,
    #[error("{given} receptive-field centre(s) given for {units} unit(s)")]
    Centres { given: usize, units: usize },
}
