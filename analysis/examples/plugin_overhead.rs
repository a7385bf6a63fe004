//! Per-call overhead of the plugin host on a 10k × 1k representation, against a plugin's own
//! work: `testkit` with `mode=noop` (the host alone: checks, views, manifest) next to `summary`
//! (six statistics per unit, a table and a figure), median of several calls each.
//!
//!     cargo run --release -p neurozoo-analysis --example plugin_overhead -- DIR [N_STIMULI N_UNITS ROUNDS]
//!
//! DIR holds the release plugins (target/release); `bench/plugins.sh` runs this.

use std::path::Path;
use std::time::Instant;

use ndarray::Array2;
use neurozoo_analysis::plugin::{Plugin, RunInput};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(args.get(1).ok_or("usage: plugin_overhead DIR [N_STIMULI N_UNITS ROUNDS]")?);
    let arg = |i: usize, default: usize| args.get(i).map_or(Ok(default), |s| s.parse::<usize>().map_err(|e| format!("{s}: {e}")));
    let (n, units, rounds) = (arg(2, 10_000)?, arg(3, 1_000)?, arg(4, 7)?);
    let lib = |name: &str| dir.join(format!("libneurozoo_plugin_{name}{}", std::env::consts::DLL_SUFFIX));
    let (noop, summary) = (Plugin::load(&lib("testkit"))?, Plugin::load(&lib("summary"))?);
    // Deterministic, varied values; 40 MB for the default shape.
    let rep = Array2::from_shape_fn((n, units), |(i, j)| (((i * 7919 + j * 104_729) % 1000) as f32) / 100.0);
    let time = |plugin: &Plugin, params: &[(String, String)]| -> Result<f64, Box<dyn std::error::Error>> {
        let mut seconds = Vec::new();
        for _ in 0..rounds {
            let out = tempfile::tempdir()?;
            let input = RunInput {
                representation: rep.view(),
                stimuli: None,
                arrays: Vec::new(),
                metadata: serde_json::json!({}),
                params: plugin.params(params)?,
                seed: 0,
            };
            let start = Instant::now();
            plugin.run(&input, out.path())?;
            seconds.push(start.elapsed().as_secs_f64());
        }
        seconds.sort_by(f64::total_cmp);
        Ok(seconds[seconds.len() / 2])
    };
    let overhead = time(&noop, &[("mode".into(), "noop".into())])?;
    let work = time(&summary, &[])?;
    println!("representation {n} x {units} f32 ({:.0} MB), median of {rounds} calls", (n * units * 4) as f64 / 1e6);
    println!("host overhead (testkit noop)   {:>10.3} ms", overhead * 1e3);
    println!("summary plugin (its own work)  {:>10.3} ms", work * 1e3);
    println!("overhead / work                {:>10.5}", overhead / work);
    Ok(())
}
