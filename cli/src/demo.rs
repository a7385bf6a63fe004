//! `neurozoo demo`: the pipeline on built-in simulated data, written under one directory.

use std::path::Path;

use anyhow::{Context, Result};

use crate::doctor;

pub fn run(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let (report, torch_error) = doctor::report();
    let path = out.join("doctor.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    if let Some(e) = torch_error {
        anyhow::bail!("{e}");
    }
    println!("demo: environment report written to {}", path.display());
    Ok(())
}
