use neurozoo_build_support::rpath_to_libtorch;

fn main() {
    // `neurozoo` dlopens libtorch to check that the worker will start; that check must search
    // the directories the worker's RUNPATH names.
    rpath_to_libtorch("neurozoo");
}
