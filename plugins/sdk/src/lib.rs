//! Write a neurozoo analysis plugin in safe Rust: implement [`Plugin`], call [`export_plugin!`],
//! build the crate as a `cdylib`.
//!
//! ```
//! use neurozoo_plugin::{export_plugin, Context, Input, Plugin, Table};
//!
//! struct MeanRate;
//!
//! impl Plugin for MeanRate {
//!     const NAME: &'static str = "mean-rate";
//!     const VERSION: &'static str = "0.1.0";
//!     const DESCRIPTION: &'static str = "mean response of every unit";
//!     const PARAMS: &'static str = r#"{"scale": {"type": "number", "default": 1.0, "description": "multiply by this"}}"#;
//!
//!     fn run(ctx: &mut Context<'_>, input: &Input<'_>) -> Result<(), String> {
//!         let scale = input.number("scale")?;
//!         let means: Vec<f64> = input.representation.columns().into_iter().map(|c| scale * c.mean().unwrap_or(f32::NAN) as f64).collect();
//!         ctx.log(&format!("{} units", means.len()));
//!         ctx.table("mean_rate", &Table::new().i64("unit", (0..means.len() as i64).collect()).f64("mean", means))
//!     }
//! }
//!
//! export_plugin!(MeanRate);
//! ```
//!
//! The host hands over borrowed views (nothing is copied), validates parameters against
//! [`Plugin::PARAMS`] before the call, and writes what the plugin reports: tables as Parquet and
//! CSV, figures as PNG and SVG drawn from a [`Figure`] spec, arrays as HDF5. A panic inside
//! `run` is caught here and comes back to the host as an error, never as an abort.

pub mod abi;
pub mod protocol;

/// The examples of `docs/plugins.md`, compiled as doctests so the guide stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/plugins.md")]
pub struct PluginsGuide;

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

pub use ndarray;
use ndarray::{ArrayView2, ArrayViewD, IxDyn};
pub use serde;
pub use serde_json;
use serde_json::Value;

/// An analysis plugin.
pub trait Plugin {
    /// Unique name, used on the command line (`neurozoo analyze NAME`).
    const NAME: &'static str;
    const VERSION: &'static str;
    /// One line.
    const DESCRIPTION: &'static str;
    /// Parameter schema, a JSON object: name → `{"type": "number"|"integer"|"boolean"|"string",
    /// "default": …, "description": "…", "minimum": …, "maximum": …, "enum": [allowed values]}`.
    const PARAMS: &'static str = "{}";
    /// The parameter schema the host validates against: [`Plugin::PARAMS`] unless the plugin
    /// declares its parameters as a struct with [`params!`] and returns `P::schema()` here.
    fn params_schema() -> Value {
        serde_json::from_str(Self::PARAMS).unwrap_or_else(|e| serde_json::json!({"PARAMS is not JSON": {"type": e.to_string()}}))
    }
    /// Whether the plugin takes representations with NaN or infinite values. Default false: the
    /// host refuses them before the plugin runs.
    const ACCEPTS_NON_FINITE: bool = false;

    fn run(ctx: &mut Context<'_>, input: &Input<'_>) -> Result<(), String>;
}

/// What the plugin runs on, borrowed from the host.
pub struct Input<'a> {
    /// (n_stimuli, n_units).
    pub representation: ArrayView2<'a, f32>,
    /// (n_stimuli, C, H, W), when the representation file carries the stimuli.
    pub stimuli: Option<ArrayViewD<'a, f32>>,
    /// Named arrays from the representation file or from earlier plugins.
    pub arrays: Vec<(&'a str, ArrayViewD<'a, f32>)>,
    /// Where the representation came from, its stimulus ids and units.
    pub metadata: Value,
    /// Every declared parameter, validated by the host, defaults filled in.
    pub params: Value,
    pub seed: u64,
}

impl<'a> Input<'a> {
    fn param(&self, name: &str) -> Result<&Value, String> {
        self.params.get(name).ok_or_else(|| format!("parameter {name:?} is not declared in the plugin's PARAMS"))
    }

    pub fn number(&self, name: &str) -> Result<f64, String> {
        self.param(name)?.as_f64().ok_or_else(|| format!("parameter {name:?} is not a number"))
    }

    pub fn integer(&self, name: &str) -> Result<i64, String> {
        self.param(name)?.as_i64().ok_or_else(|| format!("parameter {name:?} is not an integer"))
    }

    pub fn boolean(&self, name: &str) -> Result<bool, String> {
        self.param(name)?.as_bool().ok_or_else(|| format!("parameter {name:?} is not a boolean"))
    }

    pub fn string(&self, name: &str) -> Result<&str, String> {
        self.param(name)?.as_str().ok_or_else(|| format!("parameter {name:?} is not a string"))
    }

    /// Every parameter at once, as the struct [`params!`] declared.
    pub fn params_as<P: Params>(&self) -> Result<P, String> {
        P::deserialize(&self.params).map_err(|e| format!("parameters: {e}"))
    }

    /// A named input array.
    pub fn array(&self, name: &str) -> Option<&ArrayViewD<'a, f32>> {
        self.arrays.iter().find(|(n, _)| *n == name).map(|(_, a)| a)
    }
}

/// A table column's values; `None` is a null.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnValues {
    F64(Vec<Option<f64>>),
    I64(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
    Str(Vec<Option<String>>),
}

impl ColumnValues {
    pub fn len(&self) -> usize {
        match self {
            ColumnValues::F64(v) => v.len(),
            ColumnValues::I64(v) => v.len(),
            ColumnValues::Bool(v) => v.len(),
            ColumnValues::Str(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Named, typed columns, built column by column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<(String, ColumnValues)>,
}

impl Table {
    pub fn new() -> Table {
        Table::default()
    }

    pub fn column(mut self, name: &str, values: ColumnValues) -> Table {
        self.columns.push((name.to_string(), values));
        self
    }

    pub fn f64(self, name: &str, values: Vec<f64>) -> Table {
        self.column(name, ColumnValues::F64(values.into_iter().map(Some).collect()))
    }

    pub fn i64(self, name: &str, values: Vec<i64>) -> Table {
        self.column(name, ColumnValues::I64(values.into_iter().map(Some).collect()))
    }

    pub fn bool(self, name: &str, values: Vec<bool>) -> Table {
        self.column(name, ColumnValues::Bool(values.into_iter().map(Some).collect()))
    }

    pub fn str(self, name: &str, values: Vec<String>) -> Table {
        self.column(name, ColumnValues::Str(values.into_iter().map(Some).collect()))
    }
}

/// A figure the host draws, so every plugin's figures share one look.
#[derive(Debug, Clone, PartialEq)]
pub enum Figure {
    /// Counts of `values` in `bins` equal bins between their minimum and maximum.
    Histogram { title: String, x_label: String, values: Vec<f64>, bins: usize },
    /// One line per named series of (x, y) points.
    Line { title: String, x_label: String, y_label: String, series: Vec<(String, Vec<(f64, f64)>)> },
    /// One colour per named series of (x, y) points.
    Scatter { title: String, x_label: String, y_label: String, series: Vec<(String, Vec<(f64, f64)>)> },
    /// A matrix, row 0 at the top: a diverging blue–white–red scale centred on 0 when the
    /// values have both signs, white to dark blue otherwise.
    Heatmap { title: String, x_label: String, y_label: String, rows: Vec<Vec<f64>> },
    /// Grey-scale images (rows of pixels), each scaled to its own range, `columns` per row.
    ImageGrid { title: String, images: Vec<(String, Vec<Vec<f64>>)>, columns: usize },
    /// Named series of points, each with an optional interval drawn as a bar, joined by lines
    /// or not; with `x_ticks`, x = i is labelled `x_ticks[i]` (categories on the x axis).
    Points { title: String, x_label: String, y_label: String, joined: bool, x_ticks: Vec<String>, series: Vec<(String, Vec<Point>)> },
}

/// A point of [`Figure::Points`]: (x, y) and, optionally, an interval (low, high) around y.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub interval: Option<(f64, f64)>,
}

impl Point {
    pub fn new(x: f64, y: f64) -> Point {
        Point { x, y, interval: None }
    }

    /// With the interval (low, high), left out when either bound is not finite.
    pub fn with_interval(x: f64, y: f64, low: f64, high: f64) -> Point {
        Point { x, y, interval: (low.is_finite() && high.is_finite()).then_some((low, high)) }
    }
}

/// A figure serialises as the JSON spec the host draws ([`Figure::to_json`]).
impl serde::Serialize for Figure {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl Figure {
    /// The JSON spec that crosses the ABI.
    pub fn to_json(&self) -> Value {
        let series = |s: &[(String, Vec<(f64, f64)>)]| -> Value {
            s.iter()
                .map(|(name, points)| serde_json::json!({"name": name, "points": points.iter().map(|&(x, y)| [x, y]).collect::<Vec<_>>()}))
                .collect()
        };
        match self {
            Figure::Histogram { title, x_label, values, bins } => {
                serde_json::json!({"kind": "histogram", "title": title, "x_label": x_label, "values": values, "bins": bins})
            }
            Figure::Line { title, x_label, y_label, series: s } => {
                serde_json::json!({"kind": "line", "title": title, "x_label": x_label, "y_label": y_label, "series": series(s)})
            }
            Figure::Scatter { title, x_label, y_label, series: s } => {
                serde_json::json!({"kind": "scatter", "title": title, "x_label": x_label, "y_label": y_label, "series": series(s)})
            }
            Figure::Heatmap { title, x_label, y_label, rows } => {
                serde_json::json!({"kind": "heatmap", "title": title, "x_label": x_label, "y_label": y_label, "rows": rows})
            }
            Figure::Points { title, x_label, y_label, joined, x_ticks, series } => {
                let series: Vec<Value> = series
                    .iter()
                    .map(|(name, points)| {
                        let points: Vec<Value> = points
                            .iter()
                            .map(|p| match p.interval {
                                Some((low, high)) => serde_json::json!([p.x, p.y, low, high]),
                                None => serde_json::json!([p.x, p.y]),
                            })
                            .collect();
                        serde_json::json!({"name": name, "points": points})
                    })
                    .collect();
                serde_json::json!({
                    "kind": if *joined { "line" } else { "scatter" },
                    "title": title,
                    "x_label": x_label,
                    "y_label": y_label,
                    "x_ticks": x_ticks,
                    "series": series,
                })
            }
            Figure::ImageGrid { title, images, columns } => serde_json::json!({
                "kind": "image_grid",
                "title": title,
                "columns": columns,
                "images": images.iter().map(|(label, pixels)| serde_json::json!({"label": label, "pixels": pixels})).collect::<Vec<_>>(),
            }),
        }
    }
}

/// The plugin's line to the host: logs, progress, outputs.
pub struct Context<'a> {
    host: &'a abi::Host,
}

impl Context<'_> {
    pub fn log(&mut self, message: &str) {
        // SAFETY: the host's callbacks take borrowed strings valid for the call.
        unsafe { (self.host.log)(self.host.ctx, abi::level::INFO, abi::Str::new(message)) }
    }

    pub fn warn(&mut self, message: &str) {
        // SAFETY: as in `log`.
        unsafe { (self.host.log)(self.host.ctx, abi::level::WARN, abi::Str::new(message)) }
    }

    /// `done` of `total` steps; the host shows a progress bar.
    pub fn progress(&mut self, done: u64, total: u64) {
        // SAFETY: plain values.
        unsafe { (self.host.progress)(self.host.ctx, done, total) }
    }

    fn check(&self, what: &str, name: &str, code: i32) -> Result<(), String> {
        if code == abi::status::OK {
            Ok(())
        } else {
            Err(format!("the host refused {what} {name:?} (see its message)"))
        }
    }

    /// Hand a table to the host, which writes `NAME.parquet` and `NAME.csv`.
    pub fn table(&mut self, name: &str, table: &Table) -> Result<(), String> {
        // Owned buffers that the column descriptors point into, alive until the call returns.
        let mut strings: Vec<Vec<abi::Str>> = Vec::new();
        let mut numbers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for (_, values) in &table.columns {
            let (data, valid): (Vec<u8>, Vec<u8>) = match values {
                ColumnValues::F64(v) => {
                    (v.iter().flat_map(|x| x.unwrap_or(0.0).to_ne_bytes()).collect(), v.iter().map(|x| x.is_some() as u8).collect())
                }
                ColumnValues::I64(v) => {
                    (v.iter().flat_map(|x| x.unwrap_or(0).to_ne_bytes()).collect(), v.iter().map(|x| x.is_some() as u8).collect())
                }
                ColumnValues::Bool(v) => {
                    (v.iter().map(|x| x.unwrap_or(false) as u8).collect(), v.iter().map(|x| x.is_some() as u8).collect())
                }
                ColumnValues::Str(v) => {
                    strings.push(v.iter().map(|s| abi::Str::new(s.as_deref().unwrap_or(""))).collect());
                    (Vec::new(), v.iter().map(|x| x.is_some() as u8).collect())
                }
            };
            numbers.push((data, valid));
        }
        let mut next_strings = strings.iter();
        let columns: Vec<abi::Column> = table
            .columns
            .iter()
            .zip(&numbers)
            .map(|((name, values), (data, valid))| {
                let (kind, len, ptr) = match values {
                    ColumnValues::F64(v) => (abi::column_kind::F64, v.len(), data.as_ptr().cast()),
                    ColumnValues::I64(v) => (abi::column_kind::I64, v.len(), data.as_ptr().cast()),
                    ColumnValues::Bool(v) => (abi::column_kind::BOOL, v.len(), data.as_ptr().cast()),
                    ColumnValues::Str(v) => {
                        (abi::column_kind::STR, v.len(), next_strings.next().expect("one per string column").as_ptr().cast())
                    }
                };
                abi::Column { name: abi::Str::new(name), kind, len, data: ptr, valid: valid.as_ptr() }
            })
            .collect();
        // SAFETY: every pointer refers to buffers owned above, alive for the call. f64/i64 data
        // is read by the host with unaligned reads, so byte vectors are fine.
        let code = unsafe { (self.host.table)(self.host.ctx, abi::Str::new(name), columns.as_ptr(), columns.len()) };
        self.check("table", name, code)
    }

    /// Hand a figure to the host, which draws `NAME.png` and `NAME.svg`.
    pub fn figure(&mut self, name: &str, figure: &Figure) -> Result<(), String> {
        let spec = figure.to_json().to_string();
        // SAFETY: borrowed strings valid for the call.
        let code = unsafe { (self.host.figure)(self.host.ctx, abi::Str::new(name), abi::Str::new(&spec)) };
        self.check("figure", name, code)
    }

    /// Hand a named array to the host (written to `arrays.h5`, readable by later plugins).
    pub fn array(&mut self, name: &str, array: ArrayViewD<'_, f32>) -> Result<(), String> {
        if array.ndim() == 0 {
            return Err(format!("array {name:?} has no dimensions; give a scalar shape [1]"));
        }
        let owned = array.as_standard_layout();
        let shape = owned.shape().to_vec();
        let data = owned.as_slice().expect("standard layout is contiguous");
        let a = abi::Array { name: abi::Str::new(name), data: data.as_ptr(), shape: shape.as_ptr(), ndim: shape.len() };
        // SAFETY: the array and its shape are alive for the call.
        let code = unsafe { (self.host.array)(self.host.ctx, a) };
        self.check("array", name, code)
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic payload".into())
}

/// Turn the host's input into safe views.
///
/// # Safety
/// `input` must follow the ABI: every pointer valid for `'a`.
unsafe fn input_from_abi<'a>(input: &'a abi::Input) -> Result<Input<'a>, String> {
    if input.struct_size < std::mem::size_of::<abi::Input>() {
        return Err(format!(
            "the host's input is {} bytes, this plugin needs {}: rebuild against the host's SDK",
            input.struct_size,
            std::mem::size_of::<abi::Input>()
        ));
    }
    let view = |a: abi::Array| -> Result<Option<ArrayViewD<'a, f32>>, String> {
        // SAFETY: the caller guarantees the ABI's validity rules.
        match unsafe { a.parts() } {
            None => Ok(None),
            Some((shape, data)) => ArrayViewD::from_shape(IxDyn(shape), data).map(Some).map_err(|e| format!("input array: {e}")),
        }
    };
    let json = |s: abi::Str, what: &str| -> Result<Value, String> {
        // SAFETY: as above.
        let text = unsafe { s.as_str() }.map_err(|e| format!("{what}: {e}"))?;
        if text.is_empty() {
            return Ok(Value::Object(Default::default()));
        }
        serde_json::from_str(text).map_err(|e| format!("{what}: {e}"))
    };
    let representation = view(input.representation)?
        .ok_or("no representation")?
        .into_dimensionality::<ndarray::Ix2>()
        .map_err(|_| "the representation must be 2-D (n_stimuli, n_units)".to_string())?;
    let raw: &[abi::Array] = if input.n_arrays == 0 { &[] } else { unsafe { std::slice::from_raw_parts(input.arrays, input.n_arrays) } };
    let mut arrays = Vec::with_capacity(raw.len());
    for a in raw {
        // SAFETY: as above.
        let name = unsafe { a.name.as_str() }.map_err(|e| format!("array name: {e}"))?;
        if let Some(v) = view(*a)? {
            arrays.push((name, v));
        }
    }
    Ok(Input {
        representation,
        stimuli: view(input.stimuli)?,
        arrays,
        metadata: json(input.metadata_json, "metadata")?,
        params: json(input.params_json, "parameters")?,
        seed: input.seed,
    })
}

/// The `run` that [`export_plugin!`] puts in the descriptor: safe views in, errors and panics
/// out through the host's `fail`.
///
/// # Safety
/// Called by the host with pointers that follow the ABI.
#[doc(hidden)]
pub unsafe extern "C" fn run_plugin<P: Plugin>(host: *const abi::Host, input: *const abi::Input) -> i32 {
    // SAFETY: the host passes valid pointers for the duration of the call.
    let host = unsafe { &*host };
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as above.
        let input = unsafe { input_from_abi(&*input) }?;
        P::run(&mut Context { host }, &input)
    }));
    let (code, message) = match result {
        Ok(Ok(())) => return abi::status::OK,
        Ok(Err(message)) => (abi::status::ERROR, message),
        Err(payload) => (abi::status::PANIC, format!("plugin {} panicked: {}", P::NAME, panic_message(payload.as_ref()))),
    };
    // SAFETY: a borrowed string valid for the call.
    unsafe { (host.fail)(host.ctx, abi::Str::new(&message)) };
    code
}

/// Export a [`Plugin`] under the ABI's entry symbol. Use once per `cdylib`.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[no_mangle]
        pub extern "C" fn neurozoo_plugin_entry() -> *const $crate::abi::Descriptor {
            // Built on the first call: the schema may come from a `params!` struct.
            static SCHEMA: ::std::sync::OnceLock<String> = ::std::sync::OnceLock::new();
            static DESCRIPTOR: ::std::sync::OnceLock<$crate::abi::Descriptor> = ::std::sync::OnceLock::new();
            DESCRIPTOR.get_or_init(|| $crate::abi::Descriptor {
                abi_version: $crate::abi::ABI_VERSION,
                struct_size: ::std::mem::size_of::<$crate::abi::Descriptor>(),
                name: $crate::abi::Str::from_static(<$plugin as $crate::Plugin>::NAME),
                version: $crate::abi::Str::from_static(<$plugin as $crate::Plugin>::VERSION),
                description: $crate::abi::Str::from_static(<$plugin as $crate::Plugin>::DESCRIPTION),
                params_schema: $crate::abi::Str::new(SCHEMA.get_or_init(|| <$plugin as $crate::Plugin>::params_schema().to_string())),
                run: $crate::run_plugin::<$plugin>,
                flags: if <$plugin as $crate::Plugin>::ACCEPTS_NON_FINITE { $crate::abi::flags::ACCEPTS_NON_FINITE } else { 0 },
            })
        }
    };
}

/// A plugin's parameters as a struct: declared with [`params!`], which derives the schema the
/// host checks `--param` against and reads them back, typed, with [`Input::params_as`].
pub trait Params: for<'de> serde::Deserialize<'de> {
    /// Parameter name → `{"type", "default", "description", "minimum", "maximum", "enum"}`.
    fn schema() -> Value;
}

/// A `params!` default as the field's type: itself, or a `&str` for a `String` field.
pub trait IntoDefault<T> {
    fn into_default(self) -> T;
}

impl<T> IntoDefault<T> for T {
    fn into_default(self) -> T {
        self
    }
}

impl IntoDefault<String> for &str {
    fn into_default(self) -> String {
        self.to_string()
    }
}

/// The schema type of a parameter's Rust type.
pub trait ParamType {
    const NAME: &'static str;
}

macro_rules! param_types {
    ($($t:ty => $name:literal),* $(,)?) => { $(impl ParamType for $t { const NAME: &'static str = $name; })* };
}
param_types!(f64 => "number", f32 => "number", i64 => "integer", i32 => "integer", u64 => "integer", u32 => "integer", usize => "integer", bool => "boolean", String => "string");

/// Declare a plugin's parameters as a struct: each field with its default, optionally a
/// `min`, `max` and the values it may take (`one_of`), its doc comment as the description. The
/// struct derives `Deserialize`, and [`Params::schema`] builds the schema from the declaration,
/// so the two cannot disagree.
///
/// ```
/// use neurozoo_plugin::{params, Context, Input, Params, Plugin};
///
/// params! {
///     pub struct Settings {
///         /// histogram bins
///         bins: usize = 30, min = 1, max = 1000;
///         /// column to histogram
///         of: String = "mean", one_of = ["mean", "std"];
///         /// count a unit as active above this
///         threshold: f64 = 0.0;
///     }
/// }
///
/// let schema = Settings::schema();
/// assert_eq!(schema["bins"]["type"], "integer");
/// assert_eq!(schema["bins"]["maximum"], 1000);
/// assert_eq!(schema["of"]["enum"], neurozoo_plugin::serde_json::json!(["mean", "std"]));
/// assert_eq!(schema["threshold"]["description"], "count a unit as active above this");
///
/// struct Histogram;
/// impl Plugin for Histogram {
///     const NAME: &'static str = "histogram";
///     const VERSION: &'static str = "0.1.0";
///     const DESCRIPTION: &'static str = "a histogram of a per-unit statistic";
///     fn params_schema() -> neurozoo_plugin::serde_json::Value {
///         Settings::schema()
///     }
///     fn run(ctx: &mut Context<'_>, input: &Input<'_>) -> Result<(), String> {
///         let settings: Settings = input.params_as()?;
///         ctx.log(&format!("{} bins of the {}", settings.bins, settings.of));
///         Ok(())
///     }
/// }
/// ```
#[macro_export]
macro_rules! params {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $field:ident : $ty:ty = $default:expr
                $(, min = $min:expr)? $(, max = $max:expr)? $(, one_of = [$($choice:expr),* $(,)?])?
            );* $(;)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, $crate::serde::Deserialize)]
        #[serde(crate = "neurozoo_plugin::serde")]
        $vis struct $name {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        impl $crate::Params for $name {
            fn schema() -> $crate::serde_json::Value {
                let mut schema = $crate::serde_json::Map::new();
                $(
                    let mut spec = $crate::serde_json::Map::new();
                    spec.insert("type".into(), <$ty as $crate::ParamType>::NAME.into());
                    let default: $ty = $crate::IntoDefault::into_default($default);
                    spec.insert("default".into(), $crate::serde_json::json!(default));
                    let doc: &[&str] = &[$($doc),*];
                    spec.insert("description".into(), doc.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ").into());
                    $( spec.insert("minimum".into(), $crate::serde_json::json!($min)); )?
                    $( spec.insert("maximum".into(), $crate::serde_json::json!($max)); )?
                    $( spec.insert("enum".into(), $crate::serde_json::json!([$($choice),*])); )?
                    schema.insert(stringify!($field).into(), spec.into());
                )*
                $crate::serde_json::Value::Object(schema)
            }
        }
    };
}
