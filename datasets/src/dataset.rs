use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use ndarray::{Array1, Array2, Array3, Array4, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{DatasetError, Result};

/// The data splits of the neuralpredictors convention, stored per trial in `/tiers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Train,
    Validation,
    Test,
    FinalTest,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Train, Tier::Validation, Tier::Test, Tier::FinalTest];

    /// The name as written in `/tiers`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Train => "train",
            Tier::Validation => "validation",
            Tier::Test => "test",
            Tier::FinalTest => "final_test",
        }
    }
}

impl FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Tier::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown tier {s:?} (expected train, validation, test or final_test)"))
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-unit metadata, the `/neurons/*` group of the neuralpredictors layout.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Units {
    pub ids: Vec<i64>,
    pub animal_ids: Option<Vec<i64>>,
    pub sessions: Option<Vec<i64>>,
    pub scan_idx: Option<Vec<i64>>,
    pub area: Option<Vec<String>>,
    pub layer: Option<Vec<String>>,
    /// `cell_motor_coordinates`, (U, 3).
    pub coordinates: Option<Array2<f32>>,
}

impl Units {
    /// Units numbered 0..n with no other metadata.
    pub fn numbered(n: usize) -> Units {
        Units { ids: (0..n as i64).collect(), ..Units::default() }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// What a simulator knows and a recording does not; stored in `/ground_truth`.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruth {
    /// Receptive-field centre of each unit in image pixels, (U, 2) as (row, column).
    pub rf_position: Array2<f32>,
    /// Index into `cell_type_names` for each unit.
    pub cell_type: Vec<u32>,
    pub cell_type_names: Vec<String>,
    /// Expected response of each unit to each trial's image before noise, (N, U).
    pub noiseless_rates: Array2<f32>,
    /// The simulator's parameters as JSON, so a file documents how it was made.
    pub params_json: String,
    /// What the simulator knows of each unit's selectivity (the v1 simulator's filters and
    /// grating tuning); `None` for other simulators and files written before it was stored.
    pub selectivity: Option<TrueSelectivity>,
}

/// Each unit's true filters and grating tuning, stored in `/ground_truth` so that a method can
/// be checked against the truth from the file alone (in Python as well). With eye movements,
/// as the unit sees the image at the mean (zero) pupil position.
#[derive(Debug, Clone)]
pub struct TrueSelectivity {
    /// (U, 2, H, W), unit norm, in the image frame (zero outside the receptive-field window):
    /// `[u, 0]` a simple cell's Gabor, a centre-surround cell's difference of Gaussians or the
    /// even half of a complex cell's quadrature pair; `[u, 1]` the odd half of that pair, zero
    /// for the other types.
    pub filters: Array4<f32>,
    /// (U,) the direction along which the preferred grating varies, degrees in [0, 180); NaN
    /// for units without an orientation (centre-surround).
    pub orientation_deg: Array1<f32>,
    /// (U,) the Gabor's spatial frequency in cycles per pixel; NaN for centre-surround units.
    pub spatial_frequency: Array1<f32>,
    /// (U,) the preferred grating phase in degrees (0: cosine phase at the centre); NaN for
    /// phase-invariant (complex) and centre-surround units.
    pub phase_deg: Array1<f32>,
}

/// Equal when every value has the same bits: NaN marks "undefined" here, and a file read back
/// must equal what was written.
impl PartialEq for TrueSelectivity {
    fn eq(&self, other: &Self) -> bool {
        fn same<D: ndarray::Dimension>(a: &ndarray::Array<f32, D>, b: &ndarray::Array<f32, D>) -> bool {
            a.shape() == b.shape() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
        }
        same(&self.filters, &other.filters)
            && same(&self.orientation_deg, &other.orientation_deg)
            && same(&self.spatial_frequency, &other.spatial_frequency)
            && same(&self.phase_deg, &other.phase_deg)
    }
}

/// Stimuli, (N, C, H, W), in the element type they were stored in: a sensorium recording's
/// images are 1.5 GB as uint8 and would be 6 GB as f32, so they are widened one batch at a time
/// (on the model's device) rather than on load.
#[derive(Debug, Clone, PartialEq)]
pub enum Images {
    U8(Array4<u8>),
    F32(Array4<f32>),
}

impl From<Array4<f32>> for Images {
    fn from(a: Array4<f32>) -> Images {
        Images::F32(a)
    }
}

impl From<Array4<u8>> for Images {
    fn from(a: Array4<u8>) -> Images {
        Images::U8(a)
    }
}

impl Images {
    /// (N, C, H, W).
    pub fn shape(&self) -> [usize; 4] {
        let s = match self {
            Images::U8(a) => a.shape(),
            Images::F32(a) => a.shape(),
        };
        [s[0], s[1], s[2], s[3]]
    }

    /// The element type in memory, numpy-style.
    pub fn dtype(&self) -> &'static str {
        match self {
            Images::U8(_) => "uint8",
            Images::F32(_) => "float32",
        }
    }

    /// Bytes held in memory.
    pub fn nbytes(&self) -> usize {
        let [n, c, h, w] = self.shape();
        n * c * h * w * if matches!(self, Images::U8(_)) { 1 } else { 4 }
    }

    /// One trial's image as f32, (C, H, W).
    pub fn image(&self, trial: usize) -> Array3<f32> {
        match self {
            Images::U8(a) => a.index_axis(Axis(0), trial).mapv(f32::from),
            Images::F32(a) => a.index_axis(Axis(0), trial).to_owned(),
        }
    }

    /// The rows `trials`, in that order, keeping the element type.
    pub fn select(&self, trials: &[usize]) -> Images {
        match self {
            Images::U8(a) => Images::U8(a.select(Axis(0), trials)),
            Images::F32(a) => Images::F32(a.select(Axis(0), trials)),
        }
    }

    /// Everything as f32 (a full copy of uint8 images: for small data and tests).
    pub fn to_f32(&self) -> Array4<f32> {
        match self {
            Images::U8(a) => a.mapv(f32::from),
            Images::F32(a) => a.clone(),
        }
    }

    /// Every pixel of the given trials, as f32, in order.
    pub fn pixels<'a>(&'a self, trials: &'a [usize]) -> Box<dyn Iterator<Item = f32> + 'a> {
        match self {
            Images::U8(a) => Box::new(trials.iter().flat_map(move |&t| a.index_axis(Axis(0), t).into_iter().map(|&p| f32::from(p)))),
            Images::F32(a) => Box::new(trials.iter().flat_map(move |&t| a.index_axis(Axis(0), t).into_iter().copied())),
        }
    }
}

/// A recording (or simulation) ready for system identification: one row per trial.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Stimuli, (N, C, H, W), as stored.
    pub images: Images,
    /// Responses, (N, U).
    pub responses: Array2<f32>,
    pub tiers: Vec<Tier>,
    /// Image id per trial; trials that share an id showed the same image (repeats).
    pub image_ids: Vec<i64>,
    pub trial_idx: Vec<i64>,
    pub units: Units,
    /// Running speed, pupil dilation and its derivative, (N, 3).
    pub behavior: Option<Array2<f32>>,
    /// (N, 2).
    pub pupil_center: Option<Array2<f32>>,
    pub ground_truth: Option<GroundTruth>,
}

impl Dataset {
    pub fn n_trials(&self) -> usize {
        self.images.shape()[0]
    }

    pub fn n_units(&self) -> usize {
        self.responses.shape()[1]
    }

    /// (C, H, W).
    pub fn image_shape(&self) -> [usize; 3] {
        let s = self.images.shape();
        [s[1], s[2], s[3]]
    }

    /// One trial's image as f32, (C, H, W).
    pub fn image(&self, trial: usize) -> Array3<f32> {
        self.images.image(trial)
    }

    /// Trial indices of one tier, in file order.
    pub fn tier_indices(&self, tier: Tier) -> Vec<usize> {
        self.tiers.iter().enumerate().filter(|(_, t)| **t == tier).map(|(i, _)| i).collect()
    }

    /// Trials of one tier grouped by image id, in order of first appearance; groups of one
    /// trial are images shown once.
    pub fn repeats(&self, tier: Tier) -> Vec<Vec<usize>> {
        let mut order = Vec::new();
        let mut groups: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for i in self.tier_indices(tier) {
            let g = groups.entry(self.image_ids[i]).or_default();
            if g.is_empty() {
                order.push(self.image_ids[i]);
            }
            g.push(i);
        }
        order.into_iter().map(|id| groups.remove(&id).unwrap_or_default()).collect()
    }

    /// A hash of everything a model is fitted to (images, responses, tiers, image ids), so a run
    /// can tell whether it is evaluated or resumed on the data it was trained on. FNV-1a, hex.
    pub fn fingerprint(&self) -> String {
        let mut h = neurozoo_util::hash::Fnv1a::default();
        let mut eat = |bytes: &[u8]| h.update(bytes);
        for s in self.images.shape().iter().chain(self.responses.shape()) {
            eat(&s.to_le_bytes());
        }
        // Hashed as f32 whatever the stored type, so a recording has one fingerprint in every layout.
        let all: Vec<usize> = (0..self.n_trials()).collect();
        self.images.pixels(&all).for_each(|v| eat(&v.to_le_bytes()));
        self.responses.iter().for_each(|v| eat(&v.to_le_bytes()));
        self.tiers.iter().for_each(|t| eat(t.as_str().as_bytes()));
        self.image_ids.iter().for_each(|i| eat(&i.to_le_bytes()));
        h.hex()
    }

    /// The first dimensions and per-unit lengths agree; every array a reader or simulator
    /// builds goes through this before it is handed out.
    pub fn check_consistent(&self) -> Result<()> {
        let n = self.n_trials();
        let u = self.n_units();
        let mut bad = Vec::new();
        let mut per_trial = |name: &str, len: usize| {
            if len != n {
                bad.push(format!("{name} has {len} rows but images has {n}"));
            }
        };
        per_trial("responses", self.responses.nrows());
        per_trial("tiers", self.tiers.len());
        per_trial("image ids", self.image_ids.len());
        per_trial("trial_idx", self.trial_idx.len());
        if let Some(b) = &self.behavior {
            per_trial("behavior", b.nrows());
        }
        if let Some(p) = &self.pupil_center {
            per_trial("pupil_center", p.nrows());
        }
        if let Some(gt) = &self.ground_truth {
            per_trial("ground-truth noiseless rates", gt.noiseless_rates.nrows());
            if gt.rf_position.nrows() != u || gt.cell_type.len() != u || gt.noiseless_rates.ncols() != u {
                bad.push(format!("ground truth does not describe the {u} units"));
            }
        }
        if self.units.len() != u {
            bad.push(format!("{} unit ids for {u} response columns", self.units.len()));
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(DatasetError::Invalid(bad.join("; ")))
        }
    }
}
