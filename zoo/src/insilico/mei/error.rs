//! What can be wrong with an MEI request.

/// A request [`super::optimise`] refuses before optimising anything.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MeiError {
    #[error("no units selected: an MEI needs at least one unit")]
    EmptySelection,
    #[error("unit {unit} does not exist: recording {recording} has units 0..{units}")]
    UnknownUnit { unit: usize, recording: usize, units: usize },
    #[error("unit {unit} is selected twice")]
    DuplicateUnit { unit: usize },
    #[error("recording {recording} does not exist: the model has {recordings} recording(s)")]
    UnknownRecording { recording: usize, recordings: usize },
    #[error("steps = 0: the optimisation needs at least one step")]
    ZeroSteps,
    #[error("batch size = 0: at least one unit is optimised at a time")]
    BatchSize,
    #[error("norm = {0}: the L2 norm budget must be a finite number > 0")]
    Norm(f64),
    #[error("lr = {0}: the learning rate must be a finite number > 0")]
    LearningRate(f64),
    #[error("blur sigma = {0}: must be a finite number >= 0 (0 turns the gradient blur off)")]
    BlurSigma(f64),
    #[error("smoothness = {0}: the penalty weight must be a finite number >= 0")]
    Smoothness(f64),
    #[error("value range [{min}, {max}]: both ends must be finite and min below max")]
    ValueRange { min: f64, max: f64 },
    #[error("{what} of {pixels} px does not fit {height}×{width} images (reflection padding needs fewer pixels than each side)")]
    TooWide { what: &'static str, pixels: usize, height: usize, width: usize },
    #[error("{given} held channel value(s) given, but the model reads {wanted} channel(s) besides the image")]
    HeldChannels { given: usize, wanted: usize },
    #[error("the model's core is a frozen TorchScript network, which runs without gradients: no MEI can be optimised through it")]
    NoGradient,
    #[error("no training images: the default norm, value range and held inputs come from them")]
    NoTrainingImages,
}
