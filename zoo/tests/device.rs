//! libtorch works on every device we claim: a conv net trains one step on CPU and on CUDA.

mod common;

use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// Forward and backward through a small conv net, then one Adam step must lower the loss.
fn conv_net_forward_backward(device: Device) {
    let vs = nn::VarStore::new(device);
    let root = vs.root();
    let net = nn::seq().add(nn::conv2d(&root / "c1", 1, 4, 5, Default::default())).add_fn(|x| x.elu()).add(nn::conv2d(
        &root / "c2",
        4,
        2,
        3,
        Default::default(),
    ));
    let x = Tensor::randn([8, 1, 16, 16], (Kind::Float, device));
    let target = Tensor::randn([8, 2, 10, 10], (Kind::Float, device));

    let loss_of = |net: &nn::Sequential| (net.forward(&x) - &target).square().mean(Kind::Float);
    let loss = loss_of(&net);
    assert_eq!(loss.device(), device);
    let mut opt = nn::Adam::default().build(&vs, 1e-2).unwrap();
    opt.zero_grad();
    loss.backward();
    for (name, var) in vs.variables() {
        let grad = var.grad();
        assert!(grad.defined(), "{name} has no gradient");
        let norm = grad.norm().double_value(&[]);
        assert!(norm.is_finite() && norm > 0.0, "{name} gradient norm {norm}");
    }
    opt.step();
    let before = loss.double_value(&[]);
    let after = loss_of(&net).double_value(&[]);
    assert!(after < before, "one Adam step did not lower the loss: {before} -> {after}");
}

device_tests!(conv_net_forward_backward);
