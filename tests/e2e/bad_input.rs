//! The bad-input suite: malformed recordings made here, from one small simulation (HDF5 edited
//! with the hdf5 crate, file trees with our `.npy` writer, zips and NWB cut from the committed
//! fixtures), each through every command that reads a recording, as text and as JSON. For every
//! case: exit 1 (or, where documented, exit 0 with a warning), no panic, a message that names the
//! file and the key at fault, no output left behind, and the input unchanged to the byte.
//!
//! The good files of every layout go through the same commands and must answer: a report, a
//! fitted run, an evaluation, a representation file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use ndarray::{s, Array2};
use neurozoo_datasets::npy::{self, NpyOut};
use neurozoo_datasets::simulate::v1::{simulate, V1Config};
use neurozoo_datasets::{file_tree, static_h5, Dataset};

use super::neurozoo;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/tests/fixtures").join(name)
}

/// The recording every malformed case starts from: 6 units, 16 × 16 images, every tier.
fn base() -> Dataset {
    simulate(&V1Config {
        n_units: 6,
        n_train: 30,
        n_validation: 8,
        n_test: 3,
        n_final_test: 2,
        repeats: 2,
        height: 16,
        width: 16,
        ..V1Config::default()
    })
    .unwrap()
}

/// What a case must get.
#[derive(Clone, Copy, PartialEq)]
enum Expect {
    /// Every command refuses the file with exit 1, naming it and this key (`None`: the file as
    /// a whole, which cannot be opened).
    Error(Option<&'static str>),
    /// The file is usable: `validate` exits 0 and warns about this key.
    Warning(&'static str),
}

struct Case {
    path: PathBuf,
    expect: Expect,
}

/// Every file under `path` (itself, when a file) and its bytes.
fn snapshot(path: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            files.insert(p.clone(), std::fs::read(&p).unwrap());
        }
    }
    files
}

fn said(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

/// A run fitted on the base recording, for `eval RUN` and `extract RUN`.
fn fitted_run(dir: &Path) -> PathBuf {
    let data = dir.join("good.h5");
    static_h5::write(&base(), &data).unwrap();
    let run = dir.join("run");
    let out = fit_command(&data, &run).output().unwrap();
    assert!(out.status.success(), "{}", said(&out));
    run
}

fn fit_command(data: &Path, out: &Path) -> std::process::Command {
    let mut cmd = neurozoo();
    cmd.args(["fit", "ln", "--max-epochs", "1", "--threads", "1", "--device", "cpu", "--data"]).arg(data).arg("--out").arg(out);
    cmd
}

/// Each command that reads a recording, on `data`, writing (if at all) into `out`.
fn commands(data: &Path, run: &Path, out: &Path) -> Vec<(String, std::process::Command)> {
    let mut list = Vec::new();
    for command in ["validate", "inspect"] {
        for json in [false, true] {
            let mut cmd = neurozoo();
            cmd.args(["data", command]).arg(data);
            if json {
                cmd.arg("--json");
            }
            list.push((format!("data {command} (json {json})"), cmd));
        }
    }
    list.push(("fit".into(), fit_command(data, &out.join("run"))));
    for json in [false, true] {
        let mut cmd = neurozoo();
        cmd.arg("eval").arg(run).arg("--data").arg(data);
        if json {
            cmd.arg("--json");
        }
        list.push((format!("eval (json {json})"), cmd));
    }
    let mut recorded = neurozoo();
    recorded.arg("extract").arg("--data").arg(data).arg("--out").arg(out.join("recorded.h5"));
    list.push(("extract".into(), recorded));
    let mut model = neurozoo();
    model.arg("extract").arg(run).arg("--data").arg(data).arg("--out").arg(out.join("model.h5"));
    list.push(("extract RUN".into(), model));
    list
}

/// Run every command on every case and check what each got.
fn check(cases: &[Case], run: &Path, scratch: &Path) {
    for case in cases {
        let name = case.path.file_name().unwrap().to_string_lossy().to_string();
        let before = snapshot(&case.path);
        let out_dir = scratch.join(format!("out-{name}"));
        std::fs::create_dir(&out_dir).unwrap();
        for (what, mut cmd) in commands(&case.path, run, &out_dir) {
            let what = format!("{name}: {what}");
            let out = cmd.output().unwrap();
            let text = said(&out);
            assert!(!text.contains("panicked"), "{what}: {text}");
            assert!(matches!(out.status.code(), Some(0 | 1)), "{what}: {:?}\n{text}", out.status);
            let inspect = what.contains("data inspect");
            match case.expect {
                Expect::Error(key) if !inspect => {
                    assert_eq!(out.status.code(), Some(1), "{what} was accepted:\n{text}");
                    assert!(text.contains(&name), "{what}: the message does not name the file:\n{text}");
                    match key {
                        Some(key) => assert!(text.contains(key), "{what}: the message does not name {key}:\n{text}"),
                        None => assert!(text.contains("cannot open") || text.contains("not a"), "{what}:\n{text}"),
                    }
                }
                // `inspect` describes what it can of a broken file; when it cannot, it says which.
                Expect::Error(_) => assert!(out.status.success() || text.contains(&name), "{what}:\n{text}"),
                Expect::Warning(key) => {
                    if what.contains("data validate") {
                        assert!(out.status.success() && text.contains("warning") && text.contains(key), "{what}:\n{text}");
                    }
                }
            }
            if let Expect::Error(_) = case.expect {
                let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().path()).collect();
                assert!(left.is_empty(), "{what} left {left:?}");
            }
        }
        assert!(snapshot(&case.path) == before, "{name}: the input changed");
    }
}

/// A copy of `good` at `dir/name`, changed by `edit` through the hdf5 crate.
fn edited_h5(dir: &Path, good: &Path, name: &str, edit: impl FnOnce(&hdf5::File)) -> PathBuf {
    let path = dir.join(name);
    std::fs::copy(good, &path).unwrap();
    let file = hdf5::File::open_rw(&path).unwrap();
    edit(&file);
    file.close().unwrap();
    path
}

fn written_h5(dir: &Path, name: &str, ds: &Dataset) -> PathBuf {
    let path = dir.join(name);
    static_h5::write(ds, &path).unwrap();
    path
}

/// Replace dataset `key` of `file` by `data`.
fn replace<T: hdf5::H5Type>(file: &hdf5::File, key: &str, data: ndarray::ArrayViewD<'_, T>) {
    file.unlink(key).unwrap();
    file.new_dataset_builder().with_data(data).create(key).unwrap();
}

#[test]
fn malformed_hdf5_recordings_are_refused_by_file_and_key_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let run = fitted_run(dir.path());
    let cases_dir = dir.path().join("cases");
    std::fs::create_dir(&cases_dir).unwrap();
    let d = cases_dir.as_path();
    let good = dir.path().join("good.h5");
    let ds = base();
    let n = ds.n_trials();
    let responses = ds.responses.clone();

    let mut nan = ds.clone();
    nan.responses[[2, 1]] = f32::NAN;
    nan.responses[[5, 0]] = f32::INFINITY;
    let mut clash = ds.clone();
    // Two train trials of different images under one id: extract would average them as repeats.
    clash.image_ids[1] = clash.image_ids[0];
    let mut negative = ds.clone();
    negative.responses.mapv_inplace(|r| r - 1.0);
    let mut no_repeats = ds.clone();
    for (id, new) in no_repeats.image_ids.iter_mut().zip(1_000..) {
        *id = new;
    }
    let mut no_units = ds.clone();
    no_units.responses = Array2::zeros((n, 0));
    no_units.units = neurozoo_datasets::Units::numbered(0);
    no_units.ground_truth = None;

    let cases = vec![
        Case { path: written_h5(d, "nan_responses.h5", &nan), expect: Expect::Error(Some("responses")) },
        Case { path: written_h5(d, "id_clash.h5", &clash), expect: Expect::Error(Some("frame_image_id")) },
        Case { path: written_h5(d, "zero_units.h5", &no_units), expect: Expect::Error(Some("responses")) },
        Case {
            path: edited_h5(d, &good, "dim_mismatch.h5", |f| replace(f, "responses", responses.slice(s![..n - 1, ..]).into_dyn())),
            expect: Expect::Error(Some("responses")),
        },
        Case {
            path: edited_h5(d, &good, "missing_responses.h5", |f| f.unlink("responses").unwrap()),
            expect: Expect::Error(Some("responses")),
        },
        Case {
            path: edited_h5(d, &good, "string_responses.h5", |f| {
                let text = responses.mapv(|r| hdf5::types::FixedAscii::<10>::from_ascii(format!("{r:.3}").as_bytes()).unwrap());
                replace(f, "responses", text.view().into_dyn())
            }),
            expect: Expect::Error(Some("responses")),
        },
        Case {
            path: edited_h5(d, &good, "unknown_tier.h5", |f| {
                let mut tiers: Vec<_> = ds.tiers.iter().map(|t| hdf5::types::FixedAscii::<10>::from_ascii(t.as_str()).unwrap()).collect();
                tiers[3] = hdf5::types::FixedAscii::from_ascii("holdout").unwrap();
                replace(f, "tiers", ndarray::Array1::from(tiers).view().into_dyn())
            }),
            expect: Expect::Error(Some("tiers")),
        },
        Case { path: edited_h5(d, &good, "no_tiers.h5", |f| f.unlink("tiers").unwrap()), expect: Expect::Error(Some("tiers")) },
        Case {
            path: edited_h5(d, &good, "wrong_rank.h5", |f| {
                replace(f, "images", Array2::<u8>::zeros((n, 256)).view().into_dyn());
            }),
            expect: Expect::Error(Some("images")),
        },
        Case {
            path: edited_h5(d, &good, "no_trials.h5", |f| {
                replace(f, "images", ndarray::Array4::<u8>::zeros((0, 1, 16, 16)).view().into_dyn());
                replace(f, "responses", Array2::<f32>::zeros((0, 6)).view().into_dyn());
            }),
            expect: Expect::Error(Some("images")),
        },
        Case {
            // 1 kB on disk, 24 TiB declared: refused before anything is allocated.
            path: edited_h5(d, &good, "huge_shape.h5", |f| {
                f.unlink("responses").unwrap();
                f.new_dataset::<f32>().chunk((1024, 6)).shape((1usize << 40, 6)).create("responses").unwrap();
            }),
            expect: Expect::Error(Some("GiB")),
        },
        Case {
            path: {
                let p = d.join("truncated.h5");
                let bytes = std::fs::read(&good).unwrap();
                std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
                p
            },
            expect: Expect::Error(None),
        },
        Case {
            path: {
                let p = d.join("not_hdf5.h5");
                std::fs::write(&p, "trial,response\n0,1.5\n").unwrap();
                p
            },
            expect: Expect::Error(None),
        },
        Case { path: written_h5(d, "no_repeats.h5", &no_repeats), expect: Expect::Warning("frame_image_id") },
        Case { path: written_h5(d, "negative.h5", &negative), expect: Expect::Warning("negative values") },
    ];
    check(&cases, &run, dir.path());

    // Negative responses are usable data, but not for a Poisson loss: fit refuses them.
    let out = fit_command(&cases_dir.join("negative.h5"), &dir.path().join("negative-run")).output().unwrap();
    let text = said(&out);
    assert!(out.status.code() == Some(1) && text.contains("negative.h5") && text.contains("negative values in the train tier"), "{text}");
    assert!(!dir.path().join("negative-run").exists());
}

#[test]
fn malformed_file_trees_zips_and_nwb_are_refused_by_file_and_key_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let run = fitted_run(dir.path());
    let ds = base();
    let cases_dir = dir.path().join("cases");
    std::fs::create_dir(&cases_dir).unwrap();
    let tree = |name: &str, edit: &dyn Fn(&Path)| {
        let root = cases_dir.join(name);
        file_tree::write(&ds, &root).unwrap();
        edit(&root);
        root
    };
    let (units, [c, h, w]) = (ds.n_units(), ds.image_shape());
    let cases = vec![
        Case {
            path: tree("missing_trial", &|r| std::fs::remove_file(r.join("data/responses/7.npy")).unwrap()),
            expect: Expect::Error(Some("data/responses/7.npy")),
        },
        Case {
            path: tree("trial_shape", &|r| {
                std::fs::write(r.join("data/images/3.npy"), npy::write(&[c, h, w - 1], NpyOut::U8(&vec![0; c * h * (w - 1)]))).unwrap()
            }),
            expect: Expect::Error(Some("data/images/3.npy")),
        },
        Case {
            path: tree("trial_dtype", &|r| {
                std::fs::write(r.join("data/responses/5.npy"), npy::write(&[units], NpyOut::F64(&vec![1.0; units]))).unwrap()
            }),
            expect: Expect::Error(Some("data/responses/5.npy")),
        },
        Case {
            path: tree("tiers_length", &|r| {
                let tiers = vec!["train".to_string(); ds.n_trials() - 1];
                std::fs::write(r.join("meta/trials/tiers.npy"), npy::write(&[tiers.len()], NpyOut::Str(&tiers))).unwrap()
            }),
            expect: Expect::Error(Some("meta/trials/tiers.npy")),
        },
        Case {
            path: tree("truncated_npy", &|r| {
                let p = r.join("data/responses/2.npy");
                let bytes = std::fs::read(&p).unwrap();
                std::fs::write(&p, &bytes[..bytes.len() - 5]).unwrap()
            }),
            expect: Expect::Error(Some("data/responses/2.npy")),
        },
        Case {
            path: tree("huge_npy", &|r| {
                // A header that declares 2⁴⁰ trials of responses over a file of a few bytes; the
                // longer shape takes the place of padding, so the header keeps its length.
                let p = r.join("data/responses/4.npy");
                let mut bytes = std::fs::read(&p).unwrap();
                let (from, to) = (format!("({units},)"), format!("({},)", 1u64 << 40));
                let at = bytes.windows(from.len()).position(|w| w == from.as_bytes()).unwrap();
                let newline = bytes.iter().position(|&b| b == b'\n').unwrap();
                bytes.drain(newline - (to.len() - from.len())..newline);
                bytes.splice(at..at + from.len(), to.bytes());
                std::fs::write(&p, bytes).unwrap()
            }),
            expect: Expect::Error(Some("data/responses/4.npy")),
        },
        Case {
            path: {
                let p = cases_dir.join("truncated.zip");
                let bytes = std::fs::read(fixture("static_small_tree.zip")).unwrap();
                std::fs::write(&p, &bytes[..bytes.len() * 2 / 3]).unwrap();
                p
            },
            expect: Expect::Error(Some("zip")),
        },
        Case {
            path: {
                let p = cases_dir.join("not_a.zip");
                std::fs::write(&p, "PK but not really").unwrap();
                p
            },
            expect: Expect::Error(Some("zip")),
        },
        Case {
            path: {
                let p = cases_dir.join("no_presentations.nwb");
                std::fs::copy(fixture("ophys_small.nwb"), &p).unwrap();
                let f = hdf5::File::open_rw(&p).unwrap();
                // Neither the IndexSeries nor the intervals table it would fall back on.
                f.unlink("stimulus/presentation/natural_images").unwrap();
                f.unlink("intervals/stimulus_table").unwrap();
                f.close().unwrap();
                p
            },
            expect: Expect::Error(Some("presentation")),
        },
    ];
    check(&cases, &run, dir.path());
}

/// Every good layout answers every command: static HDF5 (uint8 and float images), the file tree
/// as a directory and as deflated and stored zips, and NWB. Reports are text or one JSON object.
#[test]
fn every_layout_answers_every_command_as_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    for (i, name) in [
        "static_small.h5",
        "static_float.h5",
        "static_small_tree",
        "static_small_tree.zip",
        "static_small_tree_stored.zip",
        "ophys_small.nwb",
    ]
    .into_iter()
    .enumerate()
    {
        let data = fixture(name);
        let before = snapshot(&data);
        let out = dir.path().join(format!("out-{i}"));
        std::fs::create_dir(&out).unwrap();
        let run = out.join("run");
        for (what, mut cmd) in commands(&data, &run, &out) {
            let what = format!("{name}: {what}");
            let o = cmd.output().unwrap();
            let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
            assert!(o.status.success() && !stderr.contains("panicked"), "{what}:\n{stderr}");
            if what.contains("json true") {
                assert!(serde_json::from_str::<serde_json::Value>(&stdout).is_ok_and(|v| v.is_object()), "{what}: {stdout}");
            } else {
                assert!(!(stdout.trim().is_empty() && stderr.trim().is_empty()), "{what}: said nothing");
            }
        }
        assert!(run.join("model.safetensors").exists(), "{name}: no model");
        for file in ["recorded.h5", "model.h5"] {
            let reps = neurozoo_datasets::representation::RepresentationFile::read(&out.join(file)).unwrap();
            assert!(reps.representations.iter().all(|r| r.data.nrows() > 0), "{name}: {file} is empty");
        }
        assert!(snapshot(&data) == before, "{name}: the input changed");
    }
}
