//! The data layer of neurozoo: neural recordings for system identification, with no libtorch.
//!
//! * [`static_h5`]: the neuralpredictors static HDF5 layout (`StaticImageSet`), read and write.
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
pub mod inspect;
pub mod simulate;
pub mod static_h5;
pub mod stats;
pub mod validate;

pub use dataset::{Dataset, GroundTruth, Tier, Units};
pub use error::{DatasetError, Result};

/// Version of the HDF5 library compiled into neurozoo (static, so there is no runtime .so).
pub fn hdf5_version() -> String {
    let v = hdf5::library_version();
    format!("{}.{}.{}", v.0, v.1, v.2)
}
