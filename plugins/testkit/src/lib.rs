//! `testkit`: a plugin for the host's tests. Its `mode` parameter picks the behaviour:
//!
//! * `tables`: one table with a column of every type, nulls included, and an output array;
//! * `error`: a table, then an error;
//! * `huge-bins`: a table, then a histogram of 10¹² bins (which the host must refuse);
//! * `panic`: a table, then a panic;
//! * `segfault`: a table, then a write through a null pointer (to test isolation);
//! * `address`: a table with the address of the representation's first value (to check that
//!   the host lends its array instead of copying it);
//! * `arrays`: a table of the input arrays it was given (name, shape, sum);
//! * `noop`: nothing at all (to time the host's per-call overhead);
//! * `ragged`: a table whose columns differ in length, then success as if the host had taken it;
//! * `bad-name`: a table named `../escape`, then success likewise;
//! * `abort`: a table, then `std::process::abort`.
//!
//! `NEUROZOO_TESTKIT_DESCRIPTOR` in the environment makes its entry misbehave, so the host's
//! load-time checks run on a real library: `next-abi` (another ABI version), `short` (a struct
//! size too small), `null` (no descriptor), `null-run` (a NULL run function), `bad-type` (a
//! parameter type the host does not know), `bad-default` (a default of the wrong type),
//! `v1-size` (a descriptor that ends before `flags`, as plugins built before it do),
//! `accepts-non-finite` (the flag set), `crash` (a segfault inside the entry itself).

use neurozoo_plugin::abi::{self, Descriptor, Str};
use neurozoo_plugin::ndarray::{ArrayD, IxDyn};
use neurozoo_plugin::{run_plugin, ColumnValues, Context, Figure, Input, Plugin, Table};

struct Testkit;

impl Plugin for Testkit {
    const NAME: &'static str = "testkit";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "test fixture: tables, errors, panics and crashes on request";
    const PARAMS: &'static str = r#"{"mode": {"type": "string", "default": "tables", "description": "tables, error, huge-bins, panic, segfault, abort, address, arrays, ragged, array-then-ragged, bad-name, hang or noop"}}"#;

    fn run(ctx: &mut Context<'_>, input: &Input<'_>) -> Result<(), String> {
        let mode = input.string("mode")?;
        match mode {
            "noop" => return Ok(()),
            "arrays" => {
                let a = &input.arrays;
                let table = Table::new()
                    .str("name", a.iter().map(|(n, _)| n.to_string()).collect())
                    .str("shape", a.iter().map(|(_, v)| format!("{:?}", v.shape())).collect())
                    .f64("sum", a.iter().map(|(_, v)| v.iter().map(|&x| f64::from(x)).sum()).collect());
                return ctx.table("arrays", &table);
            }
            "address" => return ctx.table("address", &Table::new().i64("representation", vec![input.representation.as_ptr() as i64])),
            "ragged" => {
                let _refused = ctx.table("ragged", &Table::new().i64("a", vec![1, 2, 3]).i64("b", vec![1]));
                return Ok(());
            }
            "array-then-ragged" => {
                ctx.array("kept", ArrayD::from_elem(IxDyn(&[2, 3]), 1.5).view())?;
                ctx.table("first", &Table::new().i64("a", vec![1, 2]))?;
                return ctx.table("ragged", &Table::new().i64("a", vec![1, 2, 3]).i64("b", vec![1]));
            }
            "bad-name" => {
                let _refused = ctx.table("../escape", &Table::new().i64("a", vec![1]));
                return Ok(());
            }
            _ => {}
        }
        let n = input.representation.nrows();
        ctx.table("first", &Table::new().i64("stimulus", (0..n as i64).collect()))?;
        match mode {
            "tables" => {
                let table = Table::new()
                    .column("f", ColumnValues::F64(vec![Some(1.5), None, Some(f64::NAN)]))
                    .column("i", ColumnValues::I64(vec![None, Some(-7), Some(i64::MAX)]))
                    .column("b", ColumnValues::Bool(vec![Some(true), Some(false), None]))
                    .column("s", ColumnValues::Str(vec![Some("α".into()), None, Some(String::new())]));
                ctx.table("typed", &table)?;
                let doubled = input.representation.mapv(|v| 2.0 * v).into_dyn();
                ctx.array("doubled", doubled.view())?;
                ctx.array("scalar", ArrayD::from_elem(IxDyn(&[1]), 3.0).view())
            }
            "error" => Err("testkit was asked to fail".into()),
            // A figure the host must refuse rather than allocate 10¹² counters for.
            "huge-bins" => ctx.figure(
                "huge",
                &Figure::Histogram { title: "huge".into(), x_label: "x".into(), values: vec![1.0, 2.0], bins: 1_000_000_000_000 },
            ),
            "panic" => panic!("testkit was asked to panic"),
            // A library's code cannot be stopped from inside its process: `--timeout` must
            // stop the isolated process it runs in.
            "hang" => loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            },
            "abort" => std::process::abort(),
            "segfault" => {
                // SAFETY: none; crashing the process is the point of this mode.
                unsafe { std::ptr::null_mut::<u64>().write_volatile(1) };
                Ok(())
            }
            other => Err(format!("unknown mode {other:?}")),
        }
    }
}

static DESCRIPTOR: Descriptor = Descriptor {
    abi_version: abi::ABI_VERSION,
    struct_size: std::mem::size_of::<Descriptor>(),
    name: Str::from_static(Testkit::NAME),
    version: Str::from_static(Testkit::VERSION),
    description: Str::from_static(Testkit::DESCRIPTION),
    params_schema: Str::from_static(Testkit::PARAMS),
    run: run_plugin::<Testkit>,
    flags: 0,
};

static NEXT_ABI: Descriptor = Descriptor { abi_version: abi::ABI_VERSION + 1, ..DESCRIPTOR };
static SHORT: Descriptor = Descriptor { struct_size: 8, ..DESCRIPTOR };
static BAD_TYPE: Descriptor =
    Descriptor { params_schema: Str::from_static(r#"{"mode": {"type": "float", "default": 1.0}}"#), ..DESCRIPTOR };
static BAD_DEFAULT: Descriptor =
    Descriptor { params_schema: Str::from_static(r#"{"mode": {"type": "integer", "default": "three"}}"#), ..DESCRIPTOR };
static V1_SIZE: Descriptor = Descriptor { struct_size: abi::DESCRIPTOR_V1_SIZE, flags: abi::flags::ACCEPTS_NON_FINITE, ..DESCRIPTOR };
static ACCEPTS_NON_FINITE: Descriptor = Descriptor { flags: abi::flags::ACCEPTS_NON_FINITE, ..DESCRIPTOR };

/// The descriptor's layout with a nullable `run`, which a C plugin can leave NULL.
#[repr(C)]
struct NullableRun {
    head: [u8; std::mem::offset_of!(Descriptor, run)],
    run: Option<unsafe extern "C" fn(*const abi::Host, *const abi::Input) -> i32>,
    flags: u64,
}

#[no_mangle]
pub extern "C" fn neurozoo_plugin_entry() -> *const Descriptor {
    static mut NULL_RUN: Option<NullableRun> = None;
    match std::env::var("NEUROZOO_TESTKIT_DESCRIPTOR").as_deref() {
        Ok("next-abi") => &NEXT_ABI,
        Ok("short") => &SHORT,
        Ok("null") => std::ptr::null(),
        Ok("bad-type") => &BAD_TYPE,
        Ok("bad-default") => &BAD_DEFAULT,
        Ok("v1-size") => &V1_SIZE,
        Ok("accepts-non-finite") => &ACCEPTS_NON_FINITE,
        Ok("null-run") => {
            // SAFETY: the head is the plain bytes of a valid descriptor; one thread calls the
            // entry, and the static lives for the process.
            unsafe {
                let head = std::ptr::from_ref(&DESCRIPTOR).cast::<[u8; std::mem::offset_of!(Descriptor, run)]>().read();
                let slot = &mut *std::ptr::addr_of_mut!(NULL_RUN);
                std::ptr::from_ref(slot.insert(NullableRun { head, run: None, flags: 0 })).cast()
            }
        }
        Ok("crash") => {
            // SAFETY: none; a crash inside the entry is the point.
            unsafe { std::ptr::null_mut::<u64>().write_volatile(1) };
            &DESCRIPTOR
        }
        _ => &DESCRIPTOR,
    }
}
