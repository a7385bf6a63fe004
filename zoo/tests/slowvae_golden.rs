//! SlowVAE's loss against bethgelab/slow_disentanglement's own `solver.py` (commit 26eef45,
//! float64), on fixed posterior parameters, frames and logits of 3 interleaved pairs
//! (`tests/fixtures/make_slowvae_loss.py` made `slowvae_loss.json`).

use neurozoo_zoo::config::VaeConfig;
use neurozoo_zoo::slowvae::SlowVae;
use serde_json::Value;
use tch::{nn, Device, Kind, Tensor};

fn tensor(v: &Value) -> Tensor {
    fn flatten(v: &Value, out: &mut Vec<f64>, shape: &mut Vec<i64>, depth: usize) {
        match v.as_array() {
            Some(items) => {
                if shape.len() == depth {
                    shape.push(items.len() as i64);
                }
                items.iter().for_each(|x| flatten(x, out, shape, depth + 1));
            }
            None => out.push(v.as_f64().unwrap()),
        }
    }
    let (mut values, mut shape) = (Vec::new(), Vec::new());
    flatten(v, &mut values, &mut shape, 0);
    Tensor::from_slice(&values).reshape(shape)
}

#[test]
fn loss_terms_equal_the_reference_solver() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/slowvae_loss.json")).unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let inputs = &fixture["inputs"];
    let (mu, logvar, x, logits) = (tensor(&inputs["mu"]), tensor(&inputs["logvar"]), tensor(&inputs["x"]), tensor(&inputs["logits"]));
    assert_eq!(mu.kind(), Kind::Double);
    for case in fixture["cases"].as_array().unwrap() {
        let get = |k: &str| case[k].as_f64().unwrap();
        let cfg = VaeConfig { z_dim: 4, beta: get("beta"), gamma: get("gamma"), rate_prior: get("rate_prior") };
        let vs = nn::VarStore::new(Device::Cpu);
        let model = SlowVae::new(&vs.root(), &cfg);
        let loss = model.loss_terms(&mu, &logvar, &logits, &x);
        let want = |k: &str| case["expected"][k].as_f64().unwrap();
        let name = case["name"].as_str().unwrap();
        for (what, ours, theirs) in [
            ("reconstruction", loss.reconstruction.double_value(&[]), want("recon")),
            ("kl_normal", loss.kl_normal.double_value(&[]), want("kl_normal")),
            ("kl_laplace", loss.kl_laplace.double_value(&[]), want("kl_laplace")),
            ("total", loss.total.double_value(&[]), want("total")),
        ] {
            assert!((ours - theirs).abs() < 1e-10 * theirs.abs().max(1.0), "{name} {what}: {ours} vs {theirs}");
        }
    }
}
