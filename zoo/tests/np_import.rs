//! neuralpredictors 0.3.0 models of the SENSORIUM+ and Klindt et al. architectures, saved with
//! torch.save and imported (`tests/fixtures/make_np_checkpoints.py` made them and their
//! predictions, from seeded random weights), and a SENSORIUM model that neuralpredictors
//! trained on a simulated recording (`tests/fixtures/make_np_trained.py`), evaluated by both.

mod common;

use std::path::{Path, PathBuf};

use ndarray::Axis;
use neurozoo_datasets::nwb::NwbOptions;
use neurozoo_datasets::simulate::v1::{self, V1Config};
use neurozoo_datasets::{static_h5, Tier};
use neurozoo_metrics::measures;
use neurozoo_zoo::config::{preset, Constraint, FitConfig, OutputNonlinearity, ReadoutConfig};
use neurozoo_zoo::exchange::{import_checkpoint, ImportRequest};
use neurozoo_zoo::run::eval::Run;
use neurozoo_zoo::train::Batch;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tch::{Device, Tensor};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("np_checkpoints.json")).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

/// Import `file` as `config`, predict `batch` and compare with neuralpredictors' `rates`.
fn imports_and_predicts(file: &str, config: FitConfig, batch: impl Fn(&Value) -> Batch, case: &str) {
    common::init();
    let golden = golden();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let report =
        import_checkpoint(&ImportRequest { checkpoint: fixture(file), config, image_shape: [1, 16, 24], out: out.clone() }).unwrap();
    let units = golden[case]["units"].as_u64().unwrap() as usize;
    assert_eq!(report.recordings, vec![(golden["data_key"].as_str().unwrap().to_string(), units)]);
    let run = Run::load(&out, Device::Cpu).unwrap();
    let rates = tch::no_grad(|| run.model.forward(&batch(&golden[case]), 0, false));
    let got: Vec<f32> = Vec::try_from(rates.flatten(0, -1)).unwrap();
    let want = floats(&golden[case]["rates"]);
    assert_eq!(got.len(), want.len());
    let worst = got.iter().zip(&want).map(|(g, w)| ((g - w) / w).abs()).fold(0.0f32, f32::max);
    eprintln!("{file}: max relative error of {} rates: {worst:.3e}", got.len());
    assert!(worst < 1e-5, "{file}: rates differ from neuralpredictors' by up to {worst:.3e} (relative)");
}

fn images(case: &Value) -> Tensor {
    Tensor::from_slice(&floats(&case["images"])).reshape([-1, 1, 16, 24])
}

#[test]
fn sensorium_plus_with_behaviour_channels_and_shifter_predicts_as_neuralpredictors() {
    let mut config = preset("sensorium2022").and_then(|p| p.into_responses()).unwrap();
    let core = config.model.core.as_mut().unwrap();
    (core.layers, core.channels) = (2, 8);
    imports_and_predicts(
        "np_plus.pth",
        config,
        |case| {
            let images = images(case);
            let n = images.size()[0];
            // The behaviour as three constant channels after the image, as AddBehaviorAsChannels.
            let behavior = Tensor::from_slice(&floats(&case["behavior"])).reshape([n, 3, 1, 1]).expand([n, 3, 16, 24], false);
            let pupil = Tensor::from_slice(&floats(&case["pupil"])).reshape([n, 2]);
            Batch { images: Tensor::cat(&[images, behavior], 1), pupil: Some(pupil) }
        },
        "plus",
    );
}

#[test]
fn a_stacked_core_with_spatial_x_feature_readout_predicts_as_neuralpredictors() {
    let mut config = preset("klindt2017").and_then(|p| p.into_responses()).unwrap();
    config.model.core.as_mut().unwrap().channels = 8;
    // neuralpredictors' SpatialXFeatureLinear without its positivity and normalisation options,
    // under FiringRateEncoder's ELU + 1.
    let ReadoutConfig::Factorized { constraint, normalize_mask, .. } = &mut config.model.readout else { panic!("factorised") };
    (*constraint, *normalize_mask) = (Constraint::Free, false);
    config.model.output = OutputNonlinearity::Elu1;
    imports_and_predicts("np_klindt.pth", config, |case| Batch { images: images(case), pupil: None }, "klindt");
}

#[test]
fn the_sensorium_ln_baseline_with_a_linear_core_predicts_as_neuralpredictors() {
    // The starter kit's LN model: its SOTA builder with `linear=True` (no ELU in the core), no
    // behaviour, no shifter. Not zoo's `ln` preset, which reads the image with a dense filter.
    let mut config = preset("sensorium2022").and_then(|p| p.into_responses()).unwrap();
    config.model.behavior_channels = false;
    config.model.shifter = None;
    let core = config.model.core.as_mut().unwrap();
    (core.layers, core.channels, core.linear) = (2, 8, true);
    imports_and_predicts("np_ln.pth", config, |case| Batch { images: images(case), pupil: None }, "ln");
}

#[test]
fn an_output_that_is_not_empty_is_refused_and_left_as_it_was() {
    common::init();
    let mut config = preset("sensorium2022").and_then(|p| p.into_responses()).unwrap();
    config.model.behavior_channels = false;
    config.model.shifter = None;
    let core = config.model.core.as_mut().unwrap();
    (core.layers, core.channels, core.linear) = (2, 8, true);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let request = ImportRequest { checkpoint: fixture("np_ln.pth"), config, image_shape: [1, 16, 24], out: out.clone() };
    let err = import_checkpoint(&request).unwrap_err().to_string();
    assert!(err.contains("not empty") && err.contains(&out.display().to_string()), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("run")], "nothing beside the output");
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "mine");
    // An empty directory is the output's place.
    std::fs::remove_file(out.join("notes.txt")).unwrap();
    import_checkpoint(&request).unwrap();
    assert!(out.join("model.safetensors").exists());
}

#[test]
fn a_model_trained_by_neuralpredictors_on_a_simulated_recording_evaluates_to_its_pytorch_correlation() {
    common::init();
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(fixture("np_trained.json")).unwrap()).unwrap();
    let key = golden["data_key"].as_str().unwrap();
    // The recording it was trained on, simulated again: the simulator writes it byte for byte.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join(format!("{key}.h5"));
    let sim: V1Config = serde_json::from_value(golden["simulate"].clone()).unwrap();
    static_h5::write(&v1::simulate(&sim).unwrap(), &data).unwrap();
    let sha256 = format!("{:x}", Sha256::digest(std::fs::read(&data).unwrap()));
    assert_eq!(
        sha256,
        golden["recording_sha256"].as_str().unwrap(),
        "the simulator no longer writes the recording the checkpoint was trained on: rerun make_np_trained.py"
    );

    // The SENSORIUM architecture (no behaviour, no shifter), as small as the script's.
    let mut config = preset("sensorium2022").and_then(|p| p.into_responses()).unwrap();
    config.model.behavior_channels = false;
    config.model.shifter = None;
    let core = config.model.core.as_mut().unwrap();
    (core.layers, core.channels) = (2, 8);
    let out = dir.path().join("run");
    let request = ImportRequest { checkpoint: fixture("np_trained.pth"), config, image_shape: [1, 16, 24], out: out.clone() };
    let report = import_checkpoint(&request).unwrap();
    assert_eq!(report.recordings, vec![(key.to_string(), sim.n_units)]);

    let run = Run::load(&out, Device::Cpu).unwrap();
    let recording = run.recording(&data, &NwbOptions::default()).unwrap();
    let evaluation = run.evaluate(&recording, Device::Cpu).unwrap();
    let test = recording.dataset.tier_indices(Tier::Test);
    assert_eq!(test.len() as u64, golden["test_trials"].as_u64().unwrap());

    // The test tier's predictions, trial by trial, then the correlation both sides compute.
    let want = floats(&golden["test_predictions"]);
    let got: Vec<f32> = test.iter().flat_map(|&i| evaluation.predictions.row(i).to_vec()).collect();
    assert_eq!(got.len(), want.len());
    let worst = got.iter().zip(&want).map(|(g, w)| ((g - w) / w).abs()).fold(0.0f32, f32::max);
    let ours = evaluation.tiers[&Tier::Test].correlation;
    let theirs = golden["test_correlation"].as_f64().unwrap();
    eprintln!(
        "trained checkpoint: test correlation {ours:.6} (PyTorch {theirs:.6}, difference {:.2e}); predictions within {worst:.2e} (relative)",
        ours - theirs
    );
    assert!(worst < 1e-4, "test predictions differ from PyTorch's by up to {worst:.3e} (relative)");
    assert!((ours - theirs).abs() < 1e-4, "test correlation {ours} but {theirs} in PyTorch");
    let responses = recording.dataset.responses.select(Axis(0), &test).mapv(f64::from);
    let per_unit = measures::corr(responses.view(), evaluation.predictions.select(Axis(0), &test).mapv(f64::from).view());
    for (u, (ours, theirs)) in per_unit.iter().zip(floats(&golden["test_correlation_per_unit"])).enumerate() {
        assert!((ours - f64::from(theirs)).abs() < 1e-4, "unit {u}: test correlation {ours} but {theirs} in PyTorch");
    }
    // A trained model, not one that predicts nothing.
    assert!(theirs > 0.5, "PyTorch's test correlation is only {theirs}");
}
