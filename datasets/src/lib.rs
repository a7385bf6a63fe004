//! The data layer of neurozoo: neural recordings for system identification, with no libtorch.
//!
//! * [`static_h5`]: the neuralpredictors static HDF5 layout (`StaticImageSet`), read and write.
//! * [`file_tree`]: the neuralpredictors file tree (`.npy` per trial; sensorium's `.zip`
//!   releases read in place), read into the same [`Dataset`].
//! * [`nwb`]: NWB 2 optical physiology, read into the same [`Dataset`].
//! * [`simulate`]: populations with known ground truth (`neurozoo data simulate`).
//! * [`validate`] and [`inspect`]: what is wrong with a file, and what is in it.
//! * [`stats`]: summary statistics and train-tier normalisation.
//! * [`memory`]: the check made before an allocation a file or a setting sizes.
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

pub use dataset::{Dataset, GroundTruth, Images, Tier, TrueSelectivity, Units};
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

/// Refuse one recording given twice among `paths`: the same path, or the same file under
/// another name (a symlink, a relative path), found by comparing canonical paths. Its units
/// would be pooled twice, or fitted as two recordings. Paths that cannot be resolved are left
/// to the reader, which names them.
pub fn check_distinct(paths: &[&std::path::Path]) -> Result<()> {
    let canonical: Vec<Option<std::path::PathBuf>> = paths.iter().map(|p| std::fs::canonicalize(p).ok()).collect();
    for (i, c) in canonical.iter().enumerate() {
        if let Some(j) = c.as_ref().and_then(|c| canonical[..i].iter().position(|d| d.as_ref() == Some(c))) {
            return Err(DatasetError::SameFile { first: paths[j].into(), second: paths[i].into() });
        }
    }
    Ok(())
}

/// Version of the HDF5 library compiled into neurozoo (static, so there is no runtime .so).
pub fn hdf5_version() -> String {
    let v = hdf5::library_version();
    format!("{}.{}.{}", v.0, v.1, v.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same file given twice, or once more through a symlink, is named as one file; two
    /// files are distinct even with one name in two folders.
    #[test]
    fn one_file_under_two_names_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (a, link) = (dir.path().join("a.h5"), dir.path().join("b.h5"));
        std::fs::write(&a, b"x").unwrap();
        std::os::unix::fs::symlink(&a, &link).unwrap();
        std::fs::create_dir(dir.path().join("other")).unwrap();
        let other = dir.path().join("other/a.h5");
        std::fs::write(&other, b"x").unwrap();
        let said = |paths: &[&std::path::Path]| check_distinct(paths).map_err(|e| e.to_string());
        assert_eq!(said(&[&a, &other]), Ok(()));
        assert_eq!(
            said(&[&a, &other, &a]),
            Err(format!("{} and {} are the same file: give each recording once", a.display(), a.display()))
        );
        assert_eq!(said(&[&link, &a]), Err(format!("{} and {} are the same file: give each recording once", link.display(), a.display())));
        // A path that does not resolve is the reader's to name.
        assert_eq!(said(&[&dir.path().join("none.h5"), &dir.path().join("none.h5")]), Ok(()));
    }
}
