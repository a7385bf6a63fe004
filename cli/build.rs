use neurozoo_build_support::{link_libtorch, rpath_to_libtorch, Targets};

fn main() {
    link_libtorch(Targets::Bin("neurozoo-torch"));
    // `neurozoo` dlopens libtorch to check that the worker will start; that check must search
    // the directory the worker's RUNPATH names.
    rpath_to_libtorch("neurozoo");
}
