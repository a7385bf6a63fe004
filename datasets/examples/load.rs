//! Load recordings of any layout (static HDF5, NWB, file tree or its `.zip`) into memory, all
//! held at once, and print their sizes: the neurozoo side of `bench/load.sh` and
//! `bench/scale.sh`, which time it against the same load in Python.

fn main() {
    let paths: Vec<std::path::PathBuf> = std::env::args_os().skip(1).map(Into::into).collect();
    if paths.is_empty() {
        eprintln!("usage: load FILE.h5|TREE|TREE.zip ...");
        std::process::exit(2);
    }
    let mut held = Vec::new();
    for path in &paths {
        match neurozoo_datasets::load(path) {
            Ok(ds) => {
                println!(
                    "{}: {} trials, {} units, images {:?} {} ({} MB)",
                    path.display(),
                    ds.n_trials(),
                    ds.n_units(),
                    ds.image_shape(),
                    ds.images.dtype(),
                    ds.images.nbytes() >> 20
                );
                held.push(ds);
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    }
    println!("{} recordings held, {} MB of images", held.len(), held.iter().map(|d| d.images.nbytes()).sum::<usize>() >> 20);
}
