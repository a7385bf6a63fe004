//! In-silico experiments scored against the v1 simulator's ground truth: each unit's MEI
//! against its true filter, and its grating tuning against its true orientation and cell type.
//! The acceptance test of `insilico` (zoo/tests/insilico.rs) and the demo report use these.

use ndarray::ArrayView4;

use crate::dataset::GroundTruth;
use crate::error::Result;
use crate::simulate::v1::{cell_types, true_filters, CellType};
use crate::stats::median;

/// MEIs against the true filters, within each unit's receptive-field window: Pearson
/// correlation with a simple or centre-surround cell's filter, and with a complex cell's
/// quadrature pair at the phase (1° steps) that fits best — the energy model responds to every
/// phase alike, so its MEI may take any.
#[derive(Debug, Clone, PartialEq)]
pub struct MeisAgainstTruth {
    pub simple: Vec<f64>,
    pub complex: Vec<f64>,
    pub center_surround: Vec<f64>,
}

impl MeisAgainstTruth {
    /// `images` (units × C × H × W) are the MEIs of `units` (indices into the ground truth),
    /// in order; the first channel is compared.
    pub fn of(images: ArrayView4<'_, f32>, units: &[usize], truth: &GroundTruth) -> Result<MeisAgainstTruth> {
        let filters = true_filters(truth)?;
        let mut scores = MeisAgainstTruth { simple: Vec::new(), complex: Vec::new(), center_surround: Vec::new() };
        for (k, &u) in units.iter().enumerate() {
            let f = &filters[u];
            let (fh, fw) = f.even.dim();
            let window: Vec<f64> = (0..fh * fw).map(|i| f64::from(images[[k, 0, f.top + i / fw, f.left + i % fw]])).collect();
            let even: Vec<f64> = f.even.iter().copied().collect();
            match &f.odd {
                Some(odd) => {
                    let best = (0..360)
                        .map(|deg| {
                            let phi = f64::from(deg).to_radians();
                            let phased: Vec<f64> = even.iter().zip(odd.iter()).map(|(e, o)| phi.cos() * e + phi.sin() * o).collect();
                            pearson(&window, &phased)
                        })
                        .fold(f64::NEG_INFINITY, f64::max);
                    scores.complex.push(best);
                }
                None if truth.cell_type_names[truth.cell_type[u] as usize].starts_with("simple") => {
                    scores.simple.push(pearson(&window, &even))
                }
                None => scores.center_surround.push(pearson(&window, &even)),
            }
        }
        Ok(scores)
    }

    /// Median correlation of the simple, complex and centre-surround cells (NaN where none).
    pub fn medians(&self) -> [f64; 3] {
        [&self.simple, &self.complex, &self.center_surround].map(|v| median(&mut v.clone()))
    }
}

/// Grating tuning against the truth: the circular error of each oriented cell's preferred
/// orientation, and F1/F0 of simple and complex cells, which should separate them.
#[derive(Debug, Clone, PartialEq)]
pub struct TuningAgainstTruth {
    pub orientation_errors_deg: Vec<f64>,
    pub f1_f0_simple: Vec<f64>,
    pub f1_f0_complex: Vec<f64>,
}

impl TuningAgainstTruth {
    /// Per unit of `units` (indices into the ground truth), in order: its measured preferred
    /// orientation (degrees) and F1/F0. Orientation is compared modulo 180°; centre-surround
    /// units have none and are left out.
    pub fn of(units: &[usize], preferred_orientation_deg: &[f64], f1_f0: &[f64], truth: &GroundTruth) -> Result<TuningAgainstTruth> {
        let (_, kinds) = cell_types(truth)?;
        let mut scores = TuningAgainstTruth { orientation_errors_deg: Vec::new(), f1_f0_simple: Vec::new(), f1_f0_complex: Vec::new() };
        for (k, &u) in units.iter().enumerate() {
            let (true_deg, f1) = match kinds[u] {
                CellType::Simple { orientation_deg } => (orientation_deg, &mut scores.f1_f0_simple),
                CellType::Complex { orientation_deg } => (orientation_deg, &mut scores.f1_f0_complex),
                CellType::CenterSurround => continue,
            };
            f1.push(f1_f0[k]);
            let d = (preferred_orientation_deg[k] - true_deg).rem_euclid(180.0);
            scores.orientation_errors_deg.push(d.min(180.0 - d));
        }
        Ok(scores)
    }

    pub fn median_orientation_error(&self) -> f64 {
        median(&mut self.orientation_errors_deg.clone())
    }

    /// How well F1/F0 tells simple from complex cells: the area under the ROC curve.
    pub fn f1_f0_auc(&self) -> f64 {
        auc(&self.f1_f0_simple, &self.f1_f0_complex)
    }
}

/// Pearson correlation of two equally long lists.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (ma, mb) = (mean(a), mean(b));
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ab += (x - ma) * (y - mb);
        aa += (x - ma).powi(2);
        bb += (y - mb).powi(2);
    }
    ab / (aa * bb).sqrt()
}

/// Area under the ROC curve of `positives` against `negatives` (Mann–Whitney U over all pairs,
/// ties count half): the chance that a random positive scores above a random negative. NaN
/// when either side is empty.
pub fn auc(positives: &[f64], negatives: &[f64]) -> f64 {
    let wins: f64 = positives
        .iter()
        .flat_map(|p| {
            negatives.iter().map(move |n| {
                if p > n {
                    1.0
                } else if p == n {
                    0.5
                } else {
                    0.0
                }
            })
        })
        .sum();
    wins / (positives.len() * negatives.len()) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_wins_and_half_ties() {
        assert_eq!(auc(&[3.0, 4.0], &[1.0, 2.0]), 1.0);
        assert_eq!(auc(&[1.0], &[1.0]), 0.5);
        assert_eq!(auc(&[1.0, 3.0], &[2.0]), 0.5);
        assert!(auc(&[], &[1.0]).is_nan());
    }

    #[test]
    fn pearson_of_a_line_is_one() {
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.5]) - 0.9986).abs() < 1e-3);
        assert!((pearson(&[1.0, 2.0, 3.0], &[-1.0, -2.0, -3.0]) + 1.0).abs() < 1e-12);
    }

    /// The true filters score themselves perfectly, and the true orientations have no error.
    #[test]
    fn the_truth_scores_itself_perfectly() {
        let cfg = crate::simulate::v1::V1Config {
            n_units: 30,
            n_train: 50,
            n_validation: 10,
            n_test: 0,
            n_final_test: 0,
            height: 20,
            width: 20,
            ..Default::default()
        };
        let ds = crate::simulate::v1::simulate(&cfg).unwrap();
        let truth = ds.ground_truth.as_ref().unwrap();
        let sel = truth.selectivity.as_ref().unwrap();
        let units: Vec<usize> = (0..30).collect();
        let meis = MeisAgainstTruth::of(sel.filters.view(), &units, truth).unwrap();
        for r in meis.simple.iter().chain(&meis.complex).chain(&meis.center_surround) {
            assert!(*r > 0.999, "{meis:?}");
        }
        let orientation: Vec<f64> = sel.orientation_deg.iter().map(|&d| f64::from(d) + 180.0).collect();
        let f1: Vec<f64> = sel.phase_deg.iter().map(|p| if p.is_nan() { 0.1 } else { 1.5 }).collect();
        let tuning = TuningAgainstTruth::of(&units, &orientation, &f1, truth).unwrap();
        assert!(tuning.median_orientation_error() < 1e-4 && tuning.f1_f0_auc() == 1.0, "{tuning:?}");
    }
}
