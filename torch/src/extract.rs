//! `neurozoo extract RUN`: a fitted model's representation of a dataset's distinct images; RUN
//! may also be a TorchScript file, a network used as it is (goal-driven features), or several
//! runs, an ensemble, whose representation is its mean predicted rates. `--layer` may name
//! several layers, comma-separated: one representation each, in one file (what `compare` scores
//! layer by layer). The work is `neurozoo_zoo::run::extract`.

use anyhow::Result;
use neurozoo_job::ExtractJob;
use neurozoo_zoo::run::ensemble::Ensemble;
use neurozoo_zoo::run::extract::{extract, extract_torchscript};

pub fn run(job: &ExtractJob) -> Result<()> {
    let (data, out) = (job.data.as_path(), job.out.as_path());
    let options = super::family::extract_options(job)?;
    for run in &job.runs {
        if !run.exists() {
            anyhow::bail!("{} does not exist: give a run directory written by `neurozoo fit`, or a TorchScript file", run.display());
        }
    }
    let failed = |e| super::run_error(e, "");
    let (file, source) = match job.runs.as_slice() {
        [file] if file.is_file() => {
            let layers: Vec<&str> =
                if options.layers.is_empty() { vec!["forward"] } else { options.layers.iter().map(String::as_str).collect() };
            let extracted = extract_torchscript(file, data, &options.nwb, &layers, &options.tiers, options.device).map_err(failed)?;
            (extracted, file.display().to_string())
        }
        runs => {
            let ensemble = Ensemble::load(runs, options.device).map_err(failed)?;
            let layers: Vec<&str> = options.layers.iter().map(String::as_str).collect();
            let recording = ensemble.recording(data, &options.nwb).map_err(failed)?;
            super::eval::note_other_data(&recording);
            (extract(&ensemble.runs, &recording, &layers, &options.tiers, options.device).map_err(failed)?, ensemble.name())
        }
    };
    file.write(out)?;
    for r in &file.representations {
        let (n, d) = r.data.dim();
        eprintln!("wrote {}: {} of {source} for {n} images, {d} dimensions", out.display(), r.name);
    }
    Ok(())
}
