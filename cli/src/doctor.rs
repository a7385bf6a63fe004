//! `neurozoo doctor`: what this installation can do.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::torch;

/// Everything `doctor` reports. `torch` is the worker's JSON report, or the reason it failed.
pub fn report() -> (Value, Option<String>) {
    let (torch, torch_error) = match torch_report() {
        Ok(v) => (v, None),
        Err(e) => (Value::Null, Some(format!("{e:#}"))),
    };
    let plugin_path: Vec<String> = neurozoo_analysis::plugin_search_path().iter().map(|p| p.display().to_string()).collect();
    let value = json!({
        "neurozoo": env!("CARGO_PKG_VERSION"),
        "torch": torch,
        "torch_error": torch_error,
        "hdf5": neurozoo_datasets::hdf5_version(),
        "plugin_path": plugin_path,
    });
    (value, torch_error)
}

fn torch_report() -> Result<Value> {
    let out = torch::doctor()?;
    if !out.status.success() {
        bail!("{} doctor failed ({})", torch::WORKER, out.status);
    }
    serde_json::from_slice(&out.stdout).with_context(|| format!("{} doctor printed no JSON", torch::WORKER))
}

/// Print the report; an error (non-zero exit) when libtorch is unusable.
pub fn run(json: bool) -> Result<()> {
    let (report, torch_error) = report();
    if json {
        println!("{report}");
    } else {
        print_text(&report);
    }
    match torch_error {
        Some(e) => bail!("{e}"),
        None => Ok(()),
    }
}

fn print_text(r: &Value) {
    let s = |v: &Value| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
    println!("neurozoo      {}", s(&r["neurozoo"]));
    let t = &r["torch"];
    if t.is_null() {
        println!("libtorch      not loadable");
    } else {
        println!("libtorch      {} ({})", s(&t["version_full"]), s(&t["lib_dir"]));
        println!("threads       {} intra-op, {} inter-op", t["threads"], t["interop_threads"]);
        println!("CUDA          {}", if t["cuda_available"] == true { "available" } else { "not available" });
        for d in t["cuda_devices"].as_array().into_iter().flatten() {
            println!("  cuda:{}      {}", d["index"], s(&d["name"]));
        }
        println!(
            "cuDNN         {}",
            match (&t["cudnn_available"], &t["cudnn_version"]) {
                (Value::Bool(true), Value::Number(v)) => format!("available ({v})"),
                (Value::Bool(true), _) => "available".to_string(),
                _ => "not available".to_string(),
            }
        );
    }
    println!("HDF5          {}", s(&r["hdf5"]));
    println!("plugin path");
    for p in r["plugin_path"].as_array().into_iter().flatten() {
        println!("  {}", s(p));
    }
}
