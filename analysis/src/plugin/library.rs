//! Library plugins: open a shared library, check its descriptor against this host's ABI
//! before calling anything, and call its `run` on borrowed views.
//!
//! Libraries are never unloaded: a plugin may leave threads or thread-locals behind, and
//! unloading code that still runs is undefined behaviour.

use std::ffi::c_void;
use std::path::Path;

use neurozoo_plugin::abi::{self, Descriptor, Str};
use serde_json::{Map, Value};

use super::outputs::Outputs;
use super::RunInput;

/// What a library's descriptor says, checked.
pub(crate) struct Loaded {
    pub name: String,
    pub version: String,
    pub description: String,
    pub schema: Map<String, Value>,
    pub accepts_non_finite: bool,
    pub descriptor: &'static Descriptor,
}

/// Read a string the plugin owns for the life of the process.
///
/// # Safety
/// The descriptor's strings are static in the (never unloaded) library.
unsafe fn static_str(s: Str, what: &str, path: &Path) -> Result<String, String> {
    unsafe { s.as_str() }.map(str::to_string).map_err(|e| format!("{}: the plugin's {what} is not UTF-8 ({e})", path.display()))
}

/// Load the library at `path` and check its descriptor.
pub(crate) fn open(path: &Path) -> Result<Loaded, String> {
    let shown = path.display();
    // SAFETY: loading runs the library's initialisers; a plugin is code the user chose to run.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| {
        format!("{shown}: cannot load ({})", std::error::Error::source(&e).map_or_else(|| e.to_string(), ToString::to_string))
    })?;
    // Never unloaded (see the module docs).
    let lib: &'static libloading::Library = Box::leak(Box::new(lib));
    // SAFETY: the symbol's type is fixed by the ABI; a library without it is refused here.
    let entry: libloading::Symbol<abi::EntryFn> =
        unsafe { lib.get(abi::ENTRY.as_bytes()) }.map_err(|_| format!("{shown}: not a neurozoo plugin (no `{}` symbol)", abi::ENTRY))?;
    // SAFETY: the entry returns a pointer to a static descriptor.
    let ptr = unsafe { entry() };
    if ptr.is_null() {
        return Err(format!("{shown}: the plugin returned no descriptor"));
    }
    // Read only the two fields whose place every ABI version keeps, then decide.
    // SAFETY: every version starts with `abi_version: u32, struct_size: usize`.
    let (version, size) = unsafe { (std::ptr::addr_of!((*ptr).abi_version).read(), std::ptr::addr_of!((*ptr).struct_size).read()) };
    if version != abi::ABI_VERSION {
        return Err(format!(
            "{shown}: built for plugin ABI version {version}, but this neurozoo speaks version {}: rebuild the plugin against this neurozoo's SDK",
            abi::ABI_VERSION
        ));
    }
    if size < abi::DESCRIPTOR_V1_SIZE {
        return Err(format!("{shown}: descriptor is {size} bytes, expected at least {}: rebuild the plugin", abi::DESCRIPTOR_V1_SIZE));
    }
    // A NULL function pointer is no valid `fn` value: look at its bits before taking a
    // reference to the descriptor.
    // SAFETY: the size check says `run` is there; read as a plain pointer.
    if unsafe { std::ptr::addr_of!((*ptr).run).cast::<*const c_void>().read() }.is_null() {
        return Err(format!("{shown}: the descriptor's run function is NULL"));
    }
    // SAFETY: version, size and `run` checked: the v1 fields have this layout, in static
    // memory; `flags` is read only when the plugin's descriptor has it.
    let descriptor: &'static Descriptor = unsafe { &*ptr };
    let flags = if size >= std::mem::size_of::<Descriptor>() { descriptor.flags } else { 0 };
    // SAFETY: static strings of the descriptor.
    let (name, version, description, schema) = unsafe {
        (
            static_str(descriptor.name, "name", path)?,
            static_str(descriptor.version, "version", path)?,
            static_str(descriptor.description, "description", path)?,
            static_str(descriptor.params_schema, "parameter schema", path)?,
        )
    };
    let schema = match serde_json::from_str::<Value>(if schema.trim().is_empty() { "{}" } else { &schema }) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err(format!("{shown}: the parameter schema is not a JSON object")),
        Err(e) => return Err(format!("{shown}: the parameter schema is not JSON ({e})")),
    };
    let accepts_non_finite = flags & abi::flags::ACCEPTS_NON_FINITE != 0;
    Ok(Loaded { name, version, description, schema, accepts_non_finite, descriptor })
}

/// Call the library's `run` on `input`, its outputs going to `outputs`; returns its status code.
pub(crate) fn run(descriptor: &'static Descriptor, input: &RunInput<'_>, outputs: &mut Outputs) -> i32 {
    let rep = input.representation.as_standard_layout();
    let rep_shape = rep.shape().to_vec();
    let stimuli = input.stimuli.as_ref().map(|s| s.as_standard_layout());
    let stim_shape = stimuli.as_ref().map(|s| s.shape().to_vec());
    let arrays: Vec<_> = input.arrays.iter().map(|(n, a)| (n.as_str(), a.as_standard_layout(), a.shape().to_vec())).collect();
    let borrow = |name: &str, data: &[f32], shape: &[usize]| abi::Array {
        name: Str::new(name),
        data: data.as_ptr(),
        shape: shape.as_ptr(),
        ndim: shape.len(),
    };
    let abi_arrays: Vec<abi::Array> = arrays.iter().map(|(n, a, s)| borrow(n, a.as_slice().expect("standard layout"), s)).collect();
    let metadata = input.metadata.to_string();
    let params = input.params.to_string();
    let abi_input = abi::Input {
        struct_size: std::mem::size_of::<abi::Input>(),
        representation: borrow("representation", rep.as_slice().expect("standard layout"), &rep_shape),
        stimuli: match (&stimuli, &stim_shape) {
            (Some(s), Some(shape)) => borrow("stimuli", s.as_slice().expect("standard layout"), shape),
            _ => abi::Array::ABSENT,
        },
        arrays: abi_arrays.as_ptr(),
        n_arrays: abi_arrays.len(),
        metadata_json: Str::new(&metadata),
        params_json: Str::new(&params),
        seed: input.seed,
    };
    let host = outputs.abi_host();
    // SAFETY: the descriptor passed the ABI checks in `open`; every pointer in `host` and
    // `abi_input` refers to data alive until the call returns.
    unsafe { (descriptor.run)(&host, &abi_input) }
}
