//! What `save` writes reads back whole, here and in PyTorch's `torch.load(weights_only=True)`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The project's Python with PyTorch (`make setup` makes `.venv`; CI has it).
fn python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(python.exists(), "{} is missing: run `make setup`", python.display());
    python
}

#[test]
fn every_dtype_written_reads_back_here_and_in_torch_as_the_original() {
    // small.pth: every dtype, views, offsets and shared storages; read, they are contiguous.
    let original = neurozoo_pth::load(fixture("small.pth")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.pth");
    neurozoo_pth::save(&copy, &original.tensors).unwrap();
    assert_eq!(neurozoo_pth::load(&copy).unwrap(), original);
    // The same bytes for the same tensors: nothing in the file depends on the time or a counter.
    assert_eq!(std::fs::read(&copy).unwrap(), neurozoo_pth::to_bytes(&original.tensors));

    let check = r#"
import sys, torch
a = torch.load(sys.argv[1], weights_only=True)
b = torch.load(sys.argv[2], weights_only=True)
assert type(b).__name__ == "OrderedDict", type(b)
assert list(a) == list(b), (list(a), list(b))
for k in a:
    assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
    assert torch.equal(a[k].contiguous(), b[k]), k
    assert not b[k].requires_grad, k
print(len(b), "tensors equal")
"#;
    let out = Command::new(python()).args(["-c", check]).arg(fixture("small.pth")).arg(&copy).output().unwrap();
    assert!(out.status.success(), "torch.load refused or differs:\n{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("{}", String::from_utf8_lossy(&out.stdout).trim());
}
