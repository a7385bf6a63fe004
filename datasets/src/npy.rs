//! NumPy's `.npy` format (versions 1, 2 and 3), read from bytes and written back.
//!
//! A file tree holds one `.npy` per trial and per metadata key, written by `np.save`: numbers
//! (`|u1`, `<i8`, `<f4`, ...), booleans and fixed-width strings (`<U`, `|S`). Python objects
//! (`|O`, pickled) are refused, never unpickled. The header is checked against the byte count
//! before anything is allocated, so a truncated file or a header declaring a huge shape is an
//! error, not an abort.

use std::fmt;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Elements of a `.npy` array in C order, widened to the few types neurozoo works in.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    U8(Vec<u8>),
    /// Every other integer type (and booleans as 0/1).
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Str(Vec<String>),
}

/// A parsed `.npy` array: its shape, its stored dtype and its elements in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct Npy {
    pub shape: Vec<usize>,
    /// The stored element type, numpy-style ("uint8", "float32", "string (fixed length 10)").
    pub dtype: String,
    pub data: NpyData,
}

#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Uint,
    Float,
    Unicode,
    Bytes,
}

/// The header, checked: what the rest of the bytes must hold.
struct Header {
    kind: Kind,
    size: usize,
    big_endian: bool,
    fortran: bool,
    shape: Vec<usize>,
    data_start: usize,
}

/// What is wrong with a `.npy` file, said of the file ("is truncated: …"); the caller names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NpyError(pub String);

impl From<String> for NpyError {
    fn from(problem: String) -> NpyError {
        NpyError(problem)
    }
}

impl From<&str> for NpyError {
    fn from(problem: &str) -> NpyError {
        NpyError(problem.to_string())
    }
}

impl Npy {
    /// Parse a whole `.npy` file; the error says what is wrong, the caller names the file.
    pub fn parse(bytes: &[u8]) -> Result<Npy, NpyError> {
        let h = header(bytes)?;
        let count = h.shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or("its shape overflows")?;
        let need = count.checked_mul(h.size).ok_or("its shape overflows")?;
        let body = &bytes[h.data_start..];
        if body.len() < need {
            return Err(format!(
                "is truncated: its header declares shape {:?} ({need} bytes of data) but {} bytes follow",
                h.shape,
                body.len()
            )
            .into());
        }
        let body = &body[..need];
        let chunks = || body.chunks_exact(h.size.max(1));
        macro_rules! numbers {
            ($t:ty, $n:literal) => {
                chunks()
                    .map(|c| {
                        let a: [u8; $n] = c.try_into().expect("chunk of the element size");
                        if h.big_endian {
                            <$t>::from_be_bytes(a)
                        } else {
                            <$t>::from_le_bytes(a)
                        }
                    })
                    .collect::<Vec<$t>>()
            };
        }
        let (data, dtype) = match (h.kind, h.size) {
            (Kind::Uint, 1) => (NpyData::U8(body.to_vec()), "uint8".to_string()),
            (Kind::Bool, 1) => (NpyData::I64(body.iter().map(|&b| i64::from(b != 0)).collect()), "bool".into()),
            (Kind::Int, 1) => (NpyData::I64(body.iter().map(|&b| i64::from(b as i8)).collect()), "int8".into()),
            (Kind::Int, 2) => (NpyData::I64(numbers!(i16, 2).into_iter().map(i64::from).collect()), "int16".into()),
            (Kind::Int, 4) => (NpyData::I64(numbers!(i32, 4).into_iter().map(i64::from).collect()), "int32".into()),
            (Kind::Int, 8) => (NpyData::I64(numbers!(i64, 8)), "int64".into()),
            (Kind::Uint, 2) => (NpyData::I64(numbers!(u16, 2).into_iter().map(i64::from).collect()), "uint16".into()),
            (Kind::Uint, 4) => (NpyData::I64(numbers!(u32, 4).into_iter().map(i64::from).collect()), "uint32".into()),
            (Kind::Uint, 8) => {
                let v = numbers!(u64, 8).into_iter().map(i64::try_from).collect::<Result<Vec<_>, _>>();
                (NpyData::I64(v.map_err(|_| "holds a uint64 value above 2^63".to_string())?), "uint64".into())
            }
            (Kind::Float, 4) => (NpyData::F32(numbers!(f32, 4)), "float32".into()),
            (Kind::Float, 8) => (NpyData::F64(numbers!(f64, 8)), "float64".into()),
            (Kind::Unicode, n) => {
                let chars = n / 4;
                let strings = chunks().map(|c| utf32(c, h.big_endian)).collect::<Result<Vec<_>, _>>()?;
                (NpyData::Str(strings), format!("string (fixed length {chars})"))
            }
            (Kind::Bytes, n) => {
                let strings = chunks()
                    .map(|c| {
                        let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
                        String::from_utf8(c[..end].to_vec()).map_err(|_| "holds bytes that are not UTF-8 text".to_string())
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                (NpyData::Str(strings), format!("string (fixed length {n})"))
            }
            (_, n) => return Err(format!("has an unsupported element type ({n}-byte elements of this kind)").into()),
        };
        let mut npy = Npy { shape: h.shape, dtype, data };
        if h.fortran && npy.shape.len() > 1 {
            npy.reorder_to_c();
        }
        Ok(npy)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as f32 (numbers only).
    pub fn into_f32(self) -> Result<Vec<f32>, NpyError> {
        match self.data {
            NpyData::U8(v) => Ok(v.into_iter().map(f32::from).collect()),
            NpyData::I64(v) => Ok(v.into_iter().map(|x| x as f32).collect()),
            NpyData::F32(v) => Ok(v),
            NpyData::F64(v) => Ok(v.into_iter().map(|x| x as f32).collect()),
            NpyData::Str(_) => Err(format!("holds {} values; expected numbers", self.dtype).into()),
        }
    }

    /// The elements as f64 (numbers only).
    pub fn into_f64(self) -> Result<Vec<f64>, NpyError> {
        match self.data {
            NpyData::F64(v) => Ok(v),
            other => Npy { data: other, ..self }.into_f32().map(|v| v.into_iter().map(f64::from).collect()),
        }
    }

    /// The elements as integers; floats are accepted when every value is a whole number (ids
    /// saved through a float array), otherwise refused.
    pub fn into_i64(self) -> Result<Vec<i64>, NpyError> {
        let whole = |x: f64| (x.fract() == 0.0 && x.abs() < 9.0e15).then_some(x as i64);
        match self.data {
            NpyData::U8(v) => Ok(v.into_iter().map(i64::from).collect()),
            NpyData::I64(v) => Ok(v),
            NpyData::F32(v) => v
                .iter()
                .map(|&x| whole(f64::from(x)))
                .collect::<Option<_>>()
                .ok_or_else(|| "holds fractional values; expected integers".into()),
            NpyData::F64(v) => {
                v.iter().map(|&x| whole(x)).collect::<Option<_>>().ok_or_else(|| "holds fractional values; expected integers".into())
            }
            NpyData::Str(_) => Err(format!("holds {} values; expected integers", self.dtype).into()),
        }
    }

    /// The elements as text (string arrays only).
    pub fn into_strings(self) -> Result<Vec<String>, NpyError> {
        match self.data {
            NpyData::Str(v) => Ok(v),
            _ => Err(format!("holds {} values; expected strings", self.dtype).into()),
        }
    }

    /// Fortran-ordered data reordered to C order (same shape).
    fn reorder_to_c(&mut self) {
        let shape = self.shape.clone();
        let n = self.len();
        // Element at C index i has Fortran index f(i): both walk the same multi-index.
        let fortran_index = |mut i: usize| {
            let mut f = 0;
            let mut stride = 1;
            let mut strides = vec![0; shape.len()];
            for (d, s) in strides.iter_mut().enumerate() {
                *s = stride;
                stride *= shape[d];
            }
            for d in (0..shape.len()).rev() {
                f += (i % shape[d]) * strides[d];
                i /= shape[d];
            }
            f
        };
        fn permute<T: Clone>(v: &[T], n: usize, f: impl Fn(usize) -> usize) -> Vec<T> {
            (0..n).map(|i| v[f(i)].clone()).collect()
        }
        self.data = match &self.data {
            NpyData::U8(v) => NpyData::U8(permute(v, n, fortran_index)),
            NpyData::I64(v) => NpyData::I64(permute(v, n, fortran_index)),
            NpyData::F32(v) => NpyData::F32(permute(v, n, fortran_index)),
            NpyData::F64(v) => NpyData::F64(permute(v, n, fortran_index)),
            NpyData::Str(v) => NpyData::Str(permute(v, n, fortran_index)),
        };
    }
}

fn utf32(c: &[u8], big_endian: bool) -> Result<String, String> {
    let mut s = String::new();
    for q in c.chunks_exact(4) {
        let a: [u8; 4] = q.try_into().expect("4 bytes");
        let code = if big_endian { u32::from_be_bytes(a) } else { u32::from_le_bytes(a) };
        if code == 0 {
            break;
        }
        s.push(char::from_u32(code).ok_or_else(|| format!("holds an invalid character (code {code:#x})"))?);
    }
    Ok(s)
}

fn header(bytes: &[u8]) -> Result<Header, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(if bytes.len() < 10 {
            "is truncated: too short for a .npy header".into()
        } else {
            "is not a .npy file (no NUMPY magic)".into()
        });
    }
    let (len, start): (usize, usize) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        2 | 3 => return Err("is truncated: too short for a .npy header".into()),
        v => return Err(format!("has .npy format version {v}, which neurozoo does not read (1, 2 or 3)")),
    };
    let end = start.checked_add(len).filter(|&e| e <= bytes.len()).ok_or("is truncated inside its .npy header")?;
    let text = std::str::from_utf8(&bytes[start..end]).map_err(|_| "has a .npy header that is not text")?;
    let field = |name: &str| -> Result<&str, String> {
        let at = text.find(&format!("'{name}'")).ok_or_else(|| format!("has a .npy header without '{name}'"))?;
        let rest = &text[at + name.len() + 2..];
        let colon = rest.find(':').ok_or_else(|| format!("has a malformed .npy header at '{name}'"))?;
        Ok(rest[colon + 1..].trim_start())
    };
    let descr = field("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .ok_or("has a structured dtype (a record array), which neurozoo does not read")?;
    let fortran = field("fortran_order")?.starts_with("True");
    let shape_text = field("shape")?;
    let shape_text = shape_text.strip_prefix('(').and_then(|s| s.split(')').next()).ok_or("has a malformed shape in its .npy header")?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>().map_err(|_| format!("has a malformed shape ({shape_text}) in its .npy header")))
        .collect::<Result<Vec<_>, _>>()?;
    let (order, rest) = descr.split_at(descr.chars().next().map_or(0, char::len_utf8));
    let (order, rest) = if matches!(order, "<" | ">" | "|" | "=") { (order, rest) } else { ("|", descr) };
    let (kind, size) = rest.split_at(1.min(rest.len()));
    let kind =
        match kind {
            "b" => Kind::Bool,
            "i" => Kind::Int,
            "u" => Kind::Uint,
            "f" => Kind::Float,
            "U" => Kind::Unicode,
            "S" | "a" => Kind::Bytes,
            "O" => return Err(
                "holds Python objects (dtype object, pickled), which neurozoo does not unpickle; save it as numbers or fixed-width strings"
                    .into(),
            ),
            _ => return Err(format!("has an unsupported dtype {descr:?}")),
        };
    let size: usize = size.parse().map_err(|_| format!("has an unsupported dtype {descr:?}"))?;
    let size = if matches!(kind, Kind::Unicode) { size * 4 } else { size };
    Ok(Header { kind, size, big_endian: order == ">", fortran, shape, data_start: end })
}

/// Array types `write` can store.
pub enum NpyOut<'a> {
    U8(&'a [u8]),
    I64(&'a [i64]),
    F32(&'a [f32]),
    F64(&'a [f64]),
    Str(&'a [String]),
}

impl fmt::Debug for NpyOut<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NpyOut")
    }
}

/// A `.npy` file (version 1.0, little endian, C order) as `np.save` writes it: strings as
/// `<U{longest}`, as numpy makes them from a list of Python strings.
pub fn write(shape: &[usize], data: NpyOut<'_>) -> Vec<u8> {
    let (descr, body): (String, Vec<u8>) = match data {
        NpyOut::U8(v) => ("|u1".into(), v.to_vec()),
        NpyOut::I64(v) => ("<i8".into(), v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        NpyOut::F32(v) => ("<f4".into(), v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        NpyOut::F64(v) => ("<f8".into(), v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        NpyOut::Str(v) => {
            let width = v.iter().map(|s| s.chars().count()).max().unwrap_or(0).max(1);
            let body = v
                .iter()
                .flat_map(|s| {
                    s.chars().map(u32::from).chain(std::iter::repeat(0)).take(width).flat_map(u32::to_le_bytes).collect::<Vec<_>>()
                })
                .collect();
            (format!("<U{width}"), body)
        }
    };
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    encode(&format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"), &body)
}

/// Magic, version 1.0, the header padded as numpy pads it, then the data.
fn encode(header: &str, body: &[u8]) -> Vec<u8> {
    let mut head = header.to_string();
    // numpy pads the header with spaces so the data starts on a 64-byte boundary, then '\n'.
    let total = (MAGIC.len() + 4 + head.len() + 1).next_multiple_of(64);
    head.push_str(&" ".repeat(total - MAGIC.len() - 4 - head.len() - 1));
    head.push('\n');
    let mut out = Vec::with_capacity(total + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(head.len() as u16).to_le_bytes());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_written_type() {
        let f = [1.5f32, -2.0, 3.25, 0.0, 7.0, 8.0];
        let back = Npy::parse(&write(&[2, 3], NpyOut::F32(&f))).unwrap();
        assert_eq!((back.shape.clone(), back.dtype.as_str()), (vec![2, 3], "float32"));
        assert_eq!(back.into_f32().unwrap(), f);
        let s = vec!["train".to_string(), "final_test".into(), "ü".into()];
        let back = Npy::parse(&write(&[3], NpyOut::Str(&s))).unwrap();
        assert_eq!(back.dtype, "string (fixed length 10)");
        assert_eq!(back.into_strings().unwrap(), s);
        let i = [5i64, -1, 1 << 40];
        assert_eq!(Npy::parse(&write(&[3], NpyOut::I64(&i))).unwrap().into_i64().unwrap(), i);
        let b = [0u8, 255, 17];
        assert_eq!(Npy::parse(&write(&[1, 3], NpyOut::U8(&b))).unwrap().data, NpyData::U8(b.to_vec()));
    }

    #[test]
    fn fortran_order_is_read_as_c_order() {
        // np.asfortranarray([[1, 2, 3], [4, 5, 6]], dtype='<i2') stores 1 4 2 5 3 6.
        let body: Vec<u8> = [1i16, 4, 2, 5, 3, 6].iter().flat_map(|x| x.to_le_bytes()).collect();
        let bytes = encode("{'descr': '<i2', 'fortran_order': True, 'shape': (2, 3), }", &body);
        assert_eq!(Npy::parse(&bytes).unwrap().into_i64().unwrap(), vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn truncated_huge_and_pickled_files_are_errors() {
        let full = write(&[4], NpyOut::F64(&[1.0; 4]));
        assert!(Npy::parse(&full[..full.len() - 3]).unwrap_err().0.contains("truncated"));
        assert!(Npy::parse(&full[..20]).unwrap_err().0.contains("truncated"));
        let huge = encode("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 80000), }", &[0; 16]);
        assert!(Npy::parse(&huge).unwrap_err().0.contains("truncated"));
        let overflow = encode("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776, 1099511627776), }", &[]);
        assert!(Npy::parse(&overflow).unwrap_err().0.contains("overflows"));
        let pickled = encode("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", &[0; 16]);
        assert!(Npy::parse(&pickled).unwrap_err().0.contains("Python objects"));
        assert!(Npy::parse(b"PK\x03\x04 not npy at all").unwrap_err().0.contains("magic"));
    }
}
