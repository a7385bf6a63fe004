//! Most exciting inputs (MEIs): for each unit, the image of a fixed contrast (L2 norm) that its
//! model neuron responds to most, found by gradient ascent on the image as sinzlab/mei does it
//! (defaults and their sources in [`params`]).
//!
//! The references optimise one neuron at a time. Here every requested unit gets its own image in
//! one batch (of at most `batch_size` units; a larger selection climbs batch after batch):
//! image k's objective is unit k's predicted rate alone, and the model runs in evaluation mode
//! (batch norm with its running statistics), so the images do not interact and the gradient of
//! the summed objectives with respect to image k is unit k's own. Each step:
//!
//! 1. the images, optionally jittered, with the held behaviour / pupil channels beside them,
//!    go through the model; the objective is Σₖ rate(unitₖ, imageₖ) − smoothness · Σₖ ‖∇² imageₖ‖²;
//! 2. its gradient is blurred with a Gaussian (preconditioning against high-frequency noise);
//! 3. an SGD step climbs it;
//! 4. each image is rescaled to the norm budget and clipped to the value range (`ChangeNorm`,
//!    then `ClipRange`).
//!
//! ```no_run
//! use neurozoo_zoo::insilico::mei::{optimise, MeiParams, StimulusStatistics};
//! use neurozoo_zoo::run::eval::Run;
//!
//! let device = tch::Device::Cpu;
//! let run = Run::load("runs/k".as_ref(), device)?;
//! let recording = run.recording("v1.h5".as_ref(), &Default::default())?;
//! let normalizer = &run.info.recordings[recording.index].normalizer;
//! let stimuli = normalizer.stimuli(&recording.dataset, device, &run.model.inputs())?;
//! let train: Vec<i64> = recording.dataset.tier_indices(neurozoo_datasets::Tier::Train).into_iter().map(|t| t as i64).collect();
//! let statistics = StimulusStatistics::of(&run.model, &stimuli, &train)?;
//! let params = MeiParams::default().steps(500).seed(1).check()?;
//! let meis = optimise(&run.model, recording.index, &[0, 1, 2], &statistics, &params, device, |_step| {})?;
//! println!("unit 0's MEI drives it to {}", meis.activation[0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
pub mod params;

use ndarray::{s, Array4};
use neurozoo_datasets::meis::MeiFile;
use neurozoo_plugin::Figure;
use neurozoo_tables::Table;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use tch::{Device, Kind, Tensor};

pub use self::error::MeiError;
pub use self::params::{MeiParams, MeiValidParams, DEFAULT_BLUR_SIGMA, DEFAULT_LR, DEFAULT_STEPS};
use crate::insilico::Probe;
use crate::model::Predictor;
use crate::regularizers::laplacian;
use crate::train::{predict, Stimuli};

/// What the training images say about the space MEIs live in: the defaults of the norm budget,
/// the value range and the inputs held fixed. All in the model's normalised units.
#[derive(Debug, Clone, PartialEq)]
pub struct StimulusStatistics {
    /// (C, H, W) of the image itself, without the channels the model reads besides it.
    pub image_shape: [usize; 3],
    /// Mean over images of each image's L2 norm (z-scored pixels).
    pub mean_norm: f64,
    /// Smallest and largest z-scored pixel value.
    pub min: f64,
    pub max: f64,
    /// Mean of each channel the model reads besides the image (behaviour, pupil channels).
    pub channel_means: Vec<f32>,
    /// Mean z-scored pupil position, when the stimuli carry one (for a shifter).
    pub pupil_mean: Option<[f32; 2]>,
}

impl StimulusStatistics {
    /// The statistics of `trials` (normally the train tier) of `stimuli`, read as `model` reads them.
    pub fn of(model: &dyn Predictor, stimuli: &Stimuli, trials: &[i64]) -> Result<StimulusStatistics, MeiError> {
        if trials.is_empty() {
            return Err(MeiError::NoTrainingImages);
        }
        let extra = model.inputs().extra_channels() as i64;
        let (mut norm_sum, mut min, mut max) = (0.0, f64::INFINITY, f64::NEG_INFINITY);
        let mut channel_sums = vec![0.0f64; extra as usize];
        let mut pupil_sums: Option<[f64; 2]> = None;
        let mut image_shape = [0; 3];
        tch::no_grad(|| {
            for chunk in trials.chunks(256) {
                let batch = stimuli.batch(&Tensor::from_slice(chunk).to_device(stimuli.device()));
                let (_, c, h, w) = batch.images.size4().expect("(B, C, H, W) images");
                image_shape = [(c - extra) as usize, h as usize, w as usize];
                let images = batch.images.narrow(1, 0, c - extra);
                norm_sum += images
                    .flatten(1, -1)
                    .square()
                    .sum_dim_intlist([1i64].as_slice(), false, Kind::Double)
                    .sqrt()
                    .sum(Kind::Double)
                    .double_value(&[]);
                min = min.min(images.min().double_value(&[]));
                max = max.max(images.max().double_value(&[]));
                if extra > 0 {
                    // Each extra channel is constant over the image: its top-left pixel is its value.
                    let values = batch.images.narrow(1, c - extra, extra).select(3, 0).select(2, 0).sum_dim_intlist(
                        [0i64].as_slice(),
                        false,
                        Kind::Double,
                    );
                    for (s, v) in channel_sums.iter_mut().zip(Vec::<f64>::try_from(values).expect("f64 values")) {
                        *s += v;
                    }
                }
                if let Some(p) = &batch.pupil {
                    let p = Vec::<f64>::try_from(p.sum_dim_intlist([0i64].as_slice(), false, Kind::Double)).expect("f64 values");
                    let sums = pupil_sums.get_or_insert([0.0; 2]);
                    sums[0] += p[0];
                    sums[1] += p[1];
                }
            }
        });
        let n = trials.len() as f64;
        Ok(StimulusStatistics {
            image_shape,
            mean_norm: norm_sum / n,
            min,
            max,
            channel_means: channel_sums.iter().map(|s| (s / n) as f32).collect(),
            pupil_mean: pupil_sums.map(|[x, y]| [(x / n) as f32, (y / n) as f32]),
        })
    }
}

/// MEIs of some units of one recording, in the order the units were requested.
#[derive(Debug, Clone, PartialEq)]
pub struct Meis {
    pub recording: usize,
    /// Unit indices (0-based, into the recording's units).
    pub units: Vec<usize>,
    /// (units, C, H, W) in the model's z-scored image space.
    pub images: Array4<f32>,
    /// Each unit's predicted rate for its MEI (without jitter).
    pub activation: Vec<f32>,
    /// L2 norm of each image's gradient of its objective at the last step, before blurring.
    pub gradient_norm: Vec<f32>,
    /// Steps taken (every unit takes them all).
    pub steps: usize,
    /// The norm budget and value range used.
    pub norm: f64,
    pub value_range: (f64, f64),
}

impl Meis {
    /// The `meis.h5` of these MEIs: `unit_ids` are all of the recording's unit ids (its
    /// `/neurons/unit_ids`), `best` each unit's [`best_activation`] when known.
    pub fn file(&self, recording: &str, unit_ids: &[i64], best: Option<Vec<f32>>, params: &MeiValidParams) -> MeiFile {
        MeiFile {
            recording: recording.to_string(),
            meis: self.images.clone(),
            unit_ids: self.units.iter().map(|&u| unit_ids[u]).collect(),
            unit_index: self.units.iter().map(|&u| u as i64).collect(),
            activation: self.activation.clone(),
            best_activation: best,
            gradient_norm: self.gradient_norm.clone(),
            steps: self.steps as u64,
            norm: self.norm,
            value_range: self.value_range,
            params: params.to_json().to_string(),
        }
    }

    /// Each unit's MEI rate over the rate of its best training image (`best`, in unit order).
    pub fn ratios(&self, best: &[f32]) -> Vec<f64> {
        self.activation.iter().zip(best).map(|(&m, &b)| f64::from(m) / f64::from(b)).collect()
    }

    /// One row per unit: its id (from the recording's `unit_ids`), MEI rate, last gradient norm
    /// and steps; with `best` (each unit's [`best_activation`]) also that rate and the ratio.
    pub fn table(&self, unit_ids: &[i64], best: Option<&[f32]>) -> Table {
        let table = Table::new()
            .i64("unit_id", self.units.iter().map(|&u| unit_ids[u]).collect())
            .f64("mei_activation", self.activation.iter().map(|&a| f64::from(a)).collect())
            .f64("gradient_norm", self.gradient_norm.iter().map(|&g| f64::from(g)).collect())
            .i64("steps", vec![self.steps as i64; self.units.len()]);
        match best {
            Some(best) => table.f64("best_image_activation", best.iter().map(|&b| f64::from(b)).collect()).f64("ratio", self.ratios(best)),
            None => table,
        }
    }

    /// A grid of at most `shown` MEIs (spread evenly over the units), each labelled with its unit
    /// id (from the recording's `unit_ids`) and activation; an image of several channels shows
    /// each channel.
    pub fn figure(&self, unit_ids: &[i64], shown: usize) -> Figure {
        let (n, c) = (self.units.len(), self.images.shape()[1]);
        let shown = shown.clamp(1, n);
        let mut images = Vec::new();
        for k in (0..shown).map(|i| i * n / shown) {
            for ch in 0..c {
                let pixels =
                    self.images.slice(s![k, ch, .., ..]).outer_iter().map(|row| row.iter().map(|&v| f64::from(v)).collect()).collect();
                let channel = if c > 1 { format!(" ch {ch}") } else { String::new() };
                images.push((format!("unit {}{channel}: {:.2}", unit_ids[self.units[k]], self.activation[k]), pixels));
            }
        }
        let columns = if c > 1 { c } else { shown.min(8) };
        Figure::ImageGrid {
            title: format!("Most exciting inputs (z-scored) and their predicted rates, {} steps", self.steps),
            images,
            columns,
        }
    }
}

/// The MEIs of `units` of recording `recording` of `model`, on `device` (the model's);
/// `statistics` gives the defaults of the norm, range and held inputs. The units climb in
/// batches of `params.batch_size()`, one batch after the other; `progress` hears each finished
/// step's number counted over the batches (batch b's step s is b × steps + s, of
/// batches × steps). Deterministic for a seed on one device and thread count, whatever the
/// batch size.
pub fn optimise(
    model: &dyn Predictor,
    recording: usize,
    units: &[usize],
    statistics: &StimulusStatistics,
    params: &MeiValidParams,
    device: Device,
    mut progress: impl FnMut(usize),
) -> Result<Meis, MeiError> {
    let n_units = model.units(recording).ok_or(MeiError::UnknownRecording { recording, recordings: model.recordings() })?;
    check_units(units, recording, n_units)?;
    if !model.differentiable() {
        return Err(MeiError::NoGradient);
    }
    let [c, h, w] = statistics.image_shape;
    let held = params.held_channels().map_or_else(|| statistics.channel_means.clone(), <[f32]>::to_vec);
    let extra = model.inputs().extra_channels();
    if held.len() != extra {
        return Err(MeiError::HeldChannels { given: held.len(), wanted: extra });
    }
    let norm = params.norm().unwrap_or(statistics.mean_norm);
    if !(norm.is_finite() && norm > 0.0) {
        return Err(MeiError::Norm(norm));
    }
    let (lo, hi) = params.value_range().unwrap_or((statistics.min, statistics.max));
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(MeiError::ValueRange { min: lo, max: hi });
    }
    let blur_half = (params.blur_sigma() > 0.0).then(|| blur_half_width(params.blur_sigma()));
    for (what, pixels) in [("the gradient blur's half-window", blur_half.unwrap_or(0)), ("jitter", params.jitter())] {
        if pixels >= h || pixels >= w {
            return Err(MeiError::TooWide { what, pixels, height: h, width: w });
        }
    }

    let mut rng = ChaCha8Rng::seed_from_u64(params.seed());
    let initial: Vec<f32> = (0..units.len() * c * h * w).map(|_| rng.sample(StandardNormal)).collect();
    let initial = Tensor::from_slice(&initial).reshape([units.len() as i64, c as i64, h as i64, w as i64]);
    let probe = Probe::new(model, recording, &held, params.held_pupil().or(statistics.pupil_mean), device);
    let climb = Climb { probe, params, norm, range: (lo, hi), blur_half, device };
    let (mut images, mut activation, mut gradient_norm) = (Vec::new(), Vec::new(), Vec::new());
    for (batch, chunk) in units.chunks(params.batch_size()).enumerate() {
        let start = (batch * params.batch_size()) as i64;
        // Every batch draws the jitter that one batch of all the units would: a unit's MEI
        // does not depend on the batch size.
        let (mei, rates, norms) =
            climb.run(chunk, initial.narrow(0, start, chunk.len() as i64), rng.clone(), |step| progress(batch * params.steps() + step));
        images.push(mei.to_device(Device::Cpu));
        activation.extend(Vec::<f32>::try_from(rates).expect("f32 rates"));
        gradient_norm.extend(Vec::<f32>::try_from(norms).expect("f32 norms"));
    }
    Ok(Meis {
        recording,
        units: units.to_vec(),
        images: to_array4(&Tensor::cat(&images, 0)),
        activation,
        gradient_norm,
        steps: params.steps(),
        norm,
        value_range: (lo, hi),
    })
}

/// One batch's gradient ascent, everything but its units and starting images fixed.
struct Climb<'a> {
    /// The model with the behaviour and pupil inputs held.
    probe: Probe<'a>,
    params: &'a MeiValidParams,
    norm: f64,
    range: (f64, f64),
    blur_half: Option<usize>,
    device: Device,
}

impl Climb<'_> {
    /// The MEIs of `units` from the starting images `initial` (K, C, H, W), jittered by `rng`;
    /// with their rates and last gradient norms. `progress` hears each finished step (1-based).
    fn run(&self, units: &[usize], initial: Tensor, mut rng: ChaCha8Rng, mut progress: impl FnMut(usize)) -> (Tensor, Tensor, Tensor) {
        let (params, device) = (self.params, self.device);
        let (k, c, h, w) = initial.size4().expect("(K, C, H, W) images");
        let rates = |images: &Tensor| self.probe.own_rates(images, units);
        let project = |x: Tensor| change_norm(&x, self.norm).clamp(self.range.0, self.range.1);
        // sinzlab/mei evaluates its first step at the raw N(0, 1) guess; projecting it first keeps
        // every image the model sees within the budget (the first step's gradient included).
        let mut mei = project(initial.to_device(device));
        let mut gradient_norm = Tensor::zeros([k], (Kind::Float, device));
        for step in 0..params.steps() {
            let x = mei.detach().set_requires_grad(true);
            let seen = match params.jitter() {
                0 => x.shallow_clone(),
                j => {
                    let j = j as i64;
                    jitter(&x, rng.random_range(-j..=j), rng.random_range(-j..=j))
                }
            };
            let mut objective = rates(&seen).sum(Kind::Float);
            if params.smoothness() > 0.0 {
                let maps = x.reshape([k * c, 1, h, w]);
                objective -= params.smoothness() * laplacian(&maps, 1).square().sum(Kind::Float);
            }
            let grad = Tensor::run_backward(&[objective], &[&x], false, false).remove(0);
            mei = tch::no_grad(|| {
                gradient_norm = per_image_norm(&grad);
                let grad = match self.blur_half {
                    Some(half) => gaussian_blur(&grad, params.blur_sigma(), half),
                    None => grad,
                };
                project(x.detach() + grad * params.lr())
            });
            progress(step + 1);
        }
        let activation = tch::no_grad(|| rates(&mei));
        (mei, activation, gradient_norm)
    }
}

/// Each of `units`' largest predicted rate over the images `trials` of `stimuli`: what its MEI
/// has to beat.
pub fn best_activation(model: &dyn Predictor, recording: usize, units: &[usize], stimuli: &Stimuli, trials: &[i64]) -> Vec<f32> {
    let rates = predict(model, recording, stimuli, trials, 256);
    units.iter().map(|&u| rates.column(u).fold(f32::NEG_INFINITY, |a, &b| a.max(b))).collect()
}

pub(crate) fn check_units(units: &[usize], recording: usize, n_units: usize) -> Result<(), MeiError> {
    if units.is_empty() {
        return Err(MeiError::EmptySelection);
    }
    let mut seen = vec![false; n_units];
    for &unit in units {
        if unit >= n_units {
            return Err(MeiError::UnknownUnit { unit, recording, units: n_units });
        }
        if std::mem::replace(&mut seen[unit], true) {
            return Err(MeiError::DuplicateUnit { unit });
        }
    }
    Ok(())
}

/// L2 norm of each image of a (K, C, H, W) batch, (K,).
fn per_image_norm(x: &Tensor) -> Tensor {
    x.flatten(1, -1).square().sum_dim_intlist([1i64].as_slice(), false, Kind::Float).sqrt()
}

/// `mei.legacy.ops.ChangeNorm`: each image rescaled to L2 norm `norm` (an all-zero image stays
/// zero rather than becoming NaN).
fn change_norm(x: &Tensor, norm: f64) -> Tensor {
    let scale = per_image_norm(x).clamp_min(1e-12).reciprocal() * norm;
    x * scale.reshape([-1, 1, 1, 1])
}

/// Half-width of `mei.legacy.ops.GaussianBlur`'s window: 4σ (its `truncate`), at least 1.
fn blur_half_width(sigma: f64) -> usize {
    ((sigma * 4.0).round() as usize).max(1)
}

/// `mei.legacy.ops.GaussianBlur`: each channel of each image convolved with a normalised
/// separable Gaussian of `sigma` over a window of ±`half` pixels, reflection-padded.
fn gaussian_blur(x: &Tensor, sigma: f64, half: usize) -> Tensor {
    let (k, c, h, w) = x.size4().expect("(K, C, H, W)");
    let taps: Vec<f32> = (-(half as i64)..=half as i64).map(|n| (-((n * n) as f64) / (2.0 * sigma * sigma)).exp() as f32).collect();
    let sum: f32 = taps.iter().sum();
    let taps = Tensor::from_slice(&taps.iter().map(|t| t / sum).collect::<Vec<_>>()).to_device(x.device());
    let n = taps.size()[0];
    let half = half as i64;
    let maps = x.reshape([k * c, 1, h, w]).reflection_pad2d([half, half, half, half]);
    let rows = maps.conv2d(&taps.reshape([1, 1, n, 1]), None::<Tensor>, [1, 1], [0, 0], [1, 1], 1);
    rows.conv2d(&taps.reshape([1, 1, 1, n]), None::<Tensor>, [1, 1], [0, 0], [1, 1], 1).reshape([k, c, h, w])
}

/// `mei.legacy.ops.Jitter`: the images moved `dy` rows down and `dx` columns right, the edge
/// they leave filled by reflection.
fn jitter(x: &Tensor, dy: i64, dx: i64) -> Tensor {
    let (_, _, h, w) = x.size4().expect("(K, C, H, W)");
    let padded = x.reflection_pad2d([dx.max(0), (-dx).max(0), dy.max(0), (-dy).max(0)]);
    padded.narrow(2, (-dy).max(0), h).narrow(3, (-dx).max(0), w)
}

fn to_array4(t: &Tensor) -> Array4<f32> {
    let a = neurozoo_tensor::to_array(t);
    a.into_dimensionality().expect("a 4-D tensor")
}

#[cfg(test)]
mod tests;
