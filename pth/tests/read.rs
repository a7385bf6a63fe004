//! Reads the fixtures of `tests/fixtures/make_fixtures.py` and the real SENSORIUM 2022 checkpoint.

use std::path::{Path, PathBuf};

use neurozoo_pth::{load, DType, PthError};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Every tensor of `small.pth` as torch.load reads it (made contiguous), in the file's order,
/// from `expected.json`.
fn expected() -> Vec<(String, String, Vec<usize>, Vec<f64>)> {
    let text = std::fs::read_to_string(fixture("expected.json")).expect("expected.json");
    let list: Vec<serde_json::Value> = serde_json::from_str(&text).expect("json");
    list.into_iter()
        .map(|v| {
            let k = v["name"].as_str().expect("name").to_string();
            let dtype = v["dtype"].as_str().expect("dtype").to_string();
            let shape = v["shape"].as_array().expect("shape").iter().map(|d| d.as_u64().expect("dim") as usize).collect();
            let values = v["values"].as_array().expect("values").iter().map(|x| x.as_f64().expect("number")).collect();
            (k, dtype, shape, values)
        })
        .collect()
}

fn assert_matches_torch(sd: &neurozoo_pth::StateDict) {
    let want = expected();
    let names: Vec<&str> = sd.names().collect();
    let want_names: Vec<&str> = want.iter().map(|w| w.0.as_str()).collect();
    assert_eq!(names, want_names, "names in the file's order");
    for (name, dtype, shape, values) in &want {
        let t = sd.get(name).expect("present");
        assert_eq!(t.dtype.torch_name(), dtype, "{name}");
        assert_eq!(&t.shape, shape, "{name}");
        assert_eq!(&t.to_f64(), values, "{name}");
    }
}

#[test]
fn a_state_dict_of_every_dtype_views_offsets_and_shared_storages_reads_as_torch_does() {
    let sd = load(fixture("small.pth")).unwrap();
    assert_eq!(sd.nested_under, None);
    assert_matches_torch(&sd);
    // The views really are views in the file: the transposed and strided ones share a storage.
    assert_eq!(sd.get("transposed").unwrap().shape, vec![6, 4]);
    assert_eq!(sd.get("flag").unwrap().dtype, DType::Bool);
    assert_eq!(sd.get("scalar").unwrap().shape, Vec::<usize>::new());
}

#[test]
fn a_state_dict_nested_under_model_state_dict_is_found() {
    let sd = load(fixture("nested.pth")).unwrap();
    assert_eq!(sd.nested_under.as_deref(), Some("model_state_dict"));
    assert_matches_torch(&sd);
}

/// The marker file that the hostile fixtures' commands would create.
const MARKER: &str = "/tmp/neurozoo-pth-pwned";

fn refused_global(file: &str) -> String {
    let _ = std::fs::remove_file(MARKER);
    let err = load(fixture(file)).unwrap_err();
    assert!(!Path::new(MARKER).exists(), "{file}: something ran the pickle's command");
    let message = err.to_string();
    assert!(message.contains(file), "the error names the file: {message}");
    match err {
        PthError::Global { global, .. } => {
            assert!(message.contains(&global), "{message}");
            global
        }
        other => panic!("{file}: {other}"),
    }
}

#[test]
fn a_pickle_calling_os_system_is_refused_by_name_without_running_it() {
    assert_eq!(refused_global("os_system.pth"), "os.system");
}

#[test]
fn a_protocol_4_pickle_of_posix_system_is_refused_by_name() {
    assert_eq!(refused_global("stack_global.pth"), "posix.system");
}

#[test]
fn builtins_eval_inside_a_good_state_dict_is_refused_by_name() {
    assert_eq!(refused_global("eval_inside.pth"), "builtins.eval");
}

#[test]
fn not_a_zip_and_a_truncated_zip_are_clear_errors() {
    let err = load(fixture("not_a_zip.pth")).unwrap_err();
    assert!(matches!(err, PthError::NotZip { .. }), "{err}");
    assert!(err.to_string().contains("not_a_zip.pth") && err.to_string().contains("not a zip"), "{err}");
    let err = load(fixture("truncated.pth")).unwrap_err();
    assert!(err.to_string().contains("truncated.pth") && err.to_string().contains("truncated"), "{err}");
    let err = load(fixture("absent.pth")).unwrap_err();
    assert!(matches!(err, PthError::Io { .. }) && err.to_string().contains("absent.pth"), "{err}");
}

/// `../shared/checkpoints/` beside the repository root, where CI keeps the real checkpoint.
fn sota() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/checkpoints/sensorium_sota_model.pth");
    assert!(path.exists(), "the SENSORIUM 2022 checkpoint is missing: expected at {} (see shared/checkpoints/README.md)", path.display());
    path
}

#[test]
fn the_sensorium_2022_sota_checkpoint_reads_whole() {
    let sd = load(sota()).unwrap();
    assert_eq!(sd.tensors.len(), 39);
    let t = |n: &str| sd.get(n).unwrap_or_else(|| panic!("{n}"));
    assert_eq!(t("core.features.layer0.conv.weight").shape, vec![64, 1, 9, 9]);
    assert_eq!(t("readout.26872-17-20._features").shape, vec![1, 64, 1, 7776]);
    assert_eq!(t("core.features.layer3.norm.num_batches_tracked").dtype, DType::I64);
    // The Laplace filter is saved as an expanded (stride 0) view of a 3×3 kernel.
    let laplace = t("core._input_weights_regularizer.laplace.filter");
    assert_eq!(laplace.shape, vec![1, 1, 3, 3]);
    assert_eq!(laplace.to_f64(), vec![0.0, -1.0, 0.0, -1.0, 4.0, -1.0, 0.0, -1.0, 0.0]);
}
