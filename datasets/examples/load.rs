//! Load a recording of any layout (static HDF5, NWB, file tree or its `.zip`) into memory and
//! print its size: the neurozoo side of `bench/load.sh` and `bench/tree.sh`, which time it
//! against the same load in Python.

fn main() {
    let path = std::env::args_os().nth(1).expect("usage: load FILE.h5|TREE|TREE.zip");
    match neurozoo_datasets::load(path.as_ref()) {
        Ok(ds) => println!(
            "{} trials, {} units, images {:?} {} ({} MB)",
            ds.n_trials(),
            ds.n_units(),
            ds.image_shape(),
            ds.images.dtype(),
            ds.images.nbytes() >> 20
        ),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
