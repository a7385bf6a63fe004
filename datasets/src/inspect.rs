//! `neurozoo data inspect`: what is in a recording of any layout, for people (text) and
//! scripts (JSON). The same content stored as HDF5 and as a file tree inspects the same, apart
//! from the file, the format and the layout's name for the image-id key.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::dataset::Tier;
use crate::error::Result;
use crate::file_tree::TreeFile;
use crate::layout::Layout;
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
    /// Stored element types of images, responses and tiers (static files and file trees),
    /// numpy-style ("uint8", ...).
    pub dtypes: BTreeMap<String, String>,
    pub tiers: BTreeMap<Tier, TierSummary>,
    /// The key the image ids came from (`item_info/...` in HDF5, `meta/trials/....npy` in a tree).
    pub image_id_key: Option<String>,
    pub units: UnitSummary,
    /// Value ranges over all trials.
    pub images: Summary,
    /// None when the file has no units.
    pub responses: Option<Summary>,
    /// Columns of the optional per-trial arrays.
    pub behavior_columns: Option<usize>,
    pub pupil_center_columns: Option<usize>,
    /// `<key>/<source>` statistics groups present in the file (`statistics/` in HDF5,
    /// `meta/statistics/` in a tree).
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
    // Key-level facts (dtypes, statistics groups) exist in the neuralpredictors layouts only.
    let main_keys = ["images", "responses", "tiers"];
    let (dtypes, statistics, image_id_key, ground_truth_keys) = match format {
        Format::Static => {
            let f = StaticFile::open(path)?;
            let dtypes = main_keys.iter().map(|&k| Ok((k.to_string(), f.dtype_name(k)?))).collect::<Result<BTreeMap<_, _>>>()?;
            let statistics = groups(|g| f.members(&format!("statistics{g}")));
            (dtypes, statistics, f.image_id_key(), f.members("ground_truth"))
        }
        Format::FileTree => {
            let t = TreeFile::open(path)?;
            let dtypes = main_keys.iter().map(|&k| Ok((k.to_string(), t.dtype_name(k)?))).collect::<Result<BTreeMap<_, _>>>()?;
            let statistics = groups(|g| t.members(&format!("meta/statistics{g}")));
            (dtypes, statistics, t.image_id_key(), Vec::new())
        }
        Format::Nwb => (BTreeMap::new(), Vec::new(), None, Vec::new()),
    };
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
    let ground_truth = ds.ground_truth.as_ref().map(|gt| {
        let mut cell_types = BTreeMap::new();
        for &t in &gt.cell_type {
            let name = gt.cell_type_names.get(t as usize).cloned().unwrap_or_else(|| t.to_string());
            *cell_types.entry(name).or_insert(0) += 1;
        }
        GroundTruthSummary {
            keys: ground_truth_keys,
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
        image_id_key,
        units: UnitSummary {
            count: ds.n_units(),
            areas: count(&ds.units.area),
            layers: count(&ds.units.layer),
            has_coordinates: ds.units.coordinates.is_some(),
        },
        images: Summary::of_images(&ds.images, &(0..ds.n_trials()).collect::<Vec<_>>()).expect("read rejects empty files"),
        responses: Summary::of(ds.responses.iter().copied()),
        behavior_columns: ds.behavior.as_ref().map(|b| b.ncols()),
        pupil_center_columns: ds.pupil_center.as_ref().map(|p| p.ncols()),
        statistics,
        ground_truth,
    })
}

/// `<key>/<source>` for every statistics group, given how to list the members of `/<group>`
/// under the layout's statistics root (`members("")` lists the keys).
fn groups(members: impl Fn(&str) -> Vec<String>) -> Vec<String> {
    members("").into_iter().flat_map(|key| members(&format!("/{key}")).into_iter().map(move |src| format!("{key}/{src}"))).collect()
}
