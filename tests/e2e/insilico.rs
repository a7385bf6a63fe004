//! `neurozoo import`, `export` and `insilico`: the SENSORIUM 2022 SOTA checkpoint through all
//! three, and a model fitted here with the experiments' bad input.

use std::path::{Path, PathBuf};

use crate::{neurozoo, run, small_v1};

/// The real checkpoint, beside the checkout as `shared/checkpoints/` (CI lays it there too).
fn sota_checkpoint() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/checkpoints/sensorium_sota_model.pth");
    assert!(path.is_file(), "{} is missing: the SENSORIUM 2022 checkpoint is laid beside the checkout", path.display());
    path
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_sensorium_sota_checkpoint_imports_exports_and_runs_in_silico() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = sota_checkpoint();
    // As published: the sensorium2022 preset without behaviour channels or shifter.
    let config = dir.path().join("sota.toml");
    std::fs::write(&config, "[model]\nbehavior_channels = false\nshifter = false\n").unwrap();

    // Without the config, the preset's behaviour channels and shifter do not fit: each key named,
    // nothing written.
    let refused = dir.path().join("refused");
    let out = run(neurozoo().arg("import").arg(&checkpoint).args(["--arch", "sensorium2022", "--out"]).arg(&refused));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("core.features.layer0.conv.weight is [64, 1, 9, 9]") && err.contains("missing shifter.26872-17-20"), "{err}");
    assert!(!refused.exists());

    let sota = dir.path().join("sota");
    let out =
        run(neurozoo().arg("import").arg(&checkpoint).args(["--arch", "sensorium2022", "--config"]).arg(&config).arg("--out").arg(&sota));
    assert!(out.status.success());
    assert!(stderr(&out).contains("26872-17-20 (7776 neurons)"), "{}", stderr(&out));
    let imported: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sota.join("imported.json")).unwrap()).unwrap();
    assert_eq!(imported["sha256"], "7a87989732c34068fe10aaf1dd2c0421cb47cb1693b4f95a5e0e381632456173");

    let exported = dir.path().join("export");
    let out = run(neurozoo().arg("export").arg(&sota).args(["--to", "neuralpredictors", "--out"]).arg(&exported));
    assert!(out.status.success());
    // The export is the checkpoint's own state_dict again (tested key by key in zoo's np_export).
    assert!(exported.join("state_dict.pth").is_file() && exported.join("model.py").is_file());

    // In silico on the imported model: no data, so the norm (and the MEIs' range) is given.
    let meis = dir.path().join("meis");
    let out = run(neurozoo()
        .args(["insilico", "mei"])
        .arg(&sota)
        .args(["--units", "0,7775", "--steps", "20", "--norm", "20", "--range=-1.7,2.3", "--out"])
        .arg(&meis));
    assert!(out.status.success());
    for file in ["meis.h5", "mei.csv", "mei.parquet", "meis.png"] {
        assert!(meis.join(file).is_file(), "{file}");
    }
    let table = std::fs::read_to_string(meis.join("mei.csv")).unwrap();
    assert_eq!(table.lines().count(), 3, "{table}");
    let tuning = dir.path().join("tuning");
    let out = run(neurozoo()
        .args(["insilico", "tuning"])
        .arg(&sota)
        .args(["--units", "3", "--norm", "20", "--orientations", "8", "--spatial-frequencies", "4", "--phases", "4", "--out"])
        .arg(&tuning));
    assert!(out.status.success());
    assert!(tuning.join("tuning.csv").is_file());

    // MEIs without data need a range to keep to; nothing is written.
    let bare = dir.path().join("bare");
    let out = run(neurozoo().args(["insilico", "mei"]).arg(&sota).args(["--norm", "20", "--out"]).arg(&bare));
    assert!(!out.status.success() && stderr(&out).contains("--range"), "{}", stderr(&out));
    assert!(!bare.exists());
}

#[test]
fn meis_of_a_fitted_model_beat_its_best_image_and_bad_requests_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = small_v1(dir.path());
    let fitted = dir.path().join("run");
    let out = run(neurozoo().args(["fit", "klindt2017", "--max-epochs", "3", "--data"]).arg(&data).arg("--out").arg(&fitted));
    assert!(out.status.success());

    let meis = dir.path().join("meis");
    let out = run(neurozoo().args(["insilico", "mei"]).arg(&fitted).arg("--data").arg(&data).args(["--steps", "100", "--out"]).arg(&meis));
    assert!(out.status.success());
    let table = neurozoo_tables::read_csv(&meis.join("mei.csv")).unwrap();
    let ratio = neurozoo_tables::f64_column(&table, "ratio").unwrap();
    assert_eq!(ratio.len(), 10);
    // Each MEI is at least as exciting as the best image the model was trained on.
    let mean = ratio.iter().sum::<f64>() / ratio.len() as f64;
    assert!(mean > 1.0, "MEI / best training image {ratio:?}");

    let refusals: [(&[&str], &str); 6] = [
        (&["--units", "999"], "no unit 999"),
        (&["--steps", "0"], "steps"),
        (&["--norm=-1"], "norm"),
        // JSON has no NaN: refused at the command line, never handed over as "not given".
        (&["--norm", "nan"], "not a finite number"),
        (&["--recording", "other"], "no such recording"),
        (&["--jitter", "100"], "jitter"),
    ];
    for (args, expected) in refusals {
        let out_dir = dir.path().join("refused");
        let out = run(neurozoo().args(["insilico", "mei"]).arg(&fitted).arg("--data").arg(&data).args(args).arg("--out").arg(&out_dir));
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr(&out).contains(expected), "{args:?}: {}", stderr(&out));
        assert!(!out_dir.exists(), "{args:?} left {}", out_dir.display());
    }
    // An output directory that holds something is refused, and kept as it was.
    let out = run(neurozoo().args(["insilico", "tuning"]).arg(&fitted).arg("--data").arg(&data).arg("--out").arg(&meis));
    assert!(!out.status.success() && stderr(&out).contains("--out"), "{}", stderr(&out));
    assert!(meis.join("meis.h5").is_file());
}
