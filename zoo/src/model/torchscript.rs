//! `TorchScriptCore`: a user's PyTorch network (saved with `torch.jit.save`) as a fixed core.
//!
//! A layer is a method of the module: `forward`, or one exported with `@torch.jit.export`. It
//! takes the image batch (B, C, H, W) and returns a feature map (B, C', h, w). The network runs
//! in evaluation mode without gradients, and its parameters live outside any `VarStore`, so no
//! optimiser ever sees them.

use std::path::{Path, PathBuf};

use super::ModelError;
use tch::{CModule, Device, IValue, Kind, Tensor};

/// The panic payload of a frozen network that fails on a batch: its message names the file and
/// the layer. Models return tensors, not results, so this is how the failure leaves them;
/// `neurozoo-torch` turns it into an error message and a non-zero exit.
#[derive(Debug)]
pub struct FrozenCoreFailure(pub String);

pub struct TorchScriptCore {
    module: CModule,
    file: PathBuf,
    layer: String,
    /// (C', h, w) of the layer's output for the images the core was loaded for.
    output_shape: [i64; 3],
}

impl TorchScriptCore {
    /// Load `file` on `device` and check, on a blank batch of two images of `input` = (C, H, W),
    /// that `layer` exists and gives a feature map per image.
    pub fn load(file: &Path, layer: &str, input: [usize; 3], device: Device) -> Result<TorchScriptCore, ModelError> {
        let mut module = CModule::load_on_device(file, device)
            .map_err(|e| ModelError::TorchScriptLoad { file: file.to_path_buf(), reason: first_line(&e.to_string()).to_string() })?;
        module.set_eval();
        let mut core = TorchScriptCore { module, file: file.to_path_buf(), layer: layer.to_string(), output_shape: [0; 3] };
        // Two images, so that a network that works only for one (a hard-coded batch size) is
        // refused here rather than on a later batch.
        let probe = Tensor::zeros([2, input[0] as i64, input[1] as i64, input[2] as i64], (Kind::Float, device));
        let out = core.try_forward(&probe)?;
        let s = out.size();
        if s[0] != 2 {
            return Err(core.layer_error(format!(
                "layer {layer:?} gives {} outputs for a batch of 2 images (a feature map per image expected)",
                s[0]
            )));
        }
        core.output_shape = [s[1], s[2], s[3]];
        Ok(core)
    }

    fn layer_error(&self, problem: String) -> ModelError {
        ModelError::TorchScriptLayer { file: self.file.clone(), layer: self.layer.clone(), problem }
    }

    /// The layer's output for `x`, checked to be (B, C', h, w).
    fn try_forward(&self, x: &Tensor) -> Result<Tensor, ModelError> {
        let expected = "the layer must be `forward` or a method exported with @torch.jit.export that takes an image batch \
                        (B, C, H, W) and returns a feature map (B, C', h, w)";
        let out = tch::no_grad(|| self.module.method_is(&self.layer, &[IValue::Tensor(x.shallow_clone())]))
            .map_err(|e| self.layer_error(format!("cannot run layer {:?}: {} ({expected})", self.layer, first_line(&e.to_string()))))?;
        match out {
            IValue::Tensor(t) if t.dim() == 4 => Ok(t),
            IValue::Tensor(t) => Err(self.layer_error(format!(
                "layer {:?} returns a tensor of shape {:?}, not a 4-D feature map ({expected})",
                self.layer,
                t.size()
            ))),
            _ => Err(self.layer_error(format!("layer {:?} returns something other than a tensor ({expected})", self.layer))),
        }
    }

    /// The layer's output (B, C', h, w), without gradients.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        // `load` ran the layer on a blank batch of two images of this shape; a network that fails
        // on some other batch (a hard-coded batch size, data-dependent control flow) stops here
        // with a [`FrozenCoreFailure`], which a program reports as an error, not a crash.
        self.try_forward(x).unwrap_or_else(|e| std::panic::panic_any(FrozenCoreFailure(e.to_string())))
    }

    pub fn output_shape(&self) -> [i64; 3] {
        self.output_shape
    }

    /// The network's own parameters, by name (they stay as loaded).
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.module.named_parameters().unwrap_or_default()
    }
}

/// libtorch's message without tch's prefix and the C++ backtrace after its first line.
fn first_line(message: &str) -> &str {
    let line = message.lines().find(|l| !l.trim().is_empty()).unwrap_or(message).trim();
    line.strip_prefix("Internal torch error: ").unwrap_or(line)
}
