//! Files written by the reference tools (h5py, pynwb) load as those tools meant them, files we
//! write carry the reference keys and dtypes, and NWB errors name the file and the key. Fixtures
//! and their expected values come from `fixtures/make_fixtures.py`; malformed files are made by
//! the bad-input suite (`tests/e2e/bad_input.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use neurozoo_datasets::nwb::{self, NwbOptions};
use neurozoo_datasets::stats::Normalization;
use neurozoo_datasets::validate::validate;
use neurozoo_datasets::{describe, static_h5, Dataset, Tier};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn expected(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

fn assert_close(what: &str, got: f64, want: f64, rel: f64) {
    assert!((got - want).abs() <= rel * want.abs().max(1.0), "{what}: got {got}, expected {want}");
}

/// The static-layout checks shared by both h5py fixtures.
fn check_static(file: &str, expected_file: &str) -> Dataset {
    let e = expected(expected_file);
    let ds = neurozoo_datasets::load(&fixture(file)).unwrap();
    let (n, u) = (e["N"].as_u64().unwrap() as usize, e["U"].as_u64().unwrap() as usize);
    assert_eq!((ds.n_trials(), ds.n_units()), (n, u));
    assert_eq!(ds.image_shape().to_vec(), ints(&e["image_shape"]).iter().map(|&x| x as usize).collect::<Vec<_>>());
    let tiers: Vec<&str> = ds.tiers.iter().map(|t| t.as_str()).collect();
    let want: Vec<&str> = e["tiers"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(tiers, want, "tiers row by row");
    assert_eq!(ds.image_ids, ints(&e["image_ids"]), "image ids from {}", e["image_id_key"]);
    assert_eq!(ds.units.ids, ints(&e["unit_ids"]));
    for tier in Tier::ALL {
        let want = e["tier_counts"].get(tier.as_str()).map_or(0, |c| c.as_u64().unwrap() as usize);
        assert_eq!(ds.tier_indices(tier).len(), want, "{} trials", tier.as_str());
    }

    // Normalisation statistics come from the train tier only, as numpy computes them (ddof 0).
    let norm = Normalization::from_train(&ds).unwrap();
    assert_close("train image mean", norm.image_mean.into(), e["train_image_mean"].as_f64().unwrap(), 1e-5);
    assert_close("train image std", norm.image_std.into(), e["train_image_std"].as_f64().unwrap(), 1e-5);
    for (unit, (got, want)) in norm.response_mean.iter().zip(floats(&e["train_response_mean"])).enumerate() {
        assert_close(&format!("unit {unit} response mean"), f64::from(*got), want, 1e-5);
    }
    for (unit, (got, want)) in norm.response_std.iter().zip(floats(&e["train_response_std"])).enumerate() {
        assert_close(&format!("unit {unit} response std"), f64::from(*got), want, 1e-5);
    }
    assert!(validate(&fixture(file)).is_ok(), "{}", validate(&fixture(file)));
    ds
}

#[test]
fn h5py_static_file_with_uint8_images_and_shuffled_tiers_loads() {
    let ds = check_static("static_small.h5", "static_small.expected.json");
    // uint8 pixels stay uint8 in memory, 0..255; normalisation is the model's business.
    let neurozoo_datasets::Images::U8(pixels) = &ds.images else { panic!("uint8 images were widened to {}", ds.images.dtype()) };
    assert!(pixels.iter().any(|&p| p > 1));
    // Repeated test images group by image id.
    assert!(ds.repeats(Tier::Test).iter().any(|g| g.len() > 1));
    assert!(ds.units.area.is_some() && ds.units.coordinates.is_some() && ds.behavior.is_some() && ds.pupil_center.is_some());
}

#[test]
fn h5py_static_file_with_float_images_and_minimal_keys_loads() {
    let ds = check_static("static_float.h5", "static_float.expected.json");
    assert!(ds.behavior.is_none() && ds.pupil_center.is_none());
}

/// Every dataset under `group`, by path, with its dtype as `describe` names it.
fn dtypes(group: &hdf5::Group, prefix: &str, out: &mut BTreeMap<String, String>) {
    for name in group.member_names().unwrap() {
        let path = format!("{prefix}{name}");
        if let Ok(ds) = group.dataset(&name) {
            out.insert(path, describe(&ds.dtype().unwrap().to_descriptor().unwrap()));
        } else {
            dtypes(&group.group(&name).unwrap(), &format!("{path}/"), out);
        }
    }
}

#[test]
fn files_we_write_have_the_keys_and_dtypes_h5py_wrote() {
    let reference = fixture("static_small.h5");
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours.h5");
    static_h5::write(&static_h5::read(&reference).unwrap(), &ours).unwrap();

    let (mut theirs_keys, mut ours_keys) = (BTreeMap::new(), BTreeMap::new());
    dtypes(&hdf5::File::open(&reference).unwrap(), "", &mut theirs_keys);
    dtypes(&hdf5::File::open(&ours).unwrap(), "", &mut ours_keys);
    for (key, dtype) in &theirs_keys {
        // neuralpredictors computes its own statistics over whichever subset it names; ours are
        // `all` (the same meaning) and `train`.
        if key.starts_with("statistics/") && !key.contains("/all/") {
            continue;
        }
        let got = ours_keys.get(key).unwrap_or_else(|| panic!("we do not write {key}; we write {ours_keys:?}"));
        let same_kind = match key.as_str() {
            // Fixed-length byte strings: the length may differ, the kind may not.
            _ if dtype.starts_with("string") => got.starts_with("string (fixed length"),
            _ => got == dtype,
        };
        assert!(same_kind, "{key}: h5py wrote {dtype}, we write {got}");
    }
    // And what we wrote reads back to the same dataset.
    assert_eq!(static_h5::read(&ours).unwrap(), static_h5::read(&reference).unwrap());
}

fn check_nwb(opts: &NwbOptions, series: &str) {
    let e = expected("ophys_small.expected.json");
    let ds = nwb::read(&fixture("ophys_small.nwb"), opts).unwrap();
    let want = e["series"][series]["responses"].as_array().unwrap();
    assert_eq!(ds.n_trials(), e["n_presentations"].as_u64().unwrap() as usize);
    assert_eq!(ds.n_units(), e["n_rois"].as_u64().unwrap() as usize);
    for (p, row) in want.iter().enumerate() {
        for (roi, w) in floats(row).into_iter().enumerate() {
            assert_close(&format!("{series} presentation {p} roi {roi}"), ds.responses[[p, roi]].into(), w, 1e-5);
        }
    }
    assert_eq!(ds.image_ids, ints(&e["presentation_image_indices"]));
    // The same image index shows the same template, different indices different ones.
    for a in 0..ds.n_trials() {
        for b in 0..ds.n_trials() {
            assert_eq!(ds.image(a) == ds.image(b), ds.image_ids[a] == ds.image_ids[b], "presentations {a} and {b}");
        }
    }
    // Every image in this fixture is shown more than once (Allen Brain Observatory style), so
    // the default split holds out images: one each of the 4 for test and validation, every
    // image with all its repeats in one tier.
    for t in [Tier::Train, Tier::Validation, Tier::Test] {
        assert!(!ds.tier_indices(t).is_empty(), "no {t} presentations");
    }
    for a in 0..ds.n_trials() {
        for b in 0..ds.n_trials() {
            assert!(ds.image_ids[a] != ds.image_ids[b] || ds.tiers[a] == ds.tiers[b], "one image in two tiers");
        }
    }
    let repeats = nwb::split_tiers(&ds.image_ids, nwb::Split::Repeats, 0);
    assert!(repeats.iter().all(|&t| t == Tier::Test), "repeated images are all test under the repeats rule");
}

#[test]
fn pynwb_dff_series_with_starting_time_and_rate_by_default() {
    check_nwb(&NwbOptions::default(), "processing/ophys/DfOverF/RoiResponseSeries");
}

#[test]
fn pynwb_fluorescence_series_with_timestamps_conversion_and_offset() {
    let series = "processing/ophys/Fluorescence/RoiResponseSeries";
    check_nwb(&NwbOptions { series: Some(series.into()), ..NwbOptions::default() }, series);
}

#[test]
fn pynwb_time_intervals_give_the_same_presentations_as_the_index_series() {
    let e = expected("ophys_small.expected.json");
    let table = e["hdf5"]["time_intervals"].as_str().unwrap();
    check_nwb(&NwbOptions { presentations: Some(table.into()), ..NwbOptions::default() }, "processing/ophys/DfOverF/RoiResponseSeries");
}

#[test]
fn nwb_errors_name_the_file_and_the_key() {
    let path = fixture("ophys_small.nwb");
    let err = nwb::read(&path, &NwbOptions { series: Some("processing/ophys/Nope".into()), ..NwbOptions::default() }).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("ophys_small.nwb") && msg.contains("processing/ophys/Nope"), "{msg}");
    let err = nwb::read(&path, &NwbOptions { window: (0.5, 0.5), ..NwbOptions::default() }).unwrap_err();
    assert!(err.to_string().contains("window"), "{err}");
}

/// A scan that stops before the last stimulus, as real recordings do: the presentations after
/// the imaging are left out (with a warning), the others read as before.
#[test]
fn nwb_presentations_after_the_imaging_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short_scan.nwb");
    std::fs::copy(fixture("ophys_small.nwb"), &path).unwrap();
    let key = "stimulus/presentation/natural_images/timestamps";
    {
        let f = hdf5::File::open_rw(&path).unwrap();
        let mut onsets = f.dataset(key).unwrap().read_raw::<f64>().unwrap();
        let n = onsets.len();
        onsets[n - 2] = 1e4;
        onsets[n - 1] = 1e4 + 1.0;
        f.dataset(key).unwrap().write_raw(&onsets).unwrap();
    }
    let whole = nwb::read(&fixture("ophys_small.nwb"), &NwbOptions::default()).unwrap();
    let short = nwb::read(&path, &NwbOptions::default()).unwrap();
    let kept = whole.n_trials() - 2;
    assert_eq!(short.n_trials(), kept);
    assert_eq!(short.image_ids, whole.image_ids[..kept]);
    assert_eq!(short.responses, whole.responses.slice(ndarray::s![..kept, ..]));
}
