//! The small layer between the data crates (ndarray) and libtorch (tch) that the model zoo, the
//! sparse-coding crate and the analysis plugins share: moving arrays to tensors and back, and
//! turning the device a user asks for into a tch device. A plugin that needs these links this
//! crate, not the model zoo.
//!
//! ```
//! use ndarray::array;
//! use neurozoo_config::{DeviceChoice, UnknownDevice};
//!
//! let device = neurozoo_tensor::device(DeviceChoice::Cpu)?;
//! let t = neurozoo_tensor::to_tensor(array![[1.0f32, 2.0], [3.0, 4.0]].view(), device);
//! assert_eq!(neurozoo_tensor::to_array2(&(t * 2.0)), array![[2.0, 4.0], [6.0, 8.0]]);
//! # Ok::<(), neurozoo_tensor::DeviceError>(())
//! ```

mod shim;
pub use shim::{accelerator_peak_bytes, autocast, TorchError};

use ndarray::{Array2, ArrayD, ArrayView, Dimension, IxDyn};
use neurozoo_config::{DeviceChoice, UnknownDevice};
use tch::{Cuda, Device, Kind, Tensor};

/// A tensor of any shape as an f32 array on the host.
pub fn to_array(t: &Tensor) -> ArrayD<f32> {
    let t = t.detach().to_device(Device::Cpu).to_kind(Kind::Float).contiguous();
    let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
    let values = Vec::<f32>::try_from(t.flatten(0, -1)).expect("a float tensor converts");
    ArrayD::from_shape_vec(IxDyn(&shape), values).expect("shape matches the element count")
}

/// A 2-D tensor as an array; panics on another rank (callers know their shapes).
pub fn to_array2(t: &Tensor) -> Array2<f32> {
    to_array(t).into_dimensionality().expect("a 2-D tensor")
}

/// An array as a tensor of the same element type on `device`: one copy from a contiguous array,
/// two from a strided one.
pub fn to_tensor<T: tch::kind::Element + Copy, D: Dimension>(a: ArrayView<'_, T, D>, device: Device) -> Tensor {
    let shape: Vec<i64> = a.shape().iter().map(|&d| d as i64).collect();
    let t = match a.as_slice() {
        Some(values) => Tensor::from_slice(values),
        None => Tensor::from_slice(&a.iter().copied().collect::<Vec<T>>()),
    };
    t.reshape(shape).to_device(device)
}

/// A copy of a 4-D tensor (N, C, H, W) laid out channels-last (NHWC strides), as PyTorch's
/// `t.contiguous(memory_format=torch.channels_last)`. The strides are set, not derived by
/// permuting and copying: a one-channel tensor permuted to NHWC is already contiguous (size-1
/// dimensions do not count), so that copy would stay NCHW.
pub fn channels_last(t: &Tensor) -> Tensor {
    let size = t.size();
    assert_eq!(size.len(), 4, "channels-last is a layout of 4-D tensors, not of {size:?}");
    let (c, h, w) = (size[1], size[2], size[3]);
    let mut out = Tensor::empty_strided(&size, [h * w * c, 1, w * c, c], (t.kind(), t.device()));
    tch::no_grad(|| out.copy_(t));
    out
}

/// Whether a 4-D tensor has channels-last strides (what [`channels_last`] makes).
pub fn is_channels_last(t: &Tensor) -> bool {
    let size = t.size();
    size.len() == 4 && t.stride() == [size[1] * size[2] * size[3], 1, size[3] * size[1], size[1]]
}

/// A device that cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("CUDA was asked for but libtorch sees no CUDA device (run `neurozoo doctor`)")]
    CudaUnavailable,
    #[error(transparent)]
    Unknown(#[from] UnknownDevice),
}

/// The device `choice` names, with cuDNN autotuning switched on where it is a GPU: a run feeds
/// batches of one image shape, so timing the convolution algorithms once per shape pays off.
pub fn device(choice: DeviceChoice) -> Result<Device, DeviceError> {
    let device = match choice {
        DeviceChoice::Cpu => Device::Cpu,
        DeviceChoice::Auto => Device::cuda_if_available(),
        DeviceChoice::Cuda if Cuda::is_available() => Device::Cuda(0),
        DeviceChoice::Cuda => return Err(DeviceError::CudaUnavailable),
    };
    if device.is_cuda() {
        Cuda::cudnn_set_benchmark(true);
    }
    Ok(device)
}

/// [`device`] of a choice given by name (`auto`, `cpu`, `cuda`), as plugins get it.
pub fn device_named(name: &str) -> Result<Device, DeviceError> {
    device(name.parse()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Same values, NHWC strides, one channel included (where permuting and copying fails).
    #[test]
    fn channels_last_keeps_the_values_and_lays_channels_innermost() {
        for channels in [1, 3] {
            let t = Tensor::randn([2, channels, 4, 5], (Kind::Float, Device::Cpu));
            assert!(!is_channels_last(&t));
            let nhwc = channels_last(&t);
            assert!(is_channels_last(&nhwc), "{:?}", nhwc.stride());
            assert!(nhwc.equal(&t));
            assert_eq!(nhwc.stride(), [20 * channels, 1, 5 * channels, channels]);
        }
    }
}
