use std::path::PathBuf;

/// Why a model cannot be built, loaded or asked for a layer. Messages name the config key or the
/// file at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// A core the images cannot pass through: the config key, its value, and why.
    #[error("{key} = {value} {problem}")]
    Shape { key: &'static str, value: usize, problem: String },
    /// Parameters that, with their gradients and Adam's two moments, need more memory than is
    /// available (`bytes` of `available`).
    #[error(
        "the model has {params:.3e} parameters, {:.1} GiB with their gradients and optimiser state, more than the {:.1} GiB of \
         memory available: lower model.core.channels or model.core.layers",
        bytes / 2f64.powi(30),
        available / 2f64.powi(30)
    )]
    Memory { params: f64, bytes: f64, available: f64 },
    #[error("cannot load TorchScript file {}: {reason}", file.display())]
    TorchScriptLoad { file: PathBuf, reason: String },
    /// A frozen core's layer that fails on a batch, or gives something other than a feature
    /// map per image.
    #[error("{}: {problem}", file.display())]
    TorchScriptLayer { file: PathBuf, layer: String, problem: String },
    /// Cortical coordinates a position-predicting readout cannot use (missing, of another
    /// shape, all the same), or a readout that takes none.
    #[error("{0}")]
    Cortex(String),
    #[error("no layer {layer:?} in this model (layers: {})", known.join(", "))]
    NoLayer { layer: String, known: Vec<String> },
    /// A weights file that cannot be read or written, or does not fit the model.
    #[error("{}: {problem}", file.display())]
    Weights { file: PathBuf, problem: String },
}
