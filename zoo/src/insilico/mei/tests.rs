use super::*;
use crate::config::{preset, Preset};
use crate::insilico::fixtures::{ln_model, statistics, H, W};
use crate::model::{Model, Readout};
use crate::train::Batch;
use tch::nn;

fn correlation(a: &Tensor, b: &Tensor) -> f64 {
    let (a, b) = (a.flatten(0, -1).to_kind(Kind::Double), b.flatten(0, -1).to_kind(Kind::Double));
    let (a, b) = (&a - a.mean(Kind::Double), &b - b.mean(Kind::Double));
    (&a * &b).sum(Kind::Double).double_value(&[]) / (a.norm().double_value(&[]) * b.norm().double_value(&[]))
}

/// A linear-nonlinear neuron's most exciting input under an L2 budget is its filter at that
/// norm: each unit of the batch finds its own, at the norm budget, within the range.
#[test]
fn an_ln_units_mei_is_its_filter() {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let (model, filters) = ln_model(&vs);
    for sigma in [0.0, DEFAULT_BLUR_SIGMA] {
        let params = MeiParams::default().steps(100).blur_sigma(sigma).check().unwrap();
        let meis = optimise(&model, 0, &[1, 0], &statistics(), &params, Device::Cpu, |_| {}).unwrap();
        let images = neurozoo_tensor::to_tensor(meis.images.view(), Device::Cpu);
        // Blurring every gradient step moves the ascent's fixed point from the filter to the
        // blurred filter, as in sinzlab/mei.
        let target = if sigma > 0.0 { gaussian_blur(&filters, sigma, blur_half_width(sigma)) } else { filters.shallow_clone() };
        for (k, unit) in [1, 0].into_iter().enumerate() {
            let r = correlation(&images.get(k as i64), &target.get(unit));
            assert!(r > 0.999, "blur {sigma}: unit {unit}'s MEI correlates {r} with its (blurred) filter");
            let r = correlation(&images.get(k as i64), &filters.get(unit));
            assert!(r > 0.9, "blur {sigma}: unit {unit}'s MEI correlates {r} with its filter");
            let other = correlation(&images.get(k as i64), &filters.get(1 - unit)).abs();
            assert!(other < 0.3, "blur {sigma}: unit {unit}'s MEI correlates {other} with the other unit's filter");
        }
        let norms = Vec::<f64>::try_from(per_image_norm(&images).to_kind(Kind::Double)).unwrap();
        assert!(norms.iter().all(|n| (n - 5.0).abs() < 1e-3), "{norms:?}");
        assert!(meis.images.iter().all(|&v| (-3.0..=3.0).contains(&v)));
        assert_eq!((meis.units.as_slice(), meis.steps, meis.norm, meis.value_range), ([1, 0].as_slice(), 100, 5.0, (-3.0, 3.0)));
        // The MEI drives its unit harder than a random image of the same norm.
        let random = change_norm(&Tensor::randn([1, 1, H, W], (Kind::Float, Device::Cpu)), 5.0);
        let rate = tch::no_grad(|| model.forward(&Batch { images: random, pupil: None }, 0, false));
        assert!(meis.activation.iter().zip([1, 0]).all(|(&a, u)| a > rate.double_value(&[0, u]) as f32), "{:?}", meis.activation);
    }
}

/// The same seed gives the same MEIs bit for bit; another seed another start, and with jitter
/// and smoothness on, other images.
#[test]
fn meis_are_deterministic_for_a_seed() {
    let vs = nn::VarStore::new(Device::Cpu);
    let (model, _) = ln_model(&vs);
    let run = |seed| {
        let params = MeiParams::default().steps(20).jitter(2).smoothness(0.1).seed(seed).check().unwrap();
        let mut steps = 0;
        let meis = optimise(&model, 0, &[0, 1], &statistics(), &params, Device::Cpu, |s| steps = s).unwrap();
        assert_eq!(steps, 20);
        meis
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3).images, run(4).images);
}

/// A selection climbed in batches (here one unit at a time) gives each unit the MEI one batch of
/// all of them gives, jitter and all; the progress counts every batch's steps.
#[test]
fn a_units_mei_does_not_depend_on_the_batch_size() {
    let vs = nn::VarStore::new(Device::Cpu);
    let (model, _) = ln_model(&vs);
    let run = |batch_size| {
        let params = MeiParams::default().steps(20).jitter(2).seed(5).batch_size(batch_size).check().unwrap();
        let mut last = 0;
        let meis = optimise(&model, 0, &[1, 0], &statistics(), &params, Device::Cpu, |s| last = s).unwrap();
        (meis, last)
    };
    let ((together, steps_together), (one_by_one, steps_one_by_one)) = (run(256), run(1));
    assert_eq!((steps_together, steps_one_by_one), (20, 40));
    let gap = (&together.images - &one_by_one.images).mapv(f32::abs).fold(0.0f32, |a, &b| a.max(b));
    assert!(gap < 1e-5, "{gap}");
    assert_eq!(together.units, one_by_one.units);
    let rates = together.activation.iter().zip(&one_by_one.activation);
    assert!(rates.clone().all(|(a, b)| (a - b).abs() < 1e-5), "{:?}", rates.collect::<Vec<_>>());
}

/// Units and inputs the model does not have are refused before anything is optimised.
#[test]
fn bad_requests_are_refused() {
    let vs = nn::VarStore::new(Device::Cpu);
    let (model, _) = ln_model(&vs);
    let params = MeiParams::default().steps(1).check().unwrap();
    let run = |units: &[usize], recording, stats: &StimulusStatistics, params: &MeiValidParams| {
        optimise(&model, recording, units, stats, params, Device::Cpu, |_| {}).unwrap_err()
    };
    assert_eq!(run(&[], 0, &statistics(), &params), MeiError::EmptySelection);
    assert_eq!(run(&[0, 2], 0, &statistics(), &params), MeiError::UnknownUnit { unit: 2, recording: 0, units: 2 });
    assert_eq!(run(&[1, 1], 0, &statistics(), &params), MeiError::DuplicateUnit { unit: 1 });
    assert_eq!(run(&[0], 1, &statistics(), &params), MeiError::UnknownRecording { recording: 1, recordings: 1 });
    let blank = StimulusStatistics { mean_norm: 0.0, ..statistics() };
    assert_eq!(run(&[0], 0, &blank, &params), MeiError::Norm(0.0));
    let held = MeiParams::default().held_channels(vec![0.0; 3]).check().unwrap();
    assert_eq!(run(&[0], 0, &statistics(), &held), MeiError::HeldChannels { given: 3, wanted: 0 });
    let wide = MeiParams::default().jitter(12).check().unwrap();
    assert_eq!(run(&[0], 0, &statistics(), &wide), MeiError::TooWide { what: "jitter", pixels: 12, height: 12, width: 16 });
    let blur = MeiParams::default().blur_sigma(3.0).check().unwrap();
    assert!(matches!(run(&[0], 0, &statistics(), &blur), MeiError::TooWide { pixels: 12, .. }));
    assert_eq!(run(&[0, 7], 0, &statistics(), &params).to_string(), "unit 7 does not exist: recording 0 has units 0..2");
}

/// The blur keeps a constant image constant (its window is normalised) and spreads a point as
/// a Gaussian; jitter moves the image and fills the edge by reflection.
#[test]
fn blur_and_jitter_do_what_mei_does() {
    let ones = Tensor::ones([2, 1, 9, 9], (Kind::Float, Device::Cpu));
    assert!(gaussian_blur(&ones, 1.0, 4).allclose(&ones, 1e-6, 1e-6, false));
    let point = Tensor::zeros([1, 1, 9, 9], (Kind::Float, Device::Cpu));
    let _ = point.get(0).get(0).get(4).get(4).fill_(1.0);
    let blurred = gaussian_blur(&point, 1.0, 4);
    let (centre, next) = (blurred.double_value(&[0, 0, 4, 4]), blurred.double_value(&[0, 0, 4, 5]));
    assert!((next / centre - (-0.5f64).exp()).abs() < 1e-5, "{centre} {next}");
    let x = Tensor::arange(12, (Kind::Float, Device::Cpu)).reshape([1, 1, 3, 4]);
    let moved = Vec::<f32>::try_from(jitter(&x, 1, -1).flatten(0, -1)).unwrap();
    // Down one row (row 0 reflects row 1), left one column (the last column reflects column 2).
    assert_eq!(moved, [5., 6., 7., 6., 1., 2., 3., 2., 5., 6., 7., 6.]);
}

/// The file records each MEI under its unit's id and position with the settings; the figure
/// shows the requested number of MEIs, spread over the units, labelled by id.
#[test]
fn meis_become_a_file_and_a_figure() {
    let vs = nn::VarStore::new(Device::Cpu);
    let (model, _) = ln_model(&vs);
    let params = MeiParams::default().steps(5).check().unwrap();
    let meis = optimise(&model, 0, &[1, 0], &statistics(), &params, Device::Cpu, |_| {}).unwrap();
    let file = meis.file("v1", &[10, 20], Some(vec![0.5, 0.25]), &params);
    assert_eq!((file.unit_ids.as_slice(), file.unit_index.as_slice()), ([20, 10].as_slice(), [1, 0].as_slice()));
    assert_eq!((file.meis.shape(), file.steps, file.norm, file.value_range), ([2, 1, 12, 16].as_slice(), 5, 5.0, (-3.0, 3.0)));
    let settings: serde_json::Value = serde_json::from_str(&file.params).unwrap();
    assert_eq!((settings["steps"].as_u64(), settings["norm"].is_null(), settings["blur_sigma"].as_f64()), (Some(5), true, Some(1.0)));
    let neurozoo_plugin::Figure::ImageGrid { images, .. } = meis.figure(&[10, 20], 1) else { panic!("an image grid") };
    assert_eq!(images.len(), 1);
    assert!(images[0].0.starts_with("unit 20: "), "{}", images[0].0);
    assert_eq!((images[0].1.len(), images[0].1[0].len()), (12, 16));
}

/// A model that reads behaviour channels and a shifter (sensorium2022's) gets the image alone
/// optimised; the other inputs are held at their training means, which the statistics find,
/// or at the values given.
#[test]
fn behaviour_and_pupil_are_held() {
    // The weights and images are drawn from libtorch's generator: seeded, or the check depends
    // on the draw (rarely, every unit starts silent and no held value changes its rate).
    tch::manual_seed(0);
    let mut cfg = preset("sensorium2022").and_then(Preset::into_responses).unwrap().model;
    if let Some(core) = cfg.core.as_mut() {
        (core.layers, core.channels, core.input_kernel) = (1, 4, 5);
    }
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Model::new(&vs.root(), &cfg, [1, H as usize, W as usize], &[1.0; 3]).unwrap();
    let coordinates = ndarray::Array2::from_shape_fn((3, 3), |(u, k)| [4.0 + u as f32, 6.0, 0.0][k]);
    model.set_cortex(0, &neurozoo_datasets::Units { coordinates: Some(coordinates), ..neurozoo_datasets::Units::numbered(3) }).unwrap();
    // The readout's features start at zero: give it some, so that the inputs matter.
    let Readout::Gaussian(readout) = &model.readouts[0] else { panic!("sensorium2022 has a Gaussian readout") };
    let _ = tch::no_grad(|| readout.features.shallow_clone().fill_(1.0));
    let extra = model.inputs().extra_channels();
    let n = 6;
    let behaviour = Tensor::arange(n * extra as i64, (Kind::Float, Device::Cpu)).reshape([n, extra as i64]);
    let pupil = Tensor::from_slice(&[1.0f32, -1.0]).repeat([n, 1]);
    let stimuli = Stimuli::standardised(Tensor::randn([n, 1, H, W], (Kind::Float, Device::Cpu)))
        .with_channels(behaviour.shallow_clone())
        .with_pupil(pupil);
    let statistics = StimulusStatistics::of(&model, &stimuli, &(0..n).collect::<Vec<_>>()).unwrap();
    let means = Vec::<f32>::try_from(behaviour.mean_dim([0i64].as_slice(), false, Kind::Float)).unwrap();
    assert_eq!(
        (statistics.image_shape, &statistics.channel_means, statistics.pupil_mean),
        ([1, H as usize, W as usize], &means, Some([1.0, -1.0]))
    );
    let params = MeiParams::default().steps(3).check().unwrap();
    let meis = optimise(&model, 0, &[2, 0], &statistics, &params, Device::Cpu, |_| {}).unwrap();
    assert_eq!(meis.images.shape(), [2, 1, H as usize, W as usize]);
    // Other held values drive the units differently: they reach the model.
    let held = MeiParams::default().steps(3).held_channels(vec![5.0; extra]).held_pupil([0.0, 2.0]).check().unwrap();
    assert_ne!(optimise(&model, 0, &[2, 0], &statistics, &held, Device::Cpu, |_| {}).unwrap().activation, meis.activation);
}
