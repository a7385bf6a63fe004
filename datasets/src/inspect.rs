//! `neurozoo data inspect`: what is in a static file, for people (text) and scripts (JSON).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::dataset::Tier;
use crate::error::Result;
use crate::static_h5::StaticFile;
use crate::stats::Summary;
use crate::{detect_format, load, Format};

#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub file: String,
    pub format: Format,
    pub n_trials: usize,
    pub n_units: usize,
    /// (C, H, W).
    pub image_shape: [usize; 3],
    /// Stored element types of the main keys of a static file, numpy-style ("uint8", ...).
    pub dtypes: BTreeMap<String, String>,
    pub tiers: BTreeMap<Tier, TierSummary>,
    /// The `item_info` key the image ids came from.
    pub image_id_key: Option<String>,
    pub units: UnitSummary,
    /// Value ranges over all trials.
    pub images: Summary,
    pub responses: Summary,
    /// Columns of the optional per-trial arrays.
    pub behavior_columns: Option<usize>,
    pub pupil_center_columns: Option<usize>,
    /// `statistics/<key>/<source>` groups present in the file.
    pub statistics: Vec<String>,
    pub ground_truth: Option<GroundTruthSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TierSummary {
    pub trials: usize,
    pub unique_images: usize,
    /// Images shown more than once in this tier.
    pub repeated_images: usize,
    /// Fewest and most presentations among the repeated images (0 when none repeat).
    pub min_repeats: usize,
    pub max_repeats: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnitSummary {
    pub count: usize,
    pub areas: BTreeMap<String, usize>,
    pub layers: BTreeMap<String, usize>,
    pub has_coordinates: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroundTruthSummary {
    /// Keys under `/ground_truth`.
    pub keys: Vec<String>,
    /// Units per cell type.
    pub cell_types: BTreeMap<String, usize>,
    /// The simulator's parameters.
    pub params: serde_json::Value,
}

pub fn inspect(path: &Path) -> Result<Inspection> {
    let format = detect_format(path)?;
    let ds = load(path)?;
    // Key-level facts (dtypes, statistics groups) exist only in the static layout.
    let f = match format {
        Format::Static => Some(StaticFile::open(path)?),
        Format::Nwb => None,
    };
    let mut dtypes = BTreeMap::new();
    for key in ["images", "responses", "tiers"] {
        if let Some(f) = &f {
            dtypes.insert(key.to_string(), f.dtype_name(key)?);
        }
    }
    let tiers = Tier::ALL
        .into_iter()
        .map(|t| {
            let groups = ds.repeats(t);
            let repeated: Vec<usize> = groups.iter().map(Vec::len).filter(|&n| n > 1).collect();
            let summary = TierSummary {
                trials: groups.iter().map(Vec::len).sum(),
                unique_images: groups.len(),
                repeated_images: repeated.len(),
                min_repeats: repeated.iter().copied().min().unwrap_or(0),
                max_repeats: repeated.iter().copied().max().unwrap_or(0),
            };
            (t, summary)
        })
        .collect();
    let count = |values: &Option<Vec<String>>| {
        let mut m = BTreeMap::new();
        for v in values.iter().flatten() {
            *m.entry(v.clone()).or_insert(0) += 1;
        }
        m
    };
    let statistics = f
        .iter()
        .flat_map(|f| {
            f.members("statistics")
                .into_iter()
                .flat_map(move |key| f.members(&format!("statistics/{key}")).into_iter().map(move |src| format!("{key}/{src}")))
        })
        .collect();
    let ground_truth = ds.ground_truth.as_ref().map(|gt| {
        let mut cell_types = BTreeMap::new();
        for &t in &gt.cell_type {
            let name = gt.cell_type_names.get(t as usize).cloned().unwrap_or_else(|| t.to_string());
            *cell_types.entry(name).or_insert(0) += 1;
        }
        GroundTruthSummary {
            keys: f.as_ref().map(|f| f.members("ground_truth")).unwrap_or_default(),
            cell_types,
            params: serde_json::from_str(&gt.params_json).unwrap_or(serde_json::Value::Null),
        }
    });
    Ok(Inspection {
        file: path.display().to_string(),
        format,
        n_trials: ds.n_trials(),
        n_units: ds.n_units(),
        image_shape: ds.image_shape(),
        dtypes,
        tiers,
        image_id_key: f.as_ref().and_then(StaticFile::image_id_key),
        units: UnitSummary {
            count: ds.n_units(),
            areas: count(&ds.units.area),
            layers: count(&ds.units.layer),
            has_coordinates: ds.units.coordinates.is_some(),
        },
        images: Summary::of(ds.images.iter().copied()).expect("read rejects empty files"),
        responses: Summary::of(ds.responses.iter().copied()).expect("read rejects empty files"),
        behavior_columns: ds.behavior.as_ref().map(|b| b.ncols()),
        pupil_center_columns: ds.pupil_center.as_ref().map(|p| p.ncols()),
        statistics,
        ground_truth,
    })
}
