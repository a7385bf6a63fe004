//! The neuralpredictors file tree (`FileTreeDataset`): what
//! `neuralpredictors.data.utils.convert_static_h5_dataset_to_folder` writes and the sensorium
//! 2022 releases unpack to, read in place from a directory or from the released `.zip` (entries
//! stored or deflated, at the root or under one top folder) without unpacking it.
//!
//! ```text
//! data/images/<trial>.npy          (C, H, W), one per trial 0..N; uint8 stays uint8
//! data/responses/<trial>.npy       (U,)
//! data/behavior/<trial>.npy        (3,)  optional
//! data/pupil_center/<trial>.npy    (2,)  optional
//! meta/trials/tiers.npy            (N,) strings: train, validation, test, final_test
//! meta/trials/<id key>.npy         (N,) frame_image_id, image_id or colorframeprojector_image_id
//! meta/trials/trial_idx.npy        (N,)
//! meta/neurons/*.npy               (U,) unit_ids, animal_ids, sessions, scan_idx, area, layer;
//!                                  cell_motor_coordinates (U, 3)
//! meta/statistics/<key>/<source>/{mean,std,min,max,median}.npy
//! ```
//!
//! The trial count is the number of trial files in `data/images`, as neuralpredictors counts
//! it; every other per-trial file or array must have that many. Errors name the tree and the
//! file at fault (`data/images/17.npy: is truncated ...`).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Array4};

use crate::dataset::{Dataset, GroundTruth, Images, Tier, TrueSelectivity, Units};
use crate::error::{DatasetError, Result};
use crate::layout::{self, Layout};
use crate::npy::{Npy, NpyData, NpyError};
use crate::static_h5::IMAGE_ID_KEYS;

/// Where a tree's files are: a directory, or a zip archive (with the folder inside it that
/// holds `data/` and `meta/`).
#[derive(Debug, Clone)]
enum Source {
    Dir(PathBuf),
    Zip { archive: PathBuf, prefix: String },
}

/// One thread's handle for reading files of a tree (a zip archive is read through its own
/// file handle per thread, so trials decompress in parallel).
enum Reader {
    Dir(PathBuf),
    Zip(Box<zip::ZipArchive<BufReader<File>>>, String),
}

impl Reader {
    fn read(&mut self, rel: &str) -> std::io::Result<Vec<u8>> {
        match self {
            Reader::Dir(root) => std::fs::read(root.join(rel)),
            Reader::Zip(archive, prefix) => {
                let mut entry = archive.by_name(&format!("{prefix}{rel}")).map_err(std::io::Error::other)?;
                let mut buf = Vec::with_capacity(entry.size().min(1 << 30) as usize);
                entry.read_to_end(&mut buf)?;
                Ok(buf)
            }
        }
    }
}

/// An open file tree: its file list is read once; each accessor reads and checks one key,
/// naming the file in any error. `read` stops at the first error, `validate` collects them all.
pub struct TreeFile {
    path: PathBuf,
    source: Source,
    /// Every file of the tree, relative to its root (`data/images/0.npy`).
    files: BTreeSet<String>,
    /// Every folder of the tree, empty ones too: a folder where a file belongs is named as one.
    dirs: BTreeSet<String>,
    n_trials: usize,
}

/// Whether `path` looks like a file tree: a directory with `data/` and `meta/`, or a `.zip`.
pub fn is_tree(path: &Path) -> bool {
    path.is_dir() || path.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

/// Read a whole file tree into memory.
pub fn read(path: &Path) -> Result<Dataset> {
    layout::read(&TreeFile::open(path)?, path)
}

fn zip_err(path: &Path, e: impl std::fmt::Display) -> DatasetError {
    DatasetError::file(path, format!("cannot read as a zip archive ({e})"))
}

fn open_zip(path: &Path) -> Result<zip::ZipArchive<BufReader<File>>> {
    let file = File::open(path).map_err(|e| DatasetError::file(path, e.to_string()))?;
    zip::ZipArchive::new(BufReader::new(file)).map_err(|e| zip_err(path, e))
}

impl TreeFile {
    pub fn open(path: &Path) -> Result<TreeFile> {
        if !path.exists() {
            return Err(DatasetError::file(path, "no such file or directory"));
        }
        let (source, files, dirs) = if path.is_dir() {
            let (mut files, mut dirs) = (BTreeSet::new(), BTreeSet::new());
            list_dir(path, path, &mut files, &mut dirs).map_err(|e| DatasetError::file(path, format!("cannot list ({e})")))?;
            (Source::Dir(path.to_path_buf()), files, dirs)
        } else {
            let archive = open_zip(path)?;
            let all: Vec<&str> = archive.file_names().filter(|n| !n.starts_with("__MACOSX/")).collect();
            let (folders, names): (Vec<&str>, Vec<&str>) = all.into_iter().partition(|n| n.ends_with('/'));
            // The released archives hold one top folder per recording; converted trees may not.
            // Two folders that each hold a tree are two recordings: which one is meant is not ours
            // to guess.
            let prefixes: BTreeSet<String> = names
                .iter()
                .filter_map(|n| n.find("data/").filter(|&i| i == 0 || n[..i].ends_with('/')).map(|i| n[..i].to_string()))
                .collect();
            let prefix = prefixes.iter().min_by_key(|p| p.len()).cloned().unwrap_or_default();
            if let Some(other) = prefixes.iter().find(|p| !p.starts_with(&prefix)) {
                let (first, second) = if prefix < *other { (&prefix, other) } else { (other, &prefix) };
                return Err(DatasetError::file(
                    path,
                    format!("holds two file trees, {first}data/ and {second}data/: a zip holds one recording (give each its own zip)"),
                ));
            }
            let files = names.iter().filter_map(|n| n.strip_prefix(prefix.as_str())).map(str::to_string).collect();
            let dirs = folders.iter().filter_map(|n| n.strip_prefix(prefix.as_str())?.strip_suffix('/')).map(str::to_string).collect();
            (Source::Zip { archive: path.to_path_buf(), prefix }, files, dirs)
        };
        let mut tree = TreeFile { path: path.to_path_buf(), source, files, dirs, n_trials: 0 };
        if !tree.files.iter().any(|f| f.starts_with("data/")) {
            return Err(
                tree.err("data", "missing: a file tree has data/images, data/responses and meta/ (is this a neuralpredictors file tree?)")
            );
        }
        tree.n_trials = tree.trial_numbers("images")?.last().map_or(0, |&t| t + 1);
        if tree.n_trials == 0 {
            return Err(tree.err("data/images", "has no trial files"));
        }
        Ok(tree)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Trials, counted from `data/images`.
    pub fn n_trials(&self) -> usize {
        self.n_trials
    }

    /// A file the tree does not have: missing, or a folder in its place.
    fn absent(&self, key: &str) -> DatasetError {
        if self.dirs.contains(key) || self.has(key) {
            self.err(key, "is a directory, not a file")
        } else {
            self.err(key, "missing")
        }
    }

    fn err(&self, key: &str, problem: impl std::fmt::Display) -> DatasetError {
        DatasetError::key(&self.path, key, problem.to_string())
    }

    fn reader(&self) -> Result<Reader> {
        Ok(match &self.source {
            Source::Dir(root) => Reader::Dir(root.clone()),
            Source::Zip { archive, prefix } => Reader::Zip(Box::new(open_zip(archive)?), prefix.clone()),
        })
    }

    pub fn has(&self, key: &str) -> bool {
        self.files.contains(key) || self.files.iter().any(|f| f.starts_with(&format!("{key}/")))
    }

    /// Names directly under a folder of the tree (files and folders), sorted.
    pub fn members(&self, dir: &str) -> Vec<String> {
        let prefix = format!("{dir}/");
        let mut out: Vec<String> = self
            .files
            .iter()
            .chain(&self.dirs)
            .filter_map(|f| f.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Parse one `.npy` of the tree.
    fn npy_with(&self, reader: &mut Reader, key: &str) -> Result<Npy> {
        if !self.files.contains(key) {
            return Err(self.absent(key));
        }
        let bytes = reader.read(key).map_err(|e| self.err(key, format!("cannot read ({e})")))?;
        Npy::parse(&bytes).map_err(|e| self.err(key, e))
    }

    pub fn npy(&self, key: &str) -> Result<Npy> {
        self.npy_with(&mut self.reader()?, key)
    }

    /// Sorted trial numbers of the `<n>.npy` files in `data/<key>`.
    fn trial_numbers(&self, key: &str) -> Result<Vec<usize>> {
        let dir = format!("data/{key}");
        let mut numbers = Vec::new();
        for name in self.members(&dir) {
            let Some(stem) = name.strip_suffix(".npy") else { continue };
            let n = stem
                .parse::<usize>()
                .map_err(|_| self.err(&format!("{dir}/{name}"), "is not named by a trial number (0.npy, 1.npy, ...)"))?;
            numbers.push(n);
        }
        numbers.sort_unstable();
        Ok(numbers)
    }

    /// Every trial file of `data/<key>` present, numbered 0..N; the first gap is the error.
    fn check_trial_files(&self, key: &str) -> Result<()> {
        let dir = format!("data/{key}");
        let numbers = self.trial_numbers(key)?;
        if numbers.is_empty() {
            return Err(self.err(&dir, "missing"));
        }
        if let Some(gap) =
            (0..self.n_trials).zip(numbers.iter().copied().chain(std::iter::repeat(usize::MAX))).find(|(want, got)| want != got)
        {
            return Err(self.err(
                &format!("{dir}/{}.npy", gap.0),
                format!("missing: data/images has trials 0..{} but {dir} has {} trial files", self.n_trials - 1, numbers.len()),
            ));
        }
        if numbers.len() > self.n_trials {
            return Err(self.err(&dir, format!("has {} trial files but data/images has {}", numbers.len(), self.n_trials)));
        }
        Ok(())
    }

    /// The trial files of `data/<key>`, each of one shape and dtype, in trial order, converted
    /// by `out_of` into one buffer (N × the first trial's element count). Trials are read on
    /// several threads, each straight into its own rows, so the buffer is the only copy.
    fn read_trials<T: Clone + Default + Send>(
        &self,
        key: &str,
        out_of: impl Fn(Npy) -> Result<Vec<T>, NpyError> + Sync,
    ) -> Result<(Vec<usize>, Vec<T>)> {
        self.check_trial_files(key)?;
        let first_key = format!("data/{key}/0.npy");
        let first = self.npy(&first_key)?;
        let (shape, dtype) = (first.shape.clone(), first.dtype.clone());
        let row = first.len();
        let n = self.n_trials;
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).min(n).max(1);
        let per = n.div_ceil(threads);
        // A zeroed allocation: its pages are committed as the threads fill them.
        let mut all = vec![T::default(); n * row];
        std::thread::scope(|scope| {
            let handles: Vec<_> = all
                .chunks_mut((per * row).max(1))
                .enumerate()
                .map(|(part, rows)| {
                    let (out_of, shape, dtype, first_key) = (&out_of, &shape, &dtype, &first_key);
                    scope.spawn(move || -> Result<()> {
                        let mut reader = self.reader()?;
                        for (i, t) in (part * per..((part + 1) * per).min(n)).enumerate() {
                            let k = format!("data/{key}/{t}.npy");
                            let npy = self.npy_with(&mut reader, &k)?;
                            if npy.shape != *shape || npy.dtype != *dtype {
                                return Err(self.err(
                                    &k,
                                    format!(
                                        "holds {} of shape {:?}, but {first_key} holds {dtype} of shape {shape:?}",
                                        npy.dtype, npy.shape
                                    ),
                                ));
                            }
                            rows[i * row..(i + 1) * row].clone_from_slice(&out_of(npy).map_err(|e| self.err(&k, e))?);
                        }
                        Ok(())
                    })
                })
                .collect();
            // The first error in trial order.
            handles.into_iter().map(|h| h.join().expect("a trial reader panicked")).collect::<Result<Vec<()>>>()
        })?;
        Ok((shape, all))
    }

    /// Per-trial vectors of `data/<key>` as an (N, K) array.
    fn rows(&self, key: &str) -> Result<Array2<f32>> {
        let (shape, v) = self.read_trials(key, Npy::into_f32)?;
        if shape.len() != 1 {
            return Err(self.err(&format!("data/{key}/0.npy"), format!("must be one vector per trial, found shape {shape:?}")));
        }
        Array2::from_shape_vec((self.n_trials, shape[0]), v).map_err(|e| self.err(&format!("data/{key}"), e.to_string()))
    }

    /// A per-trial array of `meta/trials`, checked to have one entry per trial.
    fn per_trial(&self, name: &str) -> Result<Npy> {
        let key = format!("meta/trials/{name}.npy");
        let npy = self.npy(&key)?;
        if npy.shape.len() != 1 || npy.shape[0] != self.n_trials {
            return Err(self.err(&key, format!("has shape {:?} but there are {} trials (data/images)", npy.shape, self.n_trials)));
        }
        Ok(npy)
    }
}

impl TreeFile {
    /// `ground_truth/filters.npy` (U, 2, H, W) and the per-unit tuning beside it.
    fn true_selectivity(&self) -> Result<TrueSelectivity> {
        let values = |name: &str, rank: usize| -> Result<(Vec<usize>, Vec<f32>)> {
            let key = format!("ground_truth/{name}.npy");
            let npy = self.npy(&key)?;
            let shape = npy.shape.clone();
            if shape.len() != rank {
                return Err(self.err(&key, format!("must be {rank}-D, found shape {shape:?}")));
            }
            Ok((shape, npy.into_f32().map_err(|e| self.err(&key, e))?))
        };
        let (shape, filters) = values("filters", 4)?;
        let filters = Array4::from_shape_vec((shape[0], shape[1], shape[2], shape[3]), filters)
            .map_err(|e| self.err("ground_truth/filters.npy", e.to_string()))?;
        let vector = |name: &str| values(name, 1).map(|(_, v)| Array1::from(v));
        Ok(TrueSelectivity {
            filters,
            orientation_deg: vector("orientation_deg")?,
            spatial_frequency: vector("spatial_frequency")?,
            phase_deg: vector("phase_deg")?,
        })
    }
}

impl Layout for TreeFile {
    /// neurozoo's simulators' ground truth in `ground_truth/` (trees made by neuralpredictors'
    /// converter have none: it drops the extra HDF5 group).
    fn ground_truth(&self) -> Result<Option<GroundTruth>> {
        if !self.files.contains("ground_truth/rf_position.npy") {
            return Ok(None);
        }
        let read = |name: &str| self.npy(&format!("ground_truth/{name}.npy"));
        let matrix = |name: &str| -> Result<Array2<f32>> {
            let npy = read(name)?;
            let key = format!("ground_truth/{name}.npy");
            let shape = npy.shape.clone();
            let [r, c] = shape[..] else { return Err(self.err(&key, format!("must be 2-D, found shape {shape:?}"))) };
            Array2::from_shape_vec((r, c), npy.into_f32().map_err(|e| self.err(&key, e))?).map_err(|e| self.err(&key, e.to_string()))
        };
        let cell_type = read("cell_type")?.into_i64().map_err(|e| self.err("ground_truth/cell_type.npy", e))?;
        Ok(Some(GroundTruth {
            rf_position: matrix("rf_position")?,
            cell_type: cell_type
                .iter()
                .map(|&t| u32::try_from(t).map_err(|_| self.err("ground_truth/cell_type.npy", format!("negative type {t}"))))
                .collect::<Result<_>>()?,
            cell_type_names: read("cell_type_names")?.into_strings().map_err(|e| self.err("ground_truth/cell_type_names.npy", e))?,
            noiseless_rates: matrix("noiseless_rates")?,
            params_json: match self.files.contains("ground_truth/params.json") {
                true => String::from_utf8_lossy(
                    &self.reader()?.read("ground_truth/params.json").map_err(|e| self.err("ground_truth/params.json", e.to_string()))?,
                )
                .into(),
                false => String::new(),
            },
            selectivity: if self.files.contains("ground_truth/filters.npy") { Some(self.true_selectivity()?) } else { None },
        }))
    }

    /// Images as stored: uint8 trials give uint8 images, any other number type f32.
    fn images(&self) -> Result<Images> {
        let first = self.npy("data/images/0.npy")?;
        let chw = |shape: &[usize]| -> Result<(usize, usize, usize)> {
            match *shape {
                [c, h, w] => Ok((c, h, w)),
                [h, w] => Ok((1, h, w)),
                _ => Err(self.err("data/images/0.npy", format!("must be (C, H, W) or (H, W), found shape {shape:?}"))),
            }
        };
        let (c, h, w) = chw(&first.shape)?;
        let n = self.n_trials;
        let shaped = |e: ndarray::ShapeError| self.err("data/images", e.to_string());
        if matches!(first.data, NpyData::U8(_)) {
            let (_, v) = self.read_trials("images", |npy| match npy.data {
                NpyData::U8(v) => Ok(v),
                _ => Err("is not uint8".into()),
            })?;
            return Array4::from_shape_vec((n, c, h, w), v).map(Images::U8).map_err(shaped);
        }
        let (_, v) = self.read_trials("images", Npy::into_f32)?;
        Array4::from_shape_vec((n, c, h, w), v).map(Images::F32).map_err(shaped)
    }

    fn responses(&self) -> Result<Array2<f32>> {
        self.rows("responses")
    }

    /// `behavior` or `pupil_center`, when the tree has them.
    fn optional_rows(&self, key: &str) -> Result<Option<Array2<f32>>> {
        self.has(&format!("data/{key}")).then(|| self.rows(key)).transpose()
    }

    /// The stored element type of `images`, `responses` (their first trial) or `tiers`.
    fn dtype_name(&self, key: &str) -> Result<String> {
        let file = match key {
            "tiers" => "meta/trials/tiers.npy".to_string(),
            other => format!("data/{other}/0.npy"),
        };
        Ok(self.npy(&file)?.dtype)
    }

    fn tiers(&self) -> Result<Vec<Tier>> {
        let key = "meta/trials/tiers.npy";
        self.per_trial("tiers")?
            .into_strings()
            .map_err(|e| self.err(key, e))?
            .iter()
            .enumerate()
            .map(|(i, s)| s.parse::<Tier>().map_err(|e| self.err(key, format!("row {i}: {e}"))))
            .collect()
    }

    /// The `meta/trials` file holding image ids, if any.
    fn image_id_key(&self) -> Option<String> {
        IMAGE_ID_KEYS.iter().map(|k| format!("meta/trials/{k}.npy")).find(|k| self.files.contains(k))
    }

    /// Image ids; without any id file, every trial counts as its own image (no repeats).
    fn image_ids(&self) -> Result<Vec<i64>> {
        match self.image_id_key() {
            Some(key) => {
                let name = key.trim_start_matches("meta/trials/").trim_end_matches(".npy");
                self.per_trial(name)?.into_i64().map_err(|e| self.err(&key, e))
            }
            None => Ok((0..self.n_trials as i64).collect()),
        }
    }

    fn trial_idx(&self) -> Result<Vec<i64>> {
        if self.files.contains("meta/trials/trial_idx.npy") {
            self.per_trial("trial_idx")?.into_i64().map_err(|e| self.err("meta/trials/trial_idx.npy", e))
        } else {
            Ok((0..self.n_trials as i64).collect())
        }
    }

    fn units(&self) -> Result<Units> {
        let first = self.npy("data/responses/0.npy")?;
        let n_units = first.shape.first().copied().unwrap_or(0);
        let key = |k: &str| format!("meta/neurons/{k}.npy");
        let opt = |k: &str| -> Result<Option<Npy>> {
            let npy = self.files.contains(&key(k)).then(|| self.npy(&key(k))).transpose()?;
            if let Some(n) = &npy {
                if n.shape.first() != Some(&n_units) {
                    return Err(self.err(&key(k), format!("has shape {:?} but responses have {n_units} units", n.shape)));
                }
            }
            Ok(npy)
        };
        let ints = |k: &str| -> Result<Option<Vec<i64>>> { opt(k)?.map(|n| n.into_i64().map_err(|e| self.err(&key(k), e))).transpose() };
        let strings =
            |k: &str| -> Result<Option<Vec<String>>> { opt(k)?.map(|n| n.into_strings().map_err(|e| self.err(&key(k), e))).transpose() };
        let coordinates = match opt("cell_motor_coordinates")? {
            Some(n) => {
                let k = key("cell_motor_coordinates");
                if n.shape.len() != 2 {
                    return Err(self.err(&k, format!("must be (U, 3), found shape {:?}", n.shape)));
                }
                let cols = n.shape[1];
                let v = n.into_f32().map_err(|e| self.err(&k, e))?;
                Some(Array2::from_shape_vec((n_units, cols), v).map_err(|e| self.err(&k, e.to_string()))?)
            }
            None => None,
        };
        Ok(Units {
            ids: ints("unit_ids")?.unwrap_or_else(|| (0..n_units as i64).collect()),
            animal_ids: ints("animal_ids")?,
            sessions: ints("sessions")?,
            scan_idx: ints("scan_idx")?,
            area: strings("area")?,
            layer: strings("layer")?,
            coordinates,
        })
    }
}

/// Every file under `dir`, relative to `root`, with `/` separators.
fn list_dir(root: &Path, dir: &Path, files: &mut BTreeSet<String>, dirs: &mut BTreeSet<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let Ok(rel) = path.strip_prefix(root) else { continue };
        let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        if entry.file_type()?.is_dir() {
            list_dir(root, &path, files, dirs)?;
            dirs.insert(rel);
        } else {
            files.insert(rel);
        }
    }
    Ok(())
}

/// Write a dataset as a file tree, in the layout neuralpredictors' converter writes (statistics
/// `all` and `train`, as in neurozoo's HDF5 files), plus the simulators' ground truth in
/// `ground_truth/`, which other readers ignore. The directory appears only when complete: it
/// is written beside the target under a temporary name and renamed into place.
pub fn write(ds: &Dataset, dir: &Path) -> Result<()> {
    ds.check_consistent()?;
    if dir.exists() {
        return Err(DatasetError::file(dir, "already exists: a file tree is written into a new directory"));
    }
    let name = dir.file_name().ok_or_else(|| DatasetError::file(dir, "not a directory path"))?;
    let tmp = dir.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    let _ = std::fs::remove_dir_all(&tmp);
    let result = write_tree(ds, &tmp).and_then(|()| std::fs::rename(&tmp, dir));
    result.map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp);
        DatasetError::file(dir, format!("cannot write ({e})"))
    })
}

fn write_tree(ds: &Dataset, root: &Path) -> std::io::Result<()> {
    use crate::npy::{write as npy, NpyOut};
    let put = |rel: &str, bytes: Vec<u8>| -> std::io::Result<()> {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("a file in the tree"))?;
        std::fs::write(path, bytes)
    };
    let [_, c, h, w] = ds.images.shape();
    for t in 0..ds.n_trials() {
        let image = match &ds.images {
            Images::U8(a) => {
                npy(&[c, h, w], NpyOut::U8(a.index_axis(ndarray::Axis(0), t).as_standard_layout().as_slice().expect("standard layout")))
            }
            Images::F32(a) => {
                npy(&[c, h, w], NpyOut::F32(a.index_axis(ndarray::Axis(0), t).as_standard_layout().as_slice().expect("standard layout")))
            }
        };
        put(&format!("data/images/{t}.npy"), image)?;
        for (key, rows) in
            [("responses", Some(&ds.responses)), ("behavior", ds.behavior.as_ref()), ("pupil_center", ds.pupil_center.as_ref())]
        {
            if let Some(rows) = rows {
                let row = rows.row(t).to_vec();
                put(&format!("data/{key}/{t}.npy"), npy(&[row.len()], NpyOut::F32(&row)))?;
            }
        }
    }
    let n = ds.n_trials();
    let tiers: Vec<String> = ds.tiers.iter().map(|t| t.as_str().to_string()).collect();
    put("meta/trials/tiers.npy", npy(&[n], NpyOut::Str(&tiers)))?;
    put("meta/trials/frame_image_id.npy", npy(&[n], NpyOut::I64(&ds.image_ids)))?;
    put("meta/trials/trial_idx.npy", npy(&[n], NpyOut::I64(&ds.trial_idx)))?;
    let u = &ds.units;
    put("meta/neurons/unit_ids.npy", npy(&[u.len()], NpyOut::I64(&u.ids)))?;
    for (key, values) in [("animal_ids", &u.animal_ids), ("sessions", &u.sessions), ("scan_idx", &u.scan_idx)] {
        if let Some(v) = values {
            put(&format!("meta/neurons/{key}.npy"), npy(&[v.len()], NpyOut::I64(v)))?;
        }
    }
    for (key, values) in [("area", &u.area), ("layer", &u.layer)] {
        if let Some(v) = values {
            put(&format!("meta/neurons/{key}.npy"), npy(&[v.len()], NpyOut::Str(v)))?;
        }
    }
    if let Some(xyz) = &u.coordinates {
        put(
            "meta/neurons/cell_motor_coordinates.npy",
            npy(&[xyz.nrows(), xyz.ncols()], NpyOut::F32(&xyz.iter().copied().collect::<Vec<_>>())),
        )?;
    }
    for (group, stat) in crate::static_h5::statistics(ds) {
        for (name, get) in crate::stats::Summary::FIELDS {
            let (shape, values) = match &stat {
                crate::static_h5::Statistic::Scalar(s) => (vec![], vec![get(s)]),
                crate::static_h5::Statistic::Columns(cols) => (vec![cols.len()], cols.iter().map(get).collect()),
            };
            put(&format!("meta/statistics/{group}/{name}.npy"), npy(&shape, NpyOut::F64(&values)))?;
        }
    }
    if let Some(gt) = &ds.ground_truth {
        let matrix = |a: &Array2<f32>| npy(&[a.nrows(), a.ncols()], NpyOut::F32(&a.iter().copied().collect::<Vec<_>>()));
        put("ground_truth/rf_position.npy", matrix(&gt.rf_position))?;
        put("ground_truth/noiseless_rates.npy", matrix(&gt.noiseless_rates))?;
        let types: Vec<i64> = gt.cell_type.iter().map(|&t| i64::from(t)).collect();
        put("ground_truth/cell_type.npy", npy(&[types.len()], NpyOut::I64(&types)))?;
        put("ground_truth/cell_type_names.npy", npy(&[gt.cell_type_names.len()], NpyOut::Str(&gt.cell_type_names)))?;
        put("ground_truth/params.json", gt.params_json.clone().into_bytes())?;
        if let Some(sel) = &gt.selectivity {
            let filters = sel.filters.as_standard_layout();
            put("ground_truth/filters.npy", npy(sel.filters.shape(), NpyOut::F32(filters.as_slice().expect("standard layout"))))?;
            for (name, a) in
                [("orientation_deg", &sel.orientation_deg), ("spatial_frequency", &sel.spatial_frequency), ("phase_deg", &sel.phase_deg)]
            {
                put(&format!("ground_truth/{name}.npy"), npy(&[a.len()], NpyOut::F32(a.as_slice().expect("contiguous"))))?;
            }
        }
    }
    Ok(())
}
