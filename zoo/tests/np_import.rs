//! neuralpredictors 0.3.0 models of the SENSORIUM+ and Klindt et al. architectures, saved with
//! torch.save and imported (`tests/fixtures/make_np_checkpoints.py` made them and their
//! predictions, from seeded random weights).

mod common;

use std::path::{Path, PathBuf};

use neurozoo_zoo::config::{preset, Constraint, FitConfig, OutputNonlinearity, ReadoutConfig};
use neurozoo_zoo::exchange::{import_checkpoint, ImportRequest};
use neurozoo_zoo::run::eval::Run;
use neurozoo_zoo::train::Batch;
use serde_json::Value;
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
