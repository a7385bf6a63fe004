//! The C ABI between the host and a plugin, version [`ABI_VERSION`].
//!
//! Only these `#[repr(C)]` types cross the boundary. Everything is borrowed for the duration of
//! one call: the host owns the input arrays and strings, the plugin owns what it passes to a
//! callback, and each side copies what it keeps. A plugin exports one symbol, [`ENTRY`], an
//! `extern "C" fn() -> *const Descriptor` returning a pointer to a static descriptor.
//!
//! Compatibility rule: `abi_version` and `struct_size` come first in [`Descriptor`] and never
//! move, so a host can read them from a plugin of any version and refuse a mismatch before it
//! touches anything else. Adding fields at the end of a struct is a compatible change within a
//! version (sizes tell the reader what is there); anything else bumps the version.

use std::ffi::c_void;

/// Version of this ABI. The host refuses plugins built for another one.
pub const ABI_VERSION: u32 = 1;

/// Name of the symbol every plugin exports.
pub const ENTRY: &str = "neurozoo_plugin_entry";

/// The entry symbol's type.
pub type EntryFn = unsafe extern "C" fn() -> *const Descriptor;

/// A borrowed UTF-8 string (not NUL-terminated).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Str {
    pub ptr: *const u8,
    pub len: usize,
}

/// A borrowed, named, C-contiguous f32 array. `ndim == 0` means "absent".
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Array {
    pub name: Str,
    pub data: *const f32,
    pub shape: *const usize,
    pub ndim: usize,
}

/// What a plugin runs on.
#[repr(C)]
pub struct Input {
    pub struct_size: usize,
    /// The representation, (n_stimuli, n_units).
    pub representation: Array,
    /// The stimuli, (n_stimuli, C, H, W), or absent.
    pub stimuli: Array,
    /// Arrays from earlier plugins or the representation file, by name.
    pub arrays: *const Array,
    pub n_arrays: usize,
    /// JSON object: where the representation came from, stimulus ids, units.
    pub metadata_json: Str,
    /// JSON object: every declared parameter, validated, defaults filled in.
    pub params_json: Str,
    /// Seed for anything random the plugin does.
    pub seed: u64,
}

/// Type of a table column's values.
pub mod column_kind {
    /// `f64` values.
    pub const F64: u32 = 0;
    /// `i64` values.
    pub const I64: u32 = 1;
    /// `u8` values, 0 or 1.
    pub const BOOL: u32 = 2;
    /// [`super::Str`] values.
    pub const STR: u32 = 3;
}

/// One table column: `len` values of `kind` at `data`; `valid` is null (all valid) or `len`
/// bytes, 0 marking a null.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: Str,
    pub kind: u32,
    pub len: usize,
    pub data: *const c_void,
    pub valid: *const u8,
}

/// Log levels for [`Host::log`].
pub mod level {
    pub const INFO: u32 = 0;
    pub const WARN: u32 = 1;
}

/// Status codes: what `run` and the output callbacks return.
pub mod status {
    pub const OK: i32 = 0;
    /// The plugin reported an error through [`super::Host::fail`].
    pub const ERROR: i32 = 1;
    /// The plugin panicked; the SDK caught it and reported the message through `fail`.
    pub const PANIC: i32 = 2;
}

/// Callbacks into the host. `ctx` is the host's and goes back unchanged with every call. An
/// output callback returns [`status::OK`] or, when the host could not accept the output (bad
/// name, ragged table, disk full), an error code after having recorded why.
#[repr(C)]
pub struct Host {
    pub struct_size: usize,
    pub ctx: *mut c_void,
    pub log: unsafe extern "C" fn(ctx: *mut c_void, level: u32, message: Str),
    pub progress: unsafe extern "C" fn(ctx: *mut c_void, done: u64, total: u64),
    pub table: unsafe extern "C" fn(ctx: *mut c_void, name: Str, columns: *const Column, n_columns: usize) -> i32,
    /// A figure as a declarative JSON spec that the host draws (see the SDK's `Figure`).
    pub figure: unsafe extern "C" fn(ctx: *mut c_void, name: Str, spec_json: Str) -> i32,
    pub array: unsafe extern "C" fn(ctx: *mut c_void, array: Array) -> i32,
    /// Why the run failed; call before returning [`status::ERROR`].
    pub fail: unsafe extern "C" fn(ctx: *mut c_void, message: Str),
}

/// What the entry symbol returns: identity, parameters and the run function.
#[repr(C)]
pub struct Descriptor {
    /// Must stay the first field.
    pub abi_version: u32,
    /// `size_of::<Descriptor>()` in the plugin; must stay the second field.
    pub struct_size: usize,
    pub name: Str,
    pub version: Str,
    pub description: Str,
    /// JSON object: parameter name → `{"type": "number"|"integer"|"boolean"|"string",
    /// "default": …, "description": …, "minimum": …, "maximum": …}`.
    pub params_schema: Str,
    /// Must not be NULL: a host refuses such a descriptor when it loads the library.
    pub run: unsafe extern "C" fn(host: *const Host, input: *const Input) -> i32,
    /// [`flags`], or-ed. Added after ABI v1's first release: a descriptor that ends at `run`
    /// (`struct_size` = [`DESCRIPTOR_V1_SIZE`]) has none.
    pub flags: u64,
}

/// The size of a descriptor that ends at `run`, the smallest a host accepts.
pub const DESCRIPTOR_V1_SIZE: usize = std::mem::offset_of!(Descriptor, flags);

/// Bits of [`Descriptor::flags`].
pub mod flags {
    /// The plugin takes representations with NaN or infinite values; without it the host refuses
    /// such an input before calling `run`.
    pub const ACCEPTS_NON_FINITE: u64 = 1;
}

// SAFETY: a descriptor is immutable static data pointing at static strings.
unsafe impl Sync for Descriptor {}
// SAFETY: as above; the SDK builds it once, on whichever thread first asks for it.
unsafe impl Send for Descriptor {}

impl Str {
    /// Borrow a Rust string (it must outlive every use of the returned value).
    pub fn new(s: &str) -> Str {
        Str { ptr: s.as_ptr(), len: s.len() }
    }

    /// A `Str` for a `&'static str`, usable in statics.
    pub const fn from_static(s: &'static str) -> Str {
        Str { ptr: s.as_ptr(), len: s.len() }
    }

    /// # Safety
    /// `ptr` must point at `len` bytes valid for `'a`.
    pub unsafe fn as_str<'a>(self) -> Result<&'a str, std::str::Utf8Error> {
        if self.len == 0 {
            return Ok("");
        }
        std::str::from_utf8(unsafe { std::slice::from_raw_parts(self.ptr, self.len) })
    }
}

impl Array {
    pub const ABSENT: Array =
        Array { name: Str { ptr: std::ptr::null(), len: 0 }, data: std::ptr::null(), shape: std::ptr::null(), ndim: 0 };

    /// # Safety
    /// `shape` must point at `ndim` values and `data` at their product of f32s, valid for `'a`.
    pub unsafe fn parts<'a>(self) -> Option<(&'a [usize], &'a [f32])> {
        if self.ndim == 0 {
            return None;
        }
        let shape = unsafe { std::slice::from_raw_parts(self.shape, self.ndim) };
        let n: usize = shape.iter().product();
        let data = if n == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(self.data, n) } };
        Some((shape, data))
    }
}
