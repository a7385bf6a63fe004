//! `neurozoo extract RUN`: a fitted model's representation of a dataset's distinct images; RUN
//! may also be a TorchScript file, a network used as it is (goal-driven features). `--layer` may
//! name several layers, comma-separated: one representation each, in one file (what `compare`
//! scores layer by layer). The work is `neurozoo_zoo::run::extract`.

use anyhow::Result;
use neurozoo_job::ExtractJob;
use neurozoo_zoo::run::eval::Run;
use neurozoo_zoo::run::extract::{extract, extract_torchscript};

pub fn run(job: &ExtractJob) -> Result<()> {
    let (run_dir, data, out, layer, tiers, nwb) =
        (job.run.as_path(), job.data.as_path(), job.out.as_path(), job.layer.as_deref(), job.tiers.as_slice(), &job.nwb);
    let device = super::device(job.device)?;
    if !run_dir.exists() {
        anyhow::bail!("{} does not exist: give a run directory written by `neurozoo fit`, or a TorchScript file", run_dir.display());
    }
    let layers = |default: &'static str| -> Vec<&str> { layer.unwrap_or(default).split(',').map(str::trim).collect() };
    let named = layers("");
    if let Some(twice) = named.iter().enumerate().find(|(i, l)| named[..*i].contains(l)).map(|(_, l)| l) {
        anyhow::bail!("--layer names {twice:?} twice");
    }
    let file = if run_dir.is_file() {
        extract_torchscript(run_dir, data, nwb, &layers("forward"), tiers, device)
    } else {
        Run::load(run_dir, device).and_then(|run| {
            let recording = run.recording(data, nwb)?;
            super::eval::note_other_data(&recording);
            extract(&run, &recording, &layers("predicted"), tiers, device)
        })
    }
    .map_err(|e| super::run_error(e, ""))?;
    file.write(out)?;
    for r in &file.representations {
        let (n, d) = r.data.dim();
        eprintln!("wrote {}: {} of {} for {n} images, {d} dimensions", out.display(), r.name, run_dir.display());
    }
    Ok(())
}
