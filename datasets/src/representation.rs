//! Representation files: what analyses run on, from a model or from a recording alike.
//!
//! ```text
//! /representations/<name>   (n_stimuli, n_units) f32; attribute `source`, a JSON object
//!                           naming where it came from (a run and layer, a dataset's responses)
//! /representations          attribute `order`, a JSON list of the names in the order written
//!                           (HDF5 lists members alphabetically: core.10 before core.2)
//! /stimulus_ids             (n_stimuli,) i64; rows of every representation follow these ids
//! /stimuli                  (n_stimuli, C, H, W) f32, optional
//! /arrays/<name>            f32 arrays of any shape (what plugins hand back), optional;
//!                           `neurozoo extract --data` writes `oracle_correlation` (n_units,)
//!                           and, for the images shown more than once, `trial_responses`
//!                           (n_trials, n_units) with `trial_rows` (n_trials,), the row each
//!                           trial shows: what `compare` needs for noise ceilings
//! ```
//!
//! Brain and model representations of the same stimuli share ids, so a comparison aligns rows
//! by id, not by position.

use std::path::Path;

use hdf5::types::VarLenUnicode;
use ndarray::{Array2, Array4, ArrayD};

use crate::dataset::{Dataset, Tier};
use crate::error::{DatasetError, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct Representation {
    pub name: String,
    /// (n_stimuli, n_units).
    pub data: Array2<f32>,
    /// JSON object describing the source.
    pub source: String,
}

/// A dataset's distinct images: the rows every representation of it has, so that files made
/// from responses and from models of the same dataset align row by row.
#[derive(Debug, Clone, PartialEq)]
pub struct UniqueImages {
    /// Image ids in order of first presentation.
    pub ids: Vec<i64>,
    /// The trials showing each image.
    pub trials: Vec<Vec<usize>>,
}

impl UniqueImages {
    pub fn of(ds: &Dataset) -> UniqueImages {
        let (mut ids, mut trials): (Vec<i64>, Vec<Vec<usize>>) = (Vec::new(), Vec::new());
        let mut index = std::collections::HashMap::new();
        for (t, &id) in ds.image_ids.iter().enumerate() {
            let slot = *index.entry(id).or_insert_with(|| {
                ids.push(id);
                trials.push(Vec::new());
                ids.len() - 1
            });
            trials[slot].push(t);
        }
        UniqueImages { ids, trials }
    }

    /// Only the images first shown in one of `tiers` (all of them when `tiers` is empty): a
    /// comparison on held-out images leaves out what a model was fitted to. None at all is an
    /// error: a representation of no images is no answer.
    pub fn in_tiers(self, ds: &Dataset, tiers: &[Tier]) -> std::result::Result<UniqueImages, SelectionError> {
        let (ids, trials): (Vec<i64>, Vec<Vec<usize>>) =
            self.ids.into_iter().zip(self.trials).filter(|(_, t)| tiers.is_empty() || tiers.contains(&ds.tiers[t[0]])).unzip();
        if ids.is_empty() {
            return Err(SelectionError::NoImages { tiers: tiers.to_vec() });
        }
        Ok(UniqueImages { ids, trials })
    }

    /// The first trial showing each image.
    pub fn first_trials(&self) -> Vec<usize> {
        self.trials.iter().map(|t| t[0]).collect()
    }

    /// A file holding `representations` of these images, with the images as stimuli.
    pub fn file(&self, representations: Vec<Representation>, ds: &Dataset) -> RepresentationFile {
        RepresentationFile {
            representations,
            stimulus_ids: self.ids.clone(),
            stimuli: Some(ds.images.select(&self.first_trials()).to_f32()),
            arrays: Vec::new(),
        }
    }
}

/// A selection of images or of a representation that finds nothing, or more than one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error("no images first shown in the tiers {}: nothing to extract", tiers.iter().map(Tier::to_string).collect::<Vec<_>>().join(", "))]
    NoImages { tiers: Vec<Tier> },
    #[error("no representation {name:?} (there are: {})", names.join(", "))]
    NoRepresentation { name: String, names: Vec<String> },
    #[error("{} representations ({}): name one", names.len(), names.join(", "))]
    NameOne { names: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RepresentationFile {
    pub representations: Vec<Representation>,
    pub stimulus_ids: Vec<i64>,
    pub stimuli: Option<Array4<f32>>,
    pub arrays: Vec<(String, ArrayD<f32>)>,
}

impl RepresentationFile {
    /// A dataset's recorded responses averaged over the repeats of each image, one row per image
    /// id in order of first presentation (of the images in `tiers`, all when it is empty), with
    /// the image itself as the stimulus.
    pub fn from_responses(ds: &Dataset, source_file: &Path, tiers: &[Tier]) -> std::result::Result<RepresentationFile, SelectionError> {
        let images = UniqueImages::of(ds).in_tiers(ds, tiers)?;
        let trials = &images.trials;
        let data = Array2::from_shape_fn((images.ids.len(), ds.n_units()), |(i, u)| {
            trials[i].iter().map(|&t| ds.responses[[t, u]]).sum::<f32>() / trials[i].len() as f32
        });
        let source = serde_json::json!({"kind": "responses", "file": source_file.display().to_string(), "averaged_over_repeats": true, "unit_ids": ds.units.ids});
        Ok(images.file(vec![Representation { name: "responses".into(), data, source: source.to_string() }], ds))
    }

    /// The representation called `name`, or the only one when `name` is `None`.
    pub fn get(&self, name: Option<&str>) -> std::result::Result<&Representation, SelectionError> {
        let names = || self.representations.iter().map(|r| r.name.clone()).collect();
        match name {
            Some(n) => self
                .representations
                .iter()
                .find(|r| r.name == n)
                .ok_or_else(|| SelectionError::NoRepresentation { name: n.into(), names: names() }),
            None if self.representations.len() == 1 => Ok(&self.representations[0]),
            None => Err(SelectionError::NameOne { names: names() }),
        }
    }

    /// Write atomically: the file is complete or absent.
    pub fn write(&self, path: &Path) -> Result<()> {
        for r in &self.representations {
            if r.data.nrows() != self.stimulus_ids.len() {
                return Err(DatasetError::key(
                    path,
                    &format!("representations/{}", r.name),
                    format!("has {} rows for {} stimulus ids", r.data.nrows(), self.stimulus_ids.len()),
                ));
            }
        }
        crate::h5::write_atomic(path, |tmp| self.write_file(tmp))
    }

    fn write_file(&self, path: &Path) -> hdf5::Result<()> {
        let file = hdf5::File::with_options().with_fcpl(|p| p.obj_track_times(false)).create(path)?;
        // A file of arrays alone (a plugin's outputs) has no representation group.
        if !self.representations.is_empty() {
            let reps = file.create_group("representations")?;
            let order = serde_json::to_string(&self.representations.iter().map(|r| &r.name).collect::<Vec<_>>()).expect("JSON");
            let order: VarLenUnicode = order.parse().map_err(|e| hdf5::Error::from(format!("{e}")))?;
            reps.new_attr::<VarLenUnicode>().create("order")?.write_scalar(&order)?;
            for r in &self.representations {
                let ds = reps.new_dataset_builder().obj_track_times(false).with_data(r.data.view()).create(r.name.as_str())?;
                let source: VarLenUnicode = r.source.parse().map_err(|e| hdf5::Error::from(format!("{e}")))?;
                ds.new_attr::<VarLenUnicode>().create("source")?.write_scalar(&source)?;
            }
            file.new_dataset_builder().obj_track_times(false).with_data(&self.stimulus_ids[..]).create("stimulus_ids")?;
        }
        if let Some(s) = &self.stimuli {
            file.new_dataset_builder().obj_track_times(false).with_data(s.view()).create("stimuli")?;
        }
        if !self.arrays.is_empty() {
            let arrays = file.create_group("arrays")?;
            for (name, a) in &self.arrays {
                arrays.new_dataset_builder().obj_track_times(false).with_data(a.view()).create(name.as_str())?;
            }
        }
        file.close()
    }

    pub fn read(path: &Path) -> Result<RepresentationFile> {
        let file = crate::h5::open(path)?;
        let key_err = |key: &str, e: hdf5::Error| DatasetError::key(path, key, e.to_string());
        let group = file.group("representations").map_err(|_| {
            DatasetError::key(path, "representations", "missing: not a representation file (write one with `neurozoo extract`)")
        })?;
        let mut representations = Vec::new();
        for name in group.member_names().map_err(|e| key_err("representations", e))? {
            let key = format!("representations/{name}");
            let ds = group.dataset(&name).map_err(|e| key_err(&key, e))?;
            if ds.ndim() != 2 {
                return Err(DatasetError::key(path, &key, format!("is {}-D, expected (n_stimuli, n_units)", ds.ndim())));
            }
            fits(path, &key, &ds)?;
            let data = ds.read_2d::<f32>().map_err(|e| key_err(&key, e))?;
            let source =
                ds.attr("source").and_then(|a| a.read_scalar::<VarLenUnicode>()).map(|s| s.to_string()).unwrap_or_else(|_| "{}".into());
            representations.push(Representation { name, data, source });
        }
        if representations.is_empty() {
            return Err(DatasetError::key(path, "representations", "is empty"));
        }
        // The order written, where the writer recorded it; names it does not list go last.
        let order: Vec<String> = group
            .attr("order")
            .and_then(|a| a.read_scalar::<VarLenUnicode>())
            .ok()
            .and_then(|o| serde_json::from_str(o.as_str()).ok())
            .unwrap_or_default();
        representations.sort_by_key(|r| order.iter().position(|n| *n == r.name).unwrap_or(usize::MAX));
        let stimulus_ids = file.dataset("stimulus_ids").and_then(|d| d.read_raw::<i64>()).map_err(|e| key_err("stimulus_ids", e))?;
        for r in &representations {
            if r.data.nrows() != stimulus_ids.len() {
                return Err(DatasetError::key(
                    path,
                    &format!("representations/{}", r.name),
                    format!("has {} rows for {} stimulus ids", r.data.nrows(), stimulus_ids.len()),
                ));
            }
        }
        let stimuli = if file.link_exists("stimuli") {
            let ds = file.dataset("stimuli").map_err(|e| key_err("stimuli", e))?;
            fits(path, "stimuli", &ds)?;
            let s = ds.read::<f32, ndarray::Ix4>().map_err(|e| key_err("stimuli", e))?;
            if s.shape()[0] != stimulus_ids.len() {
                return Err(DatasetError::key(
                    path,
                    "stimuli",
                    format!("has {} rows for {} stimulus ids", s.shape()[0], stimulus_ids.len()),
                ));
            }
            Some(s)
        } else {
            None
        };
        let arrays = read_arrays_of(&file, path)?;
        Ok(RepresentationFile { representations, stimulus_ids, stimuli, arrays })
    }
}

/// A chunked dataset may declare far more elements than the file holds: what is read as f32
/// must fit in memory before it is allocated.
fn fits(path: &Path, key: &str, ds: &hdf5::Dataset) -> Result<()> {
    let shape = ds.shape();
    neurozoo_util::memory::fits_in_memory(neurozoo_util::memory::bytes_of(&shape, 4))
        .map_err(|e| DatasetError::key(path, key, format!("declares shape {shape:?}, which {e}")))
}

/// The `/arrays` group of a representation file or of a plugin's `arrays.h5`.
pub fn read_arrays(path: &Path) -> Result<Vec<(String, ArrayD<f32>)>> {
    let file = crate::h5::open(path)?;
    read_arrays_of(&file, path)
}

fn read_arrays_of(file: &hdf5::File, path: &Path) -> Result<Vec<(String, ArrayD<f32>)>> {
    let mut arrays = Vec::new();
    if let Ok(g) = file.group("arrays") {
        for name in g.member_names().map_err(|e| DatasetError::key(path, "arrays", e.to_string()))? {
            let key = format!("arrays/{name}");
            let ds = g.dataset(&name).map_err(|e| DatasetError::key(path, &key, e.to_string()))?;
            fits(path, &key, &ds)?;
            arrays.push((name.clone(), ds.read_dyn::<f32>().map_err(|e| DatasetError::key(path, &key, e.to_string()))?));
        }
    }
    Ok(arrays)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Representations read back in the order written, not HDF5's alphabetical order.
    #[test]
    fn representations_keep_their_order() {
        let names = ["predicted", "core.10", "core.2"];
        let file = RepresentationFile {
            representations: names
                .iter()
                .map(|n| Representation { name: n.to_string(), data: Array2::zeros((3, 2)), source: "{}".into() })
                .collect(),
            stimulus_ids: vec![4, 5, 6],
            ..RepresentationFile::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.h5");
        file.write(&path).unwrap();
        let read: Vec<String> = RepresentationFile::read(&path).unwrap().representations.into_iter().map(|r| r.name).collect();
        assert_eq!(read, names);
    }

    /// A chunked dataset declaring 2⁴⁰ × 8 values in a file of a few kB is refused, naming the
    /// file, the key and the memory, before anything is allocated.
    #[test]
    fn a_huge_declared_shape_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.h5");
        let file = RepresentationFile {
            representations: vec![Representation { name: "r".into(), data: Array2::zeros((3, 2)), source: "{}".into() }],
            stimulus_ids: vec![0, 1, 2],
            ..RepresentationFile::default()
        };
        file.write(&path).unwrap();
        let h5 = hdf5::File::open_rw(&path).unwrap();
        h5.new_dataset::<f32>().chunk((1024, 8)).shape((1usize << 40, 8)).create("representations/huge").unwrap();
        h5.close().unwrap();
        let e = RepresentationFile::read(&path).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}: representations/huge: declares shape [1099511627776, 8], which needs 32768.0 GiB", path.display())),
            "{e}"
        );
    }
}
