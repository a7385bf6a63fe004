//! Sprite frame pairs, SlowVAE and its β-VAE baseline from the command line: simulate, fit,
//! eval, extract.

use std::path::PathBuf;

use neurozoo_datasets::representation::RepresentationFile;
use neurozoo_datasets::simulate::sprites::SpritePairs;
use neurozoo_tables::read_parquet;

use super::*;

fn sprites(dir: &Path, name: &str, pairs: usize, seed: u64, extra: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let out = run(neurozoo()
        .args(["data", "simulate", "sprites", "--pairs", &pairs.to_string(), "--seed", &seed.to_string(), "--out"])
        .arg(&path)
        .args(extra));
    assert!(out.status.success());
    path
}

#[test]
fn simulate_sprites_writes_pairs_and_refuses_bad_options() {
    let dir = tempfile::tempdir().unwrap();
    let path = sprites(dir.path(), "loc.h5", 50, 4, &["--transition", "loc", "--k", "1"]);
    let pairs = SpritePairs::read(&path).unwrap();
    assert_eq!(pairs.images.shape(), &[50, 2, 64, 64]);
    assert!(pairs.images.iter().all(|&v| v <= 1) && pairs.images.iter().any(|&v| v == 1));
    for i in 0..50 {
        let moved = (0..5).filter(|&f| pairs.classes[[i, 0, f]] != pairs.classes[[i, 1, f]]).count();
        assert_eq!(moved, 1, "LOC k = 1 moves one factor (pair {i})");
    }
    let bad = neurozoo().args(["data", "simulate", "sprites", "--rate", "fast", "--out"]).arg(dir.path().join("x.h5")).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("--rate \"fast\""));
    assert!(!dir.path().join("x.h5").exists());
    let npz = dir.path().join("missing.npz");
    let bad =
        neurozoo().args(["data", "simulate", "sprites", "--npz"]).arg(&npz).arg("--out").arg(dir.path().join("y.h5")).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("missing.npz"));
}

/// A short fit: the loss falls, the run holds its config, weights, training table and figures;
/// eval prints the disentanglement scores as JSON; extract writes the posterior means with the
/// factors; the wrong kind of data or layer is refused by name.
#[test]
fn fit_slowvae_then_eval_and_extract() {
    let dir = tempfile::tempdir().unwrap();
    let train = sprites(dir.path(), "train.h5", 300, 1, &["--rate", "6"]);
    let test = sprites(dir.path(), "test.h5", 200, 2, &["--rate", "6"]);
    let config = dir.path().join("small.toml");
    std::fs::write(&config, "preset = \"slowvae\"\n[train]\nbatch_pairs = 8\nlr = 1e-3\nlog_every = 10\n").unwrap();
    let run_dir = dir.path().join("run");
    let out = run(neurozoo().arg("fit").arg(&config).arg("--data").arg(&train).arg("--out").arg(&run_dir).args([
        "--iterations",
        "60",
        "--threads",
        "1",
        "--device",
        "cpu",
    ]));
    assert!(out.status.success());
    for file in ["config.toml", "run.json", "model.safetensors", "training.parquet", "traversal.png", "correlations.svg"] {
        assert!(run_dir.join(file).is_file(), "{file}");
    }
    let training = read_parquet(&run_dir.join("training.parquet")).unwrap();
    let reconstruction = training.column("reconstruction").unwrap().f64().unwrap().clone();
    let (first, last) = (reconstruction.get(0).unwrap(), reconstruction.get(training.height() - 1).unwrap());
    assert_eq!(training.height(), 6);
    assert!(last < 0.5 * first, "reconstruction error {first:.0} → {last:.0} over 60 steps");

    let eval = run(neurozoo().arg("eval").arg(&run_dir).arg("--data").arg(&test).args([
        "--json",
        "--device",
        "cpu",
        "--intervention-points",
        "20",
    ]));
    assert!(eval.status.success());
    let scores = stdout_json(&eval);
    for key in ["mcc_spearman", "mcc_pearson", "mig", "sap", "sap_continuous", "modularity", "explicitness", "r2"] {
        let v = scores[key].as_f64().unwrap_or_else(|| panic!("{key}: {scores}"));
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
    }
    for key in ["disentanglement", "completeness", "informativeness"] {
        let v = scores["dci"][key].as_f64().unwrap_or_else(|| panic!("dci {key}: {scores}"));
        assert!((0.0..=1.0).contains(&v), "dci {key} = {v}");
    }
    for key in ["beta_vae", "factor_vae"] {
        let v = scores["intervention"][key].as_f64().unwrap_or_else(|| panic!("{key}: {scores}"));
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
    }
    let matching = scores["matching"].as_array().unwrap();
    assert_eq!(matching.len(), 5, "one matched latent per factor");
    assert_eq!(matching[0]["factor"], "shape");

    let latents = dir.path().join("latents.h5");
    assert!(run(neurozoo().arg("extract").arg(&run_dir).arg("--data").arg(&test).arg("--out").arg(&latents)).status.success());
    let file = RepresentationFile::read(&latents).unwrap();
    assert_eq!(file.representations[0].data.dim(), (200, 10));
    assert_eq!(file.arrays[0].0, "factors");
    assert_eq!(file.arrays[0].1.shape(), &[200, 5]);

    let wrong = neurozoo()
        .arg("extract")
        .arg(&run_dir)
        .arg("--data")
        .arg(&test)
        .arg("--out")
        .arg(dir.path().join("x.h5"))
        .args(["--layer", "core.0"])
        .output()
        .unwrap();
    assert!(!wrong.status.success() && String::from_utf8_lossy(&wrong.stderr).contains("a slowvae run has: latents"));
    let v1 = dir.path().join("v1.h5");
    assert!(run(neurozoo()
        .args(["data", "simulate", "v1", "--n-units", "4", "--n-train", "20", "--n-validation", "4", "--n-test", "4", "--out"])
        .arg(&v1))
    .status
    .success());
    let wrong = neurozoo().args(["fit", "betavae", "--data"]).arg(&v1).arg("--out").arg(dir.path().join("b")).output().unwrap();
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(!wrong.status.success() && err.contains("betavae fits sprite frame pairs") && err.contains("v1.h5"), "{err}");
}

/// A SlowVAE fit killed after a checkpoint and resumed ends with the same weights and training
/// table as one never stopped; a conflicting resume is refused by name.
#[test]
fn killed_then_resumed_slowvae_matches_an_uninterrupted_one() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let train = sprites(dir.path(), "train.h5", 100, 1, &["--rate", "6"]);
    let config = dir.path().join("small.toml");
    std::fs::write(&config, "preset = \"slowvae\"\n[train]\nbatch_pairs = 8\nlr = 1e-3\nlog_every = 10\niterations = 40\n").unwrap();
    let fit = |out: &Path| {
        let mut cmd = neurozoo();
        cmd.arg("fit").arg(&config).arg("--data").arg(&train).arg("--out").arg(out).args(["--threads", "1", "--device", "cpu"]);
        cmd
    };
    let whole = dir.path().join("whole");
    assert!(run(&mut fit(&whole)).status.success());

    let killed = dir.path().join("killed");
    let mut child = fit(&killed).stderr(Stdio::piped()).spawn().unwrap();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        if line.unwrap().starts_with("step      20 ") {
            child.kill().unwrap();
            break;
        }
    }
    assert!(!child.wait().unwrap().success(), "the fit was supposed to be killed");
    assert!(!killed.join("model.safetensors").exists());
    let info: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(killed.join("run.json")).unwrap()).unwrap();
    assert_eq!(info["status"], "running");

    let early = neurozoo().arg("eval").arg(&killed).arg("--data").arg(&train).output().unwrap();
    assert!(!early.status.success() && String::from_utf8_lossy(&early.stderr).contains("was interrupted before it finished"));
    let refused = neurozoo()
        .arg("fit")
        .arg(&config)
        .arg("--data")
        .arg(&train)
        .arg("--out")
        .arg(&killed)
        .args(["--resume", "--seed", "9"])
        .output()
        .unwrap();
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("--seed 9 conflicts with the run's seed 0"));
    let resumed = run(fit(&killed).arg("--resume"));
    assert!(resumed.status.success());
    assert_eq!(std::fs::read(whole.join("model.safetensors")).unwrap(), std::fs::read(killed.join("model.safetensors")).unwrap());
    let rows = |d: &Path| -> Vec<String> {
        // Everything but the timing column must agree.
        std::fs::read_to_string(d.join("training.csv")).unwrap().lines().map(|l| l.rsplit_once(',').unwrap().0.to_string()).collect()
    };
    assert_eq!(rows(&whole), rows(&killed));
    assert_eq!(rows(&whole).len(), 5, "a header and 4 rows");
    let again = neurozoo().arg("fit").arg(&config).arg("--data").arg(&train).arg("--out").arg(&killed).arg("--resume").output().unwrap();
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("already complete"));
}
