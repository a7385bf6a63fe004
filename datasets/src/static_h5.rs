//! The neuralpredictors static HDF5 layout (`StaticImageSet`), read in place and written back
//! with the same keys and dtypes, so files move freely between neurozoo and the Python tools.
//!
//! | key | shape | notes |
//! |---|---|---|
//! | `images` | (N, C, H, W) | uint8 stays uint8 in memory; other numeric dtypes are read as f32 |
//! | `responses` | (N, U) | any numeric dtype; read as f32 |
//! | `tiers` | (N,) | byte strings: train, validation, test, final_test |
//! | `item_info/<id>` | (N,) | `frame_image_id`, `image_id` or `colorframeprojector_image_id` |
//! | `item_info/trial_idx` | (N,) | |
//! | `behavior`, `pupil_center` | (N, 3), (N, 2) | optional |
//! | `neurons/*` | (U,) | `unit_ids`, `animal_ids`, `sessions`, `scan_idx`, `area`, `layer`, `cell_motor_coordinates` (U, 3) |
//! | `statistics/<key>/<all\|train>/*` | | mean, std, min, max, median |
//! | `ground_truth/*` | | neurozoo's simulators only; other readers ignore it |

use std::path::{Path, PathBuf};

use hdf5::types::{FixedAscii, TypeDescriptor, VarLenUnicode};
use hdf5::{Hyperslab, SliceOrIndex};
use ndarray::{Array1, Array2, Array4, ArrayD, Axis, Dimension, IxDyn, Slice};

use crate::dataset::{Dataset, GroundTruth, Images, Tier, TrueSelectivity, Units};
use crate::error::{DatasetError, Result};
use crate::h5::{self, describe};
use crate::layout::{self, Layout};
use crate::stats::Summary;

/// `item_info` keys that hold image ids, in the order neuralpredictors looks for them.
pub const IMAGE_ID_KEYS: [&str; 3] = ["frame_image_id", "image_id", "colorframeprojector_image_id"];

/// Rows read per HDF5 call when a dataset is not chunked (about 16 MB of f32).
const SLAB_BYTES: usize = 16 << 20;

/// A zeroed buffer whose pages the kernel may back with transparent huge pages. A whole dataset
/// is hundreds of MB; with 4 kB pages, faulting them in costs more than reading the file from the
/// page cache (numpy asks for huge pages on large arrays for the same reason).
fn huge_page_buffer(len: usize) -> Vec<f32> {
    // Large zeroed allocations come straight from mmap, untouched, so the advice applies before
    // the first write.
    let buf = vec![0.0f32; len];
    const HUGE: usize = 2 << 20;
    let start = (buf.as_ptr() as usize).next_multiple_of(HUGE);
    let end = (buf.as_ptr() as usize + len * 4) / HUGE * HUGE;
    if end > start {
        // SAFETY: the range lies inside `buf`'s allocation; MADV_HUGEPAGE only changes how the
        // kernel backs it, never its contents, and failure (no THP support) is harmless.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
    }
    buf
}

/// Read a whole static dataset into memory.
pub fn read(path: &Path) -> Result<Dataset> {
    let f = StaticFile::open(path)?;
    if f.first_dim("images")? == 0 {
        return Err(DatasetError::key(path, "images", "has no trials (first dimension is 0)"));
    }
    layout::read(&f, path)
}

/// An open static file; each accessor reads and checks one key, naming it in any error.
/// `read` stops at the first error, `validate` asks every accessor and collects them all.
pub struct StaticFile {
    file: hdf5::File,
    path: PathBuf,
}

impl StaticFile {
    pub fn open(path: &Path) -> Result<StaticFile> {
        if !path.exists() {
            return Err(DatasetError::file(path, "no such file"));
        }
        let file = crate::h5::open(path)?;
        Ok(StaticFile { file, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, key: &str, problem: impl Into<String>) -> DatasetError {
        DatasetError::key(&self.path, key, problem)
    }

    pub fn has(&self, key: &str) -> bool {
        // link_exists on a nested path fails when a parent group is missing; check each level.
        let mut prefix = String::new();
        for part in key.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if !self.file.link_exists(&prefix) {
                return false;
            }
        }
        true
    }

    pub fn dataset(&self, key: &str) -> Result<hdf5::Dataset> {
        if !self.has(key) {
            return Err(self.err(key, "missing"));
        }
        self.file.dataset(key).map_err(|e| self.err(key, format!("is not a readable dataset ({e})")))
    }

    /// Member names of a group, empty when it does not exist.
    pub fn members(&self, group: &str) -> Vec<String> {
        self.file.group(group).and_then(|g| g.member_names()).unwrap_or_default()
    }

    fn descriptor(&self, ds: &hdf5::Dataset, key: &str) -> Result<TypeDescriptor> {
        ds.dtype().and_then(|t| t.to_descriptor()).map_err(|e| self.err(key, format!("has an unsupported element type ({e})")))
    }

    /// The dataset, checked to hold numbers and to have `rank` dimensions.
    fn numeric(&self, key: &str, rank: usize, layout: &str) -> Result<hdf5::Dataset> {
        let ds = self.dataset(key)?;
        let desc = self.descriptor(&ds, key)?;
        if !matches!(desc, TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) | TypeDescriptor::Float(_)) {
            return Err(self.err(key, format!("holds {} values; expected numbers", describe(&desc))));
        }
        let shape = ds.shape();
        if shape.len() != rank {
            return Err(self.err(key, format!("must be {rank}-D {layout}, found {}-D with shape {shape:?}", shape.len())));
        }
        // A chunked dataset may declare far more elements than the file holds: refuse what would
        // not fit in memory before anything is allocated (uint8 is read as stored, the rest as f32).
        let width = if matches!(desc, TypeDescriptor::Unsigned(hdf5::types::IntSize::U1)) { 1 } else { 4 };
        neurozoo_util::memory::fits_in_memory(neurozoo_util::memory::bytes_of(&shape, width))
            .map_err(|e| self.err(key, format!("declares shape {shape:?}, which {e}")))?;
        Ok(ds)
    }

    fn read_f32<D: Dimension>(&self, key: &str, layout: &str) -> Result<ndarray::Array<f32, D>> {
        let rank = D::NDIM.expect("fixed rank");
        let ds = self.numeric(key, rank, layout)?;
        // Stored as f32 already: HDF5 reads straight into the one buffer we keep.
        if matches!(self.descriptor(&ds, key)?, TypeDescriptor::Float(hdf5::types::FloatSize::U4)) {
            let mut buf = huge_page_buffer(ds.size());
            ds.read_into_raw(&mut buf).map_err(|e| self.err(key, format!("cannot read ({e})")))?;
            return ndarray::Array::from_shape_vec(IxDyn(&ds.shape()), buf)
                .and_then(|a| a.into_dimensionality::<D>())
                .map_err(|e| self.err(key, e.to_string()));
        }
        let shape = ds.shape();
        let n = shape.first().copied().unwrap_or(0);
        let row_len: usize = shape[1..].iter().product();
        // Other types: read in slabs along the first axis aligned to the chunking, so conversion to f32 works
        // on pieces instead of a second whole-file buffer, and each call maps onto whole chunks.
        let slab = match ds.chunk() {
            Some(chunk) => chunk[0].max(1) * (SLAB_BYTES / (chunk[0].max(1) * row_len.max(1) * 4)).max(1),
            None => (SLAB_BYTES / (row_len.max(1) * 4)).max(1),
        };
        let mut out = ArrayD::<f32>::zeros(IxDyn(&shape));
        let mut start = 0;
        while start < n {
            let end = (start + slab).min(n);
            let mut slab_sel = vec![SliceOrIndex::from(start..end)];
            slab_sel.extend((1..shape.len()).map(|_| SliceOrIndex::from(..)));
            let part: ArrayD<f32> =
                ds.read_slice(Hyperslab::from(slab_sel)).map_err(|e| self.err(key, format!("cannot read rows {start}..{end} ({e})")))?;
            out.slice_axis_mut(Axis(0), Slice::from(start..end)).assign(&part);
            start = end;
        }
        out.into_dimensionality::<D>().map_err(|e| self.err(key, e.to_string()))
    }

    fn read_i64(&self, key: &str) -> Result<Vec<i64>> {
        let ds = self.numeric(key, 1, "(N,)")?;
        ds.read_raw::<i64>().map_err(|e| self.err(key, format!("cannot read as integers ({e})")))
    }

    fn read_strings(&self, key: &str) -> Result<Vec<String>> {
        h5::strings(&self.dataset(key)?).map_err(|e| self.err(key, e))
    }

    fn first_dim(&self, key: &str) -> Result<usize> {
        Ok(self.dataset(key)?.shape().first().copied().unwrap_or(0))
    }
}

impl Layout for StaticFile {
    /// The stored element type, as text (e.g. "uint8", "float32", "string").
    fn dtype_name(&self, key: &str) -> Result<String> {
        Ok(describe(&self.descriptor(&self.dataset(key)?, key)?))
    }

    /// Images as stored: uint8 read straight into a uint8 array, anything else as f32.
    fn images(&self) -> Result<Images> {
        let ds = self.numeric("images", 4, "(N, C, H, W)")?;
        if matches!(self.descriptor(&ds, "images")?, TypeDescriptor::Unsigned(hdf5::types::IntSize::U1)) {
            let a: Array4<u8> = ds.read().map_err(|e| self.err("images", format!("cannot read ({e})")))?;
            return Ok(Images::U8(a));
        }
        self.read_f32::<ndarray::Ix4>("images", "(N, C, H, W)").map(Images::F32)
    }

    fn responses(&self) -> Result<Array2<f32>> {
        self.read_f32("responses", "(N, U)")
    }

    /// Tiers, each name checked; the first unknown name is the error.
    fn tiers(&self) -> Result<Vec<Tier>> {
        self.read_strings("tiers")?
            .iter()
            .enumerate()
            .map(|(i, s)| s.parse::<Tier>().map_err(|e| self.err("tiers", format!("row {i}: {e}"))))
            .collect()
    }

    /// The `item_info` key holding image ids, if any.
    fn image_id_key(&self) -> Option<String> {
        IMAGE_ID_KEYS.iter().map(|k| format!("item_info/{k}")).find(|k| self.has(k))
    }

    /// Image ids; without any id key, every trial counts as its own image (no repeats).
    fn image_ids(&self) -> Result<Vec<i64>> {
        match self.image_id_key() {
            Some(key) => self.read_i64(&key),
            None => Ok((0..self.first_dim("images")? as i64).collect()),
        }
    }

    fn trial_idx(&self) -> Result<Vec<i64>> {
        if self.has("item_info/trial_idx") {
            self.read_i64("item_info/trial_idx")
        } else {
            Ok((0..self.first_dim("images")? as i64).collect())
        }
    }

    fn units(&self) -> Result<Units> {
        let n_units = self.numeric("responses", 2, "(N, U)")?.shape()[1];
        let opt_i64 = |k: &str| -> Result<Option<Vec<i64>>> {
            let key = format!("neurons/{k}");
            self.has(&key).then(|| self.read_i64(&key)).transpose()
        };
        let opt_str = |k: &str| -> Result<Option<Vec<String>>> {
            let key = format!("neurons/{k}");
            self.has(&key).then(|| self.read_strings(&key)).transpose()
        };
        let units = Units {
            ids: opt_i64("unit_ids")?.unwrap_or_else(|| (0..n_units as i64).collect()),
            animal_ids: opt_i64("animal_ids")?,
            sessions: opt_i64("sessions")?,
            scan_idx: opt_i64("scan_idx")?,
            area: opt_str("area")?,
            layer: opt_str("layer")?,
            coordinates: self
                .has("neurons/cell_motor_coordinates")
                .then(|| self.read_f32("neurons/cell_motor_coordinates", "(U, 3)"))
                .transpose()?,
        };
        let lens = [
            ("unit_ids", Some(units.ids.len())),
            ("animal_ids", units.animal_ids.as_ref().map(Vec::len)),
            ("sessions", units.sessions.as_ref().map(Vec::len)),
            ("scan_idx", units.scan_idx.as_ref().map(Vec::len)),
            ("area", units.area.as_ref().map(Vec::len)),
            ("layer", units.layer.as_ref().map(Vec::len)),
            ("cell_motor_coordinates", units.coordinates.as_ref().map(|c| c.nrows())),
        ];
        for (k, len) in lens {
            if let Some(len) = len.filter(|&l| l != n_units) {
                return Err(self.err(&format!("neurons/{k}"), format!("has {len} entries but responses has {n_units} units")));
            }
        }
        Ok(units)
    }

    fn optional_rows(&self, key: &str) -> Result<Option<Array2<f32>>> {
        self.has(key).then(|| self.read_f32(key, "(N, K)")).transpose()
    }

    fn ground_truth(&self) -> Result<Option<GroundTruth>> {
        if !self.has("ground_truth") {
            return Ok(None);
        }
        let params_json = self.file.group("ground_truth").ok().and_then(|g| h5::string_attr(&g, "params")).unwrap_or_default();
        let cell_type = self.read_i64("ground_truth/cell_type")?;
        Ok(Some(GroundTruth {
            rf_position: self.read_f32("ground_truth/rf_position", "(U, 2)")?,
            cell_type: cell_type
                .iter()
                .map(|&t| u32::try_from(t).map_err(|_| self.err("ground_truth/cell_type", format!("negative type {t}"))))
                .collect::<Result<_>>()?,
            cell_type_names: self.read_strings("ground_truth/cell_type_names")?,
            noiseless_rates: self.read_f32("ground_truth/noiseless_rates", "(N, U)")?,
            params_json,
            selectivity: if self.has("ground_truth/filters") {
                Some(TrueSelectivity {
                    filters: self.read_f32("ground_truth/filters", "(U, 2, H, W)")?,
                    orientation_deg: self.read_f32("ground_truth/orientation_deg", "(U,)")?,
                    spatial_frequency: self.read_f32("ground_truth/spatial_frequency", "(U,)")?,
                    phase_deg: self.read_f32("ground_truth/phase_deg", "(U,)")?,
                })
            } else {
                None
            },
        }))
    }
}

/// Write a dataset in the static layout. The file appears only when complete: it is written
/// beside the target under a temporary name and renamed into place. Writing the same dataset
/// twice gives identical bytes (no timestamps are stored).
pub fn write(ds: &Dataset, path: &Path) -> Result<()> {
    ds.check_consistent()?;
    h5::write_atomic(path, |tmp| write_file(ds, tmp))
}

fn write_file(ds: &Dataset, path: &Path) -> hdf5::Result<()> {
    let file = hdf5::File::with_options().with_fcpl(|p| p.obj_track_times(false)).create(path)?;
    let w = Writer { root: &file };
    match &ds.images {
        Images::U8(a) => w.array("images", a)?,
        Images::F32(a) => w.array("images", a)?,
    }
    w.array("responses", &ds.responses)?;
    w.strings::<10>("tiers", ds.tiers.iter().map(|t| t.as_str()))?;
    w.array("item_info/frame_image_id", &Array1::from(ds.image_ids.clone()))?;
    w.array("item_info/trial_idx", &Array1::from(ds.trial_idx.clone()))?;
    if let Some(b) = &ds.behavior {
        w.array("behavior", b)?;
    }
    if let Some(p) = &ds.pupil_center {
        w.array("pupil_center", p)?;
    }
    let u = &ds.units;
    w.array("neurons/unit_ids", &Array1::from(u.ids.clone()))?;
    for (key, values) in [("animal_ids", &u.animal_ids), ("sessions", &u.sessions), ("scan_idx", &u.scan_idx)] {
        if let Some(v) = values {
            w.array(&format!("neurons/{key}"), &Array1::from(v.clone()))?;
        }
    }
    for (key, values) in [("area", &u.area), ("layer", &u.layer)] {
        if let Some(v) = values {
            w.strings::<32>(&format!("neurons/{key}"), v.iter().map(String::as_str))?;
        }
    }
    if let Some(c) = &u.coordinates {
        w.array("neurons/cell_motor_coordinates", c)?;
    }
    write_statistics(&w, ds)?;
    if let Some(gt) = &ds.ground_truth {
        w.array("ground_truth/rf_position", &gt.rf_position)?;
        w.array("ground_truth/cell_type", &Array1::from(gt.cell_type.clone()))?;
        w.strings::<32>("ground_truth/cell_type_names", gt.cell_type_names.iter().map(String::as_str))?;
        w.array("ground_truth/noiseless_rates", &gt.noiseless_rates)?;
        if let Some(sel) = &gt.selectivity {
            w.array_deflated("ground_truth/filters", &sel.filters)?;
            w.array("ground_truth/orientation_deg", &sel.orientation_deg)?;
            w.array("ground_truth/spatial_frequency", &sel.spatial_frequency)?;
            w.array("ground_truth/phase_deg", &sel.phase_deg)?;
        }
        let params: VarLenUnicode = gt.params_json.parse().map_err(|e| hdf5::Error::from(format!("{e}")))?;
        file.group("ground_truth")?.new_attr::<VarLenUnicode>().create("params")?.write_scalar(&params)?;
    }
    file.close()
}

fn write_statistics(w: &Writer<'_>, ds: &Dataset) -> hdf5::Result<()> {
    for (group, stat) in statistics(ds) {
        match stat {
            Statistic::Scalar(s) => w.summary_scalar(&format!("statistics/{group}"), &s)?,
            Statistic::Columns(cols) => w.summary_columns(&format!("statistics/{group}"), &cols)?,
        }
    }
    Ok(())
}

/// One statistics group: a summary over all values (images) or one per column.
pub(crate) enum Statistic {
    Scalar(Summary),
    Columns(Vec<Summary>),
}

/// `<key>/all` over every trial (what neuralpredictors' name means) and `<key>/train` over the
/// train tier (what neurozoo normalises with), for every layout that stores statistics.
pub(crate) fn statistics(ds: &Dataset) -> Vec<(String, Statistic)> {
    let all: Vec<usize> = (0..ds.n_trials()).collect();
    let train = ds.tier_indices(Tier::Train);
    let mut out = Vec::new();
    for (source, rows) in [("all", &all), ("train", &train)] {
        if rows.is_empty() {
            continue;
        }
        if let Some(p) = Summary::of_images(&ds.images, rows) {
            out.push((format!("images/{source}"), Statistic::Scalar(p)));
        }
        out.push((format!("responses/{source}"), Statistic::Columns(Summary::per_column(ds.responses.view(), rows))));
        for (key, arr) in [("behavior", &ds.behavior), ("pupil_center", &ds.pupil_center)] {
            if let Some(a) = arr {
                out.push((format!("{key}/{source}"), Statistic::Columns(Summary::per_column(a.view(), rows))));
            }
        }
    }
    out
}

struct Writer<'f> {
    root: &'f hdf5::File,
}

impl Writer<'_> {
    /// The group holding `key`, created (with its parents) when missing.
    fn parent(&self, key: &str) -> hdf5::Result<(hdf5::Group, String)> {
        let mut group: hdf5::Group = (**self.root).clone();
        let mut parts: Vec<&str> = key.split('/').collect();
        let leaf = parts.pop().unwrap_or(key).to_string();
        for part in parts {
            group = if group.link_exists(part) {
                group.group(part)?
            } else {
                group.create_group_builder().obj_track_times(false).create(part)?
            };
        }
        Ok((group, leaf))
    }

    fn array<T: hdf5::H5Type, D: Dimension>(&self, key: &str, data: &ndarray::Array<T, D>) -> hdf5::Result<()> {
        let (group, leaf) = self.parent(key)?;
        group.new_dataset_builder().obj_track_times(false).with_data(data.view()).create(leaf.as_str())?;
        Ok(())
    }

    /// Compressed (deflate) in chunks of one row of the first axis: for arrays that are mostly
    /// zeros, such as filters that live in a small window of the image.
    fn array_deflated<T: hdf5::H5Type, D: Dimension>(&self, key: &str, data: &ndarray::Array<T, D>) -> hdf5::Result<()> {
        let (group, leaf) = self.parent(key)?;
        let mut chunk = data.shape().to_vec();
        chunk[0] = 1;
        group.new_dataset_builder().obj_track_times(false).chunk(chunk).deflate(4).with_data(data.view()).create(leaf.as_str())?;
        Ok(())
    }

    fn strings<'s, const N: usize>(&self, key: &str, values: impl Iterator<Item = &'s str>) -> hdf5::Result<()> {
        let fixed = values
            .map(|s| FixedAscii::<N>::from_ascii(s.as_bytes()).map_err(|e| hdf5::Error::from(format!("{key}: {e}"))))
            .collect::<hdf5::Result<Vec<_>>>()?;
        self.array(key, &Array1::from(fixed))
    }

    fn summary_scalar(&self, group: &str, s: &Summary) -> hdf5::Result<()> {
        for (name, get) in Summary::FIELDS {
            let (g, leaf) = self.parent(&format!("{group}/{name}"))?;
            g.new_dataset::<f64>().obj_track_times(false).create(leaf.as_str())?.write_scalar(&get(s))?;
        }
        Ok(())
    }

    fn summary_columns(&self, group: &str, cols: &[Summary]) -> hdf5::Result<()> {
        for (name, get) in Summary::FIELDS {
            self.array(&format!("{group}/{name}"), &Array1::from_iter(cols.iter().map(get)))?;
        }
        Ok(())
    }
}
