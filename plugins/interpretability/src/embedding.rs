//! Image embeddings whose cosine similarity stands in for perceptual similarity: each returns
//! unit-norm rows, so that a matrix product is the cosine similarity.

use std::f64::consts::PI;

use neurozoo_sparse::dictionary::unit_rows;
use tch::{Device, Kind, Tensor};

/// Pixels: each image minus its mean, as a vector.
pub fn pixels(images: &Tensor) -> Tensor {
    let flat = images.flatten(1, -1);
    unit_rows(&(&flat - flat.mean_dim([1i64].as_slice(), true, Kind::Float))).0
}

/// Multi-scale oriented filter energy: the grey image through quadrature pairs of Gabor filters
/// (4 orientations × 2 wavelengths), energy √(even² + odd²) pooled over a 4 × 4 grid. Phase- and
/// small-shift-invariant like a complex-cell population, and needs no downloaded weights.
pub fn filter_energy(images: &Tensor) -> Tensor {
    let grey = images.mean_dim([1i64].as_slice(), true, Kind::Float);
    let grey = &grey - grey.mean_dim([2i64, 3].as_slice(), true, Kind::Float);
    let mut pooled = Vec::new();
    for wavelength in [4.0, 8.0] {
        let (even, odd) = gabor_bank(wavelength, images.device());
        let pad = even.size()[2] / 2;
        let e = grey.conv2d(&even, None::<Tensor>, [1], [pad], [1], 1);
        let o = grey.conv2d(&odd, None::<Tensor>, [1], [pad], [1], 1);
        let energy = (e.square() + o.square()).sqrt();
        pooled.push(energy.adaptive_avg_pool2d([4, 4]).flatten(1, -1));
    }
    unit_rows(&Tensor::cat(&pooled, 1)).0
}

/// Even and odd Gabor kernels (4 orientations each, zero-mean, unit norm), shaped (4, 1, k, k).
fn gabor_bank(wavelength: f64, device: Device) -> (Tensor, Tensor) {
    let sigma = 0.5 * wavelength;
    let half = (2.0 * sigma).ceil() as i64;
    let size = 2 * half + 1;
    let (mut even, mut odd) = (Vec::new(), Vec::new());
    for k in 0..4 {
        let theta = PI * k as f64 / 4.0;
        for (phase, out) in [(0.0, &mut even), (PI / 2.0, &mut odd)] {
            let mut kernel: Vec<f64> = Vec::with_capacity((size * size) as usize);
            for y in -half..=half {
                for x in -half..=half {
                    let (x, y) = (x as f64, y as f64);
                    let along = x * theta.cos() + y * theta.sin();
                    let envelope = (-(x * x + y * y) / (2.0 * sigma * sigma)).exp();
                    kernel.push(envelope * (2.0 * PI * along / wavelength + phase).cos());
                }
            }
            let mean = kernel.iter().sum::<f64>() / kernel.len() as f64;
            let norm = kernel.iter().map(|v| (v - mean).powi(2)).sum::<f64>().sqrt();
            out.extend(kernel.iter().map(|v| ((v - mean) / norm) as f32));
        }
    }
    let shape = [4, 1, size, size];
    (Tensor::from_slice(&even).reshape(shape).to_device(device), Tensor::from_slice(&odd).reshape(shape).to_device(device))
}

/// A user's TorchScript image model (`torch.jit.save`): its output for each image, flattened.
pub fn torchscript(path: &str, images: &Tensor, batch: i64) -> Result<Tensor, String> {
    if !std::path::Path::new(path).is_file() {
        return Err(format!("cannot load TorchScript model {path:?}: no such file"));
    }
    let model = tch::CModule::load_on_device(path, images.device())
        .map_err(|e| format!("cannot load TorchScript model {path:?}: {}", without_frames(&e)))?;
    let n = images.size()[0];
    let mut parts = Vec::new();
    for start in (0..n).step_by(batch as usize) {
        let chunk = images.narrow(0, start, batch.min(n - start));
        let out = tch::no_grad(|| model.forward_ts(&[chunk]))
            .map_err(|e| format!("TorchScript model {path:?} failed: {}", without_frames(&e)))?;
        parts.push(out.flatten(1, -1).to_kind(Kind::Float));
    }
    Ok(unit_rows(&Tensor::cat(&parts, 0)).0)
}

/// libtorch's message without the C++ stack frames it appends (kilobytes no user can act on).
fn without_frames(e: &tch::TchError) -> String {
    let text = e.to_string();
    text.split("\nException raised from").next().unwrap_or(&text).trim_end().to_string()
}
