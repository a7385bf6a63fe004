//! `neurozoo import` and `neurozoo export`: models in from and out to PyTorch. The work is
//! `neurozoo_zoo::exchange`; this resolves the architecture and says what was done.

use anyhow::{Context, Result};
use neurozoo_job::{ExportJob, ImportJob};
use neurozoo_zoo::config::Preset;
use neurozoo_zoo::exchange::{export_run, import_checkpoint, ExportRequest, ImportRequest};

pub fn import(job: &ImportJob) -> Result<()> {
    let preset = match &job.config {
        None => Preset::resolve(&job.arch)?,
        Some(file) => Preset::resolve_over(&job.arch, file).with_context(|| format!("--config over --arch {}", job.arch))?,
    };
    let config = preset
        .into_responses()
        .with_context(|| format!("--arch {}: a sprite-pair model has no neuralpredictors checkpoint to import", job.arch))?;
    let report = import_checkpoint(&ImportRequest {
        checkpoint: job.checkpoint.clone(),
        config,
        image_shape: job.image_shape,
        out: job.out.clone(),
    })?;
    let neurons: Vec<String> = report.recordings.iter().map(|(key, n)| format!("{key} ({n} neurons)")).collect();
    eprintln!(
        "imported {} tensors of {} (sha256 {}) into {}: {}",
        report.mapped.len(),
        job.checkpoint.display(),
        report.sha256,
        job.out.display(),
        neurons.join(", ")
    );
    if !report.zero.is_empty() {
        eprintln!("note: {} bias(es) the checkpoint's layers do not have are zero: {}", report.zero.len(), report.zero.join(", "));
    }
    eprintln!("note: the run takes inputs {}", report.inputs);
    Ok(())
}

pub fn export(job: &ExportJob) -> Result<()> {
    let report = export_run(&ExportRequest { run: job.run.clone(), out: job.out.clone() })?;
    eprintln!(
        "exported {} tensors of {} to {}: state_dict.pth, and model.py, which loads it into neuralpredictors' modules strictly",
        report.mapped.len() + report.buffers.len(),
        job.run.display(),
        job.out.display()
    );
    Ok(())
}
