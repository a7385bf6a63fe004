//! Small HDF5 helpers shared by the readers.

use hdf5::types::{FixedAscii, TypeDescriptor, VarLenAscii, VarLenUnicode};

/// Longest fixed-length string read; HDF5 pads shorter stored strings with NULs on conversion.
const MAX_FIXED: usize = 256;

/// A 1-D dataset of fixed- or variable-length, ASCII or UTF-8 strings, trailing NULs and
/// spaces removed (numpy's `S` dtype pads with NULs).
pub(crate) fn strings(ds: &hdf5::Dataset) -> Result<Vec<String>, String> {
    if ds.ndim() != 1 {
        return Err(format!("must be 1-D, found shape {:?}", ds.shape()));
    }
    let desc = ds.dtype().and_then(|t| t.to_descriptor()).map_err(|e| format!("has an unsupported element type ({e})"))?;
    let read_err = |e: hdf5::Error| format!("cannot read strings ({e})");
    let strings: Vec<String> = match desc {
        TypeDescriptor::FixedAscii(n) | TypeDescriptor::FixedUnicode(n) if n <= MAX_FIXED => ds
            .read_raw::<FixedAscii<MAX_FIXED>>()
            .map_err(read_err)?
            .iter()
            .map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned())
            .collect(),
        TypeDescriptor::VarLenAscii => ds.read_raw::<VarLenAscii>().map_err(read_err)?.iter().map(|s| s.as_str().to_string()).collect(),
        TypeDescriptor::VarLenUnicode => ds.read_raw::<VarLenUnicode>().map_err(read_err)?.iter().map(|s| s.as_str().to_string()).collect(),
        other => return Err(format!("holds {} values; expected strings", describe(&other))),
    };
    Ok(strings.into_iter().map(|s| s.trim_end_matches(['\0', ' ']).to_string()).collect())
}

/// A scalar string attribute of any string type, `None` when absent or not a string.
pub(crate) fn string_attr(loc: &hdf5::Location, name: &str) -> Option<String> {
    let attr = loc.attr(name).ok()?;
    let s = match attr.dtype().ok()?.to_descriptor().ok()? {
        TypeDescriptor::VarLenUnicode => attr.read_scalar::<VarLenUnicode>().ok()?.as_str().to_string(),
        TypeDescriptor::VarLenAscii => attr.read_scalar::<VarLenAscii>().ok()?.as_str().to_string(),
        TypeDescriptor::FixedAscii(n) | TypeDescriptor::FixedUnicode(n) if n <= MAX_FIXED => {
            String::from_utf8_lossy(attr.read_scalar::<FixedAscii<MAX_FIXED>>().ok()?.as_bytes()).into_owned()
        }
        _ => return None,
    };
    Some(s.trim_end_matches('\0').to_string())
}

/// numpy-style names for element types, for messages and `data inspect`.
pub fn describe(desc: &TypeDescriptor) -> String {
    use hdf5::types::{FloatSize, IntSize};
    let bits = |s: &IntSize| (*s as usize) * 8;
    match desc {
        TypeDescriptor::Integer(s) => format!("int{}", bits(s)),
        TypeDescriptor::Unsigned(s) => format!("uint{}", bits(s)),
        TypeDescriptor::Float(FloatSize::U4) => "float32".into(),
        TypeDescriptor::Float(FloatSize::U8) => "float64".into(),
        TypeDescriptor::Boolean => "bool".into(),
        TypeDescriptor::FixedAscii(n) | TypeDescriptor::FixedUnicode(n) => format!("string (fixed length {n})"),
        TypeDescriptor::VarLenAscii | TypeDescriptor::VarLenUnicode => "string (variable length)".into(),
        other => format!("{other}"),
    }
}

/// Open `path` as HDF5, read-only; an error names the file.
pub(crate) fn open(path: &std::path::Path) -> crate::error::Result<hdf5::File> {
    hdf5::File::open(path).map_err(|reason| crate::error::DatasetError::Open { file: path.into(), reason })
}

/// Write an HDF5 file through a temporary name beside it, so `path` is complete or absent; the
/// temporary is removed when writing fails.
pub(crate) fn write_atomic(path: &std::path::Path, write: impl FnOnce(&std::path::Path) -> hdf5::Result<()>) -> crate::error::Result<()> {
    neurozoo_util::files::write_atomic_with(path, write)
        .map_err(|e| crate::error::DatasetError::file(path, format!("cannot write ({})", e.message)))
}
