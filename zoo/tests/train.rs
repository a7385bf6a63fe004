//! Models and the trainer on every device: each preset trains, the NaN guard names the epoch,
//! patience restores the best weights, lowers the learning rate and finally stops.

mod common;

use neurozoo_datasets::Units;
use neurozoo_zoo::config::{preset, Preset, TrainConfig, PRESETS};
use neurozoo_zoo::model::Model;
use neurozoo_zoo::train::{validation_correlation, Stimuli, TrainData, TrainError, Trainer};
use tch::{nn, Device, Kind, Tensor};

const UNITS: i64 = 6;

/// Unit u rectifies the sum of two vertically adjacent pixels near the image centre (rows 6 and
/// 7, column 4 + u), so every readout, the Gaussian one starting near the centre included, has
/// something to find.
fn data(device: Device, n: i64, noise_only: bool) -> TrainData {
    let images = Tensor::randn([n, 1, 15, 15], (Kind::Float, device));
    let pixels = images.flatten(1, -1);
    let drive = pixels.narrow(1, 6 * 15 + 4, UNITS) + pixels.narrow(1, 7 * 15 + 4, UNITS);
    let responses = if noise_only { Tensor::rand([n, UNITS], (Kind::Float, device)) } else { drive.relu() + 0.1 };
    let split = n * 4 / 5;
    TrainData { images: Stimuli::standardised(images), responses, train: (0..split).collect(), validation: (split..n).collect() }
}

fn small_model(name: &str, vs: &nn::VarStore) -> Model {
    let mut cfg = preset(name).and_then(Preset::into_responses).unwrap().model;
    if let Some(core) = cfg.core.as_mut() {
        core.layers = 2;
        core.channels = 4;
        core.input_kernel = 5;
    }
    let model = Model::new(&vs.root(), &cfg, [1, 15, 15], &[1.0; UNITS as usize]).unwrap();
    // Retinotopy for a readout that predicts positions from the cortex (sensorium2022's).
    let coordinates = ndarray::Array2::from_shape_fn((UNITS as usize, 3), |(u, k)| [4.0 + u as f32, 6.5, 0.0][k]);
    model.set_cortex(0, &Units { coordinates: Some(coordinates), ..Units::numbered(UNITS as usize) }).unwrap();
    model
}

/// Every preset's model trains on the device: validation correlation rises above chance.
fn every_preset_learns(device: Device) {
    let data = data(device, 400, false);
    let mut scores = Vec::new();
    for (name, _) in PRESETS.iter().filter(|(n, _)| matches!(preset(n), Some(Preset::Responses(_)))) {
        let vs = nn::VarStore::new(device);
        let model = small_model(name, &vs);
        // sensorium2022 reads behaviour channels and the pupil position: here they carry nothing.
        let inputs = model.inputs();
        let mut images = Stimuli::standardised(data.images.batch(&Tensor::arange(400, (Kind::Int64, device))).images);
        if inputs.behavior_channels {
            images = images.with_channels(Tensor::zeros([400, 3], (Kind::Float, device)));
        }
        if inputs.pupil {
            images = images.with_pupil(Tensor::zeros([400, 2], (Kind::Float, device)));
        }
        let data =
            TrainData { images, responses: data.responses.shallow_clone(), train: data.train.clone(), validation: data.validation.clone() };
        let before = validation_correlation(&model, std::slice::from_ref(&data), 256);
        let cfg = TrainConfig { max_epochs: 8, batch_size: 32, ..TrainConfig::default() };
        let schedule =
            Trainer { model: &model, vs: &vs, cfg: &cfg, checkpoint_dir: None }.fit(std::slice::from_ref(&data), false, |_| {}).unwrap();
        let after = validation_correlation(&model, std::slice::from_ref(&data), 256);
        assert_eq!(schedule.epoch, schedule.history.len());
        assert!(vs.variables().values().all(|v| v.device() == device));
        scores.push((name, before, after));
    }
    // Eight epochs on 320 trials: far from converged, but clearly above chance.
    assert!(
        scores.iter().all(|&(_, before, after)| after > 0.2 && after > before + 0.1),
        "validation correlation before -> after on {device:?}: {scores:?}"
    );
}

/// A NaN in the data makes the loss NaN in the first epoch: training stops and says so.
fn nan_loss_stops_training_naming_the_epoch(device: Device) {
    let data = data(device, 100, false);
    let _ = data.responses.get(3).get(2).fill_(f64::NAN);
    let vs = nn::VarStore::new(device);
    let model = small_model("klindt2017", &vs);
    let cfg = TrainConfig { max_epochs: 3, ..TrainConfig::default() };
    let err =
        Trainer { model: &model, vs: &vs, cfg: &cfg, checkpoint_dir: None }.fit(std::slice::from_ref(&data), false, |_| {}).unwrap_err();
    assert!(matches!(err, TrainError::Diverged { epoch: 1, .. }), "{err}");
    assert!(err.to_string().contains("epoch 1"), "{err}");
}

/// With nothing to learn, patience runs out: each time the best weights come back and the
/// learning rate drops, and after `lr_decay_steps` the fit stops with the best epoch's weights.
fn patience_restores_best_decays_and_stops(device: Device) {
    let data = data(device, 200, true);
    let vs = nn::VarStore::new(device);
    let model = small_model("klindt2017", &vs);
    let cfg =
        TrainConfig { max_epochs: 60, patience: 2, lr_decay_steps: 2, lr_decay_factor: 0.5, batch_size: 32, ..TrainConfig::default() };
    let mut decays = Vec::new();
    let schedule = Trainer { model: &model, vs: &vs, cfg: &cfg, checkpoint_dir: None }
        .fit(std::slice::from_ref(&data), false, |e| {
            if let neurozoo_zoo::train::Event::Decay { epoch, lr, stop, .. } = e {
                decays.push((epoch, lr, stop));
            }
        })
        .unwrap();
    assert!(schedule.finished && schedule.epoch < 60, "stopped after {} epochs", schedule.epoch);
    assert_eq!(decays.len(), 2, "{decays:?}");
    assert_eq!(decays[0].1, cfg.lr * 0.5);
    assert_eq!((decays[0].2, decays[1].2), (false, true), "only the last decay stops: {decays:?}");
    // The history shows the lower rate after the first decay, and patience epochs before each.
    let lrs: Vec<f64> = schedule.history.iter().map(|r| r.lr).collect();
    assert!(lrs.windows(2).all(|w| w[1] <= w[0]), "{lrs:?}");
    assert_eq!(lrs.last().copied(), Some(cfg.lr * 0.5));
    let best = &schedule.history[schedule.best_epoch - 1];
    assert!(best.best && schedule.history.iter().all(|r| r.validation_correlation <= best.validation_correlation));
    // The weights left in the model are the best epoch's: they reproduce its score.
    let now = validation_correlation(&model, std::slice::from_ref(&data), 256);
    assert!((now - best.validation_correlation).abs() < 1e-6, "restored {now}, best {}", best.validation_correlation);
}

/// Two recordings of different sizes, units and receptive-field rows share one core, each with its
/// own readout: every step takes a batch of each (the shorter recording cycles), and both learn.
fn two_recordings_share_a_core_and_each_learns(device: Device) {
    let a = data(device, 400, false);
    // Recording b: 3 units driven two rows lower, and a quarter of a's trials.
    let images = Tensor::randn([100, 1, 15, 15], (Kind::Float, device));
    let pixels = images.flatten(1, -1);
    let responses = (pixels.narrow(1, 8 * 15 + 5, 3) + pixels.narrow(1, 9 * 15 + 5, 3)).relu() + 0.1;
    let b = TrainData { images: Stimuli::standardised(images), responses, train: (0..80).collect(), validation: (80..100).collect() };
    let mut cfg = preset("klindt2017").and_then(Preset::into_responses).unwrap().model;
    let core = cfg.core.as_mut().unwrap();
    (core.layers, core.channels, core.input_kernel) = (2, 4, 5);
    let vs = nn::VarStore::new(device);
    let model = Model::shared(&vs.root(), &cfg, [1, 15, 15], &[vec![1.0; UNITS as usize], vec![1.0; 3]]).unwrap();
    let names: Vec<String> = vs.variables().into_keys().collect();
    assert!(names.iter().any(|n| n.starts_with("readouts.0.")) && names.iter().any(|n| n.starts_with("readouts.1.")), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("readout.")), "{names:?}");
    let data = [a, b];
    let train = TrainConfig { max_epochs: 8, batch_size: 32, ..TrainConfig::default() };
    let mut steps = Vec::new();
    Trainer { model: &model, vs: &vs, cfg: &train, checkpoint_dir: None }
        .fit(&data, false, |e| {
            if let neurozoo_zoo::train::Event::Batch { total, .. } = e {
                steps.push(total);
            }
        })
        .unwrap();
    // 320 and 80 training trials in batches of 32: the longer recording sets 10 steps an epoch.
    assert!(steps.iter().all(|&t| t == 10), "{steps:?}");
    for (r, d) in data.iter().enumerate() {
        let own = neurozoo_zoo::train::predict(&model, r, &d.images, &d.validation, 256);
        let idx = Tensor::from_slice(&d.validation).to_device(device);
        let resp = neurozoo_tensor::to_array2(&d.responses.index_select(0, &idx));
        let r_own = neurozoo_zoo::measures::corr(resp.mapv(f64::from).view(), own.mapv(f64::from).view()).mean().unwrap();
        assert!(r_own > 0.2, "recording {r}: validation correlation {r_own} with its own readout");
        if r == 0 {
            // The early-stopping score of one recording is its readout's mean correlation.
            assert!((validation_correlation(&model, std::slice::from_ref(d), 256) - r_own).abs() < 1e-9);
        }
    }
}

/// A checkpoint whose bytes changed after it was written is refused on resume, naming the file,
/// rather than resumed from as if it were the run's.
#[test]
fn a_changed_checkpoint_is_refused_on_resume() {
    common::init();
    let data = data(Device::Cpu, 100, false);
    let dir = tempfile::tempdir().unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let model = small_model("klindt2017", &vs);
    let fit = |max_epochs: usize, resume: bool| {
        let cfg = TrainConfig { max_epochs, ..TrainConfig::default() };
        Trainer { model: &model, vs: &vs, cfg: &cfg, checkpoint_dir: Some(dir.path().to_path_buf()) }.fit(
            std::slice::from_ref(&data),
            resume,
            |_| {},
        )
    };
    fit(2, false).unwrap();
    fit(3, true).unwrap();
    let weights = dir.path().join("checkpoint/weights.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&weights, bytes).unwrap();
    let err = fit(4, true).unwrap_err().to_string();
    assert!(err.contains("weights.safetensors") && err.contains("checksum"), "{err}");
}

device_tests!(
    every_preset_learns,
    nan_loss_stops_training_naming_the_epoch,
    patience_restores_best_decays_and_stops,
    two_recordings_share_a_core_and_each_learns
);
