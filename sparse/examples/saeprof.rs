use neurozoo_sparse::{Sae, SaeConfig, SaeKind};
use tch::{Kind, Tensor};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind = match args[1].as_str() {
        "topk" => SaeKind::TopK { k: 16, aux_k: 0 },
        "batchtopk" => SaeKind::BatchTopK { k: 16.0 },
        "matryoshka" => SaeKind::Matryoshka { k: 16.0, widths: vec![64, 128, 256, 512] },
        _ => SaeKind::JumpRelu { l0_coefficient: 0.01, bandwidth: 0.05, init_threshold: 0.01 },
    };
    let epochs: usize = args[2].parse().unwrap();
    tch::manual_seed(0);
    let d = Tensor::randn([512, 128], (Kind::Float, tch::Device::Cpu));
    let codes = Tensor::rand([200000, 512], (Kind::Float, tch::Device::Cpu)).lt(16.0 / 512.0).to_kind(Kind::Float)
        * Tensor::rand([200000, 512], (Kind::Float, tch::Device::Cpu));
    let x = codes.matmul(&d);
    let mut cfg = SaeConfig::new(kind, 512);
    cfg.epochs = epochs;
    cfg.batch_size = 4096;
    cfg.lr = 3e-4;
    cfg.dead_after = 200000;
    let (_, h) = Sae::train(&x, &cfg, |e| eprintln!("{e:?}")).unwrap();
    let _ = h;
}
