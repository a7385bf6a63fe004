//! Load a static HDF5 file into memory and print its size: the neurozoo side of
//! `bench/load.sh`, which times it against the same load in h5py.

fn main() {
    let path = std::env::args_os().nth(1).expect("usage: load_static FILE.h5");
    match neurozoo_datasets::static_h5::read(path.as_ref()) {
        Ok(ds) => println!("{} trials, {} units, images {:?}", ds.n_trials(), ds.n_units(), ds.image_shape()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
