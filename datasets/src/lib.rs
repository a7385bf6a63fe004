//! The data layer of neurozoo: neural recordings for system identification, with no libtorch.
//!
//! * [`static_h5`]: the neuralpredictors static HDF5 layout (`StaticImageSet`), read and write.
//! * [`file_tree`]: the neuralpredictors file tree (`.npy` per trial; sensorium's `.zip`
//!   releases read in place), read into the same [`Dataset`].
//! * [`nwb`]: NWB 2 optical physiology, read into the same [`Dataset`].
//! * [`simulate`]: populations with known ground truth (`neurozoo data simulate`).
//! * [`validate`] and [`inspect`]: what is wrong with a file, and what is in it.
//! * [`stats`]: summary statistics and train-tier normalisation.
//!
//! ```no_run
//! use neurozoo_datasets::{simulate::v1, static_h5, validate, Tier};
//!
//! let cfg = v1::V1Config { n_units: 50, n_train: 500, ..Default::default() };
//! let data = v1::simulate(&cfg)?;
//! static_h5::write(&data, "v1.h5".as_ref())?;
//!
//! let back = static_h5::read("v1.h5".as_ref())?;
//! assert_eq!(back.tier_indices(Tier::Train).len(), 500);
//! assert!(validate::validate("v1.h5".as_ref()).is_ok());
//! # Ok::<(), neurozoo_datasets::DatasetError>(())
//! ```

mod dataset;
mod error;
pub mod file_tree;
mod h5;
pub mod inspect;
mod layout;
pub mod meis;
pub mod npy;
pub mod nwb;
pub mod representation;
pub mod simulate;
pub mod static_h5;
pub mod stats;
pub mod validate;

pub use dataset::{Dataset, GroundTruth, Images, Tier, Units};
pub use error::{DatasetError, Result};
pub use h5::describe;
pub use layout::Layout;

/// On-disk layouts neurozoo reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// The neuralpredictors static HDF5 layout (also neurozoo's own).
    Static,
    /// NWB 2 (an HDF5 file whose root carries an `nwb_version` attribute).
    Nwb,
    /// The neuralpredictors file tree: a directory, or its `.zip`.
    FileTree,
}

/// Which layout a path has (a directory or `.zip` is a file tree); an error names the file
/// when it is not HDF5 at all.
pub fn detect_format(path: &std::path::Path) -> Result<Format> {
    if !path.exists() {
        return Err(DatasetError::File { file: path.into(), problem: "no such file".into() });
    }
    if file_tree::is_tree(path) {
        return Ok(Format::FileTree);
    }
    let file = crate::h5::open(path)?;
    let is_nwb = file.attr_names().unwrap_or_default().iter().any(|a| a == "nwb_version");
    Ok(if is_nwb { Format::Nwb } else { Format::Static })
}

/// Load a dataset of any layout (NWB with default [`nwb::NwbOptions`]).
pub fn load(path: &std::path::Path) -> Result<Dataset> {
    load_with(path, &nwb::NwbOptions::default())
}

/// Load a dataset of any layout; an NWB file is read with `nwb` (series, presentations,
/// response window, split).
pub fn load_with(path: &std::path::Path, nwb: &nwb::NwbOptions) -> Result<Dataset> {
    match detect_format(path)? {
        Format::Static => static_h5::read(path),
        Format::Nwb => nwb::read(path, nwb),
        Format::FileTree => file_tree::read(path),
    }
}

/// Load a dataset to fit, evaluate or extract from, refusing one `validate` finds errors in
/// (with every error): a static file is validated before it is read, a file tree's content
/// after (a tree is read once: trees are the large recordings).
pub fn load_checked(path: &std::path::Path, nwb: &nwb::NwbOptions) -> Result<Dataset> {
    let usable = |v: validate::Validation| -> Result<()> {
        if v.is_ok() {
            return Ok(());
        }
        let problems = v.lines().filter(|l| !l.starts_with("warning")).collect();
        Err(DatasetError::Unusable { file: path.into(), problems })
    };
    match detect_format(path)? {
        Format::Static => usable(validate::validate(path))?,
        Format::FileTree => {
            let ds = file_tree::read(path)?;
            usable(validate::validate_loaded(path, &ds))?;
            return Ok(ds);
        }
        Format::Nwb => {}
    }
    load_with(path, nwb)
}

/// Version of the HDF5 library compiled into neurozoo (static, so there is no runtime .so).
pub fn hdf5_version() -> String {
    let v = hdf5::library_version();
    format!("{}.{}.{}", v.0, v.1, v.2)
}
