//! Our measures, losses, penalties and readouts against values computed by neuralpredictors
//! 0.3.0 itself (`tests/fixtures/make_golden.py` made `golden.json`; `NOTES.md` explains it).

mod common;

use ndarray::{Array2, Array3};
use neurozoo_tensor::{to_array, to_tensor};
use neurozoo_zoo::config::{Constraint, GridMeanPredictor, L1Form};
use neurozoo_zoo::measures;
use neurozoo_zoo::model::{FactorizedReadout, Gaussian2dReadout};
use neurozoo_zoo::regularizers::{group_sparsity, laplace_l2norm, poisson_loss};
use serde_json::Value;
use tch::{nn, Device, Kind, Tensor};

fn golden() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/golden.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn vec1(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn arr2(v: &Value) -> Array2<f64> {
    let rows: Vec<Vec<f64>> = v.as_array().unwrap().iter().map(vec1).collect();
    Array2::from_shape_fn((rows.len(), rows[0].len()), |(i, j)| rows[i][j])
}

fn blocks(v: &Value) -> Vec<Array2<f64>> {
    v.as_array().unwrap().iter().map(arr2).collect()
}

/// Nested JSON lists of any depth as a flat vector plus shape.
fn flat(v: &Value) -> (Vec<f64>, Vec<usize>) {
    match v {
        Value::Array(items) => {
            let parts: Vec<(Vec<f64>, Vec<usize>)> = items.iter().map(flat).collect();
            let mut shape = vec![items.len()];
            shape.extend(parts.first().map(|p| p.1.clone()).unwrap_or_default());
            (parts.into_iter().flat_map(|p| p.0).collect(), shape)
        }
        other => (vec![other.as_f64().unwrap()], vec![]),
    }
}

fn tensor(v: &Value) -> Tensor {
    let (values, shape) = flat(v);
    let shape: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    Tensor::from_slice(&values).reshape(shape).to_kind(Kind::Float)
}

#[track_caller]
fn close(ours: &[f64], theirs: &[f64], tol: f64) {
    assert_eq!(ours.len(), theirs.len());
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert!((a - b).abs() <= tol * (1.0 + b.abs()), "element {i}: ours {a} vs reference {b}");
    }
}

#[test]
fn corr_matches_np_functions_corr() {
    let g = golden();
    let m = &g["measures"]["single_trial"];
    let ours = measures::corr(arr2(&m["responses"]).view(), arr2(&m["predictions"]).view());
    close(ours.as_slice().unwrap(), &vec1(&m["corr_axis0"]), 1e-12);
}

#[test]
fn oracle_fev_feve_and_correlation_to_average_match_the_reference() {
    let g = golden();
    for case in ["repeated", "repeated_unequal"] {
        let m = &g["measures"][case];
        let (resp, pred) = (blocks(&m["responses"]), blocks(&m["predictions"]));
        close(measures::oracle_corr_jackknife(&resp).as_slice().unwrap(), &vec1(&m["oracle_corr_jackknife"]), 1e-10);
        close(measures::explainable_var_fraction(&resp).as_slice().unwrap(), &vec1(&m["fev"]), 1e-10);
        close(measures::feve(&resp, &pred).as_slice().unwrap(), &vec1(&m["feve"]), 1e-10);
        close(measures::correlation_to_average(&resp, &pred).as_slice().unwrap(), &vec1(&m["corr_to_average"]), 1e-10);
    }
}

#[test]
fn sensorium_feve_keeps_units_with_fev_at_least_015() {
    let g = golden();
    let m = &g["measures"]["repeated"];
    let resp = blocks(&m["responses"]);
    let fev = measures::explainable_var_fraction(&resp);
    let feve = measures::feve(&resp, &blocks(&m["predictions"]));
    let passing: Vec<bool> = m["fev_passes_threshold"].as_array().unwrap().iter().map(|b| b.as_bool().unwrap()).collect();
    assert_eq!(fev.iter().map(|&f| f >= measures::FEV_THRESHOLD).collect::<Vec<_>>(), passing);
    let ours = measures::mean_over_reliable(&feve, &fev).unwrap();
    close(&[ours], &[m["feve_mean_passing_units"].as_f64().unwrap()], 1e-10);
}

#[test]
fn poisson_loss_matches_poissonloss_elements() {
    let g = golden();
    let p = &g["poisson"];
    let (out, target) = (tensor(&p["output"]).to_kind(Kind::Double), tensor(&p["target"]).to_kind(Kind::Double));
    // neuralpredictors averages over batch × units; we sum over units and average over the batch.
    let units = out.size()[1] as f64;
    let ours = poisson_loss(&out, &target).double_value(&[]);
    close(&[ours], &[p["default"].as_f64().unwrap() * units], 1e-12);
}

#[test]
fn laplace_l2norm_matches_the_reference_module() {
    let g = golden();
    let l = &g["laplace"];
    let w = tensor(&l["weight"]).to_kind(Kind::Double);
    close(&[laplace_l2norm(&w, 1).double_value(&[])], &[l["LaplaceL2norm_default"].as_f64().unwrap()], 1e-10);
    close(&[laplace_l2norm(&w, 0).double_value(&[])], &[l["LaplaceL2norm_padding0"].as_f64().unwrap()], 1e-10);
}

#[test]
fn group_sparsity_matches_stacked2dcore() {
    let g = golden();
    let s = &g["group_sparsity"];
    let w = tensor(&s["weight"]).to_kind(Kind::Double);
    close(&[group_sparsity(&w).double_value(&[])], &[s["group_sparsity_one_hidden_layer"].as_f64().unwrap()], 1e-10);
}

/// SpatialXFeatureLinear (unconstrained, with and without mask normalisation): same output.
#[test]
fn factorized_readout_forward_matches_spatialxfeaturelinear() {
    common::init();
    let g = golden();
    let s = &g["sxf"];
    let x = tensor(&s["input"]);
    for normalize in [true, false] {
        let vs = nn::VarStore::new(Device::Cpu);
        let bias = tensor(&s["bias"]);
        let shape: Vec<i64> = vec1(&s["in_shape"]).iter().map(|&d| d as i64).collect();
        let r =
            FactorizedReadout::new(&vs.root(), [shape[0], shape[1], shape[2]], 3, &bias, Constraint::Free, L1Form::Product, 0.0, normalize);
        tch::no_grad(|| {
            r.mask.shallow_clone().copy_(&tensor(&s["spatial"]));
            r.features.shallow_clone().copy_(&tensor(&s["features"]));
        });
        let variant = format!("normalize_{}_constrain_pos_False", if normalize { "True" } else { "False" });
        let expected = &s["variants"][&variant]["output"];
        let ours = to_array(&r.forward(&x)).mapv(f64::from);
        close(ours.as_slice().unwrap(), &flat(expected).0, 1e-5);
    }
}

/// The product-form L1 is Klindt et al.'s per-neuron Σₙ |maskₙ|₁ |featuresₙ|₁, not
/// neuralpredictors' product of totals; checked on numbers worked by hand.
#[test]
fn factorized_readout_l1_is_per_neuron_product() {
    let vs = nn::VarStore::new(Device::Cpu);
    let bias = Tensor::zeros([2], (Kind::Float, Device::Cpu));
    let r = FactorizedReadout::new(&vs.root(), [3, 1, 2], 2, &bias, Constraint::Abs, L1Form::Product, 0.5, false);
    tch::no_grad(|| {
        r.mask.shallow_clone().copy_(&Tensor::from_slice(&[1.0f32, -2.0, 0.5, 0.5]).reshape([2, 1, 2]));
        r.features.shallow_clone().copy_(&Tensor::from_slice(&[1.0f32, 1.0, -1.0, 2.0, 0.0, 0.0]).reshape([2, 3]));
    });
    // neuron 0: (1 + 2) · (1 + 1 + 1) = 9; neuron 1: (0.5 + 0.5) · 2 = 2; γ = 0.5.
    close(&[r.regularizer().double_value(&[])], &[0.5 * 11.0], 1e-6);
}

/// FullGaussian2d in evaluation mode reads at μ (align_corners = true).
#[test]
fn gaussian_readout_eval_matches_fullgaussian2d() {
    common::init();
    let g = golden();
    let s = &g["gaussian"];
    let x = tensor(&s["input"]);
    let c = x.size()[1];
    let mu = tensor(&s["mu"]).reshape([-1, 2]);
    let units = mu.size()[0];
    let features = tensor(&s["features"]).reshape([c, units]).tr();
    let vs = nn::VarStore::new(Device::Cpu);
    let r = Gaussian2dReadout::new(&vs.root(), c, units, &tensor(&s["bias"]), 0.1, 1.0, 0.0, None);
    tch::no_grad(|| {
        r.learned_mu().unwrap().shallow_clone().copy_(&mu);
        r.features.shallow_clone().copy_(&features);
    });
    let ours = to_array(&r.forward(&x, false, None)).mapv(f64::from);
    close(ours.as_slice().unwrap(), &flat(&s["output_align_corners_True"]).0, 1e-5);
    close(&[r.regularizer().double_value(&[])], &[0.0], 0.0);
}

/// The cortex grid_mean_predictor (sensorium 2022's: 1 hidden layer of 30, ELU, tanh) gives
/// FullGaussian2d's positions for the same coordinates and weights
/// (`tests/fixtures/make_grid_predictor.py` made `grid_predictor.json`).
#[test]
fn grid_mean_predictor_matches_neuralpredictors() {
    common::init();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/grid_predictor.json")).unwrap();
    let g: Value = serde_json::from_str(&text).unwrap();
    let coordinates = arr2(&g["coordinates"]).mapv(|v| v as f32);
    let units = coordinates.nrows() as i64;
    let vs = nn::VarStore::new(Device::Cpu);
    let predictor = GridMeanPredictor { input_dimensions: 2, hidden_layers: 1, hidden_features: 30, final_tanh: true };
    let r =
        Gaussian2dReadout::new(&vs.root(), 4, units, &Tensor::zeros([units], (Kind::Float, Device::Cpu)), 0.3, 0.1, 0.0, Some(&predictor));
    r.set_cortex(&coordinates).unwrap();
    let vars = vs.variables();
    tch::no_grad(|| {
        for (name, value) in g["weights"].as_object().unwrap() {
            let (values, shape) = flat(value);
            let shape: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
            let saved = Tensor::from_slice(&values).reshape(shape).to_kind(Kind::Float);
            vars[&format!("mu_transform.{name}")].shallow_clone().copy_(&saved);
        }
    });
    let ours = to_array(&tch::no_grad(|| r.mu())).mapv(f64::from);
    close(ours.as_slice().unwrap(), &flat(&g["mu"]).0, 1e-6);
}

/// The fixture arrays round-trip through our ndarray ↔ tensor conversion unchanged.
#[test]
fn conversions_are_lossless() {
    let a = Array3::from_shape_fn((2, 3, 4), |(i, j, k)| (i * 12 + j * 4 + k) as f32 * 0.25);
    let t = to_tensor(a.view(), Device::Cpu);
    assert_eq!(to_array(&t).into_dimensionality::<ndarray::Ix3>().unwrap(), a);
}
