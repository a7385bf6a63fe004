use super::*;
use crate::insilico::fixtures::{ln_model, statistics};
use tch::nn;

fn circular_error(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(180.0);
    d.min(180.0 - d)
}

/// Two Gabor simple cells: their orientations, frequencies and centres are found, they are
/// sharply tuned and phase-modulated (F1/F0 > 1), and a disk growing over a Gabor whose
/// product with the grating is non-negative everywhere only adds drive (no surround suppression).
#[test]
fn gabor_simple_cells_are_tuned_as_built() {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let (model, _) = ln_model(&vs);
    let params = TuningParams::default().check().unwrap();
    let tuning = measure(&model, 0, &[1, 0], &statistics(), &params, None, Device::Cpu).unwrap();
    assert_eq!(tuning.full_field.dim(), (2, 16, 8, 8));
    assert_eq!((tuning.size.dim(), tuning.contrast.dim()), ((2, 10), (2, 8)));
    assert!((tuning.radii[9] - (11.0f64 * 11.0 + 15.0 * 15.0).sqrt()).abs() < 1e-9, "{:?}", tuning.radii);
    for (k, (unit, theta, centre)) in [(1, 90.0, [6.0, 9.0]), (0, 0.0, [5.0, 6.0])].into_iter().enumerate() {
        let t = &tuning.summary()[k];
        assert_eq!(t.unit, unit);
        let err = circular_error(t.preferred_orientation_deg, theta);
        assert!(err < 3.0, "unit {unit}: preferred {}° for {theta}°", t.preferred_orientation_deg);
        // The grid frequency nearest 1/6 cycles/pixel (log distance).
        let nearest =
            tuning.spatial_frequencies.iter().copied().min_by(|a, b| (a * 6.0).ln().abs().total_cmp(&(b * 6.0).ln().abs())).unwrap();
        assert_eq!(t.preferred_sf, nearest, "unit {unit}: {:?}", tuning.spatial_frequencies);
        assert!(t.osi > 0.9 && t.circular_variance < 0.5, "unit {unit}: {t:?}");
        assert!(t.f1_f0 > 1.2, "unit {unit}: a rectified linear filter is phase-modulated: {t:?}");
        assert!(t.surround_suppression.abs() < 0.02, "unit {unit}: {t:?}, {:?}", tuning.size.row(k));
        let [row, col] = tuning.rf_centres[k];
        assert!((row - centre[0]).abs() < 0.5 && (col - centre[1]).abs() < 0.5, "unit {unit}: centre ({row}, {col}) for {centre:?}");
        // The contrast series rises to the full-contrast preferred grating.
        let curve = tuning.contrast.row(k);
        assert!(curve.windows(2).into_iter().all(|w| w[1] >= w[0]), "{curve:?}");
        let [o, f, p] = tuning.preferred[k];
        assert!((curve[7] - tuning.full_field[[k, o, f, p]]).abs() < 1e-4);
    }

    // The table: one row per unit, in the requested order, with the summary's values.
    let dir = tempfile::tempdir().unwrap();
    let [parquet, csv] = tuning.write_table(&[101, 102], dir.path()).unwrap();
    assert!(csv.exists());
    let table = neurozoo_tables::read_parquet(&parquet).unwrap();
    assert_eq!(neurozoo_tables::f64_column(&table, "f1_f0").unwrap(), tuning.summary().iter().map(|t| t.f1_f0).collect::<Vec<_>>());
    let ids = table.column("unit_id").unwrap().i64().unwrap().into_no_null_iter().collect::<Vec<_>>();
    assert_eq!(ids, [102, 101]);
    // The figures: three curves of every shown unit, four histograms of both units.
    let figures = tuning.figures(&[101, 102], 5);
    assert_eq!(figures.len(), 7);
    match &figures[0].1 {
        neurozoo_plugin::Figure::Line { series, .. } => {
            assert_eq!(
                series.iter().map(|(name, points)| (name.as_str(), points.len())).collect::<Vec<_>>(),
                [("unit 102", 16), ("unit 101", 16)]
            )
        }
        other => panic!("orientation curves are a line plot, not {other:?}"),
    }
    match &figures[5].1 {
        neurozoo_plugin::Figure::Histogram { values, .. } => assert_eq!(values.len(), 2),
        other => panic!("F1/F0 is a histogram, not {other:?}"),
    }
}

/// Bad requests are refused, naming what is wrong, before the model sees a stimulus.
#[test]
fn bad_tuning_requests_are_refused() {
    let vs = nn::VarStore::new(Device::Cpu);
    let (model, _) = ln_model(&vs);
    let params = TuningParams::default().check().unwrap();
    let run = |units: &[usize], centres: Option<&[[f64; 2]]>, stats: &StimulusStatistics| {
        measure(&model, 0, units, stats, &params, centres, Device::Cpu).unwrap_err()
    };
    assert_eq!(run(&[], None, &statistics()), TuningError::Request(MeiError::EmptySelection));
    assert_eq!(run(&[2], None, &statistics()), TuningError::Request(MeiError::UnknownUnit { unit: 2, recording: 0, units: 2 }));
    assert_eq!(run(&[0], Some(&[[1.0, 1.0], [2.0, 2.0]]), &statistics()), TuningError::Centres { given: 2, units: 1 });
    let dark = StimulusStatistics { mean_norm: 0.0, ..statistics() };
    assert_eq!(run(&[0], None, &dark), TuningError::Contrast(0.0));
    assert_eq!(
        measure(&model, 1, &[0], &statistics(), &params, None, Device::Cpu).unwrap_err().to_string(),
        "recording 1 does not exist: the model has 1 recording(s)"
    );
}

/// An MEI's centre is where its energy is.
#[test]
fn energy_centres_are_centroids() {
    let mut images = Array4::<f32>::zeros((2, 1, 5, 7));
    images[[0, 0, 1, 2]] = 2.0;
    images[[0, 0, 3, 2]] = -2.0;
    images[[1, 0, 4, 6]] = 1.0;
    assert_eq!(energy_centres(&images), vec![[2.0, 2.0], [4.0, 6.0]]);
}

/// c50 read off a sampled Naka–Rushton curve R(c) = c² / (c² + c50²) lands near the true c50
/// (interpolation error only), and is NaN where the series cannot tell it.
#[test]
fn c50_is_where_the_contrast_curve_reaches_half() {
    let contrasts = log_spaced(1.0 / 32.0, 1.0, 8);
    for truth in [0.08, 0.2, 0.5] {
        let curve: Vec<f64> = contrasts.iter().map(|c| c * c / (c * c + truth * truth)).collect();
        // Half of the largest measured response, which at c = 1 is below saturation.
        let max = curve[curve.len() - 1];
        let exact = truth * (max / 2.0 / (1.0 - max / 2.0)).sqrt();
        let found = half_max_contrast(&contrasts, &curve);
        assert!((found / exact - 1.0).abs() < 0.1, "c50 {truth}: found {found}, half max at {exact}");
    }
    // Already past half at the lowest contrast, or never evoked: undefined.
    assert!(half_max_contrast(&contrasts, &[1.0; 8]).is_nan());
    assert!(half_max_contrast(&contrasts, &[-0.1; 8]).is_nan());
}
