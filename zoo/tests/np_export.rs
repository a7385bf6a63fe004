//! Runs exported to neuralpredictors: `import(export(run))` gives the same weights bit for bit
//! (the SENSORIUM 2022 SOTA import, and a seeded random model of each exportable preset,
//! `klindt2017` both at its default `abs` constraint and with `free`); the
//! SOTA exports under its checkpoint's own keys and values; what has no neuralpredictors
//! counterpart is refused. `exported_models_predict_as_neurozoo_in_neuralpredictors` loads each
//! export's `model.py` in PyTorch with neuralpredictors 0.3.0 (`tools/setup.sh --test-deps`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use neurozoo_zoo::config::{preset, Constraint, FitConfig, ReadoutConfig};
use neurozoo_zoo::exchange::{export_run, import_checkpoint, ExportError, ExportRequest, ImportRequest, STATE_DICT_FILE};
use neurozoo_zoo::model::Model;
use neurozoo_zoo::run::eval::Run;
use neurozoo_zoo::run::{save_config, save_info, DataInfo, Normalizer, RecordingInfo, ResponseRecord, RunInfo, RunStatus};
use neurozoo_zoo::train::{named_weights, write_safetensors_atomic, Batch};
use tch::{nn, Device, Kind, Tensor};

const IMAGE: [usize; 3] = [1, 16, 24];

fn sota_checkpoint() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/checkpoints/sensorium_sota_model.pth");
    assert!(path.exists(), "the SENSORIUM 2022 checkpoint is missing: expected at {}", path.display());
    path
}

fn sota_config() -> FitConfig {
    let mut config = preset("sensorium2022").and_then(|p| p.into_responses()).unwrap();
    config.model.behavior_channels = false;
    config.model.shifter = None;
    config
}

/// A tiny version of `name`'s architecture: a 2-layer core of 8 channels.
fn tiny(name: &str) -> FitConfig {
    let mut config = preset(name).and_then(|p| p.into_responses()).unwrap();
    let core = config.model.core.as_mut().unwrap();
    (core.layers, core.channels) = (2, 8);
    config
}

/// A case's name, config and recordings (name, neurons).
type Case = (&'static str, FitConfig, Vec<(&'static str, usize)>);

/// The exportable presets, tiny, with their recordings.
fn exportable() -> Vec<Case> {
    let klindt = tiny("klindt2017");
    let ReadoutConfig::Factorized { constraint: Constraint::Abs, normalize_mask: false, .. } = &klindt.model.readout else {
        panic!("klindt2017's default: a factorised readout with `abs` and no mask normalisation")
    };
    let mut free = klindt.clone();
    let ReadoutConfig::Factorized { constraint, .. } = &mut free.model.readout else { unreachable!("factorised") };
    *constraint = Constraint::Free;
    let mut pupil = tiny("sensorium2022");
    pupil.model.pupil_channels = true;
    vec![
        ("sensorium2022", tiny("sensorium2022"), vec![("21067-10-18", 20)]),
        ("sensorium2022 with pupil channels", pupil, vec![("21067-10-18", 20)]),
        ("gaussian", tiny("gaussian"), vec![("a-1", 7), ("b-2", 5)]),
        ("klindt2017 (abs, its default)", klindt, vec![("21067-10-18", 10)]),
        ("klindt2017 (free)", free, vec![("21067-10-18", 10)]),
    ]
}

/// A run of `config` whose every variable is seeded random (batch-norm variances positive), as
/// `fit` writes one.
fn random_run(config: &FitConfig, recordings: &[(&str, usize)], dir: &Path) {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let mean: Vec<Vec<f32>> = recordings.iter().map(|(_, u)| vec![1.0; *u]).collect();
    let _model = Model::shared(&vs.root(), &config.model, IMAGE, &mean).unwrap();
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    tch::no_grad(|| {
        for (name, v) in &vars {
            let r = Tensor::randn(v.size(), (Kind::Float, Device::Cpu)) * 0.3;
            let r = if name.ends_with("running_var") { r.abs() + 0.5 } else { r };
            v.shallow_clone().copy_(&r);
        }
    });
    std::fs::create_dir_all(dir).unwrap();
    let info = RunInfo {
        neurozoo: env!("CARGO_PKG_VERSION").to_string(),
        libtorch: None,
        device: "Cpu".into(),
        family: ResponseRecord {
            recordings: recordings
                .iter()
                .map(|(name, units)| RecordingInfo {
                    name: name.to_string(),
                    data: DataInfo { path: "none".into(), fingerprint: "none".into(), n_trials: 0, n_units: *units, image_shape: IMAGE },
                    normalizer: Normalizer {
                        image_mean: 0.0,
                        image_std: 1.0,
                        response_scale: vec![1.0; *units],
                        behavior_std: config.model.behavior_channels.then(|| vec![1.0; 3]),
                        pupil_mean_std: (config.model.shifter.is_some() || config.model.pupil_channels)
                            .then(|| (vec![0.0; 2], vec![1.0; 2])),
                    },
                })
                .collect(),
            epochs: 0,
            best_epoch: 0,
            best_validation_correlation: None,
        },
        status: RunStatus::Complete,
        seconds: 0.0,
        memory: Default::default(),
        fitter: None,
    };
    save_config(dir, config).unwrap();
    save_info(dir, &info).unwrap();
    write_safetensors_atomic(&named_weights(&vs), &dir.join("model.safetensors")).unwrap();
}

fn weights(run: &Path) -> Vec<(String, Vec<u32>, Vec<i64>)> {
    let mut w: Vec<_> = Tensor::read_safetensors(run.join("model.safetensors"))
        .unwrap()
        .into_iter()
        .map(|(n, t)| {
            let bits = Vec::<f32>::try_from(t.flatten(0, -1)).unwrap().iter().map(|v| v.to_bits()).collect();
            (n, bits, t.size())
        })
        .collect();
    w.sort_by(|a, b| a.0.cmp(&b.0));
    w
}

fn export(run: &Path, out: &Path) {
    export_run(&ExportRequest { run: run.to_path_buf(), out: out.to_path_buf() }).unwrap();
}

#[test]
fn the_sota_import_exports_under_its_own_keys_and_values_and_imports_back_bit_for_bit() {
    common::init();
    let dir = tempfile::tempdir().unwrap();
    let (run, out, again) = (dir.path().join("sota"), dir.path().join("export"), dir.path().join("again"));
    import_checkpoint(&ImportRequest { checkpoint: sota_checkpoint(), config: sota_config(), image_shape: [1, 36, 64], out: run.clone() })
        .unwrap();
    export(&run, &out);

    let original = neurozoo_pth::load(sota_checkpoint()).unwrap();
    let exported = neurozoo_pth::load(out.join(STATE_DICT_FILE)).unwrap();
    let sorted = |sd: &neurozoo_pth::StateDict| {
        let mut n: Vec<String> = sd.names().map(str::to_string).collect();
        n.sort();
        n
    };
    assert_eq!(sorted(&exported), sorted(&original), "the checkpoint's own keys: no bias it did not have");
    for (key, t) in &original.tensors {
        if !neurozoo_zoo::exchange::neuralpredictors::is_non_parameter(key) {
            assert_eq!(exported.get(key), Some(t), "{key}: the checkpoint's own values, bit for bit");
        }
    }

    import_checkpoint(&ImportRequest {
        checkpoint: out.join(STATE_DICT_FILE),
        config: sota_config(),
        image_shape: [1, 36, 64],
        out: again.clone(),
    })
    .unwrap();
    assert_eq!(weights(&again), weights(&run));
}

#[test]
fn every_exportable_preset_imports_back_bit_for_bit() {
    common::init();
    for (name, config, recordings) in exportable() {
        let dir = tempfile::tempdir().unwrap();
        let (run, out, again) = (dir.path().join("run"), dir.path().join("export"), dir.path().join("again"));
        random_run(&config, &recordings, &run);
        export(&run, &out);
        let report =
            import_checkpoint(&ImportRequest { checkpoint: out.join(STATE_DICT_FILE), config, image_shape: IMAGE, out: again.clone() })
                .unwrap();
        let back: Vec<(&str, usize)> = report.recordings.iter().map(|(k, u)| (k.as_str(), *u)).collect();
        assert_eq!(back, recordings, "{name}: the data keys are the recordings");
        assert!(report.zero.is_empty(), "{name}: every bias was exported: {:?}", report.zero);
        assert_eq!(weights(&again), weights(&run), "{name}");
    }
}

#[test]
fn a_preset_without_a_neuralpredictors_counterpart_is_refused_with_the_reason_and_nothing_written() {
    common::init();
    let mut normalized = tiny("klindt2017");
    let ReadoutConfig::Factorized { normalize_mask, .. } = &mut normalized.model.readout else { panic!("factorised") };
    *normalize_mask = true;
    let cases = [
        ("ln", preset("ln").and_then(|p| p.into_responses()).unwrap(), "core"),
        ("full", tiny("full"), "full readout"),
        ("klindt2017 with normalize_mask", normalized, "normalize_mask"),
    ];
    for (name, config, reason) in cases {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        random_run(&config, &[("k", 4)], &run);
        let out = dir.path().join("export");
        let err = export_run(&ExportRequest { run: run.clone(), out: out.clone() }).unwrap_err();
        assert!(matches!(err, ExportError::Unsupported { .. }), "{name}: {err}");
        assert!(err.to_string().contains(reason), "{name}: {err}");
        assert!(!out.exists(), "{name}: nothing written");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("run")], "{name}: nothing beside the output");
    }
}

/// A Python with neuralpredictors 0.3.0: `$NEUROZOO_NP_PYTHON`, else the project's `.venv`
/// where it has it (`tools/setup.sh --test-deps`, which `make test` runs, installs it), else the
/// reference env `.venv-bench` (tests/fixtures/NOTES.md).
fn reference_python() -> PathBuf {
    if let Some(p) = std::env::var_os("NEUROZOO_NP_PYTHON") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let has_np = |python: &Path| {
        Command::new(python)
            .args(["-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('neuralpredictors') is None)"])
            .status()
            .is_ok_and(|s| s.success())
    };
    let candidates = [root.join(".venv/bin/python"), root.join(".venv-bench/bin/python")];
    candidates.iter().find(|p| has_np(p)).cloned().unwrap_or_else(|| {
        panic!("no Python with neuralpredictors 0.3.0 in .venv or .venv-bench: run tools/setup.sh --test-deps, or set NEUROZOO_NP_PYTHON")
    })
}

const PREDICT: &str = r#"
import json, sys, torch
sys.path.insert(0, sys.argv[1])
from model import build
model = build()
d = json.load(open(sys.argv[2]))
x = torch.tensor(d["x"], dtype=torch.float32).reshape(d["shape"])
kw = {"pupil_center": torch.tensor(d["pupil"], dtype=torch.float32).reshape(-1, 2)} if d["pupil"] else {}
with torch.no_grad():
    rates = model(x, data_key=d["data_key"], **kw)
json.dump(rates.flatten().tolist(), sys.stdout)
"#;

/// The largest relative difference between `run`'s predictions and those of its export's
/// `model.py` in PyTorch, for seeded inputs, over every recording.
fn max_relative_error(run: &Path, out: &Path, image: [usize; 3]) -> f32 {
    let loaded = Run::load(run, Device::Cpu).unwrap();
    let m = &loaded.config.model;
    tch::manual_seed(1);
    let n = 3;
    let [c, h, w] = image.map(|d| d as i64);
    let mut worst = 0f32;
    for (r, rec) in loaded.info.recordings.iter().enumerate() {
        let mut parts = vec![Tensor::randn([n, c, h, w], (Kind::Float, Device::Cpu))];
        if m.behavior_channels {
            parts.push(Tensor::randn([n, 3, 1, 1], (Kind::Float, Device::Cpu)).expand([n, 3, h, w], false));
        }
        if m.pupil_channels {
            parts.push(Tensor::randn([n, 2, 1, 1], (Kind::Float, Device::Cpu)).expand([n, 2, h, w], false));
        }
        let x = Tensor::cat(&parts, 1).contiguous();
        let pupil = m.shifter.is_some().then(|| Tensor::randn([n, 2], (Kind::Float, Device::Cpu)));
        let batch = Batch { images: x.shallow_clone(), pupil: pupil.as_ref().map(Tensor::shallow_clone) };
        let want: Vec<f32> = Vec::try_from(tch::no_grad(|| loaded.model.forward(&batch, r, false)).flatten(0, -1)).unwrap();
        let inputs = serde_json::json!({
            "x": Vec::<f32>::try_from(x.flatten(0, -1)).unwrap(),
            "shape": x.size(),
            "pupil": pupil.map(|p| Vec::<f32>::try_from(p.flatten(0, -1)).unwrap()),
            "data_key": rec.name,
        });
        let file = out.join(format!("inputs{r}.json"));
        std::fs::write(&file, inputs.to_string()).unwrap();
        let result = Command::new(reference_python()).args(["-c", PREDICT]).arg(out).arg(&file).output().unwrap();
        assert!(result.status.success(), "{}: model.py failed:\n{}", out.display(), String::from_utf8_lossy(&result.stderr));
        let got: Vec<f32> = serde_json::from_slice(&result.stdout).unwrap();
        assert_eq!(got.len(), want.len());
        worst = got.iter().zip(&want).map(|(g, w)| ((g - w) / w).abs()).fold(worst, f32::max);
    }
    worst
}

#[test]
fn exported_models_predict_as_neurozoo_in_neuralpredictors() {
    common::init();
    let dir = tempfile::tempdir().unwrap();
    let (run, out) = (dir.path().join("sota"), dir.path().join("sota-export"));
    import_checkpoint(&ImportRequest { checkpoint: sota_checkpoint(), config: sota_config(), image_shape: [1, 36, 64], out: run.clone() })
        .unwrap();
    export(&run, &out);
    let worst = max_relative_error(&run, &out, [1, 36, 64]);
    eprintln!("sota: max relative error {worst:.3e}");
    assert!(worst < 1e-5, "sota: {worst:.3e}");
    for (name, config, recordings) in exportable() {
        let d = tempfile::tempdir().unwrap();
        let (run, out) = (d.path().join("run"), d.path().join("export"));
        random_run(&config, &recordings, &run);
        export(&run, &out);
        let worst = max_relative_error(&run, &out, IMAGE);
        eprintln!("{name}: max relative error {worst:.3e}");
        assert!(worst < 1e-5, "{name}: {worst:.3e}");
    }
}
