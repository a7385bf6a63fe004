//! `neurozoo sweep`: plan, run (here or on SLURM), follow and collect many fits.

use std::path::Path;

use anyhow::{bail, Context, Result};
use neurozoo_sweep::collect::{collect, default_metric};
use neurozoo_sweep::plan::Plan;
use neurozoo_sweep::point::{failure, PointDirs, State};
use neurozoo_sweep::{local, observe, pending, prepare, slurm, SweepError};
use neurozoo_util::files::write_atomic;
use serde_json::json;

use crate::args::{Executor, SweepArgs, SweepCommand};

pub fn run(args: SweepArgs) -> Result<()> {
    let exe = std::env::current_exe().context("cannot tell where the neurozoo binary is")?;
    match args.command {
        Some(SweepCommand::RunPoint { dir, index, threads }) => {
            let launch = |job: &neurozoo_job::Job| crate::torch::command(job).map_err(|e| format!("{e:#}"));
            neurozoo_sweep::point::run_point(&dir, index, &launch, threads)?;
            Ok(())
        }
        Some(SweepCommand::Status { dir, json }) => status(&dir, json),
        Some(SweepCommand::Collect { dir, metric }) => {
            let plan = Plan::load(&dir)?;
            let metric = metric.as_deref().unwrap_or(default_metric(&plan));
            let c = collect(&dir, &plan, metric)?;
            let states: Vec<String> = c.states.iter().map(|(s, n)| format!("{n} {s}")).collect();
            eprintln!("{} points: {}", plan.points.len(), states.join(", "));
            for (name, error) in &c.failed {
                eprintln!("point {name} failed: {error}");
            }
            eprintln!("wrote {} and {}", c.table[0].display(), c.table[1].display());
            match &c.best {
                Some(b) => eprintln!(
                    "best {} {:.4} ± {:.4} over {} seed(s): {} {} (best.json)",
                    b.metric,
                    b.mean,
                    b.sd,
                    b.seeds.len(),
                    b.recording,
                    serde_json::to_string(&b.values)?
                ),
                None => eprintln!("no point done has a {metric}: no best.json"),
            }
            if let Some(b) = c.best.as_ref().filter(|b| !b.missing_seeds.is_empty()) {
                eprintln!(
                    "warning: the best ranks on {} of {} planned seeds (without {}: see results.csv)",
                    b.seeds.len(),
                    b.seeds.len() + b.missing_seeds.len(),
                    list(&b.missing_seeds)
                );
            }
            if !c.short_of_seeds.is_empty() {
                eprintln!("warning: {} configuration(s) rank on fewer seeds than planned:", c.short_of_seeds.len());
                for (config, missing) in &c.short_of_seeds {
                    eprintln!("  {config}: without seed(s) {}", list(missing));
                }
            }
            for f in &c.figures {
                eprintln!("figure {}", f.display());
            }
            Ok(())
        }
        None => start(&args, &exe),
    }
}

fn start(args: &SweepArgs, exe: &Path) -> Result<()> {
    let (file, dir) = (args.file.as_deref().expect("clap requires it"), args.out.as_deref().expect("clap requires it"));
    let (mut plan, configs) = Plan::from_file(file)?;
    let s = &mut plan.slurm;
    s.partition = args.partition.clone().or(s.partition.take());
    s.account = args.account.clone().or(s.account.take());
    if let Some(t) = &args.time {
        s.time.clone_from(t);
    }
    if let Some(m) = &args.mem {
        s.mem.clone_from(m);
    }
    if let Some(c) = args.cpus_per_task {
        s.cpus_per_task = c as usize;
    }
    let dir = std::path::absolute(dir).with_context(|| format!("{}", dir.display()))?;
    let slurm = args.executor == Executor::Slurm;
    if args.dry_run {
        println!("{} points of {} ({}), device {}:", plan.points.len(), plan.base, plan.kind, plan.device);
        for (i, p) in plan.points.iter().enumerate() {
            println!("{i:>5}  {}", p.name);
        }
        if slurm {
            let all: Vec<usize> = (0..plan.points.len()).collect();
            println!("\n{}", slurm::script(&dir, &plan, &plan.slurm, &all, args.jobs.map(|n| n as usize), exe));
        }
        return Ok(());
    }
    // One sweep command per directory: two would fit the same points at once.
    let command: Vec<String> = std::env::args().collect();
    let _lock = neurozoo_util::lock::lock(&dir, &command.join(" "))?;
    prepare(&dir, &plan, &configs).map_err(|e| match e {
        // The sweep directory is --out.
        e @ SweepError::NotASweep { .. } => anyhow::anyhow!("{e}: choose a new --out"),
        e @ SweepError::OtherSweep { .. } => anyhow::anyhow!("{e}: choose a new --out, or run the sweep file it was made from"),
        e => e.into(),
    })?;
    let observed = observe(&dir, &plan);
    let todo = pending(&observed);
    let done = observed.iter().filter(|o| o.state == State::Done).count();
    if todo.is_empty() {
        eprintln!("all {} points are done ({done}) or running; collect with: neurozoo sweep collect {}", plan.points.len(), dir.display());
        return Ok(());
    }
    if slurm {
        let slurm_dir = dir.join("slurm");
        std::fs::create_dir_all(&slurm_dir).with_context(|| format!("cannot create {}", slurm_dir.display()))?;
        let script_path = slurm_dir.join("array.sbatch");
        let text = slurm::script(&dir, &plan, &plan.slurm, &todo, args.jobs.map(|n| n as usize), exe);
        write_atomic(&script_path, text)?;
        let job_id = slurm::submit(&script_path)?;
        let mut jobs = slurm::load_jobs(&dir);
        jobs.jobs.push(slurm::Job { job_id: job_id.clone(), indices: todo.clone() });
        write_atomic(&slurm::jobs_file(&dir), serde_json::to_string_pretty(&jobs)?)?;
        eprintln!(
            "submitted job {job_id}: {} of {} points ({}); follow with `neurozoo sweep status {}`, then `neurozoo sweep collect {}`",
            todo.len(),
            plan.points.len(),
            script_path.display(),
            dir.display(),
            dir.display()
        );
        return Ok(());
    }
    let jobs = args.jobs.unwrap_or(1) as usize;
    eprintln!("{} of {} points to fit, {jobs} at a time, in {}", todo.len(), plan.points.len(), dir.display());
    let summary = local::run(&dir, &plan, exe, jobs, &todo);
    let busy = plan.points.len() - done - todo.len();
    eprintln!(
        "{} fitted, {done} already done, {} failed{}; collect with: neurozoo sweep collect {}",
        summary.done,
        summary.failed.len(),
        if busy > 0 { format!(", {busy} running elsewhere") } else { String::new() },
        dir.display()
    );
    if !summary.failed.is_empty() {
        bail!("{} point(s) failed: {} (errors in points/NAME/status.json and log.txt)", summary.failed.len(), summary.failed.join(", "));
    }
    Ok(())
}

fn list(seeds: &[u64]) -> String {
    seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
}

fn status(dir: &Path, as_json: bool) -> Result<()> {
    let plan = Plan::load(dir)?;
    let mut rows = Vec::new();
    for (i, (p, o)) in plan.points.iter().zip(observe(dir, &plan)).enumerate() {
        let error = if o.state == State::Failed { failure(&PointDirs::new(dir, p)) } else { None };
        rows.push((i, p, o.state, o.slurm, error));
    }
    if as_json {
        let points: Vec<_> =
            rows.iter().map(|(i, p, st, q, e)| json!({"index": i, "name": p.name, "state": st.as_str(), "slurm": q, "error": e})).collect();
        println!("{}", json!({"dir": dir.display().to_string(), "points": points}));
        return Ok(());
    }
    for (i, p, st, q, e) in &rows {
        let extra = q.as_ref().map(|q| format!("  (slurm: {q})")).unwrap_or_default();
        println!("{i:>5}  {:<12} {}{extra}{}", st.as_str(), p.name, e.as_ref().map(|e| format!("\n       {e}")).unwrap_or_default());
    }
    let count = |s: State| rows.iter().filter(|r| r.2 == s).count();
    println!(
        "{} points: {} done, {} failed, {} running, {} interrupted, {} pending",
        rows.len(),
        count(State::Done),
        count(State::Failed),
        count(State::Running),
        count(State::Interrupted),
        count(State::Pending)
    );
    Ok(())
}
