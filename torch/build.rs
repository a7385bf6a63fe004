fn main() {
    // The worker and its test run libtorch: give them the rpath and CUDA.
    neurozoo_build_support::link_libtorch(neurozoo_build_support::Targets::All);
}
