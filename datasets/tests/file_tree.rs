//! The neuralpredictors file tree, as neuralpredictors 0.3.0's own converter writes it from
//! `static_small.h5` (`fixtures/make_tree_fixtures.py`), read from the directory, from
//! `FileTreeDataset.zip`'s deflated archive and from a stored archive: the same `Dataset` as
//! the HDF5 file. Broken trees get an error naming the file at fault.

use std::path::{Path, PathBuf};

use neurozoo_datasets::npy::{self, NpyOut};
use neurozoo_datasets::validate::{validate, Severity};
use neurozoo_datasets::{detect_format, file_tree, load, static_h5, Format, Images};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

#[test]
fn tree_and_zips_read_as_the_hdf5_file_with_uint8_images() {
    let reference = static_h5::read(&fixture("static_small.h5")).unwrap();
    assert!(matches!(reference.images, Images::U8(_)));
    for name in ["static_small_tree", "static_small_tree.zip", "static_small_tree_stored.zip"] {
        let path = fixture(name);
        assert_eq!(detect_format(&path).unwrap(), Format::FileTree, "{name}");
        let tree = load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(matches!(tree.images, Images::U8(_)), "{name}: uint8 images were widened to {}", tree.images.dtype());
        assert_eq!(tree, reference, "{name} differs from static_small.h5");
        assert_eq!(tree.fingerprint(), reference.fingerprint());
        let v = validate(&path);
        assert!(v.is_ok() && v.count(Severity::Warning) == 0, "{name}: {v}");
    }
}

/// A writable copy of the committed tree.
fn tree_copy() -> (tempfile::TempDir, PathBuf) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("recording");
    copy(&fixture("static_small_tree"), &root);
    (dir, root)
}

/// The one error `validate` reports on a broken copy, and `load`'s message: both name the key.
fn broken(change: impl FnOnce(&Path), key: &str, says: &str) {
    let (_dir, root) = tree_copy();
    change(&root);
    let v = validate(&root);
    let errors: Vec<_> = v.issues.iter().filter(|i| i.severity == Severity::Error).collect();
    assert!(!errors.is_empty(), "no error for a tree whose {key} is broken");
    assert_eq!(errors[0].key.as_deref(), Some(key), "{v}");
    assert!(errors[0].message.contains(says), "{v}");
    let e = load(&root).unwrap_err().to_string();
    assert!(e.contains(&root.display().to_string()) && e.contains(key) && e.contains(says), "{e}");
}

#[test]
fn broken_trees_name_the_file_at_fault() {
    broken(|r| std::fs::remove_file(r.join("data/responses/7.npy")).unwrap(), "data/responses/7.npy", "missing");
    broken(
        |r| std::fs::write(r.join("data/images/3.npy"), npy::write(&[1, 9, 11], NpyOut::U8(&[0; 99]))).unwrap(),
        "data/images/3.npy",
        "shape [1, 9, 11]",
    );
    broken(
        |r| std::fs::write(r.join("data/images/5.npy"), npy::write(&[1, 9, 12], NpyOut::F32(&[0.0; 108]))).unwrap(),
        "data/images/5.npy",
        "holds float32",
    );
    broken(
        |r| {
            let tiers: Vec<String> = vec!["train".into(); 39];
            std::fs::write(r.join("meta/trials/tiers.npy"), npy::write(&[39], NpyOut::Str(&tiers))).unwrap()
        },
        "meta/trials/tiers.npy",
        "there are 40 trials",
    );
    broken(
        |r| {
            let p = r.join("data/responses/2.npy");
            let bytes = std::fs::read(&p).unwrap();
            std::fs::write(&p, &bytes[..bytes.len() - 5]).unwrap()
        },
        "data/responses/2.npy",
        "truncated",
    );
    broken(
        |r| {
            let p = r.join("data/images/12.npy");
            let mut bytes = std::fs::read(&p).unwrap();
            // Same header length: '|u1' becomes '|O1', an object array numpy would unpickle.
            let at = bytes.windows(3).position(|w| w == b"|u1").unwrap();
            bytes[at + 1] = b'O';
            std::fs::write(&p, bytes).unwrap()
        },
        "data/images/12.npy",
        "Python objects",
    );
}

#[test]
fn a_file_that_is_not_a_zip_or_a_folder_without_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("recording.zip");
    std::fs::write(&fake, b"not a zip archive").unwrap();
    let e = load(&fake).unwrap_err().to_string();
    assert!(e.contains("recording.zip") && e.contains("zip archive"), "{e}");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = file_tree::read(&empty).unwrap_err().to_string();
    assert!(e.contains("empty") && e.contains("data") && e.contains("file tree"), "{e}");
    assert!(!validate(&empty).is_ok());
}

/// A simulation written as a tree reads back as the same dataset, ground truth included, and
/// the tree validates; an existing directory is not overwritten.
#[test]
fn a_written_tree_reads_back_with_its_ground_truth() {
    use neurozoo_datasets::simulate::v1::{simulate, V1Config};
    let ds = simulate(&V1Config {
        n_units: 7,
        n_train: 30,
        n_validation: 8,
        n_test: 3,
        n_final_test: 0,
        repeats: 2,
        seed: 4,
        ..V1Config::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("sim");
    file_tree::write(&ds, &tree).unwrap();
    assert!(ds.ground_truth.is_some());
    assert_eq!(load(&tree).unwrap(), ds);
    assert!(validate(&tree).is_ok(), "{}", validate(&tree));
    let e = file_tree::write(&ds, &tree).unwrap_err().to_string();
    assert!(e.contains("already exists"), "{e}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary directory left behind");
}
