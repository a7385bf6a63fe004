//! `include/neurozoo_plugin.h` describes the same ABI as `src/abi.rs`: a C program compiled
//! against the header prints every struct's size, every field's offset and every constant, and
//! each must equal what Rust says of `abi.rs`. A field added, moved or retyped on one side only
//! fails here.

use std::mem::{offset_of, size_of};
use std::process::Command;

use neurozoo_plugin::abi::{self, Array, Column, Descriptor, Host, Input, Str};

/// (C expression, the value Rust gives it).
fn expected() -> Vec<(&'static str, u64)> {
    macro_rules! layout {
        ($c:literal, $rust:ty { $($cf:literal => $rf:ident),* $(,)? }) => {
            [(concat!("sizeof(", $c, ")"), size_of::<$rust>() as u64)]
                .into_iter()
                .chain([$((concat!("offsetof(", $c, ", ", $cf, ")"), offset_of!($rust, $rf) as u64)),*])
        };
    }
    layout!("nz_str", Str { "ptr" => ptr, "len" => len })
        .chain(layout!("nz_array", Array { "name" => name, "data" => data, "shape" => shape, "ndim" => ndim }))
        .chain(layout!("nz_input", Input {
            "struct_size" => struct_size, "representation" => representation, "stimuli" => stimuli, "arrays" => arrays,
            "n_arrays" => n_arrays, "metadata_json" => metadata_json, "params_json" => params_json, "seed" => seed,
        }))
        .chain(layout!("nz_column", Column { "name" => name, "kind" => kind, "len" => len, "data" => data, "valid" => valid }))
        .chain(layout!("nz_host", Host {
            "struct_size" => struct_size, "ctx" => ctx, "log" => log, "progress" => progress, "table" => table,
            "figure" => figure, "array" => array, "fail" => fail,
        }))
        .chain(layout!("nz_descriptor", Descriptor {
            "abi_version" => abi_version, "struct_size" => struct_size, "name" => name, "version" => version,
            "description" => description, "params_schema" => params_schema, "run" => run, "flags" => flags,
        }))
        .chain([
            ("NZ_ABI_VERSION", u64::from(abi::ABI_VERSION)),
            ("NZ_COLUMN_F64", u64::from(abi::column_kind::F64)),
            ("NZ_COLUMN_I64", u64::from(abi::column_kind::I64)),
            ("NZ_COLUMN_BOOL", u64::from(abi::column_kind::BOOL)),
            ("NZ_COLUMN_STR", u64::from(abi::column_kind::STR)),
            ("NZ_LEVEL_INFO", u64::from(abi::level::INFO)),
            ("NZ_LEVEL_WARN", u64::from(abi::level::WARN)),
            ("NZ_OK", abi::status::OK as u64),
            ("NZ_ERROR", abi::status::ERROR as u64),
            ("NZ_PANIC", abi::status::PANIC as u64),
            ("NZ_FLAG_ACCEPTS_NON_FINITE", abi::flags::ACCEPTS_NON_FINITE),
        ])
        .collect()
}

#[test]
fn the_c_header_matches_abi_rs() {
    let expected = expected();
    let dir = tempfile::tempdir().unwrap();
    let prints: String = expected.iter().map(|(c, _)| format!("    printf(\"%llu\\n\", (unsigned long long)({c}));\n")).collect();
    let source = format!(
        "#include <stdio.h>\n#include \"neurozoo_plugin.h\"\nint main(void) {{\n{prints}    return strcmp(NZ_ENTRY, \"{}\") != 0;\n}}\n",
        abi::ENTRY
    );
    let c = dir.path().join("layout.c");
    std::fs::write(&c, format!("#include <string.h>\n{source}")).unwrap();
    let exe = dir.path().join("layout");
    let include = concat!(env!("CARGO_MANIFEST_DIR"), "/include");
    let cc = Command::new("cc").args(["-std=c11", "-Wall", "-Werror", "-pedantic", "-I", include]).arg(&c).arg("-o").arg(&exe).output();
    let cc = cc.expect("the C compiler `cc` runs (Debian's gcc)");
    assert!(cc.status.success(), "the header does not compile: {}", String::from_utf8_lossy(&cc.stderr));
    let out = Command::new(&exe).output().unwrap();
    assert!(out.status.success(), "NZ_ENTRY is not {:?}", abi::ENTRY);
    let got: Vec<u64> = String::from_utf8(out.stdout).unwrap().lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(got.len(), expected.len());
    let differ: Vec<String> =
        expected.iter().zip(&got).filter(|((_, r), c)| r != *c).map(|((e, r), c)| format!("{e}: C {c}, Rust {r}")).collect();
    assert!(differ.is_empty(), "the header disagrees with abi.rs:\n{}", differ.join("\n"));
}
