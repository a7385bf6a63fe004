//! The neuralpredictors layouts, HDF5 (`StaticImageSet`) and file tree (`FileTreeDataset`),
//! key by key: the same content under different names, read by one code path.

use ndarray::Array2;

use crate::dataset::{Dataset, GroundTruth, Images, Tier, Units};
use crate::error::{DatasetError, Result};

/// One accessor per key; each reads and checks its key and names it in any error, so `read`
/// can stop at the first error while `validate` asks every accessor and reports them all.
pub trait Layout {
    /// The stored element type of `images`, `responses` or `tiers`, numpy-style.
    fn dtype_name(&self, key: &str) -> Result<String>;
    /// Images as stored: uint8 stays uint8, other numbers are read as f32.
    fn images(&self) -> Result<Images>;
    fn responses(&self) -> Result<Array2<f32>>;
    /// Tiers, each name checked; the first unknown name is the error.
    fn tiers(&self) -> Result<Vec<Tier>>;
    /// The key holding image ids, if any.
    fn image_id_key(&self) -> Option<String>;
    /// Image ids; without an id key, every trial counts as its own image (no repeats).
    fn image_ids(&self) -> Result<Vec<i64>>;
    fn trial_idx(&self) -> Result<Vec<i64>>;
    fn units(&self) -> Result<Units>;
    /// `behavior` or `pupil_center`, when present.
    fn optional_rows(&self, key: &str) -> Result<Option<Array2<f32>>>;
    /// neurozoo's simulators' ground truth, when present.
    fn ground_truth(&self) -> Result<Option<GroundTruth>>;
}

/// Read every key into a checked dataset; the first error is returned.
pub(crate) fn read(layout: &impl Layout, path: &std::path::Path) -> Result<Dataset> {
    let ds = Dataset {
        images: layout.images()?,
        responses: layout.responses()?,
        tiers: layout.tiers()?,
        image_ids: layout.image_ids()?,
        trial_idx: layout.trial_idx()?,
        units: layout.units()?,
        behavior: layout.optional_rows("behavior")?,
        pupil_center: layout.optional_rows("pupil_center")?,
        ground_truth: layout.ground_truth()?,
    };
    ds.check_consistent().map_err(|e| DatasetError::file(path, e.to_string()))?;
    if ds.n_trials() == 0 {
        return Err(DatasetError::file(path, "has no trials"));
    }
    Ok(ds)
}

/// What `read_all` could read.
pub(crate) enum Partial {
    Complete(Box<Dataset>),
    /// Some key is broken; the main arrays that could be read, for content checks.
    Broken {
        images: Option<Images>,
        responses: Option<Array2<f32>>,
    },
}

/// Every key read, each error handed to `report`.
pub(crate) fn read_all(layout: &impl Layout, mut report: impl FnMut(DatasetError)) -> Partial {
    let mut ok = |e: DatasetError| report(e);
    let images = layout.images().map_err(&mut ok).ok();
    let responses = layout.responses().map_err(&mut ok).ok();
    let tiers = layout.tiers().map_err(&mut ok).ok();
    let image_ids = layout.image_ids().map_err(&mut ok).ok();
    let trial_idx = layout.trial_idx().map_err(&mut ok).ok();
    let units = responses.as_ref().and_then(|_| layout.units().map_err(&mut ok).ok());
    let behavior = layout.optional_rows("behavior").map_err(&mut ok).ok();
    let pupil_center = layout.optional_rows("pupil_center").map_err(&mut ok).ok();
    let ground_truth = layout.ground_truth().map_err(&mut ok).ok();
    match (images, responses, tiers, image_ids, trial_idx, units, behavior, pupil_center, ground_truth) {
        (
            Some(images),
            Some(responses),
            Some(tiers),
            Some(image_ids),
            Some(trial_idx),
            Some(units),
            Some(behavior),
            Some(pupil_center),
            Some(ground_truth),
        ) => Partial::Complete(Box::new(Dataset {
            images,
            responses,
            tiers,
            image_ids,
            trial_idx,
            units,
            behavior,
            pupil_center,
            ground_truth,
        })),
        (images, responses, ..) => Partial::Broken { images, responses },
    }
}
