//! Reads what `torch.save` writes, safely, with no Python and no libtorch: the zip container
//! (PyTorch ≥ 1.6) and the part of the pickle protocol that `torch.load(weights_only=True)`
//! accepts, narrowed to what a `state_dict` needs.
//!
//! Pickle is a small stack machine whose `GLOBAL` and `REDUCE` instructions can name and call
//! any Python function. This reader never calls anything: it interprets four kinds of global
//! itself (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
//! `torch._utils._rebuild_parameter` and torch's typed storages such as `torch.FloatStorage`)
//! and refuses every other global by name ([`PthError::Global`]), before anything is read
//! from the storages. Tensors are materialised from their storage (`data/N` in the zip),
//! dtype, shape, stride and offset into row-major little-endian bytes, so views, offsets and
//! storages shared between tensors come out as independent contiguous arrays.
//!
//! [`save`] writes a state_dict the other way, as `torch.save` does, for
//! `torch.load(weights_only=True)`.
//!
//! ```no_run
//! let sd = neurozoo_pth::load("sensorium_sota_model.pth")?;
//! for (name, t) in &sd.tensors {
//!     println!("{name}: {:?} {:?}", t.dtype, t.shape);
//! }
//! let bias: Vec<f64> = sd.get("readout.26872-17-20.bias").unwrap().to_f64();
//! neurozoo_pth::save("copy.pth", &sd.tensors)?;
//! # Ok::<(), neurozoo_pth::PthError>(())
//! ```

mod pickle;
mod write;

use std::io::Read;
use std::path::{Path, PathBuf};

pub use pickle::Value;
pub use write::{save, to_bytes};

/// Element types of the tensors this reader materialises (torch's legacy storage names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl DType {
    /// The dtype of `torch.<name>`, where `name` is a storage type such as `FloatStorage`.
    fn of_storage(name: &str) -> Option<DType> {
        Some(match name {
            "DoubleStorage" => DType::F64,
            "FloatStorage" => DType::F32,
            "HalfStorage" => DType::F16,
            "BFloat16Storage" => DType::BF16,
            "LongStorage" => DType::I64,
            "IntStorage" => DType::I32,
            "ShortStorage" => DType::I16,
            "CharStorage" => DType::I8,
            "ByteStorage" => DType::U8,
            "BoolStorage" => DType::Bool,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 | DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    /// PyTorch's name, `torch.float32` and so on.
    pub fn torch_name(self) -> &'static str {
        match self {
            DType::F64 => "torch.float64",
            DType::F32 => "torch.float32",
            DType::F16 => "torch.float16",
            DType::BF16 => "torch.bfloat16",
            DType::I64 => "torch.int64",
            DType::I32 => "torch.int32",
            DType::I16 => "torch.int16",
            DType::I8 => "torch.int8",
            DType::U8 => "torch.uint8",
            DType::Bool => "torch.bool",
        }
    }
}

/// One tensor, contiguous: `data` holds `shape.iter().product()` elements of `dtype`, row-major,
/// little-endian.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl Tensor {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The elements as f64, exactly (every dtype read here fits, but int64 beyond ±2⁵³).
    pub fn to_f64(&self) -> Vec<f64> {
        let each = self.data.chunks_exact(self.dtype.size());
        match self.dtype {
            DType::F64 => each.map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes"))).collect(),
            DType::F32 => each.map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")).into()).collect(),
            DType::F16 => each.map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])).into()).collect(),
            // bfloat16 is the upper half of an f32.
            DType::BF16 => each.map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16).into()).collect(),
            DType::I64 => each.map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as f64).collect(),
            DType::I32 => each.map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")).into()).collect(),
            DType::I16 => each.map(|b| i16::from_le_bytes([b[0], b[1]]).into()).collect(),
            DType::I8 => each.map(|b| (b[0] as i8).into()).collect(),
            DType::U8 | DType::Bool => each.map(|b| b[0].into()).collect(),
        }
    }
}

/// IEEE half to single precision, exactly (every f16 is an f32).
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let mant = u32::from(h & 0x3ff);
    let bits = match (exp, mant) {
        (0, 0) => sign,
        // Subnormal: value = mant · 2⁻²⁴, exact in f32.
        (0, m) => {
            let v = m as f32 * 2f32.powi(-24);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// A state_dict: parameter and buffer names → tensors, in the file's order.
#[derive(Debug, Clone, PartialEq)]
pub struct StateDict {
    pub tensors: Vec<(String, Tensor)>,
    /// The key of the checkpoint's top-level dict the state_dict was found under
    /// (`model_state_dict`, `state_dict`, `model`); None when the file is the state_dict itself.
    pub nested_under: Option<String>,
}

impl StateDict {
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.iter().map(|(n, _)| n.as_str())
    }
}

/// Keys under which training scripts commonly nest the model's state_dict, in the order tried.
pub const NESTED_KEYS: [&str; 3] = ["model_state_dict", "state_dict", "model"];

#[derive(Debug, thiserror::Error)]
pub enum PthError {
    #[error("{file}: {reason}")]
    Io { file: PathBuf, reason: String },
    #[error("{file} is not a PyTorch checkpoint: {reason}")]
    NotZip { file: PathBuf, reason: String },
    #[error(
        "{file} is a legacy (PyTorch < 1.6, non-zip) checkpoint, which is not read: load it in PyTorch and \
         torch.save it again to get the zip format"
    )]
    Legacy { file: PathBuf },
    #[error("{file}: entry {entry} is missing or unreadable: {reason}")]
    Entry { file: PathBuf, entry: String, reason: String },
    #[error(
        "{file}: {entry} refers to GLOBAL {global}, which is refused (nothing was run): a checkpoint of tensors needs only \
         collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter and torch's storage types"
    )]
    Global { file: PathBuf, entry: String, global: String },
    #[error("{file}: {entry}, byte {offset}: {reason}")]
    Pickle { file: PathBuf, entry: String, offset: usize, reason: String },
    #[error("{file}: tensor {name}: {reason}")]
    Tensor { file: PathBuf, name: String, reason: String },
    #[error("{file} holds no state_dict: {reason}")]
    NoStateDict { file: PathBuf, reason: String },
}

/// Read the state_dict of the checkpoint at `path` (see [`read`]).
pub fn load(path: impl AsRef<Path>) -> Result<StateDict, PthError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| PthError::Io { file: path.into(), reason: e.to_string() })?;
    read(&bytes, path)
}

/// Read the state_dict of a checkpoint held in `bytes`; `file` names it in errors. The pickled
/// object must be a dict of tensors, or a dict holding one under one of [`NESTED_KEYS`].
pub fn read(bytes: &[u8], file: &Path) -> Result<StateDict, PthError> {
    let mut archive = open(bytes, file)?;
    let pkl = archive
        .file_names()
        .filter(|n| n.ends_with("data.pkl") && n.matches('/').count() == 1)
        .map(str::to_string)
        .next()
        .ok_or_else(|| PthError::NotZip { file: file.into(), reason: "the zip has no <archive>/data.pkl".into() })?;
    let prefix = pkl.strip_suffix("data.pkl").expect("ends with data.pkl").to_string();
    if let Ok(order) = entry(&mut archive, &format!("{prefix}byteorder"), file) {
        if order != b"little" {
            return Err(PthError::Entry {
                file: file.into(),
                entry: format!("{prefix}byteorder"),
                reason: format!("{:?}: only little-endian checkpoints are read", String::from_utf8_lossy(&order)),
            });
        }
    }
    let program = entry(&mut archive, &pkl, file)?;
    let value = pickle::unpickle(&program).map_err(|e| match e {
        pickle::Error::Global(global) => PthError::Global { file: file.into(), entry: pkl.clone(), global },
        pickle::Error::At { offset, reason } => PthError::Pickle { file: file.into(), entry: pkl.clone(), offset, reason },
    })?;
    let (dict, nested_under) = find_state_dict(&value, file)?;
    let mut storages = std::collections::HashMap::<String, Vec<u8>>::new();
    let mut tensors = Vec::with_capacity(dict.len());
    for (key, value) in dict {
        let name = match key {
            Value::Str(s) => s,
            other => return Err(PthError::NoStateDict { file: file.into(), reason: format!("a key is {}, not a name", other.kind()) }),
        };
        let Value::Tensor(t) = value else {
            return Err(PthError::Tensor { file: file.into(), name, reason: format!("is {}, not a tensor", value.kind()) });
        };
        let storage = match storages.entry(t.storage.key.clone()) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(entry(&mut archive, &format!("{prefix}data/{}", t.storage.key), file)?)
            }
        };
        let tensor = t.materialise(storage).map_err(|reason| PthError::Tensor { file: file.into(), name: name.clone(), reason })?;
        tensors.push((name, tensor));
    }
    Ok(StateDict { tensors, nested_under })
}

fn open<'a>(bytes: &'a [u8], file: &Path) -> Result<zip::ZipArchive<std::io::Cursor<&'a [u8]>>, PthError> {
    zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| {
        // torch.save's legacy format starts with a pickled magic number (LONG1 of 10 bytes).
        if bytes.starts_with(&[0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]) {
            PthError::Legacy { file: file.into() }
        } else if bytes.starts_with(b"PK\x03\x04") {
            PthError::NotZip { file: file.into(), reason: format!("a damaged or truncated zip ({e})") }
        } else {
            PthError::NotZip { file: file.into(), reason: format!("not a zip ({e})") }
        }
    })
}

fn entry(archive: &mut zip::ZipArchive<std::io::Cursor<&[u8]>>, name: &str, file: &Path) -> Result<Vec<u8>, PthError> {
    let err = |reason: String| PthError::Entry { file: file.into(), entry: name.to_string(), reason };
    let mut f = archive.by_name(name).map_err(|e| err(e.to_string()))?;
    let mut out = Vec::with_capacity(f.size() as usize);
    f.read_to_end(&mut out).map_err(|e| err(e.to_string()))?;
    Ok(out)
}

/// A pickled dict's entries, in order.
type Entries = Vec<(Value, Value)>;

/// The dict of tensors: the top-level object, or the first of [`NESTED_KEYS`] it holds.
fn find_state_dict(value: &Value, file: &Path) -> Result<(Entries, Option<String>), PthError> {
    let Value::Dict(top) = value else {
        return Err(PthError::NoStateDict { file: file.into(), reason: format!("the pickled object is {}, not a dict", value.kind()) });
    };
    let top = top.borrow();
    for key in NESTED_KEYS {
        if let Some((_, Value::Dict(inner))) = top.iter().find(|(k, _)| matches!(k, Value::Str(s) if s == key)) {
            return Ok((inner.borrow().clone(), Some(key.to_string())));
        }
    }
    if top.iter().all(|(_, v)| matches!(v, Value::Tensor(_))) {
        return Ok((top.clone(), None));
    }
    let keys: Vec<String> = top.iter().take(8).map(|(k, _)| k.describe()).collect();
    Err(PthError::NoStateDict {
        file: file.into(),
        reason: format!(
            "the top-level dict is not a dict of tensors and has none of the keys {NESTED_KEYS:?} (its keys: {})",
            keys.join(", ")
        ),
    })
}
