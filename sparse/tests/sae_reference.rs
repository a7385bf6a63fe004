//! BatchTopK, Matryoshka and JumpReLU SAEs pinned to SAELens 6.18: one training forward pass
//! (activations, reconstruction, every loss term), the loss's gradient in every parameter and
//! BatchTopK's threshold update, on the fixed inputs, weights and dead latents of
//! `fixtures/sae_reference.json` (made by `fixtures/sae_reference.py`).

use neurozoo_sparse::{Sae, SaeKind, SaeWeights};
use serde_json::Value;
use tch::{Device, Kind, Tensor};

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/sae_reference.json")).expect("the fixture is JSON")
}

/// A JSON number, list or nested list as a float tensor.
fn tensor(v: &Value) -> Tensor {
    fn flat(v: &Value, out: &mut Vec<f32>, shape: &mut Vec<i64>, depth: usize) {
        match v {
            Value::Array(items) => {
                if shape.len() == depth {
                    shape.push(items.len() as i64);
                }
                items.iter().for_each(|i| flat(i, out, shape, depth + 1));
            }
            other => out.push(other.as_f64().expect("a number") as f32),
        }
    }
    let (mut values, mut shape) = (Vec::new(), Vec::new());
    flat(v, &mut values, &mut shape, 0);
    Tensor::from_slice(&values).reshape(shape)
}

fn assert_close(name: &str, got: &Tensor, want: &Value) {
    let want = tensor(want);
    assert_eq!(got.size(), want.size(), "{name}: shape");
    let got = got.to_kind(Kind::Float);
    let scale = want.abs().max().double_value(&[]).max(1.0);
    let err = (&got - &want).abs().max().double_value(&[]);
    assert!(err <= 1e-4 * scale, "{name}: largest difference {err:e} (values up to {scale:.3})\n got {got}\nwant {want}");
}

fn scalar(name: &str, got: &Tensor, want: &Value) {
    let (got, want) = (got.double_value(&[]), want.as_f64().unwrap());
    assert!((got - want).abs() <= 1e-4 * want.abs().max(1.0), "{name}: {got} vs SAELens {want}");
}

/// Build the case's SAE from the fixture's weights, run one forward pass and backward, and
/// compare everything SAELens recorded.
fn check(case: &Value, kind: SaeKind, threshold: Tensor) {
    let f = fixture();
    let w = &f["weights"];
    let sae = Sae::from_weights(
        kind,
        SaeWeights {
            w_enc: &tensor(&w["w_enc"]),
            b_enc: &tensor(&w["b_enc"]),
            w_dec: &tensor(&w["w_dec"]),
            b_dec: &tensor(&w["b_dec"]),
            threshold: &threshold,
        },
    );
    let dead: Vec<bool> = f["dead"].as_array().unwrap().iter().map(|v| v.as_bool().unwrap()).collect();
    let dead = Tensor::from_slice(&dead);
    let x = tensor(&f["x"]);
    let out = sae.forward(&x, &dead, 1.0);
    let losses = &case["losses"];
    assert_close("feature_acts", &out.codes(), &case["feature_acts"]);
    assert_close("sae_out", &out.reconstruction, &case["sae_out"]);
    scalar("mse_loss", &out.squared, &losses["mse_loss"]);
    if let Some(aux) = losses.get("auxiliary_reconstruction_loss") {
        scalar("auxiliary_reconstruction_loss", &out.auxiliary, aux);
    }
    if let Some(l0) = losses.get("l0_loss") {
        scalar("l0_loss", &out.sparsity, l0);
    }
    let inner: Vec<&Value> = losses.as_object().unwrap().iter().filter(|(k, _)| k.starts_with("inner_mse_loss_")).map(|(_, v)| v).collect();
    assert_eq!(out.inner.len(), inner.len(), "one inner loss per nested width but the last");
    for (got, want) in out.inner.iter().zip(&inner) {
        scalar("inner_mse_loss", got, want);
    }
    scalar("loss", &out.loss, &case["loss"]);
    if let Some(after) = case.get("topk_threshold_after") {
        sae.update_threshold(&out);
        scalar("topk_threshold after the step", &sae.threshold().unwrap(), after);
    }
    out.loss.backward();
    let params = sae.parameters();
    for (name, want) in case["grads"].as_object().unwrap() {
        assert_close(&format!("gradient in {name}"), &params[name].grad(), want);
    }
}

fn case(kind: &str) -> Value {
    fixture()["cases"].as_array().unwrap().iter().find(|c| c["kind"] == kind).unwrap().clone()
}

#[test]
fn batchtopk_matches_saelens() {
    let c = case("batchtopk");
    check(&c, SaeKind::BatchTopK { k: c["k"].as_f64().unwrap() }, Tensor::zeros([], (Kind::Double, Device::Cpu)));
}

#[test]
fn matryoshka_matches_saelens() {
    let c = case("matryoshka");
    let widths = c["widths"].as_array().unwrap().iter().map(|w| w.as_u64().unwrap() as usize).collect();
    check(&c, SaeKind::Matryoshka { k: c["k"].as_f64().unwrap(), widths }, Tensor::zeros([], (Kind::Double, Device::Cpu)));
}

#[test]
fn jumprelu_matches_saelens() {
    let c = case("jumprelu");
    let kind = SaeKind::JumpRelu {
        l0_coefficient: c["l0_coefficient"].as_f64().unwrap(),
        bandwidth: c["bandwidth"].as_f64().unwrap(),
        init_threshold: 0.01,
    };
    check(&c, kind, tensor(&c["threshold"]));
}
