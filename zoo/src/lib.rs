//! Models for neural system identification on libtorch (through `tch`).
//!
//! This crate holds the models and everything around them: the runtime report used by
//! `neurozoo doctor`, CNN cores (trainable, or frozen TorchScript networks), readouts,
//! training, SlowVAE for sprite frame pairs (`slowvae`), and the run directories of every family
//! of models (`run`).
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
//!
//! # Families of models
//!
//! The response models and the sprite-pair models (and next the movie models) are families:
//! implementations of [`run::ModelFamily`], each saying what its config, data, model, training
//! loop, scores and representations are. What they share is written once, generic over the
//! family: preparing a fit into a new run directory or resuming one ([`run::family::Fit`]),
//! `run.json` ([`run::RunRecord`]), the weights, and loading a complete run
//! ([`run::family::Run`]). Training reports typed events that say where a progress bar is and
//! what to log ([`run::family::Progress`]), so one loop shows any family's fit.
//!
//! ```no_run
//! use neurozoo_zoo::run::family::{EvalOptions, Fit, FitRequest, Progress, Run};
//! use neurozoo_zoo::run::{ModelFamily, RunError, SpritePairs};
//!
//! /// Fit a model of any family, logging as it trains, and score the run on its own data.
//! fn fit_and_score<F: ModelFamily>(request: FitRequest<F>) -> Result<F::Evaluation, RunError> {
//!     let (out, data, device) = (request.out.clone(), request.data[0].clone(), request.device);
//!     Fit::prepare(request)?.train(|event| event.line().into_iter().for_each(|line| eprintln!("{line}")))?;
//!     let run = Run::<F>::load(&out, device)?;
//!     F::evaluate(&run, &data, &EvalOptions { nwb: Default::default(), intervention_points: 0, device })
//! }
//!
//! let config = neurozoo_zoo::config::preset("slowvae").and_then(SpritePairs::config).unwrap();
//! let request = FitRequest::<SpritePairs> {
//!     config,
//!     model: "slowvae".into(),
//!     seed: None,
//!     length: Some(2000), // steps, this family's length (`SpritePairs::LENGTH`, "iterations")
//!     data: vec!["sprites.h5".into()],
//!     nwb: Default::default(),
//!     out: "runs/slowvae".into(),
//!     device: tch::Device::Cpu,
//!     resume: false,
//! };
//! println!("MCC {:.3}", fit_and_score(request)?.scores.mcc_spearman);
//! # Ok::<(), RunError>(())
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

pub use runtime::{CudaDevice, PeakMemory, TorchRuntime};
