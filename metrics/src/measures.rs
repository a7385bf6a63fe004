//! Fit measures with neuralpredictors' definitions (`neuralpredictors.measures.np_functions`)
//! and sensorium's FEVE filter. Arrays are (trials, units); "repeated" arguments are one
//! (repeats, units) block per image. Golden tests pin every function to the reference.

use ndarray::{concatenate, Array1, Array2, ArrayView2, Axis};

/// Added to standard deviations in [`corr`], as in the reference.
pub const CORR_EPS: f64 = 1e-8;
/// sensorium reports FEVE only over units whose explainable variance fraction reaches this.
pub const FEV_THRESHOLD: f64 = 0.15;

/// Pearson correlation per column (unit) over rows (trials); z-scores use the population std
/// plus [`CORR_EPS`], so a constant column gives 0, not NaN.
pub fn corr(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> Array1<f64> {
    assert_eq!(a.dim(), b.dim(), "corr: shapes differ");
    let z = |x: ArrayView2<'_, f64>| {
        let mean = x.mean_axis(Axis(0)).expect("rows");
        let std = x.std_axis(Axis(0), 0.0);
        (&x - &mean) / &(std + CORR_EPS)
    };
    (z(a) * z(b)).mean_axis(Axis(0)).expect("rows")
}

fn stack(blocks: &[Array2<f64>]) -> Array2<f64> {
    let views: Vec<_> = blocks.iter().map(|b| b.view()).collect();
    concatenate(Axis(0), &views).expect("blocks share their number of units")
}

/// Jackknife oracle correlation: each trial's response against the mean of the other repeats of
/// the same image, correlated over all trials. Images need at least two repeats.
pub fn oracle_corr_jackknife(repeated: &[Array2<f64>]) -> Array1<f64> {
    let loo: Vec<Array2<f64>> = repeated
        .iter()
        .map(|r| {
            let n = r.nrows() as f64;
            let sum = r.sum_axis(Axis(0));
            (-r + &sum) / (n - 1.0)
        })
        .collect();
    corr(stack(repeated).view(), stack(&loo).view())
}

/// Per-unit variances from repeats: total variance over all trials and the mean over images of
/// the variance across repeats (noise), both with ddof = 1.
fn variances(repeated: &[Array2<f64>]) -> (Array1<f64>, Array1<f64>) {
    let total = stack(repeated).var_axis(Axis(0), 1.0);
    let noise =
        repeated.iter().map(|r| r.var_axis(Axis(0), 1.0)).fold(Array1::zeros(total.len()), |acc, v| acc + v) / repeated.len() as f64;
    (total, noise)
}

/// Fraction of the response variance that is explainable (not trial-to-trial noise):
/// (total − noise) / total.
pub fn explainable_var_fraction(repeated: &[Array2<f64>]) -> Array1<f64> {
    let (total, noise) = variances(repeated);
    (&total - &noise) / &total
}

/// Fraction of explainable variance explained: 1 − (MSE − noise) / (total − noise).
pub fn feve(repeated: &[Array2<f64>], predictions: &[Array2<f64>]) -> Array1<f64> {
    let (total, noise) = variances(repeated);
    let sq: Vec<Array2<f64>> = repeated.iter().zip(predictions).map(|(r, p)| (r - p).mapv(|d| d * d)).collect();
    let mse = stack(&sq).mean_axis(Axis(0)).expect("trials");
    1.0 - (mse - &noise) / (total - &noise)
}

/// Correlation between the trial-averaged response and the trial-averaged prediction, over
/// images.
pub fn correlation_to_average(repeated: &[Array2<f64>], predictions: &[Array2<f64>]) -> Array1<f64> {
    let means = |blocks: &[Array2<f64>]| {
        let rows: Vec<Array1<f64>> = blocks.iter().map(|b| b.mean_axis(Axis(0)).expect("repeats")).collect();
        let views: Vec<_> = rows.iter().map(|r| r.view().insert_axis(Axis(0))).collect();
        concatenate(Axis(0), &views).expect("same units")
    };
    corr(means(repeated).view(), means(predictions).view())
}

/// Mean of `values` over the units whose explainable variance fraction is at least
/// [`FEV_THRESHOLD`] (sensorium's reporting rule); `None` when no unit qualifies.
pub fn mean_over_reliable(values: &Array1<f64>, fev: &Array1<f64>) -> Option<f64> {
    let kept: Vec<f64> = values.iter().zip(fev).filter(|(_, &f)| f >= FEV_THRESHOLD).map(|(&v, _)| v).collect();
    (!kept.is_empty()).then(|| kept.iter().sum::<f64>() / kept.len() as f64)
}

/// Fraction of variance explained against a known noiseless rate: 1 − MSE / Var(rate), per unit.
/// The reference for simulated data, where the explainable part of the response is known.
pub fn fev_ground_truth(rates: ArrayView2<'_, f64>, predictions: ArrayView2<'_, f64>) -> Array1<f64> {
    let mse = (&rates - &predictions).mapv(|d| d * d).mean_axis(Axis(0)).expect("trials");
    let var = rates.var_axis(Axis(0), 0.0);
    1.0 - mse / var
}
