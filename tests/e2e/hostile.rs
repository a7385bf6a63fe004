//! Hostile input, round 2: files and settings made here (tiny, in a temporary directory) that
//! once panicked, aborted, ran without bound, replaced what they must not, or printed a number
//! that means nothing. For each: the exit code, the message, and what is (not) on disk.

use std::io::Write;
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;

use ndarray::{Array2, Array4};
use neurozoo_datasets::representation::{Representation, RepresentationFile};
use neurozoo_datasets::simulate::v1::{simulate, V1Config};
use neurozoo_datasets::{file_tree, static_h5, Dataset, Tier};

use super::plugins::{analyze, stderr, write_representation};
use super::*;

/// 6 units, 16 × 16 images, every tier, repeats: seconds to fit.
fn base() -> Dataset {
    simulate(&V1Config {
        n_units: 6,
        n_train: 30,
        n_validation: 8,
        n_test: 4,
        n_final_test: 0,
        repeats: 2,
        height: 16,
        width: 16,
        ..V1Config::default()
    })
    .unwrap()
}

pub(super) fn said(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

/// Exit 1 with `wanted` in the message and no panic.
pub(super) fn refused(out: &Output, wanted: &str) {
    let text = said(out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(wanted) && !text.contains("panicked"), "wanted {wanted:?} in: {text}");
}

/// `rows` stimuli × `units` units of distinct, varied values.
fn varied(rows: usize, units: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, units), |(i, j)| 1.0 + ((i * 7 + j * 3) % 11) as f32 + 0.1 * j as f32)
}

#[test]
fn sparse_coding_on_one_to_four_stimuli_errs_cleanly_or_runs() {
    let dir = tempfile::tempdir().unwrap();
    for n in 1..=4 {
        let repr = write_representation(&dir.path().join(format!("{n}.h5")), varied(n, 4));
        let out_dir = dir.path().join(format!("out{n}"));
        let out = analyze(&repr, "sparse-coding", &out_dir)
            .args(["--param", "device=cpu", "--param", "epochs=3", "--param", "restarts=2"])
            .output()
            .unwrap();
        if n < 3 {
            refused(&out, &format!("sparse coding needs at least 3 stimuli to learn from; the representation has {n}"));
            assert!(!out_dir.join("arrays.h5").exists());
        } else {
            // 8 atoms (twice the units) on 3 or 4 stimuli: more atoms to re-seed than samples.
            assert!(out.status.success(), "{n} stimuli: {}", said(&out));
            let arrays = neurozoo_datasets::representation::read_arrays(&out_dir.join("arrays.h5")).unwrap();
            let codes = arrays.iter().find(|(name, _)| name == "codes").unwrap();
            assert_eq!(codes.1.shape(), [n, 8]);
        }
    }
}

/// A representation file of a few kB declaring 2⁴⁰ × 8 values: `compare` and a plugin refuse
/// it by file, key and memory before allocating, and write nothing.
#[test]
fn a_huge_declared_representation_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_representation(&dir.path().join("good.h5"), varied(20, 3));
    let huge = write_representation(&dir.path().join("huge.h5"), varied(20, 3));
    let h5 = hdf5::File::open_rw(&huge).unwrap();
    h5.new_dataset::<f32>().chunk((1024, 8)).shape((1usize << 40, 8)).create("representations/huge").unwrap();
    h5.close().unwrap();
    let wanted = format!("{}: representations/huge: declares shape [1099511627776, 8], which needs 32768.0 GiB", huge.display());
    let out_dir = dir.path().join("cmp");
    refused(&neurozoo().arg("compare").arg(&huge).arg(&good).arg("--out").arg(&out_dir).output().unwrap(), &wanted);
    refused(&neurozoo().arg("compare").arg(&good).arg(&huge).arg("--out").arg(&out_dir).output().unwrap(), &wanted);
    assert!(!out_dir.exists());
    let plugin_out = dir.path().join("summary");
    refused(&analyze(&huge, "summary", &plugin_out).output().unwrap(), &wanted);
    assert!(
        !plugin_out.join("manifest.json").exists()
            || !std::fs::read_to_string(plugin_out.join("manifest.json")).unwrap().contains("complete")
    );
}

/// A plugin's histogram of 10¹² bins: the host refuses the spec, naming its field, instead of
/// aborting in its drawing code; no figure file is left.
#[test]
fn a_figure_spec_with_huge_bins_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let repr = write_representation(&dir.path().join("r.h5"), varied(5, 2));
    let out_dir = dir.path().join("out");
    let out = analyze(&repr, "testkit", &out_dir).args(["--param", "mode=huge-bins"]).output().unwrap();
    refused(&out, "figure huge: histogram spec field \"bins\" is 1000000000000: it must be a whole number from 1 to 10000");
    assert!(!out_dir.join("huge.png").exists() && !out_dir.join("huge.svg").exists());
}

/// Settings that size an allocation are checked against the memory available first, by one
/// guard that names the setting and the memory.
#[test]
fn huge_bootstrap_and_directions_are_refused_naming_setting_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_representation(&dir.path().join("a.h5"), varied(20, 3));
    let b = write_representation(&dir.path().join("b.h5"), varied(20, 2).mapv(|v| v * v));
    let out_dir = dir.path().join("cmp");
    let out = neurozoo().arg("compare").arg(&a).arg(&b).args(["--bootstrap", "1000000000000", "--out"]).arg(&out_dir).output().unwrap();
    refused(&out, "bootstrap = 1000000000000: resampling 20 stimuli that often needs 186264.5 GiB");
    assert!(said(&out).contains("GiB of memory available"), "{}", said(&out));
    assert!(!out_dir.exists());
    let sp = dir.path().join("sp");
    let out = analyze(&a, "superposition", &sp).args(["--param", "n_directions=1000000000", "--param", "device=cpu"]).output().unwrap();
    refused(&out, "n_directions = 1000000000: the directions and their projections needs");
    assert!(!sp.join("arrays.h5").exists());
}

/// Responses that never vary, the same image in every trial, and a pixel whose square
/// overflows f32 make `data validate` fail; one constant unit is a warning.
#[test]
fn validate_flags_constant_and_overflowing_data() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, edit: &dyn Fn(&mut Dataset)| {
        let mut ds = base();
        edit(&mut ds);
        let path = dir.path().join(name);
        static_h5::write(&ds, &path).unwrap();
        path
    };
    let zeros = write("zeros.h5", &|ds| ds.responses.fill(0.0));
    let same_image = write("same_image.h5", &|ds| {
        let first = ds.images.to_f32().index_axis(ndarray::Axis(0), 0).to_owned();
        let n = ds.n_trials();
        ds.images =
            Array4::from_shape_fn((n, first.shape()[0], first.shape()[1], first.shape()[2]), |(_, c, y, x)| first[[c, y, x]]).into();
    });
    let huge_pixel = write("huge_pixel.h5", &|ds| {
        let mut images = ds.images.to_f32();
        images[[3, 0, 2, 2]] = 3e38;
        ds.images = images.into();
    });
    let one_constant = write("one_constant.h5", &|ds| ds.responses.column_mut(4).fill(2.0));
    for (path, wanted) in [
        (&zeros, "responses: every response is 0: there is nothing to predict"),
        (&same_image, "trials show the same image: there is nothing to predict from"),
        (&huge_pixel, "images: 1 values too large to square and sum in f32"),
    ] {
        let before = std::fs::read(path).unwrap();
        refused(&neurozoo().args(["data", "validate"]).arg(path).output().unwrap(), wanted);
        assert_eq!(std::fs::read(path).unwrap(), before);
    }
    let out = neurozoo().args(["data", "validate"]).arg(&one_constant).output().unwrap();
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        said(&out).contains(&format!(
            "warning: {}: responses: 1 of 6 units have the same response in every trial (first: unit 4)",
            one_constant.display()
        )),
        "{}",
        said(&out)
    );
    // Refused for fitting too: nothing to fit, no run directory.
    let run_dir = dir.path().join("run");
    let out = neurozoo()
        .args(["fit", "ln", "--max-epochs", "1", "--threads", "1", "--device", "cpu", "--data"])
        .arg(&zeros)
        .arg("--out")
        .arg(&run_dir)
        .output()
        .unwrap();
    refused(&out, "every response is 0");
    assert!(!run_dir.join("model.safetensors").exists());
}

/// One file given twice, or under a second name, is one recording: `fit` and `eval` say so.
/// `eval` on data with a unit that never varies reports it undefined: counted, and left out of
/// the means (not scored 0).
#[test]
fn the_same_file_twice_is_refused_and_constant_units_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("base.h5");
    static_h5::write(&base(), &data).unwrap();
    let link = dir.path().join("link.h5");
    std::os::unix::fs::symlink(&data, &link).unwrap();
    let fit = |out: &Path, data: &[&Path]| {
        let mut cmd = neurozoo();
        cmd.args(["fit", "ln", "--max-epochs", "1", "--threads", "1", "--device", "cpu", "--out"]).arg(out);
        for d in data {
            cmd.arg("--data").arg(d);
        }
        cmd.output().unwrap()
    };
    let twice = dir.path().join("twice");
    refused(&fit(&twice, &[&data, &link]), &format!("{} and {} are the same file", data.display(), link.display()));
    assert!(!twice.exists());
    let run_dir = dir.path().join("run");
    let out = fit(&run_dir, &[&data]);
    assert!(out.status.success(), "{}", said(&out));
    refused(
        &neurozoo().arg("eval").arg(&run_dir).arg("--data").arg(&data).arg("--data").arg(&data).output().unwrap(),
        &format!("{} and {} are the same file", data.display(), data.display()),
    );

    let mut ds = base();
    ds.responses.column_mut(1).fill(3.0);
    let constant = dir.path().join("constant_unit.h5");
    static_h5::write(&ds, &constant).unwrap();
    let out = neurozoo().arg("eval").arg(&run_dir).arg("--data").arg(&constant).arg("--json").output().unwrap();
    assert!(out.status.success(), "{}", said(&out));
    let report = stdout_json(&out);
    // Unit 1, and any unit that happens not to vary in a small tier, is counted per tier.
    for tier in [Tier::Train, Tier::Validation, Tier::Test] {
        let trials = ds.tier_indices(tier);
        let expected = (0..ds.n_units()).filter(|&u| trials.iter().all(|&t| ds.responses[[t, u]] == ds.responses[[trials[0], u]])).count();
        assert!(expected >= 1);
        assert_eq!(report[tier.as_str()]["constant_units"], expected, "{tier:?}: {report}");
        let r = report[tier.as_str()]["correlation"].as_f64().unwrap();
        assert!(r.is_finite() && r != 0.0, "{tier:?}: {r}");
    }
    assert!(report["test"]["oracle_correlation"].as_f64().is_some_and(f64::is_finite), "{report}");
}

/// `compare` against a target that never varies has nothing to compare with.
#[test]
fn compare_against_a_constant_target_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_representation(&dir.path().join("a.h5"), varied(20, 3));
    let b = write_representation(&dir.path().join("b.h5"), Array2::from_elem((20, 2), 4.0));
    let out_dir = dir.path().join("cmp");
    let out = neurozoo().arg("compare").arg(&a).arg(&b).arg("--out").arg(&out_dir).output().unwrap();
    refused(&out, &format!("{}: representations/r is the same for all 20 stimuli compared: there is nothing to predict", b.display()));
    assert!(!out_dir.exists());
    // As A, a constant representation's scores are undefined: "-" in the text, not 0.000.
    let out = neurozoo().arg("compare").arg(&b).arg(&a).args(["--bootstrap", "20", "--out"]).arg(&out_dir).output().unwrap();
    assert!(out.status.success(), "{}", said(&out));
    let text = said(&out);
    assert!(text.contains("predictivity -") && text.contains("linear_cka -") && !text.contains("0.000 [0.000, 0.000]"), "{text}");
    assert!(text.contains("warning: ") && text.contains("its scores are undefined"), "{text}");
}

/// A representation file with stimuli, for interpretability.
fn with_stimuli(path: &Path, data: Array2<f32>, stimuli: Array4<f32>) -> PathBuf {
    let file = RepresentationFile {
        stimulus_ids: (0..data.nrows() as i64).collect(),
        representations: vec![Representation { name: "r".into(), data, source: "{}".into() }],
        stimuli: Some(stimuli),
        arrays: Vec::new(),
    };
    file.write(path).unwrap();
    path.to_path_buf()
}

/// `interpretability` and `superposition` on inputs with nothing to score: clear errors, not
/// a mean II near 0.5 or a median kurtosis of NaN with exit 0.
#[test]
fn interpretability_and_superposition_refuse_what_has_nothing_to_score() {
    let dir = tempfile::tempdir().unwrap();
    let n = 40;
    let images = Array4::from_shape_fn((n, 1, 8, 8), |(s, _, y, x)| ((s * 3 + y * 5 + x) % 7) as f32);
    let mut nan_images = images.clone();
    nan_images[[2, 0, 1, 1]] = f32::NAN;
    let nan = with_stimuli(&dir.path().join("nan.h5"), varied(n, 3), nan_images);
    refused(&analyze(&nan, "interpretability", &dir.path().join("i1")).output().unwrap(), "stimulus 2 holds NaN");
    let constant = with_stimuli(&dir.path().join("constant.h5"), Array2::from_elem((n, 3), 1.5), images.clone());
    refused(
        &analyze(&constant, "interpretability", &dir.path().join("i2")).output().unwrap(),
        "every unit and direction is the same for all stimuli",
    );
    refused(
        &analyze(&constant, "superposition", &dir.path().join("sp")).args(["--param", "device=cpu"]).output().unwrap(),
        "the representation is the same for all 40 stimuli: no direction varies",
    );
    // The parameter is checked before libtorch is asked anything: one sentence, no C++ frames.
    let good = with_stimuli(&dir.path().join("good.h5"), varied(n, 3), images);
    let out = analyze(&good, "interpretability", &dir.path().join("i3")).args(["--param", "embedding=torchscript"]).output().unwrap();
    refused(&out, "embedding = torchscript needs model = the path of a model saved with torch.jit.save");
    assert!(stderr(&out).len() < 600 && !stderr(&out).contains("frame #"), "{}", stderr(&out));
}

/// A zip holding two recordings' top folders is refused naming both.
#[test]
fn a_zip_with_two_top_folders_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    file_tree::write(&base(), &tree).unwrap();
    let zip_path = dir.path().join("two.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    let mut stack = vec![tree.clone()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let rel = p.strip_prefix(&tree).unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(&p).unwrap();
        for top in ["mouse_a", "mouse_b"] {
            zip.start_file(format!("{top}/{rel}"), zip::write::SimpleFileOptions::default()).unwrap();
            zip.write_all(&bytes).unwrap();
        }
    }
    zip.finish().unwrap();
    let out = neurozoo().args(["data", "validate"]).arg(&zip_path).output().unwrap();
    refused(&out, "holds two file trees, mouse_a/data/ and mouse_b/data/");
}

/// A directory where a trial file belongs is named as a directory, not as missing.
#[test]
fn a_directory_in_place_of_a_trial_file_is_named_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    file_tree::write(&base(), &tree).unwrap();
    let trial = tree.join("data/images/2.npy");
    std::fs::remove_file(&trial).unwrap();
    std::fs::create_dir(&trial).unwrap();
    refused(&neurozoo().args(["data", "validate"]).arg(&tree).output().unwrap(), "data/images/2.npy: is a directory, not a file");
}

/// `--force` replaces a regular file only: a named pipe (as a device node would be, as root)
/// stays what it was.
#[test]
fn force_never_replaces_anything_but_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let out = neurozoo().args(["data", "simulate", "v1", "--n-units", "2", "--force", "--out"]).arg(&fifo).output().unwrap();
    refused(&out, &format!("--out {} is not a regular file", fifo.display()));
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no partial file beside it");
}
