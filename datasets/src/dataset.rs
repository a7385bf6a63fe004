use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use ndarray::{Array2, Array4, ArrayView3};
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
}

/// A recording (or simulation) ready for system identification: one row per trial.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Stimuli, (N, C, H, W).
    pub images: Array4<f32>,
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

    pub fn image(&self, trial: usize) -> ArrayView3<'_, f32> {
        self.images.index_axis(ndarray::Axis(0), trial)
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
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        for s in self.images.shape().iter().chain(self.responses.shape()) {
            eat(&s.to_le_bytes());
        }
        self.images.iter().for_each(|v| eat(&v.to_le_bytes()));
        self.responses.iter().for_each(|v| eat(&v.to_le_bytes()));
        self.tiers.iter().for_each(|t| eat(t.as_str().as_bytes()));
        self.image_ids.iter().for_each(|i| eat(&i.to_le_bytes()));
        format!("{h:016x}")
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
