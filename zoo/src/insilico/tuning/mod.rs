//! Tuning in silico: each unit's responses to sinusoidal gratings over orientation, spatial
//! frequency and phase, to grating disks of growing radius at its receptive-field centre (size
//! tuning) and to its preferred grating at falling contrast, and the classic measures read off
//! them (preferred orientation and spatial frequency, OSI, circular variance, F1/F0, surround
//! suppression).
//!
//! Conventions (see [`params`] for the defaults):
//! - a grating is cos(2π f (x cos θ + y sin θ) + φ) with x the column and y the row (downwards)
//!   measured from the image centre: θ is the direction of the wave vector in [0°, 180°), f is
//!   in cycles/pixel, φ in radians; every image channel shows the same grating;
//! - contrast is an L2 norm in the model's z-scored pixel space, the MEI's budget: each
//!   full-field grating is scaled to it (by default the training images' mean norm). A disk has
//!   the amplitude of its full-field grating, so its norm grows with its area; the contrast
//!   series scales the preferred full-field grating to fractions of the budget;
//! - responses are the model's predicted rates; the evoked response is the rate minus the rate
//!   to a blank (mean-luminance, all-zero) screen.
//!
//! The full-field set is the same for every unit: one forward pass per batch of stimuli gives
//! all units. Disks and contrast series are per unit (each at its own preferred grating and
//! centre), one image per unit and condition in each batch.
//!
//! Per unit ([`Tuning::summary`]), at the preferred spatial frequency (the frequency of the
//! orientation × frequency pair with the largest phase-averaged evoked response, F0):
//! - preferred orientation: the largest F0 over orientations, refined by a parabola through it
//!   and its circular neighbours;
//! - OSI = (R_pref − R_orth) / (R_pref + R_orth) and circular variance
//!   1 − |Σ R(θ) e^{2iθ}| / Σ R(θ), with R the F0 clipped at 0;
//! - F1/F0 over the phases of the preferred grating: F1 = (2/P) |Σₚ r(φₚ) e^{−iφₚ}|, the
//!   amplitude of the response's first harmonic, over the evoked mean; > 1 for simple cells
//!   (a rectified sinusoid gives π/2), near 0 for complex cells (Skottun et al. 1991);
//! - surround suppression index 1 − R_largest / R_peak over the disks' evoked responses;
//! - c50, the contrast (a fraction of the norm budget) at which the evoked response to the
//!   preferred grating first reaches half its largest value over the contrast series,
//!   interpolated linearly in log contrast between the two contrasts around it: read off the
//!   measured curve, not a Naka–Rushton fit, so NaN when even the lowest contrast reaches half
//!   (c50 below the series) or no contrast evokes a response.
//!
//! ```no_run
//! use neurozoo_zoo::insilico::mei::StimulusStatistics;
//! use neurozoo_zoo::insilico::tuning::{measure, TuningParams};
//! use neurozoo_zoo::run::eval::Run;
//!
//! let device = tch::Device::Cpu;
//! let run = Run::load("runs/k".as_ref(), device)?;
//! let recording = run.recording("v1.h5".as_ref(), &Default::default())?;
//! let normalizer = &run.info.recordings[recording.index].normalizer;
//! let stimuli = normalizer.stimuli(&recording.dataset, device, &run.model.inputs())?;
//! let train: Vec<i64> = recording.dataset.tier_indices(neurozoo_datasets::Tier::Train).into_iter().map(|t| t as i64).collect();
//! let statistics = StimulusStatistics::of(&run.model, &stimuli, &train)?;
//! let tuning = measure(&run.model, recording.index, &[0, 1, 2], &statistics, &TuningParams::default().check()?, None, device)?;
//! for unit in tuning.summary() {
//!     println!("unit {}: {:.0}°, OSI {:.2}, F1/F0 {:.2}", unit.unit, unit.preferred_orientation_deg, unit.osi, unit.f1_f0);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
pub mod params;
mod report;

use std::f64::consts::PI;

use ndarray::{s, Array2, Array4, ArrayView1};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use tch::{Device, Kind, Tensor};

pub use self::error::TuningError;
pub use self::params::{TuningParams, TuningValidParams};
pub use self::report::TUNING_STEM;
use crate::insilico::mei::{check_units, MeiError, StimulusStatistics};
use crate::insilico::Probe;
use crate::model::Predictor;

/// Noise images whose gradients locate each receptive field.
const CENTRE_PROBES: usize = 8;

/// The responses of some units of one recording to the tuning stimuli, in the order the units
/// were requested. Rates are the model's predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    pub recording: usize,
    /// Unit indices (0-based, into the recording's units).
    pub units: Vec<usize>,
    /// Grating directions, degrees in [0, 180).
    pub orientations_deg: Vec<f64>,
    /// Cycles/pixel, rising.
    pub spatial_frequencies: Vec<f64>,
    /// Radians in [0, 2π).
    pub phases: Vec<f64>,
    /// Disk radii (pixels), log-spaced from 1 to the image's diagonal (the last disk covers the image).
    pub radii: Vec<f64>,
    /// Fractions of `norm`, rising to 1.
    pub contrasts: Vec<f64>,
    /// L2 norm of every full-field grating (z-scored pixels).
    pub norm: f64,
    /// Each unit's receptive-field centre (row, column), pixels: the disks' centre.
    pub rf_centres: Vec<[f64; 2]>,
    /// Each unit's rate to the blank screen.
    pub blank: Vec<f32>,
    /// (units, orientations, spatial frequencies, phases) rates to full-field gratings.
    pub full_field: Array4<f32>,
    /// Each unit's preferred grating: (orientation, spatial frequency, phase) indices.
    pub preferred: Vec<[usize; 3]>,
    /// (units, radii) rates to disks of the preferred grating at the unit's centre.
    pub size: Array2<f32>,
    /// (units, contrasts) rates to the preferred full-field grating at each contrast.
    pub contrast: Array2<f32>,
}

/// The tuning measures of one unit (see the module docs for their definitions).
#[derive(Debug, Clone, PartialEq)]
pub struct UnitTuning {
    pub unit: usize,
    /// Degrees in [0, 180), the grating convention of the module docs.
    pub preferred_orientation_deg: f64,
    /// Cycles/pixel.
    pub preferred_sf: f64,
    /// OSI and circular variance are NaN when no orientation evokes a response.
    pub osi: f64,
    pub circular_variance: f64,
    /// NaN when the preferred grating evokes no mean response.
    pub f1_f0: f64,
    /// NaN when no disk evokes a response.
    pub surround_suppression: f64,
    /// The radius (pixels) of the disk with the largest response.
    pub preferred_radius: f64,
    /// Fraction of the norm budget; NaN below the lowest contrast or without an evoked response.
    pub c50: f64,
    /// The evoked response to the preferred full-field grating, phase-averaged.
    pub peak_f0: f64,
}

impl Tuning {
    /// The measures of every unit.
    pub fn summary(&self) -> Vec<UnitTuning> {
        (0..self.units.len()).map(|k| self.unit_summary(k)).collect()
    }

    /// Unit k's phase-averaged evoked response at spatial frequency index `sf` over orientations.
    pub fn orientation_curve(&self, k: usize, sf: usize) -> Vec<f64> {
        let blank = f64::from(self.blank[k]);
        (0..self.orientations_deg.len())
            .map(|o| self.full_field.slice(s![k, o, sf, ..]).iter().map(|&r| f64::from(r)).sum::<f64>() / self.phases.len() as f64 - blank)
            .collect()
    }

    fn unit_summary(&self, k: usize) -> UnitTuning {
        let [oi, si, _] = self.preferred[k];
        let n_o = self.orientations_deg.len();
        let step = 180.0 / n_o as f64;
        let curve = self.orientation_curve(k, si);
        let (prev, next) = (curve[(oi + n_o - 1) % n_o], curve[(oi + 1) % n_o]);
        let curvature = prev - 2.0 * curve[oi] + next;
        let offset = if curvature < 0.0 { (0.5 * (prev - next) / curvature).clamp(-0.5, 0.5) } else { 0.0 };
        let preferred_orientation_deg = (self.orientations_deg[oi] + offset * step).rem_euclid(180.0);

        let rect: Vec<f64> = curve.iter().map(|&r| r.max(0.0)).collect();
        let orth = oi as f64 + n_o as f64 / 2.0;
        let frac = orth.fract();
        let r_orth = rect[orth.floor() as usize % n_o] * (1.0 - frac) + rect[orth.ceil() as usize % n_o] * frac;
        let r_pref = rect[oi];
        let osi = (r_pref - r_orth) / (r_pref + r_orth);
        let (re, im, total) = rect.iter().zip(&self.orientations_deg).fold((0.0, 0.0, 0.0), |(re, im, t), (&r, &deg)| {
            let a = 2.0 * deg.to_radians();
            (re + r * a.cos(), im + r * a.sin(), t + r)
        });
        let circular_variance = 1.0 - (re * re + im * im).sqrt() / total;

        let blank = f64::from(self.blank[k]);
        let f1_f0 = f1_over_f0(self.full_field.slice(s![k, oi, si, ..]), &self.phases, blank);
        let sizes: Vec<f64> = self.size.row(k).iter().map(|&r| f64::from(r) - blank).collect();
        let peak = (0..sizes.len()).fold(0, |best, j| if sizes[j] > sizes[best] { j } else { best });
        let surround_suppression = if sizes[peak] > 0.0 { 1.0 - sizes[sizes.len() - 1] / sizes[peak] } else { f64::NAN };
        let evoked: Vec<f64> = self.contrast.row(k).iter().map(|&r| f64::from(r) - blank).collect();
        UnitTuning {
            unit: self.units[k],
            preferred_orientation_deg,
            preferred_sf: self.spatial_frequencies[si],
            osi,
            circular_variance,
            f1_f0,
            surround_suppression,
            preferred_radius: self.radii[peak],
            c50: half_max_contrast(&self.contrasts, &evoked),
            peak_f0: curve[oi],
        }
    }
}

/// The contrast at which the evoked responses `evoked` (to rising `contrasts`) first reach half
/// their largest value, interpolated in log contrast; NaN when the lowest contrast already does
/// or none is above zero.
fn half_max_contrast(contrasts: &[f64], evoked: &[f64]) -> f64 {
    let max = evoked.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    // No contrast evokes a response (none measured: −∞): nothing to halve.
    if max <= 0.0 {
        return f64::NAN;
    }
    let half = max / 2.0;
    match evoked.iter().position(|&r| r >= half) {
        Some(j) if j > 0 => {
            let t = (half - evoked[j - 1]) / (evoked[j] - evoked[j - 1]);
            (contrasts[j - 1].ln() + t * (contrasts[j].ln() - contrasts[j - 1].ln())).exp()
        }
        _ => f64::NAN,
    }
}

/// F1/F0 of the rates `r` to phases `phases` over the blank rate `blank`; NaN without an evoked mean.
fn f1_over_f0(r: ArrayView1<'_, f32>, phases: &[f64], blank: f64) -> f64 {
    let p = phases.len() as f64;
    let (re, im, sum) = r.iter().zip(phases).fold((0.0, 0.0, 0.0), |(re, im, sum), (&r, &phi)| {
        let r = f64::from(r);
        (re + r * phi.cos(), im - r * phi.sin(), sum + r)
    });
    let f0 = sum / p - blank;
    let f1 = 2.0 / p * (re * re + im * im).sqrt();
    if f0 > 0.0 {
        f1 / f0
    } else {
        f64::NAN
    }
}

/// (n, H, W) gratings cos(2π f (x cos θ + y sin θ) + φ), coordinates from the image centre.
fn gratings(theta_deg: &[f64], sf: &[f64], phase: &[f64], [h, w]: [usize; 2], device: Device) -> Tensor {
    let column = |v: Vec<f32>| Tensor::from_slice(&v).to_device(device).reshape([-1, 1, 1]);
    let cos = column(theta_deg.iter().map(|t| t.to_radians().cos() as f32).collect());
    let sin = column(theta_deg.iter().map(|t| t.to_radians().sin() as f32).collect());
    let f = column(sf.iter().map(|&f| (2.0 * PI * f) as f32).collect());
    let phi = column(phase.iter().map(|&p| p as f32).collect());
    let (y, x) = centred_grid([h, w], device);
    ((x * cos + y * sin) * f + phi).cos()
}

/// Row (H, 1) and column (1, W) coordinates from the image centre.
fn centred_grid([h, w]: [usize; 2], device: Device) -> (Tensor, Tensor) {
    let axis = |n: usize| Tensor::arange(n as i64, (Kind::Float, device)) - (n as f64 - 1.0) / 2.0;
    (axis(h).reshape([h as i64, 1]), axis(w).reshape([1, w as i64]))
}

/// (n, H, W) maps to (n, C, H, W) images with every channel the map, each scaled to L2 norm `norm`.
fn to_norm(maps: &Tensor, c: usize, norm: &Tensor) -> Tensor {
    let scale =
        norm / (maps.flatten(1, -1).square().sum_dim_intlist([1i64].as_slice(), false, Kind::Float) * c as f64).sqrt().clamp_min(1e-12);
    let (n, h, w) = maps.size3().expect("(n, H, W)");
    (maps * scale.reshape([-1, 1, 1])).unsqueeze(1).expand([n, c as i64, h, w], false).contiguous()
}

fn log_spaced(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![(lo * hi).sqrt()];
    }
    (0..n).map(|i| lo * (hi / lo).powf(i as f64 / (n - 1) as f64)).collect()
}

/// Tuning of `units` of recording `recording` of `model` on `device` (the model's);
/// `statistics` gives the default contrast and held inputs; `rf_centres` (row, column per
/// unit, e.g. [`energy_centres`] of their MEIs) or, when `None`, [`gradient_centres`] place
/// the disks.
pub fn measure(
    model: &dyn Predictor,
    recording: usize,
    units: &[usize],
    statistics: &StimulusStatistics,
    params: &TuningValidParams,
    rf_centres: Option<&[[f64; 2]]>,
    device: Device,
) -> Result<Tuning, TuningError> {
    let n_units = model.units(recording).ok_or(MeiError::UnknownRecording { recording, recordings: model.recordings() })?;
    check_units(units, recording, n_units)?;
    if let Some(c) = rf_centres.filter(|c| c.len() != units.len()) {
        return Err(TuningError::Centres { given: c.len(), units: units.len() });
    }
    let [c, h, w] = statistics.image_shape;
    let held = params.held_channels().map_or_else(|| statistics.channel_means.clone(), <[f32]>::to_vec);
    let extra = model.inputs().extra_channels();
    if held.len() != extra {
        return Err(MeiError::HeldChannels { given: held.len(), wanted: extra }.into());
    }
    let norm = params.contrast().unwrap_or(statistics.mean_norm);
    if !(norm.is_finite() && norm > 0.0) {
        return Err(TuningError::Contrast(norm));
    }
    let (sf_lo, sf_hi) = params.sf_range().unwrap_or((1.0 / h.max(w) as f64, 0.25));
    if !(sf_lo > 0.0 && sf_lo < sf_hi && sf_hi <= 0.5) {
        return Err(TuningError::SpatialFrequencies { min: sf_lo, max: sf_hi });
    }
    let probe = Probe::new(model, recording, &held, params.held_pupil().or(statistics.pupil_mean), device);
    let centres = match rf_centres {
        Some(c) => c.to_vec(),
        None => gradient_centres(&probe, units, statistics.image_shape, norm, params, device)?,
    };

    let (n_o, n_s, n_p) = (params.orientations(), params.spatial_frequencies(), params.phases());
    let orientations_deg: Vec<f64> = (0..n_o).map(|i| 180.0 * i as f64 / n_o as f64).collect();
    let spatial_frequencies = log_spaced(sf_lo, sf_hi, n_s);
    let phases: Vec<f64> = (0..n_p).map(|i| 2.0 * PI * i as f64 / n_p as f64).collect();
    // The largest disk covers the image from any centre in it.
    let radii = log_spaced(1.0, (((h - 1) * (h - 1) + (w - 1) * (w - 1)) as f64).sqrt().max(1.5), params.sizes());
    let contrasts = log_spaced(params.lowest_contrast(), 1.0, params.contrasts());
    let selected = Tensor::from_slice(&units.iter().map(|&u| u as i64).collect::<Vec<_>>()).to_device(device);
    let k = units.len();

    let (blank, full_field) = tch::no_grad(|| {
        let blank = probe.rates(&Tensor::zeros([1, c as i64, h as i64, w as i64], (Kind::Float, device))).index_select(1, &selected);
        // Stimulus i is orientation i / (S P), frequency (i / P) % S, phase i % P.
        let n = n_o * n_s * n_p;
        let mut rates = Vec::with_capacity(n);
        for start in (0..n).step_by(params.batch_size()) {
            let ids: Vec<usize> = (start..(start + params.batch_size()).min(n)).collect();
            let theta: Vec<f64> = ids.iter().map(|i| orientations_deg[i / (n_s * n_p)]).collect();
            let sf: Vec<f64> = ids.iter().map(|i| spatial_frequencies[(i / n_p) % n_s]).collect();
            let phi: Vec<f64> = ids.iter().map(|i| phases[i % n_p]).collect();
            let images = to_norm(&gratings(&theta, &sf, &phi, [h, w], device), c, &Tensor::from(norm as f32).to_device(device));
            rates.push(probe.rates(&images).index_select(1, &selected));
        }
        let rates = neurozoo_tensor::to_array2(&Tensor::cat(&rates, 0)); // (n, K)
        let full = Array4::from_shape_fn((k, n_o, n_s, n_p), |(u, o, f, p)| rates[[(o * n_s + f) * n_p + p, u]]);
        (Vec::<f32>::try_from(blank.squeeze_dim(0)).expect("f32 rates"), full)
    });
    let preferred: Vec<[usize; 3]> = (0..k)
        .map(|u| {
            let f0 = |o: usize, f: usize| full_field.slice(s![u, o, f, ..]).sum();
            let (mut o_best, mut f_best) = (0, 0);
            for o in 0..n_o {
                for f in 0..n_s {
                    if f0(o, f) > f0(o_best, f_best) {
                        (o_best, f_best) = (o, f);
                    }
                }
            }
            let row = full_field.slice(s![u, o_best, f_best, ..]);
            let p_best = (0..n_p).fold(0, |b, p| if row[p] > row[b] { p } else { b });
            [o_best, f_best, p_best]
        })
        .collect();

    // Per-unit stimuli: row r is unit r / m's condition r % m.
    let per_unit = |m: usize, image: &dyn Fn(&[usize]) -> Tensor| -> Array2<f32> {
        tch::no_grad(|| {
            let mut rates = Vec::new();
            for start in (0..k * m).step_by(params.batch_size()) {
                let rows: Vec<usize> = (start..(start + params.batch_size()).min(k * m)).collect();
                let owners: Vec<usize> = rows.iter().map(|r| units[r / m]).collect();
                rates.push(probe.own_rates(&image(&rows), &owners));
            }
            let flat = Vec::<f32>::try_from(Tensor::cat(&rates, 0)).expect("f32 rates");
            Array2::from_shape_vec((k, m), flat).expect("units × conditions")
        })
    };
    let preferred_maps = |rows: &[usize], m: usize| {
        let pick = |i: usize| preferred[rows[i] / m];
        let theta: Vec<f64> = (0..rows.len()).map(|i| orientations_deg[pick(i)[0]]).collect();
        let sf: Vec<f64> = (0..rows.len()).map(|i| spatial_frequencies[pick(i)[1]]).collect();
        let phi: Vec<f64> = (0..rows.len()).map(|i| phases[pick(i)[2]]).collect();
        gratings(&theta, &sf, &phi, [h, w], device)
    };
    let full_norm = |rows: &[usize]| Tensor::from_slice(&vec![norm as f32; rows.len()]).to_device(device);
    let n_r = radii.len();
    let size = per_unit(n_r, &|rows| {
        let full = to_norm(&preferred_maps(rows, n_r), c, &full_norm(rows));
        let (y, x) = centred_grid([h, w], device);
        let column = |v: Vec<f32>| Tensor::from_slice(&v).to_device(device).reshape([-1, 1, 1]);
        // Centres from the image centre, as the grid's coordinates are.
        let cy = column(rows.iter().map(|r| (centres[r / n_r][0] - (h as f64 - 1.0) / 2.0) as f32).collect());
        let cx = column(rows.iter().map(|r| (centres[r / n_r][1] - (w as f64 - 1.0) / 2.0) as f32).collect());
        let radius = column(rows.iter().map(|r| radii[r % n_r] as f32).collect());
        let inside = ((y - cy).square() + (x - cx).square()).le_tensor(&radius.square()).to_kind(Kind::Float);
        full * inside.unsqueeze(1)
    });
    let n_c = contrasts.len();
    let contrast = per_unit(n_c, &|rows| {
        let levels = Tensor::from_slice(&rows.iter().map(|r| (norm * contrasts[r % n_c]) as f32).collect::<Vec<_>>()).to_device(device);
        to_norm(&preferred_maps(rows, n_c), c, &levels)
    });

    Ok(Tuning {
        recording,
        units: units.to_vec(),
        orientations_deg,
        spatial_frequencies,
        phases,
        radii,
        contrasts,
        norm,
        rf_centres: centres,
        blank,
        full_field,
        preferred,
        size,
        contrast,
    })
}

/// Each unit's receptive-field centre (row, column) from the model's gradients: the centroid of
/// the squared gradient of its rate with respect to the image, summed over channels and over
/// noise images at the norm budget (seeded by `params`). Needs a differentiable model.
fn gradient_centres(
    probe: &Probe<'_>,
    units: &[usize],
    [c, h, w]: [usize; 3],
    norm: f64,
    params: &TuningValidParams,
    device: Device,
) -> Result<Vec<[f64; 2]>, TuningError> {
    if !probe.model.differentiable() {
        return Err(MeiError::NoGradient.into());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed());
    let noise: Vec<Tensor> = (0..CENTRE_PROBES)
        .map(|_| {
            let pixels: Vec<f32> = (0..c * h * w).map(|_| rng.sample(StandardNormal)).collect();
            let x = Tensor::from_slice(&pixels).to_device(device).reshape([1, (c * h * w) as i64]);
            (&x * (norm / x.square().sum(Kind::Float).sqrt().double_value(&[]))).reshape([1, c as i64, h as i64, w as i64])
        })
        .collect();
    let mut centres = Vec::with_capacity(units.len());
    for chunk in units.chunks(params.batch_size()) {
        let n = chunk.len() as i64;
        let mut energy = Tensor::zeros([n, h as i64, w as i64], (Kind::Float, device));
        for x in &noise {
            let x = x.expand([n, c as i64, h as i64, w as i64], false).contiguous().set_requires_grad(true);
            let objective = probe.own_rates(&x, chunk).sum(Kind::Float);
            let grad = Tensor::run_backward(&[objective], &[&x], false, false).remove(0);
            energy += grad.square().sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
        }
        centres.extend(centroids(&to_array3(&energy)));
    }
    Ok(centres)
}

/// Each image's centre (row, column) of its squared pixel values summed over channels: the
/// receptive-field centre read off an MEI.
pub fn energy_centres(images: &Array4<f32>) -> Vec<[f64; 2]> {
    let energy = images.mapv(|v| v * v).sum_axis(ndarray::Axis(1));
    centroids(&energy)
}

/// The weighted centroid (row, column) of each (H, W) map of non-negative weights; the image
/// centre for an all-zero map.
fn centroids(maps: &ndarray::Array3<f32>) -> Vec<[f64; 2]> {
    let (_, h, w) = maps.dim();
    maps.outer_iter()
        .map(|m| {
            let (mut total, mut row, mut col) = (0.0, 0.0, 0.0);
            for ((i, j), &v) in m.indexed_iter() {
                let v = f64::from(v);
                total += v;
                row += v * i as f64;
                col += v * j as f64;
            }
            if total > 0.0 {
                [row / total, col / total]
            } else {
                [(h as f64 - 1.0) / 2.0, (w as f64 - 1.0) / 2.0]
            }
        })
        .collect()
}

fn to_array3(t: &Tensor) -> ndarray::Array3<f32> {
    neurozoo_tensor::to_array(t).into_dimensionality().expect("a 3-D tensor")
}

#[cfg(test)]
mod tests;
