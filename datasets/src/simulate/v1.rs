//! A ground-truth V1 population in the spirit of Klindt et al. 2017: a few cell types share a
//! feature detector, each neuron is one type at its own receptive-field location, responses go
//! through a rectifying nonlinearity and Poisson (or Gaussian) noise.
//!
//! Because every neuron of a type computes the same feature at a different place, the population
//! is exactly what a convolutional core with a factorised "what × where" readout can express:
//! the feature is "what" and the location is "where". The file records both in `/ground_truth`.

use std::f64::consts::PI;

use ndarray::{s, Array1, Array2, Array4, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal, Poisson, StandardNormal};
use rustfft::{num_complex::Complex, FftPlanner};
use serde::{Deserialize, Serialize};

use crate::dataset::{Dataset, GroundTruth, Tier, TrueSelectivity, Units};
use crate::error::{DatasetError, Result};

/// How the stimuli are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ImageKind {
    /// Independent Gaussian pixels.
    White,
    /// Random phases with a 1/f amplitude spectrum, like natural images.
    Naturalistic,
}

/// Trial-to-trial variability added to the noiseless rates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Noise {
    /// Spike counts: Poisson with the rate as mean (Klindt et al. 2017).
    Poisson,
    /// rate + N(0, sd²), clipped at zero.
    Gaussian { sd: f32 },
}

/// One feature detector shared by all neurons of a type.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CellType {
    /// A linear oriented filter (even Gabor), rectified.
    Simple { orientation_deg: f64 },
    /// The energy of a quadrature pair of Gabors: phase-invariant.
    Complex { orientation_deg: f64 },
    /// A difference of Gaussians with an ON centre.
    CenterSurround,
}

impl CellType {
    pub fn name(&self) -> String {
        match self {
            CellType::Simple { orientation_deg } => format!("simple_{orientation_deg:.0}deg"),
            CellType::Complex { orientation_deg } => format!("complex_{orientation_deg:.0}deg"),
            CellType::CenterSurround => "center_surround".to_string(),
        }
    }
}

/// Parameters of `neurozoo data simulate v1`. Every field has a default; the defaults give a
/// dataset a good model fits in a few minutes on 2 CPU cores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct V1Config {
    /// Seed of every random draw; the same seed gives the same file, byte for byte. Default 0.
    pub seed: u64,
    /// Number of neurons. Default 300.
    pub n_units: usize,
    /// Image height and width in pixels. Default 32 × 32.
    pub height: usize,
    pub width: usize,
    /// Unique training images, each shown once. Default 4000.
    pub n_train: usize,
    /// Unique validation images, each shown once. Default 500.
    pub n_validation: usize,
    /// Unique test images, each shown `repeats` times. Default 50.
    pub n_test: usize,
    /// Unique final-test images, each shown `repeats` times. Default 25.
    pub n_final_test: usize,
    /// Presentations of each test and final-test image. Default 10.
    pub repeats: usize,
    /// Default naturalistic (1/f).
    pub images: ImageKind,
    /// Default Poisson.
    pub noise: Noise,
    /// Default: simple cells at 0° and 60°, a complex cell at 120°, a centre-surround cell.
    pub cell_types: Vec<CellType>,
    /// Gabor envelope standard deviation in pixels. Default 2.0.
    pub gabor_sigma: f64,
    /// Gabor wavelength in pixels. Default 6.0.
    pub gabor_wavelength: f64,
    /// Median of the per-neuron gain (log-normal, σ = 0.3): the rate of a neuron driven one
    /// standard deviation above threshold. Default 3.0.
    pub gain_median: f64,
    /// Receptive fields lie at least this many pixels from the image border. Default 6.
    pub border: usize,
    /// Behavioural gain modulation, off at 0 (the default). Otherwise each trial has an arousal
    /// state a ~ N(0, 1), recorded in `behavior` as (pupil dilation, its change, running speed)
    /// = (a + 0.3ε, ε, a + 0.3ε), and neuron u's rate is multiplied by exp(behavior_gain · sᵤ · a)
    /// with sᵤ ~ U(0.5, 1.5): what the sensorium models feed in as behaviour channels.
    pub behavior_gain: f64,
    /// Eye movements, off at 0 (the default). Otherwise each trial has a pupil position
    /// p ~ N(0, I) (x, y), recorded in `pupil_center`, and every receptive field moves by
    /// `pupil_shift` · p pixels (x along columns, y along rows): what the shifter network learns.
    pub pupil_shift: f64,
}

impl Default for V1Config {
    fn default() -> Self {
        V1Config {
            seed: 0,
            n_units: 300,
            height: 32,
            width: 32,
            n_train: 4000,
            n_validation: 500,
            n_test: 50,
            n_final_test: 25,
            repeats: 10,
            images: ImageKind::Naturalistic,
            noise: Noise::Poisson,
            cell_types: vec![
                CellType::Simple { orientation_deg: 0.0 },
                CellType::Simple { orientation_deg: 60.0 },
                CellType::Complex { orientation_deg: 120.0 },
                CellType::CenterSurround,
            ],
            gabor_sigma: 2.0,
            gabor_wavelength: 6.0,
            gain_median: 3.0,
            border: 6,
            behavior_gain: 0.0,
            pupil_shift: 0.0,
        }
    }
}

impl V1Config {
    /// Reject parameters that cannot make a usable dataset, naming the parameter.
    pub fn check(&self) -> Result<()> {
        let bad = |what: &str| Err(DatasetError::Invalid(format!("simulate v1: {what}")));
        if self.n_units == 0 {
            return bad("n_units must be at least 1");
        }
        if self.n_train == 0 || self.n_validation == 0 {
            return bad("n_train and n_validation must be at least 1");
        }
        if (self.n_test > 0 || self.n_final_test > 0) && self.repeats < 2 {
            return bad("repeats must be at least 2 (oracle correlation and FEVE need repeats)");
        }
        if self.height <= 2 * self.border || self.width <= 2 * self.border {
            return bad(&format!("images of {}x{} leave no room inside a border of {}", self.height, self.width, self.border));
        }
        if self.cell_types.is_empty() {
            return bad("at least one cell type is needed");
        }
        if let Noise::Gaussian { sd } = self.noise {
            if !(sd >= 0.0 && sd.is_finite()) {
                return bad(&format!("Gaussian noise sd must be a finite number >= 0, got {sd}"));
            }
        }
        if !(self.gabor_sigma > 0.0 && self.gabor_wavelength > 0.0 && self.gain_median > 0.0) {
            return bad("gabor_sigma, gabor_wavelength and gain_median must be positive");
        }
        if !(self.behavior_gain >= 0.0 && self.behavior_gain.is_finite() && self.pupil_shift >= 0.0 && self.pupil_shift.is_finite()) {
            return bad(&format!(
                "behavior_gain ({}) and pupil_shift ({}) must be finite numbers >= 0",
                self.behavior_gain, self.pupil_shift
            ));
        }
        Ok(())
    }
}

/// Standard deviations of the centre-surround cell's Gaussians, relative to `gabor_sigma`.
const CENTER_SIGMA: f64 = 0.6;
const SURROUND_SIGMA: f64 = 1.2;

/// Half-width of the window in which a neuron's filter is evaluated: 3σ of its widest part,
/// the centre-surround cell's surround.
fn half_window(cfg: &V1Config) -> usize {
    (3.0 * SURROUND_SIGMA * cfg.gabor_sigma).ceil() as usize
}

/// Simulate a population and its responses; deterministic in `cfg.seed`.
pub fn simulate(cfg: &V1Config) -> Result<Dataset> {
    cfg.check()?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let (h, w) = (cfg.height, cfg.width);

    // Trials: unique train and validation images, then repeated test and final-test images.
    let mut tiers = Vec::new();
    let mut image_ids = Vec::new();
    let mut next_id = 0i64;
    for (tier, unique, reps) in [
        (Tier::Train, cfg.n_train, 1),
        (Tier::Validation, cfg.n_validation, 1),
        (Tier::Test, cfg.n_test, cfg.repeats),
        (Tier::FinalTest, cfg.n_final_test, cfg.repeats),
    ] {
        for _ in 0..unique {
            for _ in 0..reps {
                tiers.push(tier);
                image_ids.push(next_id);
            }
            next_id += 1;
        }
    }
    let n_images = next_id as usize;
    let unique = make_images(cfg, n_images, &mut rng);
    let n = tiers.len();
    let mut images = Array4::<f32>::zeros((n, 1, h, w));
    for (trial, &id) in image_ids.iter().enumerate() {
        images.slice_mut(s![trial, 0, .., ..]).assign(&unique.slice(s![id as usize, .., ..]));
    }

    // Neurons: a type and a continuous position away from the border.
    let n_types = cfg.cell_types.len();
    let cell_type: Vec<u32> = (0..cfg.n_units).map(|_| rng.random_range(0..n_types as u32)).collect();
    let lo = cfg.border as f64;
    let rf_position = Array2::from_shape_fn((cfg.n_units, 2), |(_, k)| {
        let extent = if k == 0 { h } else { w };
        rng.random_range(lo..(extent - 1) as f64 - lo) as f32
    });
    let gains = LogNormal::new(cfg.gain_median.ln(), 0.3).expect("valid log-normal");
    let gain: Vec<f64> = (0..cfg.n_units).map(|_| gains.sample(&mut rng)).collect();

    // Drive of each neuron to each unique image, standardised per cell type over the train
    // images so that one threshold (zero) means the same for every type.
    let mut drive = Array2::<f64>::zeros((n_images, cfg.n_units));
    for u in 0..cfg.n_units {
        let filters = unit_filters(cfg, cfg.cell_types[cell_type[u] as usize], rf_position[[u, 0]], rf_position[[u, 1]]);
        for img in 0..n_images {
            drive[[img, u]] = filters.respond(unique.slice(s![img, .., ..]));
        }
    }
    // The train images come first among the unique images.
    standardise_per_type(&mut drive, &cell_type, n_types, &(0..cfg.n_train).collect::<Vec<_>>());

    // Behaviour and eye position come from their own stream, so turning them on leaves every
    // other draw (and a file made without them) unchanged.
    let state = TrialState::draw(cfg, n, &mut ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed_b3a7_0000_0001));
    // With eye movements the receptive fields move each trial: the drive is per trial, not per image.
    let trial_drive = (cfg.pupil_shift > 0.0).then(|| {
        let mut d = Array2::<f64>::zeros((n, cfg.n_units));
        for u in 0..cfg.n_units {
            for t in 0..n {
                let (dy, dx) = (state.pupil[[t, 1]] as f64 * cfg.pupil_shift, state.pupil[[t, 0]] as f64 * cfg.pupil_shift);
                let kind = cfg.cell_types[cell_type[u] as usize];
                let filters = unit_filters(cfg, kind, rf_position[[u, 0]] + dy as f32, rf_position[[u, 1]] + dx as f32);
                d[[t, u]] = filters.respond(unique.slice(s![image_ids[t] as usize, .., ..]));
            }
        }
        let train: Vec<usize> = (0..n).filter(|&t| tiers[t] == Tier::Train).collect();
        standardise_per_type(&mut d, &cell_type, n_types, &train);
        d
    });

    // Rates (rectified) and noisy responses; repeats share the image, not the noise (nor the
    // behaviour or eye position, when simulated).
    let mut rates = Array2::<f32>::zeros((n, cfg.n_units));
    let mut responses = Array2::<f32>::zeros((n, cfg.n_units));
    for trial in 0..n {
        let img = image_ids[trial] as usize;
        for u in 0..cfg.n_units {
            let d = trial_drive.as_ref().map_or(drive[[img, u]], |d| d[[trial, u]]);
            let rate = gain[u] * state.gain(cfg, trial, u) * d.max(0.0);
            rates[[trial, u]] = rate as f32;
            responses[[trial, u]] = match cfg.noise {
                Noise::Poisson if rate > 0.0 => Poisson::new(rate).expect("positive rate").sample(&mut rng) as f32,
                Noise::Poisson => 0.0,
                Noise::Gaussian { sd } => {
                    let eps: f64 = rng.sample(StandardNormal);
                    (rate + f64::from(sd) * eps).max(0.0) as f32
                }
            };
        }
    }

    let units = Units {
        ids: (1..=cfg.n_units as i64).collect(),
        animal_ids: Some(vec![0; cfg.n_units]),
        sessions: Some(vec![1; cfg.n_units]),
        scan_idx: Some(vec![1; cfg.n_units]),
        area: Some(vec!["V1".to_string(); cfg.n_units]),
        layer: Some(vec!["L2/3".to_string(); cfg.n_units]),
        // Cortical position follows retinotopy: 10 µm per pixel, depth 200–300 µm.
        coordinates: Some(Array2::from_shape_fn((cfg.n_units, 3), |(u, k)| match k {
            0 => rf_position[[u, 1]] * 10.0,
            1 => rf_position[[u, 0]] * 10.0,
            _ => 200.0 + 100.0 * (u as f32 / cfg.n_units as f32),
        })),
    };
    let true_selectivity = selectivity(cfg, &cell_type, &rf_position);
    let ds = Dataset {
        images: images.into(),
        responses,
        tiers,
        image_ids,
        trial_idx: (0..n as i64).collect(),
        units,
        behavior: (cfg.behavior_gain > 0.0).then_some(state.behavior),
        pupil_center: (cfg.pupil_shift > 0.0).then_some(state.pupil),
        ground_truth: Some(GroundTruth {
            rf_position,
            cell_type,
            cell_type_names: cfg.cell_types.iter().map(CellType::name).collect(),
            noiseless_rates: rates,
            params_json: serde_json::to_string(&serde_json::json!({"simulator": "v1", "config": cfg})).expect("config serialises"),
            selectivity: Some(true_selectivity),
        }),
    };
    ds.check_consistent()?;
    Ok(ds)
}

/// Standardise each cell type's drive (columns of `drive`) with its mean and sd over the rows
/// `train`, so that one threshold (zero) means the same for every type.
fn standardise_per_type(drive: &mut Array2<f64>, cell_type: &[u32], n_types: usize, train: &[usize]) {
    for t in 0..n_types as u32 {
        let units: Vec<usize> = (0..cell_type.len()).filter(|&u| cell_type[u] == t).collect();
        let values: Vec<f64> = units.iter().flat_map(|&u| train.iter().map(move |&i| (i, u))).map(|(i, u)| drive[[i, u]]).collect();
        if values.is_empty() {
            continue;
        }
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt().max(1e-12);
        for &u in &units {
            drive.column_mut(u).mapv_inplace(|v| (v - mean) / sd);
        }
    }
}

/// Per-trial behaviour and eye position, and each neuron's sensitivity to the arousal state.
struct TrialState {
    arousal: Vec<f64>,
    sensitivity: Vec<f64>,
    /// (N, 3): pupil dilation, its change, running speed.
    behavior: Array2<f32>,
    /// (N, 2): x, y.
    pupil: Array2<f32>,
}

impl TrialState {
    fn draw(cfg: &V1Config, n: usize, rng: &mut ChaCha8Rng) -> TrialState {
        let mut normal = || -> f64 { rng.sample(StandardNormal) };
        let arousal: Vec<f64> = (0..n).map(|_| normal()).collect();
        let behavior = Array2::from_shape_fn((n, 3), |(t, k)| match k {
            1 => normal() as f32,
            _ => (arousal[t] + 0.3 * normal()) as f32,
        });
        let pupil = Array2::from_shape_fn((n, 2), |_| normal() as f32);
        let sensitivity = (0..cfg.n_units).map(|_| rng.random_range(0.5..1.5)).collect();
        TrialState { arousal, sensitivity, behavior, pupil }
    }

    /// The behavioural gain of neuron `u` on trial `t` (1 without behaviour).
    fn gain(&self, cfg: &V1Config, t: usize, u: usize) -> f64 {
        (cfg.behavior_gain * self.sensitivity[u] * self.arousal[t]).exp()
    }
}

/// `n` images of the configured kind, each standardised to zero mean and unit variance.
fn make_images(cfg: &V1Config, n: usize, rng: &mut ChaCha8Rng) -> ndarray::Array3<f32> {
    let (h, w) = (cfg.height, cfg.width);
    let mut out = ndarray::Array3::<f32>::zeros((n, h, w));
    let normal = Normal::new(0.0f64, 1.0).expect("unit normal");
    let mut planner = FftPlanner::<f64>::new();
    let (fft_rows, fft_cols) = (planner.plan_fft_inverse(w), planner.plan_fft_inverse(h));
    for i in 0..n {
        let mut pixels: Vec<f64> = match cfg.images {
            ImageKind::White => (0..h * w).map(|_| normal.sample(rng)).collect(),
            ImageKind::Naturalistic => {
                // Complex white noise shaped by 1/f, then back to space: random phases with a
                // natural-image amplitude spectrum. The real part of a complex field shaped
                // this way keeps the 1/f spectrum.
                let mut spec: Vec<Complex<f64>> = (0..h * w)
                    .map(|k| {
                        let (fy, fx) = (freq(k / w, h), freq(k % w, w));
                        let f = (fy * fy + fx * fx).sqrt().max(1.0 / h.max(w) as f64);
                        Complex::new(normal.sample(rng), normal.sample(rng)) / f
                    })
                    .collect();
                spec[0] = Complex::new(0.0, 0.0);
                fft_2d(&mut spec, h, w, fft_rows.as_ref(), fft_cols.as_ref());
                spec.iter().map(|c| c.re).collect()
            }
        };
        let mean = pixels.iter().sum::<f64>() / pixels.len() as f64;
        let sd = (pixels.iter().map(|p| (p - mean).powi(2)).sum::<f64>() / pixels.len() as f64).sqrt().max(1e-12);
        pixels.iter_mut().for_each(|p| *p = (*p - mean) / sd);
        out.slice_mut(s![i, .., ..]).assign(&ArrayView2::from_shape((h, w), &pixels).expect("h*w pixels").mapv(|p| p as f32));
    }
    out
}

/// Signed frequency (cycles per image) of FFT bin `k` of `n`.
fn freq(k: usize, n: usize) -> f64 {
    if k <= n / 2 {
        k as f64
    } else {
        k as f64 - n as f64
    }
}

fn fft_2d(data: &mut [Complex<f64>], h: usize, w: usize, rows: &dyn rustfft::Fft<f64>, cols: &dyn rustfft::Fft<f64>) {
    for row in data.chunks_mut(w) {
        rows.process(row);
    }
    let mut column = vec![Complex::new(0.0, 0.0); h];
    for x in 0..w {
        for y in 0..h {
            column[y] = data[y * w + x];
        }
        cols.process(&mut column);
        for y in 0..h {
            data[y * w + x] = column[y];
        }
    }
}

/// A neuron's filters sampled on the pixel grid around its (continuous) position: the window
/// of rows `top..top + even.nrows()` and columns `left..left + even.ncols()`, each filter of
/// unit norm.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitFilters {
    pub top: usize,
    pub left: usize,
    /// The simple cell's (even Gabor) or centre-surround cell's filter; the even half of a
    /// complex cell's quadrature pair.
    pub even: Array2<f64>,
    /// The odd (phase −90°) half of a complex cell's quadrature pair, whose energy with the
    /// even half is the drive.
    pub odd: Option<Array2<f64>>,
}

/// Each unit's true filters in a file this simulator wrote, rebuilt from its ground truth (the
/// config in `params_json`, each unit's cell type and position): the filters are a function of
/// these, so the file need not store them. With eye movements, the filters at the mean (zero)
/// pupil position. A file from another simulator is the error.
pub fn true_filters(truth: &GroundTruth) -> Result<Vec<UnitFilters>> {
    let (cfg, kinds) = cell_types(truth)?;
    Ok(kinds
        .into_iter()
        .enumerate()
        .map(|(u, kind)| unit_filters(&cfg, kind, truth.rf_position[[u, 0]], truth.rf_position[[u, 1]]))
        .collect())
}

/// The config a file this simulator wrote records, and each unit's cell type in it. A file from
/// another simulator is the error.
pub fn cell_types(truth: &GroundTruth) -> Result<(V1Config, Vec<CellType>)> {
    let invalid = |why: String| DatasetError::Invalid(format!("ground_truth/params_json: {why}"));
    let params: serde_json::Value = serde_json::from_str(&truth.params_json).map_err(|e| invalid(e.to_string()))?;
    if params["simulator"] != "v1" {
        return Err(invalid(format!("simulator {} is not v1", params["simulator"])));
    }
    let cfg: V1Config = serde_json::from_value(params["config"].clone()).map_err(|e| invalid(e.to_string()))?;
    let kinds = truth
        .cell_type
        .iter()
        .enumerate()
        .map(|(u, &t)| {
            cfg.cell_types.get(t as usize).copied().ok_or_else(|| invalid(format!("unit {u} has cell type {t}, which the config lacks")))
        })
        .collect::<Result<_>>()?;
    Ok((cfg, kinds))
}

/// Every unit's filters in the image frame and its grating tuning, as `ground_truth/` stores
/// them.
fn selectivity(cfg: &V1Config, cell_type: &[u32], rf_position: &Array2<f32>) -> TrueSelectivity {
    let n = cell_type.len();
    let mut filters = Array4::<f32>::zeros((n, 2, cfg.height, cfg.width));
    let (mut orientation, mut frequency, mut phase) =
        (Array1::from_elem(n, f32::NAN), Array1::from_elem(n, f32::NAN), Array1::from_elem(n, f32::NAN));
    for (u, &t) in cell_type.iter().enumerate() {
        let kind = cfg.cell_types[t as usize];
        let f = unit_filters(cfg, kind, rf_position[[u, 0]], rf_position[[u, 1]]);
        let halves = std::iter::once(&f.even).chain(f.odd.as_ref());
        for (half, filter) in halves.enumerate() {
            let (h, w) = filter.dim();
            filters.slice_mut(s![u, half, f.top..f.top + h, f.left..f.left + w]).assign(&filter.mapv(|v| v as f32));
        }
        if let CellType::Simple { orientation_deg } | CellType::Complex { orientation_deg } = kind {
            orientation[u] = orientation_deg.rem_euclid(180.0) as f32;
            frequency[u] = (1.0 / cfg.gabor_wavelength) as f32;
        }
        // The even Gabor is cos(2π·along/λ): phase 0. A complex cell has no preferred phase.
        if let CellType::Simple { .. } = kind {
            phase[u] = 0.0;
        }
    }
    TrueSelectivity { filters, orientation_deg: orientation, spatial_frequency: frequency, phase_deg: phase }
}

impl UnitFilters {
    fn respond(&self, image: ArrayView2<'_, f32>) -> f64 {
        let (fh, fw) = self.even.dim();
        let patch = image.slice(s![self.top..self.top + fh, self.left..self.left + fw]);
        let dot = |f: &Array2<f64>| f.iter().zip(patch.iter()).map(|(a, b)| a * f64::from(*b)).sum::<f64>();
        match &self.odd {
            None => dot(&self.even),
            Some(odd) => (dot(&self.even).powi(2) + dot(odd).powi(2)).sqrt(),
        }
    }
}

fn unit_filters(cfg: &V1Config, kind: CellType, row: f32, col: f32) -> UnitFilters {
    let half = half_window(cfg) as isize;
    let (r0, c0) = (row.round() as isize, col.round() as isize);
    let top = (r0 - half).clamp(0, cfg.height as isize - 1) as usize;
    let left = (c0 - half).clamp(0, cfg.width as isize - 1) as usize;
    let bottom = ((r0 + half) as usize).min(cfg.height - 1);
    let right = ((c0 + half) as usize).min(cfg.width - 1);
    let shape = (bottom - top + 1, right - left + 1);
    let at = |f: &dyn Fn(f64, f64) -> f64| {
        let mut a = Array2::from_shape_fn(shape, |(i, j)| f((top + i) as f64 - f64::from(row), (left + j) as f64 - f64::from(col)));
        // Unit norm: the drive's scale does not depend on the filter's shape.
        let norm = a.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
        a.mapv_inplace(|v| v / norm);
        a
    };
    let sigma = cfg.gabor_sigma;
    let gabor = |theta_deg: f64, phase: f64| {
        let theta = theta_deg.to_radians();
        move |y: f64, x: f64| {
            let along = x * theta.cos() + y * theta.sin();
            (-(x * x + y * y) / (2.0 * sigma * sigma)).exp() * (2.0 * PI * along / cfg.gabor_wavelength + phase).cos()
        }
    };
    match kind {
        CellType::Simple { orientation_deg } => UnitFilters { top, left, even: at(&gabor(orientation_deg, 0.0)), odd: None },
        CellType::Complex { orientation_deg } => {
            UnitFilters { top, left, even: at(&gabor(orientation_deg, 0.0)), odd: Some(at(&gabor(orientation_deg, -PI / 2.0))) }
        }
        CellType::CenterSurround => {
            let (center, surround) = (CENTER_SIGMA * sigma, SURROUND_SIGMA * sigma);
            let g = |s: f64, y: f64, x: f64| (-(x * x + y * y) / (2.0 * s * s)).exp() / (2.0 * PI * s * s);
            UnitFilters { top, left, even: at(&|y, x| g(center, y, x) - g(surround, y, x)), odd: None }
        }
    }
}
