//! Two commands at once on one output, and outputs inside inputs: a second writer is refused
//! naming the process that holds the output (an advisory lock the kernel drops with its
//! holder, `kill -9` included), and nothing is written into a run or an input tree.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::hostile::{refused, said};
use super::*;

/// `DIR/v1.h5` and a model small enough for epochs of a fraction of a second.
fn setup(dir: &Path, max_epochs: usize) -> (PathBuf, PathBuf) {
    let data = small_v1(dir);
    let config = dir.join("tiny.toml");
    let text = format!(
        "preset = \"klindt2017\"\n[model.core]\nlayers = 2\nchannels = 4\ninput_kernel = 7\n[train]\nbatch_size = 32\nmax_epochs = {max_epochs}\npatience = 1000\n"
    );
    std::fs::write(&config, text).unwrap();
    (data, config)
}

fn fit(data: &Path, config: &Path, out: &Path) -> Command {
    let mut cmd = neurozoo();
    cmd.arg("fit").arg(config).arg("--data").arg(data).arg("--out").arg(out).args(["--threads", "1", "--device", "cpu"]);
    cmd
}

/// Wait until `path` holds `wanted` (a lock file once its holder has written who it is).
fn wait_for(path: &Path, wanted: &str, child: &mut Child) {
    let start = Instant::now();
    while !std::fs::read_to_string(path).is_ok_and(|s| s.contains(wanted)) {
        assert!(child.try_wait().unwrap().is_none(), "the first command ended before {} held {wanted:?}", path.display());
        assert!(start.elapsed() < Duration::from_secs(60), "{} never held {wanted:?}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A command's stderr in a file: a pipe left unread would block it, one closed would end it.
fn logged(cmd: &mut Command, log: &Path) -> Child {
    cmd.stderr(std::fs::File::create(log).unwrap()).spawn().unwrap()
}

#[test]
fn a_fit_in_progress_refuses_a_resume_and_a_second_fit_naming_its_process() {
    let dir = tempfile::tempdir().unwrap();
    let (data, config) = setup(dir.path(), 1000);
    let out = dir.path().join("run");
    let log = dir.path().join("first.log");
    let mut first = logged(&mut fit(&data, &config, &out), &log);
    // The front end execs the worker: the pid the lock names is the one started here.
    let lock = dir.path().join(".run.lock");
    wait_for(&lock, &format!("\"pid\":{}", first.id()), &mut first);
    // Epoch 2 reported: epoch 1's checkpoint is complete.
    wait_for(&log, "epoch   2 ", &mut first);

    let holder = format!("pid {} on", first.id());
    for extra in [&["--resume"][..], &[]] {
        let second = fit(&data, &config, &out).args(extra).output().unwrap();
        refused(&second, "is being written by another neurozoo process");
        assert!(said(&second).contains(&holder) && said(&second).contains("`neurozoo fit … --out"), "{}", said(&second));
    }
    let run_json = std::fs::read_to_string(out.join("run.json")).unwrap();
    assert!(run_json.contains("\"running\""), "the refused commands changed run.json: {run_json}");

    // kill -9: no destructor runs, the lock file stays, but the kernel has dropped the lock.
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(lock.exists());
    // What it was interrupted after is the checkpoint's count, not run.json's (written at the
    // start of the fit).
    let schedule: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("checkpoint/schedule.json")).unwrap()).unwrap();
    let epochs = schedule["epoch"].as_u64().unwrap();
    assert!(epochs >= 1);
    let eval = neurozoo().arg("eval").arg(&out).arg("--data").arg(&data).output().unwrap();
    refused(&eval, &format!("was interrupted after {epochs} epoch(s)"));

    // Resumed with a copy of the data under another name: the same data, accepted and said so.
    let copy = dir.path().join("copy.h5");
    std::fs::copy(&data, &copy).unwrap();
    let log = dir.path().join("resumed.log");
    let mut resumed = logged(fit(&copy, &config, &out).arg("--resume"), &log);
    wait_for(&lock, &format!("\"pid\":{}", resumed.id()), &mut resumed);
    wait_for(&log, "epoch ", &mut resumed);
    resumed.kill().unwrap();
    resumed.wait().unwrap();
    let said_so = std::fs::read_to_string(&log).unwrap();
    assert!(said_so.contains(&format!("{}: the same data (fingerprint", copy.display())), "{said_so}");
    let run_json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run_json["recordings"][0]["name"], "v1", "the readout keeps the run's name");
    // Other data under the run's own name is still refused.
    let other = dir.path().join("other/v1.h5");
    std::fs::create_dir(dir.path().join("other")).unwrap();
    let simulate = neurozoo()
        .args(["data", "simulate", "v1", "--n-units", "10", "--n-train", "160", "--n-validation", "40", "--n-test", "8"])
        .args(["--n-final-test", "0", "--repeats", "4", "--height", "20", "--width", "20", "--seed", "4", "--out"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(simulate.status.success(), "{}", said(&simulate));
    refused(&fit(&other, &config, &out).arg("--resume").output().unwrap(), "it was fitted to");
}

#[test]
fn a_second_sweep_on_a_running_sweep_is_refused_and_its_points_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), 1000);
    let file = dir.path().join("sweep.toml");
    std::fs::write(&file, "base = \"tiny.toml\"\nseeds = [1]\ndata = [\"v1.h5\"]\ndevice = \"cpu\"\n").unwrap();
    let out = dir.path().join("out");
    let sweep = || {
        let mut cmd = neurozoo();
        cmd.arg("sweep").arg(&file).arg("--out").arg(&out);
        cmd
    };
    let mut first = sweep().process_group(0).stderr(Stdio::null()).spawn().unwrap();
    wait_for(&dir.path().join(".out.lock"), &format!("\"pid\":{}", first.id()), &mut first);
    let point = out.join("points/v1_seed-1");
    wait_for(&point.join("status.json"), "\"running\"", &mut first);
    let status = std::fs::read_to_string(point.join("status.json")).unwrap();

    let second = sweep().output().unwrap();
    refused(&second, &format!("is being written by another neurozoo process (pid {} on", first.id()));
    // The point itself, run again by hand (or by a SLURM task run twice): refused, its status kept.
    let again = neurozoo().args(["sweep", "run-point"]).arg(&out).arg("0").output().unwrap();
    refused(&again, "point v1_seed-1:");
    assert!(said(&again).contains("is being written by another neurozoo process"), "{}", said(&again));
    assert_eq!(std::fs::read_to_string(point.join("status.json")).unwrap(), status);

    assert!(Command::new("kill").args(["-KILL", "--", &format!("-{}", first.id())]).status().unwrap().success());
    first.wait().unwrap();
}

/// Hold the lock of writing `out` as another process would, with `flock(1)`.
fn hold(out: &Path) -> Child {
    let lock = out.with_file_name(format!(".{}.lock", out.file_name().unwrap().to_string_lossy()));
    std::fs::write(&lock, r#"{"pid":4242,"host":"elsewhere","command":"neurozoo export … --out x","since":0}"#).unwrap();
    // --close: the lock stays with flock itself, not its `sleep`, so killing flock releases it.
    // In a group of its own, its output nowhere: its `sleep` goes with the group, holding
    // none of the test's pipes.
    let mut child = Command::new("flock")
        .args(["--exclusive", "--close"])
        .arg(&lock)
        .args(["sleep", "60"])
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Held once a non-blocking try fails.
    let start = Instant::now();
    while Command::new("flock").args(["--nonblock", "--exclusive"]).arg(&lock).arg("true").status().unwrap().success() {
        assert!(start.elapsed() < Duration::from_secs(10) && child.try_wait().unwrap().is_none(), "flock never held {}", lock.display());
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn an_output_another_process_writes_is_refused_and_its_partial_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (data, config) = setup(dir.path(), 1);
    let run_dir = dir.path().join("run");
    assert!(run(&mut fit(&data, &config, &run_dir)).status.success());
    let exported = dir.path().join("exported");
    let partial = dir.path().join(".exported.partial");
    std::fs::create_dir(&partial).unwrap();
    std::fs::write(partial.join("state_dict.pth"), "being written").unwrap();
    let mut holder = hold(&exported);
    let out = neurozoo().arg("export").arg(&run_dir).args(["--to", "neuralpredictors", "--out"]).arg(&exported).output().unwrap();
    refused(&out, "(pid 4242 on elsewhere, `neurozoo export … --out x`, started");
    let meis = neurozoo()
        .args(["insilico", "tuning"])
        .arg(&run_dir)
        .arg("--data")
        .arg(&data)
        .args(["--orientations", "2", "--spatial-frequencies", "1", "--phases", "1", "--out"])
        .arg(&exported)
        .output()
        .unwrap();
    refused(&meis, "is being written by another neurozoo process (pid 4242");
    assert_eq!(std::fs::read_to_string(partial.join("state_dict.pth")).unwrap(), "being written");
    assert!(!exported.exists());
    assert!(Command::new("kill").args(["-KILL", "--", &format!("-{}", holder.id())]).status().unwrap().success());
    holder.wait().unwrap();
    // Released: the same export runs and leaves no lock file behind.
    assert!(run(neurozoo().arg("export").arg(&run_dir).args(["--to", "neuralpredictors", "--out"]).arg(&exported)).status.success());
    assert!(exported.join("state_dict.pth").is_file() && !partial.exists());
    assert!(!dir.path().join(".exported.lock").exists());
}

#[test]
fn outputs_inside_a_run_or_an_input_tree_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (data, config) = setup(dir.path(), 1);
    let run_dir = dir.path().join("run");
    assert!(run(&mut fit(&data, &config, &run_dir)).status.success());
    let tree = dir.path().join("tree");
    let mut simulate = neurozoo();
    simulate.args(["data", "simulate", "v1", "--tree", "--n-units", "4", "--n-train", "20", "--n-validation", "5"]).args([
        "--n-test",
        "2",
        "--n-final-test",
        "0",
        "--repeats",
        "2",
        "--height",
        "20",
        "--width",
        "20",
        "--out",
    ]);
    assert!(run(simulate.arg(&tree)).status.success());
    let listing = |d: &Path| {
        let mut all = Vec::new();
        let mut stack = vec![d.to_path_buf()];
        while let Some(p) = stack.pop() {
            if p.is_dir() {
                stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            } else {
                all.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
        all.sort();
        all
    };
    let (tree_before, run_before) = (listing(&tree), listing(&run_dir));
    // Through a symbolic link and `..` too: where the output lands is what counts.
    std::os::unix::fs::symlink(&run_dir, dir.path().join("link")).unwrap();
    let via_link = dir.path().join("link/new.h5");
    let cases: Vec<(Command, &str)> = vec![
        (
            {
                let mut c = neurozoo();
                c.arg("extract").arg("--data").arg(&tree).arg("--out").arg(tree.join("data/images/5000.npy"));
                c
            },
            "tree",
        ),
        (
            {
                let mut c = neurozoo();
                c.arg("extract").arg(&run_dir).arg("--data").arg(&data).arg("--out").arg(&via_link);
                c
            },
            "run",
        ),
        (
            {
                let mut c = neurozoo();
                c.args(["insilico", "tuning"]).arg(&run_dir).arg("--data").arg(&data).arg("--out").arg(run_dir.join("tuning"));
                c
            },
            "run",
        ),
        (
            {
                let mut c = neurozoo();
                c.arg("export").arg(&run_dir).args(["--to", "neuralpredictors", "--out"]).arg(dir.path().join("tree/../run/np"));
                c
            },
            "run",
        ),
        (
            {
                let mut c = neurozoo();
                c.arg("fit").arg(&config).arg("--data").arg(&tree).arg("--out").arg(tree.join("fitted"));
                c
            },
            "tree",
        ),
    ];
    for (mut cmd, input) in cases {
        let out = cmd.output().unwrap();
        refused(&out, "commands never write into what they read");
        assert!(said(&out).contains(&format!("be written inside the input {}", dir.path().join(input).display())), "{}", said(&out));
    }
    assert!(listing(&tree) == tree_before && listing(&run_dir) == run_before, "a refused command wrote into an input");
}
