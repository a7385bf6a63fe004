//! `meis.h5`: most exciting inputs, one image per unit, as `neurozoo insilico mei` writes them.
//!
//! ```text
//! /meis            (U, C, H, W) f32, in the model's z-scored image space
//! /unit_ids        (U,) i64, the recording's unit ids (`/neurons/unit_ids`)
//! /unit_index      (U,) i64, each unit's 0-based position among the recording's units
//! /activation      (U,) f32, the model's predicted rate for the unit's MEI
//! /best_activation (U,) f32, the best predicted rate over a data set's images (optional)
//! /gradient_norm   (U,) f32, the last step's gradient norm
//! attributes: recording (name), steps, norm, value_min, value_max, params (JSON)
//! ```

use std::path::Path;

use hdf5::types::VarLenUnicode;
use ndarray::Array4;

use crate::error::{DatasetError, Result};

/// The contents of a `meis.h5`.
#[derive(Debug, Clone, PartialEq)]
pub struct MeiFile {
    /// The recording the units are of.
    pub recording: String,
    /// (U, C, H, W).
    pub meis: Array4<f32>,
    pub unit_ids: Vec<i64>,
    pub unit_index: Vec<i64>,
    pub activation: Vec<f32>,
    pub best_activation: Option<Vec<f32>>,
    pub gradient_norm: Vec<f32>,
    pub steps: u64,
    /// The L2 norm every MEI was held at, and the range its pixels were clipped to.
    pub norm: f64,
    pub value_range: (f64, f64),
    /// Every optimisation setting, as JSON.
    pub params: String,
}

const PER_UNIT: [&str; 4] = ["unit_ids", "unit_index", "activation", "gradient_norm"];

impl MeiFile {
    /// Per-unit columns whose length is not the number of MEIs: (key, length).
    fn mismatch(&self) -> Option<(&'static str, usize)> {
        let lengths = [self.unit_ids.len(), self.unit_index.len(), self.activation.len(), self.gradient_norm.len()];
        let best = self.best_activation.as_ref().map(|b| ("best_activation", b.len()));
        PER_UNIT.into_iter().zip(lengths).chain(best).find(|&(_, n)| n != self.meis.shape()[0])
    }

    /// Write atomically: the file is complete or absent.
    pub fn write(&self, path: &Path) -> Result<()> {
        if let Some((key, n)) = self.mismatch() {
            return Err(DatasetError::key(path, key, format!("has {n} values for {} MEIs", self.meis.shape()[0])));
        }
        crate::h5::write_atomic(path, |tmp| self.write_file(tmp))
    }

    fn write_file(&self, path: &Path) -> hdf5::Result<()> {
        let file = hdf5::File::with_options().with_fcpl(|p| p.obj_track_times(false)).create(path)?;
        let text = |s: &str| s.parse::<VarLenUnicode>().map_err(|e| hdf5::Error::from(format!("{e}")));
        file.new_attr::<VarLenUnicode>().create("recording")?.write_scalar(&text(&self.recording)?)?;
        file.new_attr::<VarLenUnicode>().create("params")?.write_scalar(&text(&self.params)?)?;
        file.new_attr::<u64>().create("steps")?.write_scalar(&self.steps)?;
        for (name, v) in [("norm", self.norm), ("value_min", self.value_range.0), ("value_max", self.value_range.1)] {
            file.new_attr::<f64>().create(name)?.write_scalar(&v)?;
        }
        file.new_dataset_builder().obj_track_times(false).with_data(self.meis.view()).create("meis")?;
        file.new_dataset_builder().obj_track_times(false).with_data(&self.unit_ids[..]).create("unit_ids")?;
        file.new_dataset_builder().obj_track_times(false).with_data(&self.unit_index[..]).create("unit_index")?;
        file.new_dataset_builder().obj_track_times(false).with_data(&self.activation[..]).create("activation")?;
        file.new_dataset_builder().obj_track_times(false).with_data(&self.gradient_norm[..]).create("gradient_norm")?;
        if let Some(best) = &self.best_activation {
            file.new_dataset_builder().obj_track_times(false).with_data(&best[..]).create("best_activation")?;
        }
        file.close()
    }

    pub fn read(path: &Path) -> Result<MeiFile> {
        let file = crate::h5::open(path)?;
        let key_err = |key: &str, e: hdf5::Error| DatasetError::key(path, key, e.to_string());
        let text = |name: &str| crate::h5::string_attr(&file, name).ok_or_else(|| DatasetError::key(path, name, "missing attribute"));
        let number = |name: &str| file.attr(name).and_then(|a| a.read_scalar::<f64>()).map_err(|e| key_err(name, e));
        let meis = file.dataset("meis").and_then(|d| d.read::<f32, ndarray::Ix4>()).map_err(|e| key_err("meis", e))?;
        let read_i64 = |key: &str| file.dataset(key).and_then(|d| d.read_raw::<i64>()).map_err(|e| key_err(key, e));
        let read_f32 = |key: &str| file.dataset(key).and_then(|d| d.read_raw::<f32>()).map_err(|e| key_err(key, e));
        let mei_file = MeiFile {
            recording: text("recording")?,
            meis,
            unit_ids: read_i64("unit_ids")?,
            unit_index: read_i64("unit_index")?,
            activation: read_f32("activation")?,
            best_activation: if file.link_exists("best_activation") { Some(read_f32("best_activation")?) } else { None },
            gradient_norm: read_f32("gradient_norm")?,
            steps: file.attr("steps").and_then(|a| a.read_scalar::<u64>()).map_err(|e| key_err("steps", e))?,
            norm: number("norm")?,
            value_range: (number("value_min")?, number("value_max")?),
            params: text("params")?,
        };
        if let Some((key, n)) = mei_file.mismatch() {
            return Err(DatasetError::key(path, key, format!("has {n} values for {} MEIs", mei_file.meis.shape()[0])));
        }
        Ok(mei_file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two() -> MeiFile {
        MeiFile {
            recording: "v1".into(),
            meis: Array4::from_shape_fn((2, 1, 3, 4), |(u, _, y, x)| (u * 100 + y * 4 + x) as f32),
            unit_ids: vec![17, 4],
            unit_index: vec![16, 3],
            activation: vec![2.5, 3.0],
            best_activation: Some(vec![1.0, 1.5]),
            gradient_norm: vec![0.01, 0.02],
            steps: 1000,
            norm: 24.0,
            value_range: (-4.5, 4.25),
            params: r#"{"lr": 1.0}"#.into(),
        }
    }

    /// What is written reads back the same, with and without the best activations; columns of
    /// the wrong length are refused, naming the key, and leave no file.
    #[test]
    fn mei_files_round_trip_and_refuse_ragged_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meis.h5");
        for best in [true, false] {
            let f = MeiFile { best_activation: two().best_activation.filter(|_| best), ..two() };
            f.write(&path).unwrap();
            assert_eq!(MeiFile::read(&path).unwrap(), f);
        }
        let bad = dir.path().join("bad.h5");
        let err = MeiFile { activation: vec![1.0], ..two() }.write(&bad).unwrap_err();
        assert!(err.to_string().contains("activation") && err.to_string().contains("1 values for 2 MEIs"), "{err}");
        assert!(!bad.exists());
    }
}
