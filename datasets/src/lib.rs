//! The data layer of neurozoo: neural recordings for system identification.
//!
//! No libtorch here; everything is `ndarray` and HDF5.

/// Version of the HDF5 library compiled into neurozoo (static, so there is no runtime .so).
pub fn hdf5_version() -> String {
    let v = hdf5::library_version();
    format!("{}.{}.{}", v.0, v.1, v.2)
}
