//! `bench/import.sh`'s neurozoo side: import the SENSORIUM 2022 SOTA checkpoint into a fresh
//! run directory, load the run, and predict N z-scored 1 × 36 × 64 images in batches of 100 on
//! the CPU; prints `import SECONDS`, `predict SECONDS` and a checksum of the rates.
//!
//!     import_predict CHECKPOINT [N] [THREADS]

use std::time::Instant;

use neurozoo_zoo::config::preset;
use neurozoo_zoo::exchange::{import_checkpoint, ImportRequest};
use neurozoo_zoo::run::eval::Run;
use neurozoo_zoo::train::Batch;
use tch::{Device, Kind, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let checkpoint = args.get(1).ok_or("usage: import_predict CHECKPOINT [N] [THREADS]")?;
    let n: i64 = args.get(2).map_or(Ok(1000), |s| s.parse())?;
    let threads: i32 = args.get(3).map_or(Ok(1), |s| s.parse())?;
    tch::set_num_threads(threads);
    tch::manual_seed(0);
    let images = Tensor::randn([n, 1, 36, 64], (Kind::Float, Device::Cpu));
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("sota");

    let start = Instant::now();
    let mut config = preset("sensorium2022").and_then(|p| p.into_responses()).ok_or("no sensorium2022 preset")?;
    config.model.behavior_channels = false;
    config.model.shifter = None;
    import_checkpoint(&ImportRequest { checkpoint: checkpoint.into(), config, image_shape: [1, 36, 64], out: out.clone() })?;
    let run = Run::load(&out, Device::Cpu)?;
    println!("import {:.4}", start.elapsed().as_secs_f64());

    let start = Instant::now();
    let mut sum = 0.0;
    tch::no_grad(|| {
        for batch in images.split(100, 0) {
            sum += run.model.forward(&Batch { images: batch, pupil: None }, 0, false).sum(Kind::Double).double_value(&[]);
        }
    });
    println!("predict {:.4}", start.elapsed().as_secs_f64());
    println!("checksum {sum:.6e}");
    Ok(())
}
