//! simulate → write → read → validate, on real HDF5 files.

use neurozoo_datasets::simulate::v1::{simulate, true_filters, ImageKind, Noise, V1Config};
use neurozoo_datasets::stats::Normalization;
use neurozoo_datasets::validate::{validate, Severity};
use neurozoo_datasets::{static_h5, Tier};

fn small(seed: u64) -> V1Config {
    V1Config {
        seed,
        n_units: 24,
        n_train: 120,
        n_validation: 20,
        n_test: 6,
        n_final_test: 2,
        repeats: 5,
        height: 20,
        width: 24,
        ..V1Config::default()
    }
}

#[test]
fn write_then_read_gives_the_same_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.h5");
    let data = simulate(&small(3)).unwrap();
    static_h5::write(&data, &path).unwrap();
    let back = static_h5::read(&path).unwrap();
    assert_eq!(back, data);
    let v = validate(&path);
    assert!(v.issues.is_empty(), "{v}");
}

#[test]
fn same_seed_same_bytes_other_seed_other_data() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<_> = ["a.h5", "b.h5", "c.h5"].iter().map(|n| dir.path().join(n)).collect();
    static_h5::write(&simulate(&small(7)).unwrap(), &paths[0]).unwrap();
    static_h5::write(&simulate(&small(7)).unwrap(), &paths[1]).unwrap();
    static_h5::write(&simulate(&small(8)).unwrap(), &paths[2]).unwrap();
    let bytes: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(bytes[0] == bytes[1], "same seed wrote different bytes");
    assert!(bytes[0] != bytes[2], "different seeds wrote the same file");
}

#[test]
fn tiers_and_repeats_follow_the_config() {
    let cfg = small(1);
    let data = simulate(&cfg).unwrap();
    assert_eq!(data.tier_indices(Tier::Train).len(), cfg.n_train);
    assert_eq!(data.tier_indices(Tier::Validation).len(), cfg.n_validation);
    let test = data.repeats(Tier::Test);
    assert_eq!(test.len(), cfg.n_test);
    let gt = data.ground_truth.as_ref().unwrap();
    for group in &test {
        assert_eq!(group.len(), cfg.repeats);
        // Repeats show the same image and share the noiseless rate, but not the noise.
        for &t in &group[1..] {
            assert_eq!(data.image(t), data.image(group[0]));
            assert_eq!(gt.noiseless_rates.row(t), gt.noiseless_rates.row(group[0]));
        }
    }
    assert!(data.repeats(Tier::Train).iter().all(|g| g.len() == 1));
}

#[test]
fn ground_truth_is_consistent_with_the_responses() {
    let cfg = V1Config { n_units: 40, n_train: 400, ..small(5) };
    let data = simulate(&cfg).unwrap();
    let gt = data.ground_truth.as_ref().unwrap();
    // Poisson noise: responses are counts whose mean matches the noiseless rate.
    assert!(data.responses.iter().all(|&r| r >= 0.0 && r.fract() == 0.0));
    let mean_rate = gt.noiseless_rates.mean().unwrap();
    let mean_resp = data.responses.mean().unwrap();
    assert!((mean_rate - mean_resp).abs() < 0.05 * mean_rate, "rates {mean_rate} vs responses {mean_resp}");
    // Rectified: some trials silent, all rates non-negative.
    assert!(gt.noiseless_rates.iter().all(|&r| r >= 0.0));
    assert!(gt.noiseless_rates.iter().any(|&r| r == 0.0));
    // Receptive fields inside the border, every cell type named.
    for row in gt.rf_position.rows() {
        assert!(row[0] >= cfg.border as f32 && row[0] <= (cfg.height - 1 - cfg.border) as f32, "{row}");
        assert!(row[1] >= cfg.border as f32 && row[1] <= (cfg.width - 1 - cfg.border) as f32, "{row}");
    }
    assert_eq!(gt.cell_type_names.len(), cfg.cell_types.len());
    assert!(gt.cell_type.iter().all(|&t| (t as usize) < cfg.cell_types.len()));
    let params: serde_json::Value = serde_json::from_str(&gt.params_json).unwrap();
    assert_eq!(params["config"]["seed"], 5);
}

/// The true filters rebuilt from a file's ground truth are the ones that made its rates: on the
/// trials where a unit fires, its rate is an affine function of its filters' drive (the filter's
/// output, or a complex cell's quadrature energy). Another simulator's file has none.
#[test]
fn true_filters_rebuilt_from_a_file_give_its_rates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.h5");
    static_h5::write(&simulate(&V1Config { noise: Noise::Gaussian { sd: 0.0 }, ..small(7) }).unwrap(), &path).unwrap();
    let data = static_h5::read(&path).unwrap();
    let gt = data.ground_truth.as_ref().unwrap();
    let filters = true_filters(gt).unwrap();
    assert_eq!(filters.len(), data.n_units());
    for (u, f) in filters.iter().enumerate() {
        let (fh, fw) = f.even.dim();
        let mut pairs = Vec::new();
        for t in 0..data.n_trials() {
            let image = data.image(t);
            let patch = image.slice(ndarray::s![0, f.top..f.top + fh, f.left..f.left + fw]);
            let dot = |g: &ndarray::Array2<f64>| g.iter().zip(patch.iter()).map(|(a, &b)| a * f64::from(b)).sum::<f64>();
            let drive = match &f.odd {
                Some(odd) => dot(&f.even).hypot(dot(odd)),
                None => dot(&f.even),
            };
            let rate = f64::from(gt.noiseless_rates[[t, u]]);
            if rate > 0.0 {
                pairs.push((drive, rate));
            }
        }
        let n = pairs.len() as f64;
        let (md, mr) = (pairs.iter().map(|p| p.0).sum::<f64>() / n, pairs.iter().map(|p| p.1).sum::<f64>() / n);
        let cov: f64 = pairs.iter().map(|(d, r)| (d - md) * (r - mr)).sum();
        let (vd, vr): (f64, f64) = (pairs.iter().map(|p| (p.0 - md).powi(2)).sum(), pairs.iter().map(|p| (p.1 - mr).powi(2)).sum());
        let r = cov / (vd * vr).sqrt();
        assert!(pairs.len() > 10 && r > 0.9999, "unit {u}: rate and true drive correlate {r} over {} firing trials", pairs.len());
    }
    let mut other = gt.clone();
    other.params_json = r#"{"simulator": "sprites"}"#.into();
    assert!(true_filters(&other).unwrap_err().to_string().contains("simulator \"sprites\" is not v1"));
}

/// A neuron responds to its own receptive field: its rate correlates with the stimulus energy
/// around its true position more than with the energy at the mirrored position.
#[test]
fn neurons_respond_at_their_receptive_field() {
    let cfg = V1Config { n_units: 30, n_train: 600, images: ImageKind::White, noise: Noise::Gaussian { sd: 0.0 }, ..small(11) };
    let data = simulate(&cfg).unwrap();
    let gt = data.ground_truth.as_ref().unwrap();
    let corr = |a: &[f64], b: &[f64]| {
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
        let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
        let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
        cov / (va * vb).sqrt()
    };
    // Stimulus energy in the 3x3 patch centred on (y, x), per training image.
    let energy = |y: usize, x: usize| -> Vec<f64> {
        (0..cfg.n_train)
            .map(|t| {
                let img = data.image(t);
                let patch = img.slice(ndarray::s![0, y - 1..=y + 1, x - 1..=x + 1]);
                patch.iter().map(|&v| f64::from(v).powi(2)).sum()
            })
            .collect()
    };
    let mut closer = 0;
    for u in 0..cfg.n_units {
        let (r, c) = (gt.rf_position[[u, 0]].round() as usize, gt.rf_position[[u, 1]].round() as usize);
        let (mr, mc) = (cfg.height - 1 - r, cfg.width - 1 - c);
        let rates: Vec<f64> = (0..cfg.n_train).map(|t| f64::from(gt.noiseless_rates[[t, u]])).collect();
        if corr(&rates, &energy(r, c)).abs() > corr(&rates, &energy(mr, mc)).abs() {
            closer += 1;
        }
    }
    assert!(closer >= cfg.n_units * 8 / 10, "only {closer}/{} neurons respond at their own position", cfg.n_units);
}

#[test]
fn normalisation_uses_the_train_tier_only() {
    let mut data = simulate(&small(2)).unwrap();
    let train = data.tier_indices(Tier::Train);
    let before = Normalization::from_train(&data).unwrap();
    for t in data.tier_indices(Tier::Test) {
        data.responses.row_mut(t).fill(1e6);
        let neurozoo_datasets::Images::F32(images) = &mut data.images else { panic!("the simulator writes f32 images") };
        images.index_axis_mut(ndarray::Axis(0), t).fill(1e6);
    }
    let after = Normalization::from_train(&data).unwrap();
    assert_eq!(before, after, "test trials leaked into the normalisation");
    let mean = train.iter().map(|&t| f64::from(data.responses[[t, 0]])).sum::<f64>() / train.len() as f64;
    assert!((f64::from(after.response_mean[0]) - mean).abs() < 1e-4);
}

#[test]
fn bad_parameters_are_refused_by_name() {
    let err = simulate(&V1Config { repeats: 1, ..small(0) }).unwrap_err().to_string();
    assert!(err.contains("repeats"), "{err}");
    let err = simulate(&V1Config { height: 10, ..small(0) }).unwrap_err().to_string();
    assert!(err.contains("border"), "{err}");
}

#[test]
fn failed_write_leaves_no_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let data = simulate(&small(0)).unwrap();
    let target = dir.path().join("missing-dir").join("v1.h5");
    let err = static_h5::write(&data, &target).unwrap_err().to_string();
    assert!(err.contains("v1.h5"), "{err}");
    assert!(!target.exists());
    // An inconsistent dataset is refused before anything is written.
    let mut broken = data.clone();
    broken.tiers.pop();
    let path = dir.path().join("broken.h5");
    assert!(static_h5::write(&broken, &path).is_err());
    assert!(!path.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "temporary files left behind");
}

#[test]
fn validate_warns_when_nothing_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("norep.h5");
    let data = simulate(&V1Config { n_test: 0, n_final_test: 0, ..small(4) }).unwrap();
    static_h5::write(&data, &path).unwrap();
    let v = validate(&path);
    assert!(v.is_ok(), "{v}");
    assert_eq!(v.count(Severity::Warning), 2, "{v}"); // no test tier, no repeats
    assert!(v.lines().any(|l| l.contains("frame_image_id") && l.contains("repeats")), "{v}");
}

/// `ground_truth/` stores every unit's filters and tuning: the stored filters are the ones the
/// simulator drives its units with (`true_filters`, whose rates the test above checks),
/// orientation and phase follow the cell type, and they survive a write and read, in HDF5 and
/// as a file tree.
#[test]
fn stored_true_filters_and_tuning_are_the_simulators_own() {
    let cfg = small(5);
    let data = simulate(&cfg).unwrap();
    let truth = data.ground_truth.as_ref().unwrap();
    let sel = truth.selectivity.as_ref().expect("v1 stores each unit's selectivity");
    assert_eq!(sel.filters.shape(), [24, 2, 20, 24]);
    let rebuilt = true_filters(truth).unwrap();
    for (u, f) in rebuilt.iter().enumerate() {
        let name = truth.cell_type_names[truth.cell_type[u] as usize].as_str();
        let (h, w) = f.even.dim();
        let window = sel.filters.slice(ndarray::s![u, 0, f.top..f.top + h, f.left..f.left + w]);
        let err = window.iter().zip(f.even.iter()).map(|(a, b)| (f64::from(*a) - b).abs()).fold(0.0, f64::max);
        assert!(err < 1e-6, "unit {u} ({name}): stored even filter differs by {err}");
        let norm: f32 = sel.filters.slice(ndarray::s![u, 0, .., ..]).iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-4, "unit {u}: unit norm, found {norm}");
        let odd: f32 = sel.filters.slice(ndarray::s![u, 1, .., ..]).iter().map(|v| v * v).sum();
        assert_eq!(odd > 0.5, f.odd.is_some(), "unit {u} ({name}): an odd filter exactly for complex cells");
        match name {
            n if n.starts_with("simple") => assert!(sel.phase_deg[u] == 0.0 && sel.orientation_deg[u].is_finite(), "unit {u}"),
            n if n.starts_with("complex") => assert!(sel.phase_deg[u].is_nan() && sel.orientation_deg[u].is_finite(), "unit {u}"),
            _ => assert!(sel.orientation_deg[u].is_nan() && sel.spatial_frequency[u].is_nan(), "unit {u} ({name})"),
        }
        if sel.orientation_deg[u].is_finite() {
            assert!((0.0..180.0).contains(&sel.orientation_deg[u]));
            assert!((sel.spatial_frequency[u] - 1.0 / cfg.gabor_wavelength as f32).abs() < 1e-6);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    static_h5::write(&data, &dir.path().join("v1.h5")).unwrap();
    let back = static_h5::read(&dir.path().join("v1.h5")).unwrap();
    assert_eq!(back.ground_truth.unwrap().selectivity.as_ref(), Some(sel));
    neurozoo_datasets::file_tree::write(&data, &dir.path().join("tree")).unwrap();
    let tree = neurozoo_datasets::file_tree::read(&dir.path().join("tree")).unwrap();
    assert_eq!(tree.ground_truth.unwrap().selectivity.as_ref(), Some(sel));
}
