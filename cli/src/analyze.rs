//! `neurozoo extract` (from recorded responses), `neurozoo plugins`, `neurozoo analyze`,
//! `neurozoo compare`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use ndarray::{Array2, ArrayD, Axis};
use neurozoo_analysis::compare::{self, CompareError, CompareParams};
use neurozoo_analysis::executable;
use neurozoo_analysis::plugin::{self, RunInput, MANIFEST};
use neurozoo_datasets::nwb::NwbOptions;
use neurozoo_datasets::representation::{read_arrays, RepresentationFile, UniqueImages};
use neurozoo_datasets::Tier;
use neurozoo_metrics::measures::oracle_corr_jackknife;
use serde_json::{json, Value};

use crate::args::{AnalyzeArgs, CompareArgs, Lang, PluginsCommand};

/// The recorded responses as a representation file, with each unit's noise ceiling (the
/// jackknife oracle correlation over the images shown more than once) for `compare`.
pub fn extract_responses(data: &Path, out: &Path, tiers: &[Tier], nwb: &NwbOptions) -> Result<()> {
    let ds = neurozoo_datasets::load_checked(data, nwb)?;
    let mut file = RepresentationFile::from_responses(&ds, data, tiers).map_err(|e| anyhow::anyhow!("{}: {e}", data.display()))?;
    let repeated: Vec<Array2<f64>> =
        UniqueImages::of(&ds).trials.iter().filter(|t| t.len() > 1).map(|t| ds.responses.select(Axis(0), t).mapv(f64::from)).collect();
    if !repeated.is_empty() {
        let oracle = oracle_corr_jackknife(&repeated).mapv(|v| v as f32).into_dyn();
        file.arrays.push((compare::CEILING.to_string(), oracle));
    }
    file.write(out)?;
    let r = &file.representations[0];
    let ceiling = if repeated.is_empty() { "no repeats, so no noise ceiling" } else { "with oracle correlations" };
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
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
        return Ok(());
    }
    println!("{} vs {} ({}), {} stimuli:", args.a.display(), args.b.display(), summary.b_representation, summary.n_stimuli);
    for (name, metrics) in &summary.scores {
        let cell = |m: &str| match metrics.get(m).map(|s| (s.score, s.ci_low, s.ci_high)) {
            Some((Some(v), Some(lo), Some(hi))) => format!("{m} {v:.3} [{lo:.3}, {hi:.3}]"),
            Some((Some(v), _, _)) => format!("{m} {v:.3}"),
            // Undefined (a constant representation): said, not left out or shown as 0.
            Some((None, _, _)) => format!("{m} -"),
            None => String::new(),
        };
        let cells: Vec<String> = ["predictivity", "predictivity_normalised", "linear_cka", "rbf_cka", "rsa"]
            .iter()
            .map(|m| cell(m))
            .filter(|c| !c.is_empty())
            .collect();
        println!("  {name:<12} {}", cells.join("  "));
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
    // An output directory that holds an earlier run says what became of it.
    if let Some(state) = plugin::manifest_state(&args.out) {
        bail!("{} holds a plugin run that is {state} (its {MANIFEST}): choose a new --out", args.out.display());
    }
    if !args.in_process {
        // Nothing of the plugin's runs here, not even its library's loading: the child does all.
        crate::ensure_empty_dir(&args.out, "choose a new --out")?;
        return isolated(args);
    }
    let plugin = plugin::find(&args.plugin)?;
    let params = plugin.params(&args.params)?;
    let file = RepresentationFile::read(&args.repr)?;
    let rep = file.get(args.name.as_deref()).map_err(|e| anyhow::anyhow!("{}: {e}", args.repr.display()))?;
    if !plugin.accepts_non_finite {
        if let Some((k, v)) = rep.data.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            let count = rep.data.iter().filter(|v| !v.is_finite()).count();
            let (row, col) = (k / rep.data.ncols(), k % rep.data.ncols());
            bail!(
                "{}: representation {:?} has {count} NaN or infinite values (the first, {v}, at stimulus {row}, unit {col}); plugin {} does not take them",
                args.repr.display(),
                rep.name,
                plugin.name
            );
        }
    }
    // Read the extra arrays before anything is created, so a bad file leaves nothing behind.
    let extra = extra_arrays(args, &file.arrays)?;
    crate::ensure_empty_dir(&args.out, "choose a new --out")?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let source: Value = serde_json::from_str(&rep.source).unwrap_or(Value::Null);
    let input = RunInput {
        representation: rep.data.view(),
        stimuli: file.stimuli.as_ref().map(|s| s.view().into_dyn()),
        arrays: file.arrays.iter().chain(&extra).map(|(n, a)| (n.clone(), a.view())).collect(),
        metadata: json!({
            "file": args.repr.display().to_string(),
            "name": rep.name,
            "source": source,
            "stimulus_ids": file.stimulus_ids,
            "arrays_files": args.arrays.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        }),
        params,
        seed: args.seed,
    };
    let report = if plugin.is_executable() {
        let request = executable::Request {
            representation_file: &args.repr,
            representation: &rep.name,
            arrays_files: &args.arrays,
            timeout: args.timeout.map(std::time::Duration::from_secs_f64),
        };
        executable::run(&plugin, &input, &request, &args.out)
    } else {
        plugin.run(&input, &args.out)
    };
    let report = report.map_err(|e| anyhow::anyhow!("plugin {} failed: {e}", plugin.name))?;
    eprintln!("{} {} wrote {} files to {}:", plugin.name, plugin.version, report.files.len(), args.out.display());
    for f in &report.files {
        eprintln!("  {f}");
    }
    Ok(())
}

/// The arrays of every `--arrays` file; a name given twice (there or in the representation file)
/// is refused, naming both places, rather than silently shadowed.
fn extra_arrays(args: &AnalyzeArgs, in_repr: &[(String, ArrayD<f32>)]) -> Result<Vec<(String, ArrayD<f32>)>> {
    let mut seen: Vec<(String, PathBuf)> = in_repr.iter().map(|(n, _)| (n.clone(), args.repr.clone())).collect();
    let mut out = Vec::new();
    for path in &args.arrays {
        for (name, array) in read_arrays(path)? {
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
                bail!("array {name:?} is in both {} and {}: pass one of them", first.display(), path.display());
            }
            seen.push((name.clone(), path.clone()));
            out.push((name, array));
        }
    }
    Ok(out)
}

/// Run this same command with `--in-process` in a child process; a crash there becomes an
/// error here, and the manifest (kept current by the child) says what was written before it.
fn isolated(args: &AnalyzeArgs) -> Result<()> {
    let exe = std::env::current_exe().context("cannot locate the running neurozoo binary")?;
    let mut child = Command::new(exe);
    child
        .args(["analyze", "--in-process"])
        .arg(&args.plugin)
        .arg("--repr")
        .arg(&args.repr)
        .arg("--out")
        .arg(&args.out)
        .arg("--seed")
        .arg(args.seed.to_string());
    if let Some(n) = &args.name {
        child.arg("--name").arg(n);
    }
    for a in &args.arrays {
        child.arg("--arrays").arg(a);
    }
    for (k, v) in &args.params {
        child.arg("--param").arg(format!("{k}={v}"));
    }
    if let Some(t) = args.timeout {
        child.arg("--timeout").arg(t.to_string());
    }
    let status = child.status().context("cannot start the isolated plugin process")?;
    if status.success() {
        return Ok(());
    }
    use std::os::unix::process::ExitStatusExt;
    let Some(signal) = status.signal() else {
        // The child has said what went wrong on the stderr it shares: exit as it did, saying
        // nothing twice.
        std::process::exit(status.code().unwrap_or(1));
    };
    let reason = format!("plugin {} crashed (signal {signal}) in the isolated process", args.plugin);
    let manifest_path = args.out.join(MANIFEST);
    let kept = match std::fs::read_to_string(&manifest_path).ok().and_then(|t| serde_json::from_str::<Value>(&t).ok()) {
        Some(mut m) => {
            m["status"] = json!("crashed");
            m["error"] = json!(reason);
            let n = m["files"].as_array().map_or(0, Vec::len);
            plugin::write_manifest(&args.out, &m)?;
            n
        }
        None => 0,
    };
    bail!("{reason}; the {kept} files it wrote before are kept in {} (listed in {MANIFEST})", args.out.display())
}
