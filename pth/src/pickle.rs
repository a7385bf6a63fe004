//! The pickle subset of `torch.load(weights_only=True)`, interpreted without calling anything.
//!
//! The opcodes are those of torch's `_weights_only_unpickler` (protocol 2, which `torch.save`
//! writes), plus the framing and memo opcodes of protocol 4 so that a hostile pickle written
//! with Python's default protocol still reaches its `STACK_GLOBAL` and is refused by name.

use std::cell::RefCell;
use std::rc::Rc;

use crate::{DType, Tensor};

/// A value on the pickle machine's stack.
#[derive(Debug, Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Rc<Vec<Value>>),
    /// Lists and dicts are shared: the memo holds the same object that later opcodes fill.
    List(Rc<RefCell<Vec<Value>>>),
    /// `dict` and `collections.OrderedDict`, in insertion order.
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    Global(Global),
    Storage(Rc<StorageRef>),
    Tensor(Rc<TensorRef>),
}

impl Value {
    /// What kind of value this is, for errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "a bool",
            Value::Int(_) => "an int",
            Value::Float(_) => "a float",
            Value::Str(_) => "a str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "a tuple",
            Value::List(_) => "a list",
            Value::Dict(_) => "a dict",
            Value::Global(_) => "a global",
            Value::Storage(_) => "a storage",
            Value::Tensor(_) => "a tensor",
        }
    }

    /// A short rendering of a dict key, for errors.
    pub fn describe(&self) -> String {
        match self {
            Value::Str(s) => format!("{s:?}"),
            Value::Int(i) => i.to_string(),
            other => other.kind().to_string(),
        }
    }
}

/// The globals this reader interprets; every other is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Global {
    OrderedDict,
    RebuildTensorV2,
    RebuildParameter,
    /// `torch.FloatStorage` and the like: only ever the type in a storage's persistent id.
    Storage(DType),
}

impl Global {
    fn resolve(module: &str, name: &str) -> Result<Global, Error> {
        Ok(match (module, name) {
            ("collections", "OrderedDict") => Global::OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
            ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
            ("torch", storage) if DType::of_storage(storage).is_some() => Global::Storage(DType::of_storage(storage).expect("checked")),
            _ => return Err(Error::Global(format!("{module}.{name}"))),
        })
    }
}

/// A storage named by a persistent id: `data/<key>` of the archive, `numel` elements of `dtype`.
#[derive(Debug)]
pub struct StorageRef {
    pub key: String,
    pub dtype: DType,
    pub numel: usize,
}

/// `_rebuild_tensor_v2(storage, offset, size, stride, …)`: a strided view of a storage.
#[derive(Debug)]
pub struct TensorRef {
    pub storage: Rc<StorageRef>,
    pub offset: usize,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

impl TensorRef {
    /// The view's elements, row-major, from the storage's bytes.
    pub(crate) fn materialise(&self, storage: &[u8]) -> Result<Tensor, String> {
        let s = &self.storage;
        let size = s.dtype.size();
        if storage.len() != s.numel * size {
            return Err(format!(
                "storage data/{} has {} bytes; the checkpoint says {} elements of {} ({} bytes)",
                s.key,
                storage.len(),
                s.numel,
                s.dtype.torch_name(),
                s.numel * size
            ));
        }
        let numel: usize = self.shape.iter().product();
        if numel > 0 {
            // The farthest element the view reaches must lie inside the storage.
            let last = self.offset + self.shape.iter().zip(&self.stride).map(|(n, st)| (n - 1) * st).sum::<usize>();
            if last >= s.numel {
                return Err(format!(
                    "shape {:?}, stride {:?} and offset {} reach element {last} of storage data/{}, which has {}",
                    self.shape, self.stride, self.offset, s.key, s.numel
                ));
            }
        }
        let mut out = Vec::with_capacity(numel * size);
        let mut index = vec![0usize; self.shape.len()];
        for _ in 0..numel {
            let at = self.offset + index.iter().zip(&self.stride).map(|(i, st)| i * st).sum::<usize>();
            out.extend_from_slice(&storage[at * size..(at + 1) * size]);
            // Advance the row-major multi-index.
            for d in (0..index.len()).rev() {
                index[d] += 1;
                if index[d] < self.shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        Ok(Tensor { dtype: s.dtype, shape: self.shape.clone(), data: out })
    }
}

#[derive(Debug)]
pub enum Error {
    /// A GLOBAL (or STACK_GLOBAL) outside the allow-list, as `module.name`.
    Global(String),
    At {
        offset: usize,
        reason: String,
    },
}

/// Run the pickle `program` and return the object it builds.
pub fn unpickle(program: &[u8]) -> Result<Value, Error> {
    Machine { program, pos: 0, stack: Vec::new(), marks: Vec::new(), memo: Vec::new() }.run()
}

struct Machine<'a> {
    program: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: Vec<Option<Value>>,
}

impl Machine<'_> {
    fn fail<T>(&self, reason: impl Into<String>) -> Result<T, Error> {
        Err(Error::At { offset: self.pos, reason: reason.into() })
    }

    fn take(&mut self, n: usize) -> Result<&[u8], Error> {
        if self.program.len() - self.pos < n {
            return self.fail("the pickle ends early (truncated)");
        }
        self.pos += n;
        Ok(&self.program[self.pos - n..self.pos])
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn line(&mut self) -> Result<String, Error> {
        let rest = &self.program[self.pos..];
        let Some(end) = rest.iter().position(|&b| b == b'\n') else { return self.fail("a GLOBAL's name has no end of line") };
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.pos += end + 1;
        Ok(s)
    }

    fn text(&mut self, n: usize) -> Result<String, Error> {
        let bytes = self.take(n)?.to_vec();
        String::from_utf8(bytes).or_else(|_| self.fail("a string is not UTF-8"))
    }

    fn pop(&mut self) -> Result<Value, Error> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return self.fail("an opcode reads past a MARK");
        }
        match self.stack.pop() {
            Some(v) => Ok(v),
            None => self.fail("the stack is empty"),
        }
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, Error> {
        let Some(m) = self.marks.pop() else { return self.fail("no MARK to pop to") };
        Ok(self.stack.split_off(m))
    }

    fn top(&self) -> Result<&Value, Error> {
        match self.stack.last() {
            Some(v) => Ok(v),
            None => self.fail("the stack is empty"),
        }
    }

    fn put(&mut self, i: usize) -> Result<(), Error> {
        let v = self.top()?.clone();
        if i >= self.memo.len() {
            // Guard against a hostile index asking for a huge memo.
            if i > self.program.len() {
                return self.fail(format!("memo index {i} is larger than the pickle"));
            }
            self.memo.resize(i + 1, None);
        }
        self.memo[i] = Some(v);
        Ok(())
    }

    fn get(&mut self, i: usize) -> Result<(), Error> {
        match self.memo.get(i).cloned().flatten() {
            Some(v) => {
                self.stack.push(v);
                Ok(())
            }
            None => self.fail(format!("memo {i} was never stored")),
        }
    }

    fn global(&mut self, module: &str, name: &str) -> Result<(), Error> {
        let g = Global::resolve(module, name)?;
        self.stack.push(Value::Global(g));
        Ok(())
    }

    fn run(mut self) -> Result<Value, Error> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    // PROTO: any version; unknown opcodes are refused one by one.
                    self.u8()?;
                }
                0x95 => {
                    // FRAME: a length hint.
                    self.take(8)?;
                }
                b'.' => return self.pop(),
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(&module, &name)?;
                }
                0x93 => {
                    // STACK_GLOBAL
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => self.global(&m, &n)?,
                        _ => return self.fail("STACK_GLOBAL without two strings"),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let v = self.reduce(func, args)?;
                    self.stack.push(v);
                }
                b'b' => {
                    // BUILD: only the attributes of a state_dict (`_metadata`), which are dropped.
                    let state = self.pop()?;
                    match (self.top()?, &state) {
                        (Value::Dict(_), Value::Dict(_) | Value::None) => {}
                        (inst, _) => return self.fail(format!("BUILD on {} is not read", inst.kind())),
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent(pid)?;
                    self.stack.push(v);
                }
                b'(' => self.marks.push(self.stack.len()),
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(Rc::new(items)));
                }
                b')' => self.stack.push(Value::Tuple(Rc::new(Vec::new()))),
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = (0..n).map(|_| self.pop()).collect::<Result<Vec<_>, _>>()?;
                    items.reverse();
                    self.stack.push(Value::Tuple(Rc::new(items)));
                }
                b']' => self.stack.push(Value::List(Rc::new(RefCell::new(Vec::new())))),
                b'a' => {
                    let item = self.pop()?;
                    match self.top()? {
                        Value::List(l) => l.borrow_mut().push(item),
                        other => return self.fail(format!("APPEND to {}", other.kind())),
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    match self.top()? {
                        Value::List(l) => l.borrow_mut().extend(items),
                        other => return self.fail(format!("APPENDS to {}", other.kind())),
                    }
                }
                b'}' => self.stack.push(Value::Dict(Rc::new(RefCell::new(Vec::new())))),
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'J' => {
                    let v = i32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"));
                    self.stack.push(Value::Int(v.into()));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(Value::Int(v.into()));
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes"));
                    self.stack.push(Value::Int(v.into()));
                }
                0x8a => {
                    // LONG1: little-endian two's complement of up to 8 bytes.
                    let n = usize::from(self.u8()?);
                    if n > 8 {
                        return self.fail(format!("an integer of {n} bytes"));
                    }
                    let bytes = self.take(n)?;
                    let fill = if bytes.last().is_some_and(|b| b & 0x80 != 0) { 0xff } else { 0 };
                    let mut full = [fill; 8];
                    full[..n].copy_from_slice(bytes);
                    self.stack.push(Value::Int(i64::from_le_bytes(full)));
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes"));
                    self.stack.push(Value::Float(v));
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = self.text(n)?;
                    self.stack.push(Value::Str(s));
                }
                0x8c => {
                    let n = usize::from(self.u8()?);
                    let s = self.text(n)?;
                    self.stack.push(Value::Str(s));
                }
                b'U' => {
                    // SHORT_BINSTRING: Python 2 str, decoded as torch.load's default ASCII.
                    let n = usize::from(self.u8()?);
                    let s = self.text(n)?;
                    self.stack.push(Value::Str(s));
                }
                b'C' => {
                    let n = usize::from(self.u8()?);
                    let b = self.take(n)?.to_vec();
                    self.stack.push(Value::Bytes(b));
                }
                b'B' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?.to_vec();
                    self.stack.push(Value::Bytes(b));
                }
                b'h' => {
                    let i = usize::from(self.u8()?);
                    self.get(i)?;
                }
                b'j' => {
                    let i = self.u32()? as usize;
                    self.get(i)?;
                }
                b'q' => {
                    let i = usize::from(self.u8()?);
                    self.put(i)?;
                }
                b'r' => {
                    let i = self.u32()? as usize;
                    self.put(i)?;
                }
                0x94 => {
                    // MEMOIZE
                    let i = self.memo.len();
                    self.put(i)?;
                }
                other => {
                    self.pos -= 1;
                    return self.fail(format!("opcode 0x{other:02x} is not read (torch.load(weights_only=True) refuses it too)"));
                }
            }
        }
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<(), Error> {
        if !items.len().is_multiple_of(2) {
            return self.fail("SETITEMS with an odd number of items");
        }
        let Value::Dict(d) = self.top()? else { return self.fail(format!("SETITEM on {}", self.top()?.kind())) };
        let mut d = d.borrow_mut();
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            // A repeated key replaces the value in place, as a Python dict does.
            let same = |a: &Value| {
                matches!((a, &k), (Value::Str(x), Value::Str(y)) if x == y) || matches!((a, &k), (Value::Int(x), Value::Int(y)) if x == y)
            };
            match d.iter_mut().find(|(a, _)| same(a)) {
                Some(slot) => slot.1 = v,
                None => d.push((k, v)),
            }
        }
        Ok(())
    }

    fn reduce(&self, func: Value, args: Value) -> Result<Value, Error> {
        let Value::Global(g) = func else { return self.fail(format!("REDUCE calls {}, not an allowed global", func.kind())) };
        let Value::Tuple(args) = args else { return self.fail("REDUCE's arguments are not a tuple") };
        match g {
            Global::OrderedDict => match args.as_slice() {
                [] => Ok(Value::Dict(Rc::new(RefCell::new(Vec::new())))),
                _ => self.fail("collections.OrderedDict with arguments is not read"),
            },
            Global::RebuildParameter => match args.as_slice() {
                [t @ Value::Tensor(_), ..] => Ok(t.clone()),
                _ => self.fail("torch._utils._rebuild_parameter without a tensor"),
            },
            Global::RebuildTensorV2 => {
                let [Value::Storage(storage), Value::Int(offset), Value::Tuple(size), Value::Tuple(stride), ..] = args.as_slice() else {
                    return self.fail("torch._utils._rebuild_tensor_v2 wants (storage, offset, size, stride, …)");
                };
                let dims = |t: &[Value], what: &str| {
                    t.iter()
                        .map(|v| match v {
                            Value::Int(i) if *i >= 0 => Ok(*i as usize),
                            _ => Err(Error::At { offset: self.pos, reason: format!("a tensor's {what} holds {}", v.describe()) }),
                        })
                        .collect::<Result<Vec<usize>, Error>>()
                };
                let (shape, stride) = (dims(size, "size")?, dims(stride, "stride")?);
                if shape.len() != stride.len() || *offset < 0 {
                    return self.fail(format!("a tensor of size {shape:?}, stride {stride:?}, offset {offset}"));
                }
                Ok(Value::Tensor(Rc::new(TensorRef { storage: storage.clone(), offset: *offset as usize, shape, stride })))
            }
            Global::Storage(dt) => self.fail(format!("{} is a storage type, not a function", dt.torch_name())),
        }
    }

    /// `('storage', torch.<T>Storage, key, location, numel)`: the only persistent id torch writes.
    fn persistent(&self, pid: Value) -> Result<Value, Error> {
        let Value::Tuple(t) = &pid else { return self.fail(format!("a persistent id is {}, not a tuple", pid.kind())) };
        match t.as_slice() {
            [Value::Str(tag), Value::Global(Global::Storage(dtype)), Value::Str(key), Value::Str(_location), Value::Int(numel)]
                if tag == "storage" && *numel >= 0 =>
            {
                if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return self.fail(format!("storage key {key:?} is not a plain name"));
                }
                Ok(Value::Storage(Rc::new(StorageRef { key: key.clone(), dtype: *dtype, numel: *numel as usize })))
            }
            _ => self.fail("a persistent id other than ('storage', torch.<T>Storage, key, location, numel)"),
        }
    }
}
