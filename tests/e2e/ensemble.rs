//! Ensembles: a sweep's seeds evaluated, extracted from and experimented on as one model (the
//! mean of their rates), and runs that cannot predict together refused by name.

use std::path::PathBuf;

use super::sweep::sweep;
use super::*;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The acceptance: three seeds of a model fitted to convergence (best epochs 14–34 of
/// 40 here) predict better together than the best of them alone. Under-trained members (3–25
/// epochs of this small core, measured) differ so much in quality that their mean can fall
/// below the best one, which says nothing about ensembles; hence the longer fits (~15 s).
#[test]
fn a_sweeps_seeds_are_an_ensemble_at_least_as_good_as_its_best_member() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("v1.h5");
    let out = run(neurozoo()
        .args(["data", "simulate", "v1", "--n-units", "10", "--n-train", "500", "--n-validation", "100", "--n-test", "40"])
        .args(["--n-final-test", "0", "--repeats", "4", "--height", "20", "--width", "20", "--seed", "5", "--out"])
        .arg(&data));
    assert!(out.status.success());
    let config = dir.path().join("small.toml");
    let small = "preset = \"klindt2017\"\n[model.core]\nlayers = 2\ninput_kernel = 7\n\
                 [train]\nbatch_size = 32\nlr = 0.01\nmax_epochs = 40\npatience = 8\n";
    std::fs::write(&config, small).unwrap();
    let file = dir.path().join("seeds.toml");
    std::fs::write(&file, "base = \"small.toml\"\nseeds = [1, 2, 3]\ndata = [\"v1.h5\"]\ndevice = \"cpu\"\n").unwrap();
    let seeds = dir.path().join("seeds");
    assert!(run(&mut sweep(&file, &seeds)).status.success());

    // The sweep directory is the ensemble of its three runs, each scored alone beside it.
    let out = run(neurozoo().arg("eval").arg(&seeds).arg("--data").arg(&data).arg("--json"));
    assert!(out.status.success());
    let report = stdout_json(&out);
    let members = report["members"].as_object().unwrap();
    assert_eq!(members.len(), 3, "{report}");
    assert!(report["run"].as_str().unwrap().starts_with("ensemble of 3 runs"), "{report}");
    // Single-trial correlation, and correlation to the average over repeats (sensorium's).
    for metric in ["correlation", "correlation_to_average"] {
        let ensemble = report["test"][metric].as_f64().unwrap();
        let alone: Vec<f64> = members.values().map(|m| m["test"][metric].as_f64().unwrap()).collect();
        let best = alone.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert!(ensemble >= best, "test {metric}: ensemble {ensemble} below its best member {best} ({alone:?})");
        // The members differ (seeds), so the mean is not one of them.
        assert!(alone.iter().all(|&a| (a - ensemble).abs() > 1e-6), "{metric}: {alone:?} {ensemble}");
    }
    // The same runs given one by one are the same ensemble.
    let runs: Vec<PathBuf> = members.keys().map(PathBuf::from).collect();
    let listed = stdout_json(&run(neurozoo().arg("eval").args(&runs).arg("--data").arg(&data).arg("--json")));
    assert_eq!(listed["test"], report["test"]);

    // Its representation is its predicted rates; a member's core layers are not the ensemble's.
    let repr = dir.path().join("ensemble.h5");
    let out = run(neurozoo().arg("extract").arg(&seeds).arg("--data").arg(&data).arg("--out").arg(&repr));
    assert!(out.status.success() && repr.is_file());
    assert!(stderr(&out).contains("predicted of ensemble of 3 runs"), "{}", stderr(&out));
    let refused = dir.path().join("core.h5");
    let out = run(neurozoo().arg("extract").args(&runs).args(["--layer", "core.0", "--data"]).arg(&data).arg("--out").arg(&refused));
    assert!(!out.status.success() && stderr(&out).contains("--layer core.0: an ensemble of 3 runs has one layer"), "{}", stderr(&out));
    assert!(!refused.exists());

    // MEIs of the ensemble.
    let meis = dir.path().join("meis");
    let out = run(neurozoo()
        .args(["insilico", "mei"])
        .arg(&seeds)
        .args(["--units", "1,2", "--steps", "5", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&meis));
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(meis.join("mei.csv")).unwrap().lines().count(), 3);

    // A run given twice counts once: refused, as is a sweep of several configs.
    let out = run(neurozoo().arg("eval").arg(&runs[0]).arg(&runs[0]).arg("--data").arg(&data));
    assert!(!out.status.success() && stderr(&out).contains("is given twice"), "{}", stderr(&out));
    let mut plan: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(seeds.join("sweep.json")).unwrap()).unwrap();
    plan["points"][0]["values"] = serde_json::json!({"train.lr": 0.01});
    let grid = dir.path().join("grid");
    std::fs::create_dir(&grid).unwrap();
    std::fs::write(grid.join("sweep.json"), plan.to_string()).unwrap();
    let out = run(neurozoo().arg("eval").arg(&grid).arg("--data").arg(&data));
    assert!(!out.status.success() && stderr(&out).contains("the sweep has 2 configurations besides its seeds"), "{}", stderr(&out));

    // A run of other units and images cannot join: named, nothing written.
    // Named as the others' recording, so that its units and images are what differ.
    std::fs::create_dir(dir.path().join("other")).unwrap();
    let other = dir.path().join("other").join("v1.h5");
    let out = run(neurozoo()
        .args(["data", "simulate", "v1", "--n-units", "6", "--n-train", "40", "--n-validation", "10", "--n-test", "4"])
        .args(["--n-final-test", "0", "--height", "16", "--width", "16", "--seed", "4", "--out"])
        .arg(&other));
    assert!(out.status.success());
    let odd = dir.path().join("odd");
    assert!(run(neurozoo().args(["fit"]).arg(&config).args(["--max-epochs", "1", "--data"]).arg(&other).arg("--out").arg(&odd))
        .status
        .success());
    let refused = dir.path().join("odd_meis");
    let out =
        run(neurozoo().args(["insilico", "mei"]).arg(&runs[0]).arg(&odd).args(["--norm", "5", "--range=-2,2", "--out"]).arg(&refused));
    let err = stderr(&out);
    assert!(!out.status.success() && err.contains("the runs of an ensemble predict the same units from the same images"), "{err}");
    assert!(!refused.exists());
}
