//! Models for neural system identification on libtorch (through `tch`).
//!
//! This crate holds the models and everything around them: the runtime report used by
//! `neurozoo doctor`, CNN cores (trainable, or frozen TorchScript networks), readouts,
//! training, and SlowVAE for sprite frame pairs (`slowvae`).
//!
//! ```no_run
//! use neurozoo_zoo::config::DeviceChoice;
//! use neurozoo_zoo::TorchRuntime;
//!
//! let device = neurozoo_tensor::device(DeviceChoice::Auto)?; // CUDA when libtorch sees a GPU, else CPU
//! let runtime = TorchRuntime::probe();
//! println!("libtorch {} on {device:?}", runtime.version.as_deref().unwrap_or("?"));
//! # Ok::<(), neurozoo_tensor::DeviceError>(())
//! ```
//!
//! # Frozen TorchScript cores
//!
//! A user's PyTorch network saved with `torch.jit.save` can stand in for the trainable core
//! ([`config::FrozenCoreConfig`], `[model.frozen_core]` in a fit config): it runs in evaluation
//! mode without gradients and outside the `VarStore`, so training fits only the readout. A layer
//! is a method of the module that maps an image batch (B, C, H, W) to a feature map
//! (B, C', h, w): `forward` by default, or any method exported with `@torch.jit.export`. Such
//! a model's layers for extraction are `core`, `readout` and `predicted`, and it has no
//! receptive-field positions (the network's pixel geometry is unknown). `docs/models.md` has the
//! whole story, the `neurozoo extract MODEL.pt` form included.
//!
//! ```no_run
//! use neurozoo_zoo::config::{preset, FrozenCoreConfig};
//! use neurozoo_zoo::model::Model;
//!
//! let mut cfg = preset("klindt2017").and_then(|p| p.into_responses()).unwrap().model;
//! cfg.core = None;
//! cfg.frozen_core = Some(FrozenCoreConfig { file: "cnn.pt".into(), layer: "conv2".into() });
//! let vs = tch::nn::VarStore::new(tch::Device::Cpu);
//! // 1 × 32 × 32 images, 100 neurons whose mean response is 1.
//! let model = Model::new(&vs.root(), &cfg, [1, 32, 32], &[1.0; 100])?;
//! assert_eq!(model.layer_names(), ["core", "readout", "predicted"]);
//! # Ok::<(), neurozoo_zoo::model::ModelError>(())
//! ```
//!
//! # Several recordings
//!
//! Recordings of several mice or sessions share one core and each has its own readout
//! ([`model::Model::shared`]); [`train::Trainer::fit`] takes one [`train::TrainData`] per
//! recording and steps through them as neuralpredictors' `LongCycler` does.
//!
//! ```no_run
//! use neurozoo_zoo::config::preset;
//! use neurozoo_zoo::model::Model;
//!
//! let cfg = preset("sensorium2022").and_then(|p| p.into_responses()).unwrap().model;
//! let vs = tch::nn::VarStore::new(tch::Device::Cpu);
//! // Two recordings of 36 × 64 images with 800 and 1200 neurons.
//! let model = Model::shared(&vs.root(), &cfg, [1, 36, 64], &[vec![1.0; 800], vec![1.0; 1200]])?;
//! assert_eq!((model.readouts.len(), model.shifters.len()), (2, 2));
//! assert!(model.inputs().behavior_channels);
//! # Ok::<(), neurozoo_zoo::model::ModelError>(())
//! ```

pub mod checkpoint;
/// Configs and presets live where code without libtorch can read them.
pub use neurozoo_config as config;
pub mod eval;
pub mod exchange;
pub mod insilico;
/// neuralpredictors' fit measures live with the other scores, where code without libtorch (the
/// `neurozoo` front end) can use them.
pub use neurozoo_metrics::measures;
pub mod model;
pub mod regularizers;
pub mod run;
mod runtime;
pub mod slowvae;
pub mod train;

pub use runtime::{keep_freed_memory, CudaDevice, PeakMemory, TorchRuntime};
