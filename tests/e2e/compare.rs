//! `compare` on a simulated population: the simulation's noiseless rates against the recorded
//! responses must score high and near the noise ceiling; the same rates shuffled across stimuli
//! must score at chance, and the two must be told apart by the bootstrap intervals.

use std::path::{Path, PathBuf};

use ndarray::Axis;
use neurozoo_datasets::representation::{Representation, RepresentationFile, UniqueImages};
use neurozoo_tables::read_parquet;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;

/// A small simulated population, its responses (with oracle correlations) and a model file with
/// `truth` (noiseless rates of each distinct image), `shuffled` (the same rows permuted) and
/// `constant` (no information at all), its rows and ids in reverse order: `compare` must match
/// rows by id.
fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    let data = dir.join("v1.h5");
    let sizes = ["--n-units", "40", "--n-train", "500", "--n-validation", "100", "--n-test", "30", "--n-final-test", "0"];
    assert!(run(neurozoo().args(["data", "simulate", "v1", "--out"]).arg(&data).args(sizes)).status.success());
    let responses = dir.join("responses.h5");
    assert!(run(neurozoo().args(["extract", "--data"]).arg(&data).arg("--out").arg(&responses)).status.success());

    let ds = neurozoo_datasets::load(&data).unwrap();
    let images = UniqueImages::of(&ds);
    let truth = ds.ground_truth.as_ref().unwrap().noiseless_rates.select(Axis(0), &images.first_trials());
    let mut order: Vec<usize> = (0..truth.nrows()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(1));
    let shuffled = truth.select(Axis(0), &order);
    let reverse: Vec<usize> = (0..truth.nrows()).rev().collect();
    let constant = ndarray::Array2::from_elem((truth.nrows(), 3), 1.0f32);
    let model = RepresentationFile {
        representations: vec![
            Representation { name: "truth".into(), data: truth.select(Axis(0), &reverse), source: "{}".into() },
            Representation { name: "shuffled".into(), data: shuffled.select(Axis(0), &reverse), source: "{}".into() },
            Representation { name: "constant".into(), data: constant, source: "{}".into() },
        ],
        stimulus_ids: reverse.iter().map(|&i| images.ids[i]).collect(),
        stimuli: None,
        arrays: Vec::new(),
    };
    let path = dir.join("model.h5");
    model.write(&path).unwrap();
    (path, responses)
}

#[test]
fn noiseless_rates_reach_the_ceiling_and_shuffled_rates_score_chance() {
    let dir = tempfile::tempdir().unwrap();
    let (model, responses) = setup(dir.path());
    let out = dir.path().join("cmp");
    let args = ["--bootstrap", "100", "--max-stimuli", "400", "--json", "--out"];
    let output = run(neurozoo().arg("compare").arg(&model).arg(&responses).args(args).arg(&out));
    assert!(output.status.success());
    let summary = stdout_json(&output);
    assert_eq!(summary["n_stimuli"], 400);
    assert_eq!(summary["n_common_stimuli"], 630);
    let score = |rep: &str, metric: &str, key: &str| {
        summary["scores"][rep][metric][key].as_f64().unwrap_or_else(|| panic!("no {key} of {metric} for {rep}: {summary}"))
    };
    for metric in ["predictivity", "predictivity_normalised", "linear_cka", "rbf_cka", "rsa"] {
        let (t, s) = (score("truth", metric, "score"), score("shuffled", metric, "score"));
        eprintln!("{metric}: truth {t:.3}, shuffled {s:.3}");
        for rep in ["truth", "shuffled"] {
            let (lo, v, hi) = (score(rep, metric, "ci_low"), score(rep, metric, "score"), score(rep, metric, "ci_high"));
            assert!(lo <= v && v <= hi, "{rep} {metric}: {v} outside its interval [{lo}, {hi}]");
        }
        assert!(score("truth", metric, "ci_low") > score("shuffled", metric, "ci_high"), "{metric}: truth and shuffled overlap");
    }
    // Ridge from the noiseless rates predicts each unit about as well as its repeats do.
    let fraction = score("truth", "predictivity_normalised", "score");
    assert!((0.8..1.3).contains(&fraction), "fraction of oracle {fraction}");
    // Shuffled rows carry no stimulus information: near zero correlation and RSA.
    assert!(score("shuffled", "predictivity", "score").abs() < 0.1);
    assert!(score("shuffled", "rsa", "score").abs() < 0.05);

    // A representation that is the same for every stimulus predicts nothing and has no
    // geometry: every score is undefined (null, not 0 or a made-up number), a warning says so,
    // and the figure leaves it out.
    for metric in ["predictivity", "predictivity_normalised", "linear_cka", "rbf_cka", "rsa"] {
        for key in ["score", "ci_low", "ci_high"] {
            assert!(summary["scores"]["constant"][metric][key].is_null(), "{metric} {key}: {}", summary["scores"]["constant"]);
        }
    }
    // Shape distances: the true rates are closer than the shuffled ones, closer than every
    // shuffle of the permutation null (the smallest p-value, 1/101), and the shuffled ones are
    // not; no bootstrap interval, a p-value instead; undefined for the constant representation.
    for metric in ["procrustes", "procrustes_angular", "cca_angular"] {
        let (t, s) = (score("truth", metric, "score"), score("shuffled", metric, "score"));
        eprintln!(
            "{metric}: truth {t:.3} (p {}), shuffled {s:.3} (p {})",
            summary["scores"]["truth"][metric]["p_value"], summary["scores"]["shuffled"][metric]["p_value"]
        );
        assert!(t < s, "{metric}: truth {t} not closer than shuffled {s}");
        assert!((score("truth", metric, "p_value") - 1.0 / 101.0).abs() < 1e-12);
        assert!(score("shuffled", metric, "p_value") > 0.05);
        assert!(summary["scores"]["truth"][metric]["ci_low"].is_null());
        assert!(summary["scores"]["constant"][metric]["score"].is_null());
    }
    assert!(score("truth", "procrustes_angular", "score") < 0.5 && score("shuffled", "procrustes_angular", "score") > 1.0);
    let warnings = summary["warnings"].to_string();
    assert!(warnings.contains("representations/constant is the same for all 400 stimuli compared: its scores are undefined"), "{warnings}");

    let scores = read_parquet(&out.join("scores.parquet")).unwrap();
    // 3 representations × 10 metrics (the responses carry single trials: rsa_repeats and
    // rsa_crossnobis are among them).
    assert_eq!(scores.height(), 30);
    assert!(scores.column("p_value").is_ok());
    let units = read_parquet(&out.join("units.parquet")).unwrap();
    assert_eq!(units.height(), 120);
    for f in ["scores.csv", "units.csv", "scores.png", "scores.svg", "predictivity_vs_oracle.png", "predictivity_vs_oracle.svg"] {
        assert!(out.join(f).metadata().unwrap().len() > 100, "{f}");
    }
}

/// `extract --tiers` keeps the images first shown in those tiers, in the same order.
#[test]
fn extract_keeps_the_tiers_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let (_, responses) = setup(dir.path());
    let test = dir.path().join("test.h5");
    let out = run(neurozoo().args(["extract", "--tiers", "test", "--data"]).arg(dir.path().join("v1.h5")).arg("--out").arg(&test));
    assert!(out.status.success());
    let (all, held) = (RepresentationFile::read(&responses).unwrap(), RepresentationFile::read(&test).unwrap());
    assert_eq!(held.stimulus_ids.len(), 30);
    // The test images come last in the simulation; rows are those of the full file.
    assert_eq!(held.stimulus_ids[..], all.stimulus_ids[600..]);
    assert_eq!(held.representations[0].data, all.representations[0].data.slice(ndarray::s![600.., ..]));
}

#[test]
fn bad_inputs_are_refused_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (model, responses) = setup(dir.path());
    let out = dir.path().join("cmp");
    // Not a representation file: the error names the file.
    let data = dir.path().join("v1.h5");
    let output = run(neurozoo().arg("compare").arg(&data).arg(&responses).arg("--out").arg(&out));
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("v1.h5"), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!out.exists());
    // A representation of B that is not there: the error lists the ones there are.
    let output = run(neurozoo().arg("compare").arg(&model).arg(&responses).args(["--b-name", "spikes", "--out"]).arg(&out));
    assert!(String::from_utf8_lossy(&output.stderr).contains("there are: responses"));
    assert!(!out.exists());
    // Files with no stimuli in common.
    let other = RepresentationFile::read(&model).unwrap();
    let moved = RepresentationFile { stimulus_ids: other.stimulus_ids.iter().map(|i| i + 1_000_000).collect(), ..other };
    let moved_path = dir.path().join("moved.h5");
    moved.write(&moved_path).unwrap();
    let output = run(neurozoo().arg("compare").arg(&moved_path).arg(&responses).arg("--out").arg(&out));
    assert!(String::from_utf8_lossy(&output.stderr).contains("only 0 stimuli to compare"));
    assert!(!out.exists());
}

/// Two answers that used to be wrong with exit 0. The responses of an unrelated recording share
/// integer ids with this one but not its images: refused, naming both files. A noise ceiling
/// whose mean is not above zero gives no fraction of oracle (it would flip the sign), with a
/// warning; the other scores stay.
#[test]
fn unrelated_stimuli_and_a_non_positive_ceiling_are_not_scored() {
    let dir = tempfile::tempdir().unwrap();
    let (model, responses) = setup(dir.path());
    let other = dir.path().join("other.h5");
    let sizes = ["--n-units", "40", "--n-train", "500", "--n-validation", "100", "--n-test", "30", "--n-final-test", "0"];
    assert!(run(neurozoo().args(["data", "simulate", "v1", "--seed", "7", "--out"]).arg(&other).args(sizes)).status.success());
    let other_responses = dir.path().join("other_responses.h5");
    assert!(run(neurozoo().args(["extract", "--data"]).arg(&other).arg("--out").arg(&other_responses)).status.success());
    let out = dir.path().join("cmp");
    let e = neurozoo().arg("compare").arg(&other_responses).arg(&responses).arg("--out").arg(&out).output().unwrap();
    let stderr = String::from_utf8_lossy(&e.stderr);
    assert!(!e.status.success() && stderr.contains("are different images") && stderr.contains("other_responses.h5"), "{stderr}");
    assert!(!out.exists());

    let mut flipped = RepresentationFile::read(&responses).unwrap();
    for (_, ceiling) in flipped.arrays.iter_mut().filter(|(n, _)| n == "oracle_correlation") {
        ceiling.mapv_inplace(|c| -c.abs());
    }
    let flipped_path = dir.path().join("flipped.h5");
    flipped.write(&flipped_path).unwrap();
    let e = run(neurozoo().arg("compare").arg(&model).arg(&flipped_path).args(["--bootstrap", "0", "--json", "--out"]).arg(&out));
    assert!(e.status.success() && String::from_utf8_lossy(&e.stderr).contains("not above zero"));
    let j = stdout_json(&e);
    assert!(
        j["scores"]["truth"].get("predictivity_normalised").is_none() && j["scores"]["truth"]["predictivity"]["score"].is_number(),
        "{j}"
    );
}

/// The RSA noise ceiling from the test images' repeats: present with lower ≤ upper, the
/// noiseless rates' RSA against the repeat partitions within it or below (never above the
/// upper bound), shuffled rates far below it; crossnobis RSA tells them apart too. Responses
/// without repeats give no ceiling (a note, or an error when one is required), and trial
/// arrays without their rows are refused.
#[test]
fn rsa_noise_ceiling_from_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let (model, responses) = setup(dir.path());
    let fast = ["--bootstrap", "0", "--permutations", "0", "--json", "--out"];
    let out = dir.path().join("cmp");
    let summary = stdout_json(&run(neurozoo().arg("compare").arg(&model).arg(&responses).args(fast).arg(&out)));
    let c = &summary["rsa_noise_ceiling"];
    let (lower, upper) = (c["lower"].as_f64().unwrap(), c["upper"].as_f64().unwrap());
    let score =
        |rep: &str, metric: &str| summary["scores"][rep][metric]["score"].as_f64().unwrap_or_else(|| panic!("{metric} {rep}: {summary}"));
    let (truth, shuffled) = (score("truth", "rsa_repeats"), score("shuffled", "rsa_repeats"));
    eprintln!("RSA ceiling [{lower:.3}, {upper:.3}] ({c}); rsa_repeats truth {truth:.3}, shuffled {shuffled:.3}");
    eprintln!("rsa_crossnobis truth {:.3}, shuffled {:.3}", score("truth", "rsa_crossnobis"), score("shuffled", "rsa_crossnobis"));
    assert_eq!(c["n_images"], 30, "the 30 test images are the repeated ones");
    assert!(c["n_partitions"].as_u64().unwrap() >= 2 && c["n_trials"].as_u64().unwrap() >= 60, "{c}");
    assert!(0.0 < lower && lower <= upper && upper < 1.0, "{c}");
    assert!(truth <= upper && truth > lower - 0.1, "truth {truth} against [{lower}, {upper}]");
    assert!(shuffled.abs() < 0.2 && shuffled < lower, "shuffled {shuffled}");
    // Crossnobis removes the noise's bias from B's distances: the noiseless rates' squared
    // Euclidean RDM matches it closely (0.98 measured), shuffled rates do not.
    assert!(score("truth", "rsa_crossnobis") > 0.9 && score("shuffled", "rsa_crossnobis").abs() < 0.2);
    assert!(summary["scores"]["constant"]["rsa_repeats"]["score"].is_null());
    assert!(summary["notes"].as_array().unwrap().is_empty(), "{}", summary["notes"]);
    assert!(out.join("scores.png").exists());

    // The train images are shown once: no single trials written, no ceiling, a note says why.
    let once = dir.path().join("train.h5");
    assert!(run(neurozoo().args(["extract", "--tiers", "train", "--data"]).arg(dir.path().join("v1.h5")).arg("--out").arg(&once))
        .status
        .success());
    assert!(!RepresentationFile::read(&once).unwrap().arrays.iter().any(|(n, _)| n == "trial_responses"));
    let out = dir.path().join("cmp_once");
    let summary = stdout_json(&run(neurozoo().arg("compare").arg(&model).arg(&once).args(fast).arg(&out)));
    assert!(summary.get("rsa_noise_ceiling").is_none() && summary["scores"]["truth"].get("rsa_repeats").is_none(), "{summary}");
    assert!(summary["notes"].to_string().contains("no single trials"), "{}", summary["notes"]);
    // Asked for, its absence is an error naming the file, and nothing is written.
    let out = dir.path().join("cmp_required");
    let e = neurozoo().arg("compare").arg(&model).arg(&once).arg("--require-rsa-ceiling").arg("--out").arg(&out).output().unwrap();
    let stderr = String::from_utf8_lossy(&e.stderr);
    assert!(!e.status.success() && stderr.contains("train.h5") && stderr.contains("no RSA noise ceiling"), "{stderr}");
    assert!(!out.exists());

    // Trials without the rows they show cannot be used: refused, naming the array.
    let mut half = RepresentationFile::read(&responses).unwrap();
    half.arrays.retain(|(n, _)| n != "trial_rows");
    let half_path = dir.path().join("half.h5");
    half.write(&half_path).unwrap();
    let e = neurozoo().arg("compare").arg(&model).arg(&half_path).arg("--out").arg(&out).output().unwrap();
    let stderr = String::from_utf8_lossy(&e.stderr);
    assert!(!e.status.success() && stderr.contains("arrays/trial_responses without arrays/trial_rows"), "{stderr}");
    assert!(!out.exists());
}
