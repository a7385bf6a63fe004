use std::path::PathBuf;

fn main() {
    // The doctests run libtorch: give them the rpath and CUDA.
    neurozoo_build_support::link_libtorch(neurozoo_build_support::Targets::All);
    // The C++ shim (autocast per device and dtype, accelerator memory statistics), compiled
    // against the headers of the libtorch that torch-sys links.
    println!("cargo:rerun-if-changed=cpp/shim.cpp");
    let root = PathBuf::from(std::env::var_os("LIBTORCH").expect("LIBTORCH names the libtorch to build the shim against"));
    cc::Build::new()
        .cpp(true)
        .file("cpp/shim.cpp")
        .include(root.join("include"))
        .flag("-std=c++17")
        // PyTorch's wheels since 2.7 use the new C++ ABI (torch-sys assumes the same).
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .warnings(false)
        .compile("neurozoo_shim");
}
