//! Penalties on weights, as neuralpredictors defines them (golden tests pin the values).

use tch::Tensor;

/// The 3×3 discrete Laplacian of neuralpredictors' `Laplace` module.
const LAPLACE_3X3: [f32; 9] = [0.0, -1.0, 0.0, -1.0, 4.0, -1.0, 0.0, -1.0, 0.0];

/// `LaplaceL2norm`: Σ (Laplacian of each 2-D filter)² / Σ filter², over all filters of a
/// (out, in, kh, kw) weight; scale-free, so it penalises roughness, not size. `padding` zeros
/// are put around each filter first; neuralpredictors' default (and sensorium's) is 1.
pub fn laplace_l2norm(weight: &Tensor, padding: i64) -> Tensor {
    let size = weight.size();
    let (o, i, kh, kw) = (size[0], size[1], size[2], size[3]);
    let filters = weight.reshape([o * i, 1, kh, kw]);
    laplacian(&filters, padding).square().sum(weight.kind()) / filters.square().sum(weight.kind())
}

/// The 3×3 Laplacian of each (1, h, w) map of `maps` (N, 1, h, w), `padding` zeros around.
pub fn laplacian(maps: &Tensor, padding: i64) -> Tensor {
    let kernel = Tensor::from_slice(&LAPLACE_3X3).reshape([1, 1, 3, 3]).to_device(maps.device()).to_kind(maps.kind());
    maps.conv2d(&kernel, None::<Tensor>, [1, 1], [padding, padding], [1, 1], 1)
}

/// Group sparsity of one hidden layer (`Stacked2dCore.group_sparsity`): the mean over
/// (output, input) channel pairs of each 2-D filter's L2 norm, which drives whole filters to
/// zero.
pub fn group_sparsity(weight: &Tensor) -> Tensor {
    weight.square().sum_dim_intlist([2i64, 3].as_slice(), false, weight.kind()).sqrt().mean(weight.kind())
}

/// Poisson negative log-likelihood up to a constant, neuralpredictors' element
/// ŷ − y log(ŷ + eps), summed over units and averaged over the batch as in Klindt et al. 2017
/// (so penalty weights do not depend on the batch size).
pub fn poisson_loss(prediction: &Tensor, target: &Tensor) -> Tensor {
    let kind = prediction.kind();
    (prediction - target * (prediction + POISSON_EPS).log()).sum_dim_intlist([1i64].as_slice(), false, kind).mean(kind)
}

/// neuralpredictors 0.3.0's `PoissonLoss` eps: keeps log(ŷ) finite for silent predictions.
pub const POISSON_EPS: f64 = 1e-12;
