//! `neurozoo extract` (from recorded responses), `neurozoo plugins`, `neurozoo analyze`,
//! `neurozoo compare`.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ndarray::{Array2, Axis};
use neurozoo_analysis::compare::{self, CompareError, CompareParams};
use neurozoo_analysis::host::{self, Isolation, PluginJob};
use neurozoo_analysis::plugin::{self, PluginError, RunStatus, MANIFEST};
use neurozoo_datasets::nwb::NwbOptions;
use neurozoo_datasets::representation::{RepresentationFile, UniqueImages};
use neurozoo_datasets::Tier;
use neurozoo_metrics::measures::oracle_corr_jackknife;

use crate::args::{AnalyzeArgs, CompareArgs, Lang, PluginsCommand};

/// The recorded responses as a representation file, with each unit's noise ceiling (the
/// jackknife oracle correlation over the images shown more than once) and the single trials of
/// the file's repeated images (for the RSA noise ceiling and the crossnobis RDM) for `compare`.
pub fn extract_responses(data: &Path, out: &Path, tiers: &[Tier], nwb: &NwbOptions) -> Result<()> {
    let ds = neurozoo_datasets::load_checked(data, nwb)?;
    let mut file = RepresentationFile::from_responses(&ds, data, tiers).map_err(|e| anyhow::anyhow!("{}: {e}", data.display()))?;
    let repeated: Vec<Array2<f64>> =
        UniqueImages::of(&ds).trials.iter().filter(|t| t.len() > 1).map(|t| ds.responses.select(Axis(0), t).mapv(f64::from)).collect();
    if !repeated.is_empty() {
        let oracle = oracle_corr_jackknife(&repeated).mapv(|v| v as f32).into_dyn();
        file.arrays.push((compare::CEILING.to_string(), oracle));
    }
    // The file's rows are these images, in this order (as from_responses selects them).
    let images = UniqueImages::of(&ds).in_tiers(&ds, tiers).map_err(|e| anyhow::anyhow!("{}: {e}", data.display()))?;
    let mut trials: Vec<(usize, usize)> =
        images.trials.iter().enumerate().filter(|(_, t)| t.len() > 1).flat_map(|(row, t)| t.iter().map(move |&t| (t, row))).collect();
    if !trials.is_empty() {
        // In the order shown: the k-th presentation of an image is its k-th trial here.
        trials.sort_unstable();
        // Rows are stored as f32 (arrays are f32), exact below 2²⁴.
        anyhow::ensure!(images.ids.len() < 1 << 24, "{}: {} images: too many to index trials by row", data.display(), images.ids.len());
        let responses = ds.responses.select(Axis(0), &trials.iter().map(|&(t, _)| t).collect::<Vec<_>>());
        let rows = ndarray::Array1::from_iter(trials.iter().map(|&(_, row)| row as f32));
        file.arrays.push((compare::TRIAL_RESPONSES.to_string(), responses.into_dyn()));
        file.arrays.push((compare::TRIAL_ROWS.to_string(), rows.into_dyn()));
    }
    file.write(out)?;
    let r = &file.representations[0];
    let ceiling = match (repeated.is_empty(), trials.is_empty()) {
        (true, _) => "no repeats, so no noise ceiling".to_string(),
        (false, true) => "with oracle correlations; none of these images repeated, so no single trials for RSA".to_string(),
        (false, false) => format!("with oracle correlations and the {} single trials of the repeated images", trials.len()),
    };
    eprintln!(
        "wrote {}: responses of {} units to {} images (averaged over repeats; {ceiling})",
        out.display(),
        r.data.ncols(),
        r.data.nrows()
    );
    Ok(())
}

pub fn compare(args: &CompareArgs) -> Result<()> {
    let params = CompareParams {
        folds: args.folds,
        bootstrap: args.bootstrap,
        max_stimuli: args.max_stimuli,
        rbf_threshold: args.rbf_threshold,
        seed: args.seed,
        permutations: args.permutations,
        require_rsa_ceiling: args.require_rsa_ceiling,
        ..CompareParams::default()
    };
    let summary = compare::compare(&args.a, &args.b, &args.out, args.b_name.as_deref(), &params).map_err(|e| match e {
        // Each setting is a flag of the same name.
        CompareError::Param { param, value, wanted } => anyhow::anyhow!("--{} {value}: must be {wanted}", param.replace('_', "-")),
        other => other.into(),
    })?;
    for warning in &summary.warnings {
        eprintln!("warning: {warning}");
    }
    for note in &summary.notes {
        eprintln!("note: {note}");
    }
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
        return Ok(());
    }
    println!("{} vs {} ({}), {} stimuli:", args.a.display(), args.b.display(), summary.b_representation, summary.n_stimuli);
    for (name, metrics) in &summary.scores {
        let cell = |m: &str| match metrics.get(m).map(|s| (s.score, s.ci_low, s.ci_high, s.p_value)) {
            Some((Some(v), Some(lo), Some(hi), _)) => format!("{m} {v:.3} [{lo:.3}, {hi:.3}]"),
            Some((Some(v), _, _, Some(p))) => format!("{m} {v:.3} (p {p:.3})"),
            Some((Some(v), _, _, None)) => format!("{m} {v:.3}"),
            // Undefined (a constant representation): said, not left out or shown as 0.
            Some((None, ..)) => format!("{m} -"),
            None => String::new(),
        };
        let shape = ["procrustes", "procrustes_angular", "cca_angular"];
        let cells: Vec<String> =
            ["predictivity", "predictivity_normalised", "linear_cka", "rbf_cka", "rsa", "rsa_repeats", "rsa_crossnobis"]
                .iter()
                .map(|m| cell(m))
                .filter(|c| !c.is_empty())
                .collect();
        println!("  {name:<12} {}", cells.join("  "));
        // The distances on a line of their own (smaller is closer), under the similarities.
        let distances: Vec<String> = shape.iter().map(|m| cell(m)).filter(|c| !c.is_empty()).collect();
        if !distances.is_empty() {
            println!("  {:<12} {}", "", distances.join("  "));
        }
    }
    if let Some(c) = &summary.rsa_noise_ceiling {
        let bound = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
        println!(
            "RSA noise ceiling of rsa_repeats ({} repeated images, {} repeat partitions): lower {}, upper {}",
            c.n_images,
            c.n_partitions,
            bound(c.lower),
            bound(c.upper)
        );
    }
    println!("tables and figures in {}", args.out.display());
    Ok(())
}

pub fn plugins(command: PluginsCommand) -> Result<()> {
    match command {
        PluginsCommand::List => {
            let found = plugin::discover();
            if found.is_empty() {
                eprintln!("no plugins in the plugin path (see `neurozoo doctor`)");
            }
            for p in found {
                match p {
                    Ok(p) => println!(
                        "{:<16} {:<8} {}{}",
                        p.name,
                        p.version,
                        p.description,
                        if p.is_executable() { " (executable)" } else { "" }
                    ),
                    Err(e) => eprintln!("warning: {e}"),
                }
            }
            Ok(())
        }
        PluginsCommand::New { name, dir, sdk, lang } => {
            if lang == Lang::Python {
                let dir = crate::scaffold::new_python_plugin(&name, dir.as_deref())?;
                println!(
                    "created {}: run it with `NEUROZOO_PLUGIN_PATH={} neurozoo analyze {name} --repr R.h5 --out OUT` (it needs numpy, h5py and pandas)",
                    dir.display(),
                    dir.display()
                );
                return Ok(());
            }
            let dir = crate::scaffold::new_plugin(&name, dir.as_deref(), sdk.as_deref())?;
            println!("created {}: build it with `cargo build --release --manifest-path {}/Cargo.toml`", dir.display(), dir.display());
            Ok(())
        }
        PluginsCommand::Describe { name } => {
            let p = plugin::find(&name)?;
            let kind = if p.is_executable() { "executable" } else { "library" };
            println!("{} {}\n  {}\n  {kind}: {}", p.name, p.version, p.description, p.path.display());
            if p.schema.is_empty() {
                println!("  no parameters");
            }
            for (key, spec) in &p.schema {
                let default = spec.get("default").map_or("required".to_string(), |d| format!("default {d}"));
                println!(
                    "  --param {key}=<{}>  {} ({default})",
                    spec["type"].as_str().unwrap_or("string"),
                    spec["description"].as_str().unwrap_or("")
                );
            }
            Ok(())
        }
    }
}

pub fn analyze(args: &AnalyzeArgs) -> Result<()> {
    let job = PluginJob {
        plugin: args.plugin.clone(),
        representation_file: args.repr.clone(),
        representation: args.name.clone(),
        out: args.out.clone(),
        params: args.params.clone(),
        arrays_files: args.arrays.clone(),
        seed: args.seed,
        timeout: args.timeout.map(Duration::from_secs_f64),
        isolation: if args.in_process { Isolation::InProcess } else { Isolation::ChildProcess },
    };
    run_plugin(&job)
}

/// Run `job` and print what it wrote; a run that did not complete is an error naming what was
/// kept.
pub fn run_plugin(job: &PluginJob) -> Result<()> {
    let report = host::run(job).map_err(|e| match e {
        PluginError::OutputDir(e) => anyhow::anyhow!("{e}: choose a new --out"),
        e => e.into(),
    })?;
    let m = &report.manifest;
    let kept = match m.files.len() {
        0 => String::new(),
        n => format!("; the {n} files it wrote before are kept in {} (listed in {MANIFEST})", job.out.display()),
    };
    let error = m.error.as_deref().unwrap_or("no reason given");
    match m.status {
        RunStatus::Complete => {
            eprintln!("{} {} wrote {} files to {}:", m.plugin, m.version, m.files.len(), job.out.display());
            for f in report.files() {
                eprintln!("  {f}");
            }
            Ok(())
        }
        RunStatus::Crashed => bail!("{error}{kept}"),
        RunStatus::Failed | RunStatus::Running => bail!("plugin {} failed: {error}{kept}", m.plugin),
    }
}

/// The hidden subcommand that `analyze` isolates a plugin run in.
pub fn plugin_host() -> Result<()> {
    host::serve_isolated().context("the isolated plugin process cannot reply")
}
