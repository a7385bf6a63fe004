//! Moving arrays between ndarray (the data layer) and tch tensors.

use ndarray::{Array2, ArrayD, ArrayView, Dimension, IxDyn};
use tch::{Device, Kind, Tensor};

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
