//! `neurozoo sweep`: plans checked before anything runs, the local executor (Ctrl-C, then the
//! same command resumes), failures recorded, collect, and a real one-node SLURM cluster.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::*;

/// A small simulation and a small base config, so each point fits in seconds.
pub(crate) fn setup(dir: &Path) -> PathBuf {
    let data = small_v1(dir);
    std::fs::write(
        dir.join("tiny.toml"),
        "preset = \"klindt2017\"\n[model.core]\nlayers = 2\ninput_kernel = 7\n[train]\nbatch_size = 32\nmax_epochs = 3\npatience = 10\n",
    )
    .unwrap();
    data
}

pub(crate) fn write_sweep(dir: &Path, name: &str, seeds: &str, grid: &str, extra: &str) -> PathBuf {
    let file = dir.join(name);
    let text = format!("base = \"tiny.toml\"\nseeds = {seeds}\ndata = [\"v1.h5\"]\ndevice = \"cpu\"\n[grid]\n{grid}\n{extra}\n");
    std::fs::write(&file, text).unwrap();
    file
}

pub(crate) fn sweep(file: &Path, out: &Path) -> Command {
    let mut cmd = neurozoo();
    cmd.arg("sweep").arg(file).arg("--out").arg(out);
    cmd
}

fn point_states(out: &Path) -> Vec<(String, String)> {
    let status = run(neurozoo().args(["sweep", "status", "--json"]).arg(out));
    assert!(status.status.success());
    stdout_json(&status)["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p["state"].as_str().unwrap().to_string()))
        .collect()
}

fn results(out: &Path) -> polars::prelude::DataFrame {
    neurozoo_tables::read_parquet(&out.join("results.parquet")).unwrap()
}

fn strings(df: &polars::prelude::DataFrame, name: &str) -> Vec<String> {
    let c = df.column(name).unwrap().str().unwrap();
    (0..c.len()).map(|i| c.get(i).unwrap_or_default().to_string()).collect()
}

fn floats(df: &polars::prelude::DataFrame, name: &str) -> Vec<Option<f64>> {
    let c = df.column(name).unwrap().f64().unwrap();
    (0..c.len()).map(|i| c.get(i)).collect()
}

#[test]
fn ctrl_c_leaves_a_sweep_that_the_same_command_resumes_then_collect_tabulates_it() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let file = write_sweep(dir.path(), "sweep.toml", "[1, 2]", "\"model.core.channels\" = [2, 4]\n\"train.lr\" = [0.005]", "");
    let out = dir.path().join("out");

    // Ctrl-C reaches the whole foreground process group: the sweep and the fit it runs.
    let mut child = sweep(&file, &out).process_group(0).stderr(Stdio::null()).spawn().unwrap();
    let first = out.join("points/v1_channels-2_lr-0.005_seed-1/status.json");
    let start = Instant::now();
    while !std::fs::read_to_string(&first).is_ok_and(|s| s.contains("\"done\"")) {
        assert!(start.elapsed() < Duration::from_secs(120), "the first point never finished");
        std::thread::sleep(Duration::from_millis(100));
    }
    let done_before = std::fs::read_to_string(&first).unwrap();
    // Into the second point's fit: its run directory is written once data and model are ready,
    // and the epochs take longer than the moment to the signal. (A fixed sleep was flaky: on a
    // fast machine the whole second point finished within it.)
    let second = out.join("runs/v1_channels-2_lr-0.005_seed-2/run.json");
    while !second.exists() {
        assert!(start.elapsed() < Duration::from_secs(120), "the second point never started fitting");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(Command::new("kill").args(["-INT", "--", &format!("-{}", child.id())]).status().unwrap().success());
    assert!(!child.wait().unwrap().success(), "an interrupted sweep must not exit 0");
    // The point's own process may take a moment longer to die.
    let start = Instant::now();
    while point_states(&out)[1].1 == "running" && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let states = point_states(&out);
    assert_eq!(states.iter().filter(|(_, s)| s == "done").count(), 1, "{states:?}");
    assert_eq!(states[1].1, "interrupted", "{states:?}");

    let again = run(&mut sweep(&file, &out));
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("3 fitted, 1 already done, 0 failed"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(std::fs::read_to_string(&first).unwrap(), done_before, "a finished point was run again");
    assert!(point_states(&out).iter().all(|(_, s)| s == "done"));
    let third = run(&mut sweep(&file, &out));
    assert!(String::from_utf8_lossy(&third.stderr).contains("all 4 points are done (4)"));

    assert!(run(neurozoo().args(["sweep", "collect"]).arg(&out)).status.success());
    let df = results(&out);
    assert_eq!(df.height(), 4);
    let status = strings(&df, "status");
    assert_eq!(status, ["done"; 4]);
    let corr: Vec<f64> = floats(&df, "validation_correlation").into_iter().map(|c| c.unwrap()).collect();
    assert!(corr.iter().all(|c| c.is_finite() && *c > 0.0), "{corr:?}");
    assert_eq!(floats(&df, "model.core.channels"), [Some(2.0), Some(2.0), Some(4.0), Some(4.0)]);
    let best: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("best.json")).unwrap()).unwrap();
    assert_eq!(best["seeds"], serde_json::json!([1, 2]));
    let best_mean = best["mean"].as_f64().unwrap();
    let max_group = [0usize, 2].map(|i| (corr[i] + corr[i + 1]) / 2.0).into_iter().fold(f64::MIN, f64::max);
    assert!((best_mean - max_group).abs() < 1e-12, "best.json {best_mean} is not the best mean over seeds {max_group}");
    assert!(out.join("figures/model_core_channels.png").is_file() && out.join("figures/model_core_channels.svg").is_file());
    assert!(!out.join("figures/train_lr.png").exists(), "a key swept over one value has nothing to draw");
    // Every point is an ordinary run directory.
    let eval = run(neurozoo().arg("eval").arg(out.join("runs/v1_channels-4_lr-0.005_seed-2")).arg("--data").arg(dir.path().join("v1.h5")));
    assert!(eval.status.success());
}

#[test]
fn a_failing_point_is_recorded_and_the_others_go_on() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    // A 31-pixel kernel is a valid config but does not fit on 20 × 20 images: only `fit` knows.
    let file = write_sweep(dir.path(), "sweep.toml", "[1, 2]", "\"model.core.input_kernel\" = [5, 31]", "");
    let out = dir.path().join("out");
    let r = run(&mut sweep(&file, &out));
    assert!(!r.status.success());
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(stderr.contains("2 point(s) failed: v1_input_kernel-31_seed-1, v1_input_kernel-31_seed-2"), "{stderr}");
    let failed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("points/v1_input_kernel-31_seed-1/status.json")).unwrap()).unwrap();
    assert_eq!(failed["state"], "failed");
    assert!(failed["error"].as_str().unwrap().contains("input_kernel = 31 is larger than the 20×20 images"), "{failed}");

    assert!(run(neurozoo().args(["sweep", "collect"]).arg(&out)).status.success());
    let df = results(&out);
    let status = strings(&df, "status");
    assert_eq!(status, ["done", "done", "failed", "failed"]);
    let errors = strings(&df, "error");
    assert_eq!(errors[0], "");
    assert!(errors[2].contains("larger than"), "{errors:?}");

    // A report that does not read is no result: the point is failed, the file named, and the
    // best ranks on the one seed left, saying so.
    let eval = out.join("points/v1_input_kernel-5_seed-2/eval.json");
    std::fs::write(&eval, r#"{"validation": {"correl"#).unwrap();
    let r = run(neurozoo().args(["sweep", "collect"]).arg(&out));
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("point v1_input_kernel-5_seed-2 failed: {} is not eval's JSON report", eval.display())), "{stderr}");
    assert!(stderr.contains("warning: the best ranks on 1 of 2 planned seeds (without 2"), "{stderr}");
    assert_eq!(strings(&results(&out), "status"), ["done", "failed", "failed", "failed"]);
    let best: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("best.json")).unwrap()).unwrap();
    assert_eq!((&best["seeds"], &best["missing_seeds"]), (&serde_json::json!([1]), &serde_json::json!([2])));
    let status = run(neurozoo().args(["sweep", "status"]).arg(&out));
    assert!(String::from_utf8_lossy(&status.stdout).contains("is not eval's JSON report"));
    // The same command evaluates it again (its fit is complete) and tries the failed ones.
    let r = run(&mut sweep(&file, &out));
    assert!(String::from_utf8_lossy(&r.stderr).contains("1 fitted, 1 already done, 2 failed"), "{}", String::from_utf8_lossy(&r.stderr));
    serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&eval).unwrap()).unwrap();
}

#[test]
fn a_bad_sweep_is_refused_by_name_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let out = dir.path().join("out");
    for (grid, wanted) in [
        ("\"model.core.chanels\" = [4]", "grid key \"model.core.chanels\""),
        ("\"train.lr\" = [0.005, 5.0]", "grid key \"train.lr\" = 5.0: train.lr = 5: must be in (0, 1)"),
        ("\"train.seed\" = [1, 2]", "sweep it with seeds"),
        ("\"model.core.channels\" = 4", "give a list of values"),
    ] {
        let file = write_sweep(dir.path(), "bad.toml", "[1, 2]", grid, "");
        let r = run(&mut sweep(&file, &out));
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success() && stderr.contains(wanted) && stderr.contains("bad.toml"), "{grid}: {stderr}");
        assert!(!out.exists(), "{grid}: a refused sweep created {}", out.display());
    }

    for (seeds, wanted) in
        [("[]", "seeds: the list is empty"), ("[18446744073709551615]", "seeds: 18446744073709551615 is above 9223372036854775807")]
    {
        let file = write_sweep(dir.path(), "bad.toml", seeds, "", "");
        let r = run(&mut sweep(&file, &out));
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success() && stderr.contains(wanted) && stderr.contains("bad.toml"), "{seeds}: {stderr}");
        assert!(!out.exists());
    }

    // A 100-point plan: printed, nothing written.
    let grid = "\"train.lr\" = [0.001, 0.002, 0.003, 0.004, 0.005]\n\"model.core.channels\" = [2, 3, 4, 5, 6]";
    let file = write_sweep(dir.path(), "big.toml", "[1, 2, 3, 4]", grid, "");
    let r = run(sweep(&file, &out).args(["--dry-run", "--executor", "slurm", "--jobs", "8", "--partition", "gpu"]));
    assert!(r.status.success());
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(stdout.starts_with("100 points of tiny.toml"), "{stdout}");
    assert!(stdout.contains("#SBATCH --array=0-99%8") && stdout.contains("#SBATCH --partition=gpu"), "{stdout}");
    assert!(!out.exists());

    // Another sweep's directory is not taken over.
    let small = write_sweep(dir.path(), "small.toml", "[1, 2]", "\"model.core.channels\" = [2]", "");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let r = run(&mut sweep(&small, &out));
    assert!(!r.status.success() && String::from_utf8_lossy(&r.stderr).contains("is no sweep directory"));
    let r = run(neurozoo().args(["sweep", "status"]).arg(&out));
    assert!(!r.status.success() && String::from_utf8_lossy(&r.stderr).contains("sweep.json"));
}

/// A one-node SLURM cluster of this machine, started from a temporary directory and stopped (by
/// PID) when dropped.
struct Cluster {
    dir: tempfile::TempDir,
}

impl Cluster {
    fn conf(&self) -> PathBuf {
        self.dir.path().join("slurm.conf")
    }

    fn start() -> Cluster {
        let missing: Vec<&str> = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo"]
            .into_iter()
            .filter(|b| !Command::new("sh").args(["-c", &format!("command -v {b}")]).output().is_ok_and(|o| o.status.success()))
            .collect();
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
        assert!(
            missing.is_empty() && root,
            "the SLURM test needs root and Debian's slurm-wlm and munge (`tools/setup.sh --test-deps` installs them); missing: {}{}",
            missing.join(", "),
            if root { "" } else { " and root" }
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        for sub in ["state", "spool"] {
            std::fs::create_dir(d.join(sub)).unwrap();
        }
        let host = neurozoo_util::process::hostname();
        let host = host.split('.').next().unwrap().to_string();
        let cpus = std::thread::available_parallelism().unwrap().get();
        let mem_mb = std::fs::read_to_string("/proc/meminfo")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap() / 1024));
        // Ports of this process's own, away from the defaults and from another test run's.
        let port = 20_000 + (std::process::id() % 20_000) as u16;
        let p = |name: &str| d.join(name).display().to_string();
        let conf = format!(
            "ClusterName=neurozoo\nSlurmctldHost={host}\nAuthType=auth/munge\nAuthInfo=socket={}\nCredType=cred/munge\n\
             ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nJobAcctGatherType=jobacct_gather/none\n\
             SelectType=select/cons_tres\nSelectTypeParameters=CR_CPU\nSlurmctldPort={port}\nSlurmdPort={}\n\
             StateSaveLocation={}\nSlurmdSpoolDir={}\nSlurmctldPidFile={}\nSlurmdPidFile={}\nSlurmctldLogFile={}\n\
             SlurmdLogFile={}\nSlurmUser=root\nSlurmdUser=root\nReturnToService=2\nMpiDefault=none\n\
             NodeName={host} CPUs={cpus} RealMemory={} State=UNKNOWN\nPartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP\n",
            p("munge.socket"),
            port + 1,
            p("state"),
            p("spool"),
            p("slurmctld.pid"),
            p("slurmd.pid"),
            p("slurmctld.log"),
            p("slurmd.log"),
            mem_mb.unwrap(),
        );
        std::fs::write(d.join("slurm.conf"), conf).unwrap();
        let cluster = Cluster { dir };
        let munged = Command::new("munged")
            .arg(format!("--socket={}", p("munge.socket")))
            .arg(format!("--pid-file={}", p("munged.pid")))
            .arg(format!("--log-file={}", p("munged.log")))
            .arg(format!("--seed-file={}", p("munged.seed")))
            .arg("--force")
            .status()
            .unwrap();
        assert!(munged.success(), "munged did not start");
        for daemon in ["slurmctld", "slurmd"] {
            let s = Command::new(daemon).arg("-f").arg(cluster.conf()).status().unwrap();
            assert!(s.success(), "{daemon} did not start: {}", cluster.logs());
        }
        let start = Instant::now();
        loop {
            let sinfo = Command::new("sinfo").args(["-h", "-o", "%t"]).env("SLURM_CONF", cluster.conf()).output().unwrap();
            if String::from_utf8_lossy(&sinfo.stdout).trim() == "idle" {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "the node never became idle: {}", cluster.logs());
            std::thread::sleep(Duration::from_millis(250));
        }
        cluster
    }

    fn logs(&self) -> String {
        ["slurmctld.log", "slurmd.log", "munged.log"]
            .iter()
            .map(|f| format!("--- {f}\n{}", std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default()))
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for pid_file in ["slurmd.pid", "slurmctld.pid", "munged.pid"] {
            if let Ok(pid) = std::fs::read_to_string(self.dir.path().join(pid_file)) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
        }
    }
}

#[test]
fn slurm_sweep_runs_as_a_job_array_on_a_real_cluster() {
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let slurm = "[slurm]\ntime = \"00:10:00\"\nmem = \"500M\"\ncpus_per_task = 1";
    let file = write_sweep(dir.path(), "sweep.toml", "[1, 2]", "\"model.core.channels\" = [2, 4]", slurm);
    let out = dir.path().join("out");
    let submitted = run(sweep(&file, &out).args(["--executor", "slurm"]).env("SLURM_CONF", cluster.conf()));
    assert!(submitted.status.success(), "{}", cluster.logs());
    let script = std::fs::read_to_string(out.join("slurm/array.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=0-3\n") && script.contains("#SBATCH --mem=500M"), "{script}");
    let jobs: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("slurm/jobs.json")).unwrap()).unwrap();
    assert_eq!(jobs["jobs"][0]["indices"], serde_json::json!([0, 1, 2, 3]));

    let start = Instant::now();
    loop {
        let status = run(neurozoo().args(["sweep", "status", "--json"]).arg(&out).env("SLURM_CONF", cluster.conf()));
        let points = stdout_json(&status)["points"].as_array().unwrap().clone();
        if points.iter().all(|p| p["state"] == "done" || p["state"] == "failed") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "the array did not finish: {points:?}\n{}", cluster.logs());
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(run(neurozoo().args(["sweep", "collect"]).arg(&out)).status.success());
    let df = results(&out);
    let status = strings(&df, "status");
    assert_eq!(status, ["done"; 4], "{df}");
    assert!(floats(&df, "validation_correlation").into_iter().all(|c| c.is_some_and(f64::is_finite)), "{df}");
    // Each task's output went where the script said.
    let job = jobs["jobs"][0]["job_id"].as_str().unwrap();
    for task in 0..4 {
        assert!(out.join(format!("slurm/{job}_{task}.out")).is_file(), "no output of task {task}");
    }
}
