//! Summary statistics: the `/statistics` group of the neuralpredictors layout, and the
//! normalisation that models use, computed on the train tier only so test data never leaks in.

use ndarray::{ArrayView2, Axis};
use serde::Serialize;

use crate::dataset::{Dataset, Images, Tier};
use crate::error::{DatasetError, Result};

/// The median as numpy computes it (the mean of the middle two for an even count); sorts
/// `values` in place. NaN for no values.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_unstable_by(f64::total_cmp);
    let mid = values.len() / 2;
    if 2 * mid == values.len() {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// mean, std (population, ddof = 0, as numpy's default), min, max, median.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    pub median: f64,
}

/// How a statistics group stores a summary: one value (or column) per field, by name.
pub type SummaryField = (&'static str, fn(&Summary) -> f64);

impl Summary {
    /// The fields in the order the neuralpredictors layouts store them.
    pub const FIELDS: [SummaryField; 5] =
        [("mean", |s| s.mean), ("std", |s| s.std), ("min", |s| s.min), ("max", |s| s.max), ("median", |s| s.median)];

    /// `None` for no values. NaNs poison mean/std as in numpy; `validate` reports them.
    pub fn of(values: impl IntoIterator<Item = f32>) -> Option<Summary> {
        let mut v: Vec<f64> = values.into_iter().map(f64::from).collect();
        if v.is_empty() {
            return None;
        }
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        let median = median(&mut v);
        Some(Summary { mean, std, min: v[0], max: v[v.len() - 1], median })
    }

    /// The pixels of some trials. uint8 images are counted in a 256-bin histogram, which gives
    /// the same numbers without a copy of every pixel (8 bytes each) to sort for the median.
    pub fn of_images(images: &Images, trials: &[usize]) -> Option<Summary> {
        let Images::U8(a) = images else {
            return Summary::of(images.pixels(trials));
        };
        let mut counts = [0u64; 256];
        for &t in trials {
            a.index_axis(Axis(0), t).iter().for_each(|&p| counts[usize::from(p)] += 1);
        }
        let n: u64 = counts.iter().sum();
        if n == 0 {
            return None;
        }
        let levels = || counts.iter().enumerate().filter(|(_, &c)| c > 0).map(|(v, &c)| (v as f64, c as f64));
        let mean = levels().map(|(v, c)| v * c).sum::<f64>() / n as f64;
        let std = (levels().map(|(v, c)| c * (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        // The k-th smallest pixel (0-based), read off the cumulative counts.
        let kth = |k: u64| {
            let mut seen = 0;
            counts.iter().position(|&c| {
                seen += c;
                seen > k
            })
        };
        let lo = kth((n - 1) / 2).unwrap_or(0) as f64;
        let hi = kth(n / 2).unwrap_or(0) as f64;
        let (min, max) = (levels().next().map_or(0.0, |l| l.0), levels().next_back().map_or(0.0, |l| l.0));
        Some(Summary { mean, std, min, max, median: (lo + hi) / 2.0 })
    }

    /// One summary per column over the given rows.
    pub fn per_column(a: ArrayView2<'_, f32>, rows: &[usize]) -> Vec<Summary> {
        a.axis_iter(Axis(1)).map(|col| Summary::of(rows.iter().map(|&r| col[r])).unwrap_or(Summary::NAN)).collect()
    }

    const NAN: Summary = Summary { mean: f64::NAN, std: f64::NAN, min: f64::NAN, max: f64::NAN, median: f64::NAN };
}

/// Image and response normalisation from the train tier: images by one mean and std over all
/// pixels, responses by a per-unit mean and std.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Normalization {
    pub image_mean: f32,
    pub image_std: f32,
    pub response_mean: Vec<f32>,
    pub response_std: Vec<f32>,
}

impl Normalization {
    pub fn from_train(ds: &Dataset) -> Result<Normalization> {
        let train = ds.tier_indices(Tier::Train);
        if train.is_empty() {
            return Err(DatasetError::Invalid("no train trials to compute normalisation statistics on".into()));
        }
        let images = Summary::of_images(&ds.images, &train).expect("train tier is not empty");
        let responses = Summary::per_column(ds.responses.view(), &train);
        Ok(Normalization {
            image_mean: images.mean as f32,
            image_std: images.std as f32,
            response_mean: responses.iter().map(|s| s.mean as f32).collect(),
            response_std: responses.iter().map(|s| s.std as f32).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array4;

    #[test]
    fn uint8_histogram_summary_equals_the_pixel_summary() {
        // Odd and even pixel counts: the median is the middle value, or the mean of the middle two.
        for n in [3usize, 4] {
            let pixels: Vec<u8> = (0..n * 2 * 5).map(|i| ((i * 37 + 11) % 251) as u8).collect();
            let a = Array4::from_shape_vec((n, 2, 1, 5), pixels).unwrap();
            let trials: Vec<usize> = (0..n).rev().collect();
            let hist = Summary::of_images(&Images::U8(a.clone()), &trials).unwrap();
            let plain = Summary::of(a.iter().map(|&p| f32::from(p))).unwrap();
            assert_eq!((hist.min, hist.max, hist.median), (plain.min, plain.max, plain.median));
            assert!((hist.mean - plain.mean).abs() < 1e-12 && (hist.std - plain.std).abs() < 1e-12, "{hist:?} vs {plain:?}");
        }
        assert!(Summary::of_images(&Images::U8(Array4::zeros((2, 1, 1, 1))), &[]).is_none());
    }
}
