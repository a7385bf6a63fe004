//! Build-script helper shared by every package whose binaries or tests load libtorch.
//!
//! Two link-time problems make a tch binary quietly wrong without it:
//!
//! * cargo gives binaries no RUNPATH, so they only find libtorch when `LD_LIBRARY_PATH` is set
//!   (the RUNPATH given here first names where an installed copy keeps its libtorch link, then
//!   the build's own libtorch);
//! * `--as-needed` (rustc's default on Linux) drops `libtorch_cuda.so`, whose symbols nobody
//!   references directly, so CUDA reports "unavailable" even on a GPU machine.
//!
//! ```no_run
//! # #![allow(clippy::needless_doctest_main)] // a build script: its `main` is the point
//! // build.rs
//! fn main() {
//!     neurozoo_build_support::link_libtorch(neurozoo_build_support::Targets::All);
//! }
//! ```

use std::path::PathBuf;

/// Which of the package's artifacts get the libtorch link arguments.
pub enum Targets<'a> {
    /// Every binary, test and example of the package.
    All,
    /// Only the named binary (the others stay free of libtorch).
    Bin(&'a str),
}

/// The `lib/` directory of the libtorch that torch-sys builds against (`$LIBTORCH/lib`).
///
/// `.cargo/config.toml` points `LIBTORCH` at `.venv/libtorch`, which `make setup` creates.
pub fn libtorch_lib_dir() -> Option<PathBuf> {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let root = PathBuf::from(std::env::var_os("LIBTORCH")?);
    let lib = root.join("lib");
    // Resolve the .venv symlink so the RUNPATH survives a re-created venv of another Python.
    Some(lib.canonicalize().unwrap_or(lib))
}

/// Where an installed copy finds libtorch (`make install`, `tools/install.sh`): binaries in
/// `PREFIX/bin` and plugins in `PREFIX/lib/neurozoo/plugins` both reach the link
/// `PREFIX/lib/neurozoo/libtorch`. Searched before the build's libtorch, so an installed copy
/// uses its link; in the build tree these directories do not exist.
const INSTALLED: [&str; 2] = ["$ORIGIN/../lib/neurozoo/libtorch", "$ORIGIN/../libtorch"];

/// The RUNPATH arguments: the installed copy's link, then the build's libtorch.
fn rpath_args(lib: &std::path::Path) -> Vec<String> {
    INSTALLED.iter().map(|dir| format!("-Wl,-rpath,{dir}")).chain([format!("-Wl,-rpath,{}", lib.display())]).collect()
}

/// Emit the rpath to libtorch and, when the CUDA library exists, keep it as a DT_NEEDED entry.
pub fn link_libtorch(targets: Targets<'_>) {
    let Some(lib) = libtorch_lib_dir() else {
        println!("cargo:warning=LIBTORCH is not set: binaries will need LD_LIBRARY_PATH to find libtorch");
        return;
    };
    let mut args = rpath_args(&lib);
    if lib.join("libtorch_cuda.so").exists() {
        args.push("-Wl,--no-as-needed,-ltorch_cuda,--as-needed".to_string());
    }
    for arg in args {
        match targets {
            Targets::All => println!("cargo:rustc-link-arg={arg}"),
            Targets::Bin(name) => println!("cargo:rustc-link-arg-bin={name}={arg}"),
        }
    }
}

/// Only the rpath, for a binary that `dlopen`s libtorch itself instead of linking it.
pub fn rpath_to_libtorch(bin: &str) {
    if let Some(lib) = libtorch_lib_dir() {
        for arg in rpath_args(&lib) {
            println!("cargo:rustc-link-arg-bin={bin}={arg}");
        }
    }
}
