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

/// An array as a tensor on `device` (one copy; the array need not be contiguous).
pub fn to_tensor<D: Dimension>(a: ArrayView<'_, f32, D>, device: Device) -> Tensor {
    let shape: Vec<i64> = a.shape().iter().map(|&d| d as i64).collect();
    let values: Vec<f32> = a.iter().copied().collect();
    Tensor::from_slice(&values).reshape(shape).to_device(device)
}
