//! `neurozoo extract RUN`: a fitted model's representation of a dataset's distinct images; RUN
//! may also be a TorchScript file, a network used as it is (goal-driven features). `--layer` may
//! name several layers, comma-separated: one representation each, in one file (what `compare`
//! scores layer by layer). The work is `neurozoo_zoo::run::extract`.

use anyhow::Result;
use neurozoo_job::ExtractJob;
use neurozoo_zoo::run::eval::Run;
use neurozoo_zoo::run::extract::extract_torchscript;
use neurozoo_zoo::run::family::ModelFamily;
use neurozoo_zoo::run::Responses;

pub fn run(job: &ExtractJob) -> Result<()> {
    let (run_dir, data, out) = (job.run.as_path(), job.data.as_path(), job.out.as_path());
    let options = super::family::extract_options(job)?;
    if !run_dir.exists() {
        anyhow::bail!("{} does not exist: give a run directory written by `neurozoo fit`, or a TorchScript file", run_dir.display());
    }
    let file = if run_dir.is_file() {
        let layers: Vec<&str> =
            if options.layers.is_empty() { vec!["forward"] } else { options.layers.iter().map(String::as_str).collect() };
        extract_torchscript(run_dir, data, &options.nwb, &layers, &options.tiers, options.device)
    } else {
        Run::load(run_dir, options.device).and_then(|run| Responses::extract(&run, data, &options)).map(|extraction| {
            if let Some(note) = &extraction.note {
                eprintln!("note: {note}");
            }
            extraction.file
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
