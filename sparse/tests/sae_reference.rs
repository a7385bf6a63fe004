//! BatchTopK, Matryoshka and JumpReLU SAEs pinned to SAELens 6.18: one training forward pass
//! (activations, reconstruction, every loss term), the loss's gradient in every parameter and
//! BatchTopK's threshold update, on the fixed inputs, weights and dead latents of
//! `fixtures/sae_reference.json` (made by `fixtures/sae_reference.py`); and whole training
//! runs from the same seed, initialisation included (`fixtures/sae_training.json`, made by
//! `fixtures/sae_training.py`).

use neurozoo_sparse::{Sae, SaeConfig, SaeKind, SaeWeights};
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

/// Trained from the seed SAELens was, on the same rows, our run follows SAELens's: it starts
/// from the same decoder and sees the rows in the same orders, so every epoch's loss and L0
/// and the final decoder and threshold agree (to float rounding over 36 Adam steps).
fn check_training(kind: &str, sae_kind: SaeKind) {
    let f: Value = serde_json::from_str(include_str!("fixtures/sae_training.json")).expect("the fixture is JSON");
    let c = f["cases"].as_array().unwrap().iter().find(|c| c["kind"] == kind).unwrap();
    let s = &f["settings"];
    let setting = |name: &str| s[name].as_u64().unwrap() as usize;
    let cfg = SaeConfig {
        epochs: setting("epochs"),
        batch_size: setting("batch"),
        lr: s["lr"].as_f64().unwrap(),
        dead_after: setting("dead_after"),
        seed: setting("seed") as u64,
        ..SaeConfig::new(sae_kind, setting("latents"))
    };
    tch::set_num_threads(1);
    let (sae, history) = Sae::train(&tensor(&f["x"]), &cfg, |_| {}).unwrap();
    let epochs = c["epochs"].as_array().unwrap();
    assert_eq!(history.len(), epochs.len());
    for (got, want) in history.iter().zip(epochs) {
        let (loss, l0) = (want["loss"].as_f64().unwrap(), want["l0"].as_f64().unwrap());
        assert!((got.loss - loss).abs() <= 1e-3 * loss.abs(), "{kind} epoch {}: loss {} vs SAELens {loss}", got.epoch, got.loss);
        assert!((got.l0 - l0).abs() <= 1e-3 * l0, "{kind} epoch {}: L0 {} vs SAELens {l0}", got.epoch, got.l0);
    }
    let (atoms, norms) = sae.atoms();
    assert_close(&format!("{kind}: trained decoder"), &(atoms * norms), &c["w_dec"]);
    let threshold = sae.threshold().unwrap();
    match &c["threshold"] {
        Value::Array(_) => assert_close(&format!("{kind}: trained thresholds"), &threshold, &c["threshold"]),
        one => scalar(&format!("{kind}: trained threshold"), &threshold, one),
    }
}

#[test]
fn batchtopk_trains_as_saelens_does() {
    check_training("batchtopk", SaeKind::BatchTopK { k: 3.0 });
}

#[test]
fn matryoshka_trains_as_saelens_does() {
    check_training("matryoshka", SaeKind::Matryoshka { k: 3.0, widths: vec![4, 8, 16] });
}

#[test]
fn jumprelu_trains_as_saelens_does() {
    check_training("jumprelu", SaeKind::JumpRelu { l0_coefficient: 0.05, bandwidth: 0.05, init_threshold: 0.01 });
}
