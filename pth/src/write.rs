//! Writes a state_dict as `torch.save` does, so that `torch.load(path, weights_only=True)`
//! reads it: a zip whose `archive/data.pkl` is a protocol 2 pickle of an `OrderedDict` of
//! `torch._utils._rebuild_tensor_v2` calls, each naming its storage by persistent id, the
//! storages' bytes in `archive/data/N`, and torch's small records (`version`, `byteorder`,
//! `.format_version`, `.storage_alignment`). Entries are stored uncompressed with their data
//! 64-byte aligned, as torch 2.x writes them (its `mmap=True` loading relies on it).
//!
//! The pickle uses only opcodes and globals this crate's reader accepts, so a written file
//! reads back to the same tensors; it has no memo (torch's own pickles memoise every object,
//! which a reader does not need) and no `serialization_id`, so the bytes depend only on the
//! tensors and their names.

use std::io::Write;

use crate::{DType, Tensor};

/// The archive's top-level folder (torch uses the file's stem; any name reads back).
const ARCHIVE: &str = "archive";

impl DType {
    /// torch's legacy storage type of this dtype, `FloatStorage` and so on.
    fn storage_name(self) -> &'static str {
        match self {
            DType::F64 => "DoubleStorage",
            DType::F32 => "FloatStorage",
            DType::F16 => "HalfStorage",
            DType::BF16 => "BFloat16Storage",
            DType::I64 => "LongStorage",
            DType::I32 => "IntStorage",
            DType::I16 => "ShortStorage",
            DType::I8 => "CharStorage",
            DType::U8 => "ByteStorage",
            DType::Bool => "BoolStorage",
        }
    }
}

/// The bytes of a `torch.save(OrderedDict(tensors))` file, each tensor with its own storage.
///
/// Panics if a tensor's `data` is not `numel × dtype size` bytes: a [`Tensor`] is contiguous by
/// contract.
pub fn to_bytes(tensors: &[(String, Tensor)]) -> Vec<u8> {
    for (name, t) in tensors {
        assert_eq!(t.data.len(), t.numel() * t.dtype.size(), "tensor {name}: data is not numel × element size bytes");
    }
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .with_alignment(64)
        .large_file(tensors.iter().any(|(_, t)| t.data.len() >= u32::MAX as usize));
    let mut put = |name: &str, bytes: &[u8]| {
        zip.start_file(format!("{ARCHIVE}/{name}"), options).expect("writing to memory");
        zip.write_all(bytes).expect("writing to memory");
    };
    put("data.pkl", &pickle(tensors));
    put(".format_version", b"1");
    put(".storage_alignment", b"64");
    put("byteorder", b"little");
    for (i, (_, t)) in tensors.iter().enumerate() {
        put(&format!("data/{i}"), &t.data);
    }
    put("version", b"3\n");
    zip.finish().expect("writing to memory").into_inner()
}

/// Write [`to_bytes`] to `path`.
pub fn save(path: impl AsRef<std::path::Path>, tensors: &[(String, Tensor)]) -> Result<(), crate::PthError> {
    let path = path.as_ref();
    std::fs::write(path, to_bytes(tensors)).map_err(|e| crate::PthError::Io { file: path.into(), reason: e.to_string() })
}

/// The pickle program: `OrderedDict()` filled by one SETITEMS of name → rebuilt tensor.
fn pickle(tensors: &[(String, Tensor)]) -> Vec<u8> {
    let mut p = Pickler(vec![0x80, 2]);
    p.global("collections", "OrderedDict");
    p.0.extend([b')', b'R', b'(']); // EMPTY_TUPLE, REDUCE, MARK
    for (i, (name, t)) in tensors.iter().enumerate() {
        p.str(name);
        p.global("torch._utils", "_rebuild_tensor_v2");
        p.0.push(b'('); // MARK: the arguments
                        // The storage's persistent id: ('storage', torch.XStorage, key, location, numel).
        p.0.push(b'(');
        p.str("storage");
        p.global("torch", t.dtype.storage_name());
        p.str(&i.to_string());
        p.str("cpu");
        p.int(t.numel());
        p.0.extend([b't', b'Q']); // TUPLE, BINPERSID
        p.int(0); // storage offset
        p.ints(&t.shape);
        p.ints(&row_major_strides(&t.shape));
        p.0.push(0x89); // NEWFALSE: requires_grad
                        // backward_hooks: an empty OrderedDict.
        p.global("collections", "OrderedDict");
        p.0.extend([b')', b'R']);
        p.0.extend([b't', b'R']); // TUPLE, REDUCE
    }
    p.0.extend([b'u', b'.']); // SETITEMS, STOP
    p.0
}

fn row_major_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    strides
}

struct Pickler(Vec<u8>);

impl Pickler {
    fn global(&mut self, module: &str, name: &str) {
        self.0.push(b'c');
        self.0.extend(format!("{module}\n{name}\n").bytes());
    }

    fn str(&mut self, s: &str) {
        self.0.push(b'X'); // BINUNICODE
        self.0.extend((s.len() as u32).to_le_bytes());
        self.0.extend(s.bytes());
    }

    fn int(&mut self, v: usize) {
        match i32::try_from(v) {
            Ok(v) => {
                self.0.push(b'J'); // BININT
                self.0.extend(v.to_le_bytes());
            }
            Err(_) => {
                // LONG1 of 8 bytes: every usize is below 2⁶³ here (tensor sizes in bytes).
                self.0.extend([0x8a, 8]);
                self.0.extend((v as i64).to_le_bytes());
            }
        }
    }

    fn ints(&mut self, vs: &[usize]) {
        self.0.push(b'(');
        for &v in vs {
            self.int(v);
        }
        self.0.push(b't');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_are_row_major() {
        assert_eq!(row_major_strides(&[2, 3, 4]), vec![12, 4, 1]);
        assert_eq!(row_major_strides(&[]), Vec::<usize>::new());
    }
}
