//! NWB 2 optical physiology, read in place into a [`Dataset`].
//!
//! * responses: a `RoiResponseSeries` under `processing/<module>/{DfOverF|Fluorescence}`,
//!   `data` (T, n_roi) in stored units turned into `data * conversion + offset`, sample times from
//!   `timestamps` or `starting_time` + `rate`;
//! * presentations: an `IndexSeries` (`data` = image index, `timestamps` = onsets) whose images
//!   are in `stimulus/templates` (`indexed_images` → an `Images` container, or
//!   `indexed_timeseries` → an `ImageSeries`), or a `TimeIntervals` table (`start_time` plus an
//!   image-index column);
//! * the response to a presentation is the mean over samples with
//!   `onset + window.0 <= t < onset + window.1`.
//!
//! NWB has no train/test split. A `tier` column in a `TimeIntervals` table is used when present;
//! otherwise the [`Split`] policy makes one. By default, images shown more than once form the
//! test tier (they give the repeats evaluation needs), and of the images shown once every tenth
//! (by index) is validation, the rest train; when every image is repeated (Allen Brain
//! Observatory natural scenes), a seeded tenth of the images is validation and another tenth
//! test, each image with all its repeats in one tier.

use std::path::{Path, PathBuf};

use ndarray::{s, Array2, Array3, Array4, ArrayD, Axis};

use crate::dataset::{Dataset, Tier, Units};
use crate::error::{DatasetError, Result};
use crate::h5;

/// Column names searched, in order, for the image index of a `TimeIntervals` presentation.
pub const IMAGE_INDEX_COLUMNS: [&str; 4] = ["image_index", "frame", "image_id", "stimulus_index"];

/// How tiers are made for a file that has none.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// `Repeats` when some image is shown only once, else `Images { validation: 0.1, test: 0.1 }`.
    Auto,
    /// Repeated images are test; of the others every tenth (by index) validation, the rest train.
    Repeats,
    /// These fractions of the distinct images (at least one each, a seeded draw) are validation
    /// and test, the rest train; an image's repeats stay in its tier.
    Images { validation: f64, test: f64 },
}

impl std::str::FromStr for Split {
    type Err = String;

    /// `auto`, `repeats`, `images` (10% and 10%) or `images:VALIDATION,TEST` (fractions).
    fn from_str(s: &str) -> std::result::Result<Split, String> {
        let bad = || format!("{s:?}: expected auto, repeats, images or images:VALIDATION,TEST (fractions of the images)");
        match s {
            "auto" => Ok(Split::Auto),
            "repeats" => Ok(Split::Repeats),
            "images" => Ok(Split::Images { validation: 0.1, test: 0.1 }),
            _ => {
                let (v, t) = s.strip_prefix("images:").and_then(|f| f.split_once(',')).ok_or_else(bad)?;
                let (validation, test) = (v.trim().parse::<f64>().map_err(|_| bad())?, t.trim().parse::<f64>().map_err(|_| bad())?);
                if !(validation > 0.0 && test > 0.0 && validation + test < 1.0) {
                    return Err(format!("{s:?}: the validation and test fractions must be positive and leave images to train on"));
                }
                Ok(Split::Images { validation, test })
            }
        }
    }
}

/// Which series and presentations to read, the response window and the split.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NwbOptions {
    /// Path of the `RoiResponseSeries`; default the first under a `DfOverF`, else under a
    /// `Fluorescence`, of any processing module.
    pub series: Option<String>,
    /// Path of an `IndexSeries` or `TimeIntervals`; default the first `IndexSeries` in
    /// `stimulus/presentation`, else the first table in `intervals` with an image-index column.
    pub presentations: Option<String>,
    /// Seconds after onset over which responses are averaged, [start, end). Default [0, 0.5).
    pub window: (f64, f64),
    /// Tiers for a file without a `tier` column. Default [`Split::Auto`].
    pub split: Split,
    /// Seed of the images [`Split::Images`] holds out. Default 0.
    pub split_seed: u64,
}

impl Default for NwbOptions {
    fn default() -> Self {
        NwbOptions { series: None, presentations: None, window: (0.0, 0.5), split: Split::Auto, split_seed: 0 }
    }
}

pub fn read(path: &Path, opts: &NwbOptions) -> Result<Dataset> {
    let nwb = Nwb::open(path)?;
    let (start, end) = opts.window;
    if !(start.is_finite() && end.is_finite() && end > start) {
        return Err(DatasetError::file(path, format!("response window [{start}, {end}) is empty")));
    }
    let series_path = match &opts.series {
        Some(p) => p.trim_matches('/').to_string(),
        None => nwb.find_roi_series()?,
    };
    let series = nwb.roi_series(&series_path)?;
    let pres_path = match &opts.presentations {
        Some(p) => p.trim_matches('/').to_string(),
        None => nwb.find_presentations()?,
    };
    let mut pres = nwb.presentations(&pres_path)?;
    // A scan that stops before the last stimulus (or starts after the first) leaves
    // presentations without any imaging: those are left out, and said. A window inside the scan
    // without a sample stays an error below.
    let (first, last) = (series.times.first().copied().unwrap_or(f64::NAN), series.times.last().copied().unwrap_or(f64::NAN));
    let kept: Vec<usize> = (0..pres.onsets.len()).filter(|&p| pres.onsets[p] + end > first && pres.onsets[p] + start <= last).collect();
    if kept.len() < pres.onsets.len() {
        eprintln!(
            "warning: {}: {} of the {} presentations of {pres_path} fall outside the imaging ({first:.3} s to {last:.3} s) and are left out",
            path.display(),
            pres.onsets.len() - kept.len(),
            pres.onsets.len()
        );
        pres.onsets = kept.iter().map(|&p| pres.onsets[p]).collect();
        pres.image_index = kept.iter().map(|&p| pres.image_index[p]).collect();
        pres.tiers = pres.tiers.map(|t| kept.iter().map(|&p| t[p]).collect());
    }

    let n_roi = series.data.ncols();
    let mut responses = Array2::<f32>::zeros((pres.onsets.len(), n_roi));
    for (p, &onset) in pres.onsets.iter().enumerate() {
        let (lo, hi) = (onset + start, onset + end);
        let rows: Vec<usize> = (0..series.times.len()).filter(|&i| series.times[i] >= lo && series.times[i] < hi).collect();
        if rows.is_empty() {
            return Err(nwb.err(
                &series_path,
                format!("no samples between {lo:.3} s and {hi:.3} s for presentation {p} of {pres_path} (onset {onset:.3} s)"),
            ));
        }
        for roi in 0..n_roi {
            let sum: f64 = rows.iter().map(|&i| series.data[[i, roi]] * series.conversion + series.offset).sum();
            responses[[p, roi]] = (sum / rows.len() as f64) as f32;
        }
    }

    let n_images = pres.templates.shape()[0];
    if let Some((p, &bad)) = pres.image_index.iter().enumerate().find(|(_, &i)| i < 0 || i as usize >= n_images) {
        return Err(nwb.err(&pres_path, format!("presentation {p} shows image {bad}, but there are {n_images} templates")));
    }
    let (h, w) = (pres.templates.shape()[1], pres.templates.shape()[2]);
    let mut images = Array4::<f32>::zeros((pres.onsets.len(), 1, h, w));
    for (p, &i) in pres.image_index.iter().enumerate() {
        images.slice_mut(s![p, 0, .., ..]).assign(&pres.templates.index_axis(Axis(0), i as usize));
    }
    let tiers = match pres.tiers {
        Some(t) => t,
        None => split_tiers(&pres.image_index, opts.split, opts.split_seed),
    };
    let ds = Dataset {
        images: images.into(),
        responses,
        tiers,
        image_ids: pres.image_index,
        trial_idx: (0..pres.onsets.len() as i64).collect(),
        units: Units { ids: series.roi_ids.unwrap_or_else(|| (0..n_roi as i64).collect()), ..Units::default() },
        behavior: None,
        pupil_center: None,
        ground_truth: None,
    };
    ds.check_consistent().map_err(|e| DatasetError::file(path, e.to_string()))?;
    Ok(ds)
}

/// Each presentation's tier under `split`.
pub fn split_tiers(image_index: &[i64], split: Split, seed: u64) -> Vec<Tier> {
    let mut counts = std::collections::BTreeMap::<i64, usize>::new();
    image_index.iter().for_each(|&i| *counts.entry(i).or_default() += 1);
    let split = match split {
        Split::Auto if counts.values().all(|&c| c > 1) => Split::Images { validation: 0.1, test: 0.1 },
        Split::Auto => Split::Repeats,
        other => other,
    };
    match split {
        Split::Images { validation, test } => {
            use rand::seq::SliceRandom;
            use rand::SeedableRng;
            let mut images: Vec<i64> = counts.keys().copied().collect();
            images.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
            let share = |f: f64| ((f * images.len() as f64).round() as usize).max(1);
            let (n_test, n_validation) = (share(test), share(validation));
            let tier_of = |i: i64| match images.iter().position(|&j| j == i) {
                Some(k) if k < n_test => Tier::Test,
                Some(k) if k < n_test + n_validation => Tier::Validation,
                _ => Tier::Train,
            };
            image_index.iter().map(|&i| tier_of(i)).collect()
        }
        _ => image_index
            .iter()
            .map(|&i| match (counts[&i] > 1, i % 10 == 9) {
                (true, _) => Tier::Test,
                (false, true) => Tier::Validation,
                (false, false) => Tier::Train,
            })
            .collect(),
    }
}

struct RoiSeries {
    /// (T, n_roi), as stored.
    data: Array2<f64>,
    times: Vec<f64>,
    conversion: f64,
    offset: f64,
    roi_ids: Option<Vec<i64>>,
}

struct Presentations {
    onsets: Vec<f64>,
    image_index: Vec<i64>,
    /// (n_images, H, W).
    templates: Array3<f32>,
    tiers: Option<Vec<Tier>>,
}

struct Nwb {
    file: hdf5::File,
    path: PathBuf,
}

impl Nwb {
    fn open(path: &Path) -> Result<Nwb> {
        if !path.exists() {
            return Err(DatasetError::file(path, "no such file"));
        }
        let file = crate::h5::open(path)?;
        Ok(Nwb { file, path: path.to_path_buf() })
    }

    fn err(&self, key: &str, problem: impl Into<String>) -> DatasetError {
        DatasetError::key(&self.path, key, problem)
    }

    fn group(&self, key: &str) -> Result<hdf5::Group> {
        self.file.group(key).map_err(|_| self.err(key, "missing (expected a group)"))
    }

    fn dataset(&self, key: &str) -> Result<hdf5::Dataset> {
        self.file.dataset(key).map_err(|_| self.err(key, "missing"))
    }

    fn members(&self, key: &str) -> Vec<String> {
        let mut names = self.file.group(key).and_then(|g| g.member_names()).unwrap_or_default();
        names.sort();
        names
    }

    fn neurodata_type(&self, key: &str) -> Option<String> {
        let group = self.file.group(key).ok()?;
        h5::string_attr(&group, "neurodata_type")
    }

    fn find_roi_series(&self) -> Result<String> {
        for interface in ["DfOverF", "Fluorescence"] {
            for module in self.members("processing") {
                let base = format!("processing/{module}/{interface}");
                for name in self.members(&base) {
                    let key = format!("{base}/{name}");
                    if self.neurodata_type(&key).as_deref() == Some("RoiResponseSeries") {
                        return Ok(key);
                    }
                }
            }
        }
        Err(DatasetError::file(&self.path, "processing: no RoiResponseSeries under a DfOverF or Fluorescence interface"))
    }

    fn find_presentations(&self) -> Result<String> {
        for name in self.members("stimulus/presentation") {
            let key = format!("stimulus/presentation/{name}");
            if self.neurodata_type(&key).as_deref() == Some("IndexSeries") {
                return Ok(key);
            }
        }
        for name in self.members("intervals") {
            let key = format!("intervals/{name}");
            if IMAGE_INDEX_COLUMNS.iter().any(|c| self.file.link_exists(&format!("{key}/{c}"))) {
                return Ok(key);
            }
        }
        Err(DatasetError::file(
            &self.path,
            format!("no stimulus presentations: no IndexSeries in stimulus/presentation and no table in intervals with a column named one of {IMAGE_INDEX_COLUMNS:?}"),
        ))
    }

    fn f64_vec(&self, key: &str) -> Result<Vec<f64>> {
        let ds = self.dataset(key)?;
        ds.read_raw::<f64>().map_err(|e| self.err(key, format!("cannot read as numbers ({e})")))
    }

    fn f64_attr(&self, ds: &hdf5::Dataset, key: &str, name: &str) -> Result<Option<f64>> {
        if !ds.attr_names().unwrap_or_default().iter().any(|a| a == name) {
            return Ok(None);
        }
        ds.attr(name)
            .and_then(|a| a.read_scalar::<f64>())
            .map(Some)
            .map_err(|e| self.err(&format!("{key}@{name}"), format!("cannot read ({e})")))
    }

    /// Times of a TimeSeries' `n` samples: `timestamps`, or `starting_time` + i / `rate`.
    fn sample_times(&self, key: &str, n: usize) -> Result<Vec<f64>> {
        let times = if self.file.link_exists(&format!("{key}/timestamps")) {
            self.f64_vec(&format!("{key}/timestamps"))?
        } else {
            let st_key = format!("{key}/starting_time");
            let st = self.dataset(&st_key).map_err(|_| self.err(key, "has neither timestamps nor starting_time"))?;
            let t0 = st.read_scalar::<f64>().map_err(|e| self.err(&st_key, format!("cannot read ({e})")))?;
            let rate = self.f64_attr(&st, &st_key, "rate")?.ok_or_else(|| self.err(&st_key, "has no rate attribute"))?;
            if rate.is_nan() || rate <= 0.0 {
                return Err(self.err(&format!("{st_key}@rate"), format!("must be positive, found {rate}")));
            }
            (0..n).map(|i| t0 + i as f64 / rate).collect()
        };
        if times.len() != n {
            return Err(self.err(key, format!("{} sample times for {n} samples of data", times.len())));
        }
        Ok(times)
    }

    fn roi_series(&self, key: &str) -> Result<RoiSeries> {
        let data_key = format!("{key}/data");
        let ds = self.dataset(&data_key)?;
        let raw: ArrayD<f64> = ds.read_dyn().map_err(|e| self.err(&data_key, format!("cannot read as numbers ({e})")))?;
        let data = match raw.ndim() {
            1 => raw.into_shape_with_order((ds.shape()[0], 1)).map_err(|e| self.err(&data_key, e.to_string()))?,
            2 => raw.into_dimensionality().map_err(|e| self.err(&data_key, e.to_string()))?,
            n => return Err(self.err(&data_key, format!("must be (time, rois), found {n}-D"))),
        };
        let conversion = self.f64_attr(&ds, &data_key, "conversion")?.unwrap_or(1.0);
        let offset = self.f64_attr(&ds, &data_key, "offset")?.unwrap_or(0.0);
        let times = self.sample_times(key, data.nrows())?;
        let rois_key = format!("{key}/rois");
        let roi_ids = if self.file.link_exists(&rois_key) {
            let ids = self.dataset(&rois_key)?.read_raw::<i64>().map_err(|e| self.err(&rois_key, format!("cannot read ({e})")))?;
            (ids.len() == data.ncols()).then_some(ids)
        } else {
            None
        };
        Ok(RoiSeries { data, times, conversion, offset, roi_ids })
    }

    fn presentations(&self, key: &str) -> Result<Presentations> {
        if self.neurodata_type(key).as_deref() == Some("IndexSeries") || self.file.link_exists(&format!("{key}/data")) {
            let image_index: Vec<i64> = self
                .dataset(&format!("{key}/data"))?
                .read_raw::<i64>()
                .map_err(|e| self.err(&format!("{key}/data"), format!("cannot read image indices ({e})")))?;
            let onsets = self.sample_times(key, image_index.len())?;
            let templates = if self.file.link_exists(&format!("{key}/indexed_images")) {
                self.images_container(&format!("{key}/indexed_images"))?
            } else if self.file.link_exists(&format!("{key}/indexed_timeseries")) {
                self.frames(&format!("{key}/indexed_timeseries/data"))?
            } else {
                return Err(self.err(key, "has neither indexed_images nor indexed_timeseries: cannot find the images it indexes"));
            };
            Ok(Presentations { onsets, image_index, templates, tiers: None })
        } else {
            let onsets = self.f64_vec(&format!("{key}/start_time"))?;
            let column = IMAGE_INDEX_COLUMNS
                .iter()
                .map(|c| format!("{key}/{c}"))
                .find(|c| self.file.link_exists(c))
                .ok_or_else(|| self.err(key, format!("has no image-index column (one of {IMAGE_INDEX_COLUMNS:?})")))?;
            let image_index: Vec<i64> =
                self.dataset(&column)?.read_raw::<i64>().map_err(|e| self.err(&column, format!("cannot read ({e})")))?;
            if image_index.len() != onsets.len() {
                return Err(self.err(&column, format!("{} rows but start_time has {}", image_index.len(), onsets.len())));
            }
            let tier_key = format!("{key}/tier");
            let tiers = if self.file.link_exists(&tier_key) {
                let names = h5::strings(&self.dataset(&tier_key)?).map_err(|e| self.err(&tier_key, e))?;
                Some(names.iter().map(|n| n.parse::<Tier>().map_err(|e| self.err(&tier_key, e))).collect::<Result<Vec<_>>>()?)
            } else {
                None
            };
            let container = self
                .members("stimulus/templates")
                .into_iter()
                .map(|n| format!("stimulus/templates/{n}"))
                .next()
                .ok_or_else(|| self.err("stimulus/templates", "missing: a TimeIntervals table's image indices need the images"))?;
            let templates = if self.neurodata_type(&container).as_deref() == Some("Images") {
                self.images_container(&container)?
            } else {
                self.frames(&format!("{container}/data"))?
            };
            Ok(Presentations { onsets, image_index, templates, tiers })
        }
    }

    /// An `Images` container: its images in `order_of_images` order when that is readable,
    /// else by name.
    fn images_container(&self, key: &str) -> Result<Array3<f32>> {
        let group = self.group(key)?;
        let mut names: Vec<String> = group.member_names().unwrap_or_default();
        names.retain(|n| n != "order_of_images");
        names.sort();
        if let Ok(order) = group.dataset("order_of_images").and_then(|d| d.read_raw::<hdf5::ObjectReference1>()) {
            let ordered: Option<Vec<String>> = order
                .iter()
                .map(|r| match group.dereference(r) {
                    Ok(hdf5::ReferencedObject::Dataset(d)) => Some(d.name().rsplit('/').next().unwrap_or_default().to_string()),
                    _ => None,
                })
                .collect();
            if let Some(ordered) = ordered.filter(|o| o.len() == names.len()) {
                names = ordered;
            }
        }
        if names.is_empty() {
            return Err(self.err(key, "holds no images"));
        }
        let mut images = Vec::with_capacity(names.len());
        for name in &names {
            let img_key = format!("{key}/{name}");
            let img: ArrayD<f32> =
                self.dataset(&img_key)?.read_dyn().map_err(|e| self.err(&img_key, format!("cannot read as numbers ({e})")))?;
            images.push(grayscale(img).map_err(|e| self.err(&img_key, e))?);
        }
        let (h, w) = images[0].dim();
        if let Some((i, _)) = images.iter().enumerate().find(|(_, im)| im.dim() != (h, w)) {
            return Err(
                self.err(&format!("{key}/{}", names[i]), format!("has shape {:?}, unlike the first image's ({h}, {w})", images[i].dim()))
            );
        }
        let mut out = Array3::zeros((images.len(), h, w));
        for (i, im) in images.iter().enumerate() {
            out.index_axis_mut(Axis(0), i).assign(im);
        }
        Ok(out)
    }

    /// An `ImageSeries`' frames, (n, H, W) or (n, H, W, 3) averaged to grayscale.
    fn frames(&self, key: &str) -> Result<Array3<f32>> {
        let raw: ArrayD<f32> = self.dataset(key)?.read_dyn().map_err(|e| self.err(key, format!("cannot read as numbers ({e})")))?;
        match raw.ndim() {
            3 => raw.into_dimensionality().map_err(|e| self.err(key, e.to_string())),
            4 => Ok(raw
                .mean_axis(Axis(3))
                .expect("non-empty colour axis")
                .into_dimensionality()
                .map_err(|e| self.err(key, e.to_string()))?),
            n => Err(self.err(key, format!("must be (frames, height, width[, 3]), found {n}-D"))),
        }
    }
}

/// A `GrayscaleImage` (H, W) or an RGB(A) image (H, W, 3|4) averaged over colour.
fn grayscale(img: ArrayD<f32>) -> Result<Array2<f32>, String> {
    match img.ndim() {
        2 => img.into_dimensionality().map_err(|e| e.to_string()),
        3 => {
            let colours = img.shape()[2].min(3);
            let rgb = img.slice_axis(Axis(2), ndarray::Slice::from(0..colours)).to_owned();
            rgb.mean_axis(Axis(2)).expect("colour axis").into_dimensionality().map_err(|e| e.to_string())
        }
        n => Err(format!("must be an image (H, W) or (H, W, 3), found {n}-D")),
    }
}
