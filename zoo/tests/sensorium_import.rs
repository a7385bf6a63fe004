//! The SENSORIUM 2022 SOTA checkpoint (`../shared/checkpoints/`, see its README) imported into
//! a run, against neuralpredictors 0.3.0 with the starter kit's builder
//! (`tests/fixtures/make_sensorium_golden.py` made `sensorium_golden.json`).

mod common;

use std::path::{Path, PathBuf};

use neurozoo_zoo::config::{preset, FitConfig};
use neurozoo_zoo::exchange::{import_checkpoint, ImportError, ImportRequest, IMPORT_FILE};
use neurozoo_zoo::model::Readout;
use neurozoo_zoo::run::eval::Run;
use neurozoo_zoo::train::Batch;
use serde_json::Value;
use tch::{Device, Kind, Tensor};

fn checkpoint() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/checkpoints/sensorium_sota_model.pth");
    assert!(path.exists(), "the SENSORIUM 2022 checkpoint is missing: expected at {} (see shared/checkpoints/README.md)", path.display());
    path
}

fn golden() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sensorium_golden.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

/// The SOTA model: the sensorium2022 preset without behaviour channels or shifter (SENSORIUM,
/// not SENSORIUM+).
fn sota_config() -> FitConfig {
    let mut config = preset("sensorium2022").and_then(|p| p.into_responses()).unwrap();
    config.model.behavior_channels = false;
    config.model.shifter = None;
    config
}

fn request(config: FitConfig, out: &Path) -> ImportRequest {
    ImportRequest { checkpoint: checkpoint(), config, image_shape: [1, 36, 64], out: out.to_path_buf() }
}

#[test]
fn the_sota_checkpoint_imports_and_predicts_as_neuralpredictors() {
    common::init();
    let golden = golden();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sota");
    let report = import_checkpoint(&request(sota_config(), &out)).unwrap();
    assert_eq!(report.sha256, golden["checkpoint_sha256"].as_str().unwrap());
    assert_eq!(report.recordings, vec![(golden["data_key"].as_str().unwrap().to_string(), 7776)]);
    // 39 keys: 34 parameters and buffers mapped; 4 batch-norm counters and the Laplace filter
    // are not parameters.
    assert_eq!((report.mapped.len(), report.not_parameters.len()), (34, 5));
    assert_eq!(report.zero.len(), 9, "the depth-separable layers' biases, which the 2022 core does not have");
    assert!(out.join(IMPORT_FILE).exists());

    // The run loads as any fitted run does.
    let run = Run::load(&out, Device::Cpu).unwrap();
    assert_eq!(run.info.recordings[0].name, "26872-17-20");
    let inputs: Vec<f32> = golden["inputs"].as_array().unwrap().iter().flat_map(floats).collect();
    let n = golden["inputs"].as_array().unwrap().len() as i64;
    let images = Tensor::from_slice(&inputs).reshape([n, 1, 36, 64]);
    let rates = tch::no_grad(|| run.model.forward(&Batch { images, pupil: None }, 0, false));
    let neurons: Vec<i64> = golden["neurons"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    let picked = rates.index_select(1, &Tensor::from_slice(&neurons));
    let want: Vec<f32> = golden["rates"].as_array().unwrap().iter().flat_map(floats).collect();
    let got: Vec<f32> = Vec::try_from(picked.to_kind(Kind::Float).flatten(0, -1)).unwrap();
    let worst = got.iter().zip(&want).map(|(g, w)| ((g - w) / w).abs()).fold(0.0f32, f32::max);
    eprintln!("max relative error of {} rates: {worst:.3e}", got.len());
    assert!(worst < 1e-4, "rates differ from neuralpredictors' by up to {worst:.3e} (relative)");

    // The readout positions, from the cortical coordinates through the MLP.
    let Readout::Gaussian(readout) = &run.model.readouts[0] else { panic!("a Gaussian readout") };
    let mu = readout.mu().index_select(0, &Tensor::from_slice(&neurons));
    let got: Vec<f32> = Vec::try_from(mu.flatten(0, -1)).unwrap();
    let want: Vec<f32> = golden["positions"].as_array().unwrap().iter().flat_map(floats).collect();
    let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-6, "positions differ by up to {worst:.3e}");
}

/// An import refused for `config`: its message, and nothing written.
fn refused(config: FitConfig) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let err = import_checkpoint(&request(config, &out)).unwrap_err();
    assert!(matches!(err, ImportError::Mismatch { .. }), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "something was written: {err}");
    err.to_string()
}

#[test]
fn the_wrong_architecture_is_refused_key_by_key_and_nothing_is_written() {
    common::init();
    // SENSORIUM+: behaviour channels widen the first layer, and the shifter is missing.
    let plus = refused(preset("sensorium2022").and_then(|p| p.into_responses()).unwrap());
    assert!(plus.contains("sensorium_sota_model.pth"), "{plus}");
    assert!(plus.contains("core.features.layer0.conv.weight is [64, 1, 9, 9], the architecture wants [64, 4, 9, 9]"), "{plus}");
    assert!(plus.contains("missing shifter.26872-17-20.mlp.0.weight [5, 2]"), "{plus}");
    // Learned positions where the checkpoint predicts them from the cortex; a wider core.
    let mut gaussian = sota_config();
    if let neurozoo_zoo::config::ReadoutConfig::Gaussian { grid_mean_predictor, .. } = &mut gaussian.model.readout {
        *grid_mean_predictor = None;
    }
    gaussian.model.core.as_mut().unwrap().channels = 32;
    let err = refused(gaussian);
    assert!(err.contains("missing readout.26872-17-20._mu [1, 7776, 1, 2]"), "{err}");
    assert!(err.contains("unexpected readout.26872-17-20.source_grid"), "{err}");
    assert!(err.contains("unexpected readout.26872-17-20.mu_transform.0.weight"), "{err}");
    assert!(
        err.contains("core.features.layer1.ds_conv.in_depth_conv.weight is [64, 64, 1, 1], the architecture wants [32, 32, 1, 1]"),
        "{err}"
    );
}
