//! Models for neural system identification on libtorch (through `tch`).
//!
//! This crate holds everything that needs libtorch: device selection, the runtime report used by
//! `neurozoo doctor`, and (as they land) CNN cores, readouts, training, and SlowVAE
//! for sprite frame pairs (`slowvae`).
//!
//! ```no_run
//! use neurozoo_zoo::{DeviceChoice, TorchRuntime};
//!
//! let device = DeviceChoice::Auto.resolve()?; // CUDA when libtorch sees a GPU, else CPU
//! let runtime = TorchRuntime::probe();
//! println!("libtorch {} on {device:?}", runtime.version.as_deref().unwrap_or("?"));
//! # Ok::<(), neurozoo_zoo::DeviceError>(())
//! ```

pub mod config;
pub mod convert;
mod device;
pub mod eval;
pub mod measures;
pub mod model;
pub mod regularizers;
pub mod run;
mod runtime;
pub mod slowvae;
pub mod train;

pub use device::{DeviceChoice, DeviceError};
pub use runtime::{CudaDevice, TorchRuntime};
