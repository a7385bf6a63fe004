//! Frozen TorchScript cores: tch runs the network as PyTorch does, a missing or unusable layer
//! is named with its file, and training a model on a frozen core trains only the readout.
//! The network is `tests/fixtures/frozen_core.pt` (made by `make_frozen_core.py`, which also
//! wrote PyTorch's activations to `frozen_core.json`).

mod common;

use std::path::{Path, PathBuf};

use neurozoo_zoo::config::{preset, FitConfig, FrozenCoreConfig, Preset, TrainConfig};
use neurozoo_zoo::model::{Core, Model, TorchScriptCore};
use neurozoo_zoo::train::{Stimuli, TrainData, Trainer};
use serde_json::Value;
use tch::{nn, Device, Kind, Tensor};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(name)
}

/// The fixture's input: x[b, 0, i, j] = sin(0.3 i + 0.7 j + b), (2, 1, 10, 10).
fn fixed_input(device: Device) -> Tensor {
    let values: Vec<f32> = (0..2)
        .flat_map(|b| (0..10).flat_map(move |i| (0..10).map(move |j| (0.3 * i as f64 + 0.7 * j as f64 + b as f64).sin() as f32)))
        .collect();
    Tensor::from_slice(&values).reshape([2, 1, 10, 10]).to_device(device)
}

/// Every layer reproduces PyTorch's activations on the fixed input.
fn layers_match_pytorch(device: Device) {
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(fixture("frozen_core.json")).unwrap()).unwrap();
    let x = fixed_input(device);
    for layer in ["conv1", "conv2", "forward"] {
        let core = TorchScriptCore::load(&fixture("frozen_core.pt"), layer, [1, 10, 10], device).unwrap();
        let want = &expected["layers"][layer];
        let shape: Vec<i64> = want["shape"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        assert_eq!(core.output_shape().to_vec(), shape[1..], "{layer}");
        let out = core.forward(&x);
        assert_eq!(out.size(), shape, "{layer}");
        assert!(!out.requires_grad(), "{layer}: a frozen core's output carries no graph");
        let got = Vec::<f32>::try_from(out.flatten(0, -1).to_device(Device::Cpu)).unwrap();
        let want: Vec<f64> = want["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let worst = got.iter().zip(&want).map(|(&g, &w)| (f64::from(g) - w).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-5, "{layer}: largest difference to PyTorch {worst}");
    }
}

/// A layer that is not a method, or whose output is not a feature map, is refused at load,
/// naming the file, the layer and what a layer must be.
fn unusable_layers_are_named_with_the_file(device: Device) {
    let file = fixture("frozen_core.pt");
    for (layer, problem) in [("conv3", "cannot run layer \"conv3\""), ("pooled", "layer \"pooled\" returns a tensor of shape [2, 8]")] {
        let err = TorchScriptCore::load(&file, layer, [1, 10, 10], device).err().unwrap().to_string();
        assert!(err.contains("frozen_core.pt") && err.contains(problem) && err.contains("@torch.jit.export"), "{err}");
        assert!(err.lines().count() == 1, "one sentence, no libtorch backtrace: {err}");
    }
    let err = TorchScriptCore::load(&fixture("no_such.pt"), "forward", [1, 10, 10], device).err().unwrap().to_string();
    assert!(err.contains("cannot load TorchScript file") && err.contains("no_such.pt"), "{err}");
}

/// Responses driven by two pixels near the image centre, so the readout has something to learn.
fn data(device: Device, n: i64) -> TrainData {
    let images = Tensor::randn([n, 1, 15, 15], (Kind::Float, device));
    let pixels = images.flatten(1, -1);
    let drive = pixels.narrow(1, 6 * 15 + 4, 4) + pixels.narrow(1, 7 * 15 + 4, 4);
    let split = n * 4 / 5;
    TrainData {
        images: Stimuli::standardised(images),
        responses: drive.relu() + 0.1,
        train: (0..split).collect(),
        validation: (split..n).collect(),
    }
}

/// Fitting a factorised readout on a frozen core changes the readout and nothing of the network;
/// the model's layers are `core`, `readout`, `predicted`, and it claims no receptive-field
/// positions, since the core's geometry in pixels is unknown.
fn training_leaves_the_frozen_core_unchanged(device: Device) {
    let mut cfg = preset("klindt2017").and_then(Preset::into_responses).unwrap().model;
    cfg.core = None;
    cfg.frozen_core = Some(FrozenCoreConfig { file: fixture("frozen_core.pt"), layer: "conv1".into() });
    let vs = nn::VarStore::new(device);
    let model = Model::new(&vs.root(), &cfg, [1, 15, 15], &[1.0; 4]).unwrap();
    assert_eq!(model.feature_shape(), [4, 11, 11]);
    assert_eq!(model.layer_names(), ["core", "readout", "predicted"]);
    assert!(model.rf_positions(0).is_none());
    assert!(vs.variables().keys().all(|k| k.starts_with("readout.")), "{:?}", vs.variables().keys());
    let Some(Core::Frozen(core)) = &model.core else { panic!("a frozen core") };
    let copy = |named: Vec<(String, Tensor)>| -> Vec<(String, Tensor)> { named.into_iter().map(|(n, t)| (n, t.detach().copy())).collect() };
    let network = copy(core.named_parameters());
    let readout = copy(vs.variables().into_iter().collect());
    assert_eq!(network.len(), 4, "two convolutions' weights and biases");

    let cfg = TrainConfig { max_epochs: 2, batch_size: 32, ..TrainConfig::default() };
    let data = data(device, 160);
    Trainer { model: &model, vs: &vs, cfg: &cfg, checkpoint_dir: None }.fit(std::slice::from_ref(&data), false, |_| {}).unwrap();

    for ((name, before), (_, after)) in network.iter().zip(core.named_parameters()) {
        assert!(before.equal(&after), "the frozen core's {name} changed");
    }
    let vars = vs.variables();
    assert!(readout.iter().any(|(name, before)| !before.equal(&vars[name])), "the readout did not train");
    let x = data.images.batch(&Tensor::from_slice(&[0i64, 1, 2]).to_device(device));
    assert_eq!(model.representation(&x, 0, "core").unwrap().size(), [3, 4 * 11 * 11]);
}

device_tests!(layers_match_pytorch, unusable_layers_are_named_with_the_file, training_leaves_the_frozen_core_unchanged);

/// A config's frozen core replaces the preset's core; naming both is an error, relative files
/// resolve against the config's directory.
#[test]
fn frozen_core_config_replaces_the_preset_core() {
    let mut cfg = FitConfig::from_toml("preset = \"klindt2017\"\n[model.frozen_core]\nfile = \"cnn.pt\"\n").unwrap();
    assert!(cfg.model.core.is_none());
    let frozen = cfg.model.frozen_core.clone().unwrap();
    assert_eq!((frozen.file.to_str(), frozen.layer.as_str()), (Some("cnn.pt"), "forward"));
    cfg.resolve_files(Path::new("/data/configs"));
    assert_eq!(cfg.model.frozen_core.unwrap().file, Path::new("/data/configs/cnn.pt"));
    // What a run writes back reads back the same.
    let cfg = FitConfig::from_toml("preset = \"gaussian\"\n[model.frozen_core]\nfile = \"/abs/cnn.pt\"\nlayer = \"conv2\"\n").unwrap();
    assert_eq!(FitConfig::from_toml(&cfg.to_toml()).unwrap(), cfg);

    let err = FitConfig::from_toml("preset = \"klindt2017\"\n[model.core]\nlayers = 2\n[model.frozen_core]\nfile = \"cnn.pt\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("model.core and model.frozen_core are both set"), "{err}");
}
