//! `neurozoo plugins new NAME`: a plugin crate that builds and runs as it is.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The SDK and lock file of the checkout this binary was built from.
const SDK_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/sdk");
const LOCK_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock");

pub fn new_plugin(name: &str, dir: Option<&Path>, sdk: Option<&Path>) -> Result<PathBuf> {
    let valid = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!("plugin name {name:?}: use lowercase letters, digits and '-', starting with a letter");
    }
    let dir = dir.map_or_else(|| PathBuf::from(format!("neurozoo-plugin-{name}")), Path::to_path_buf);
    if dir.exists() {
        bail!("{} already exists: choose another --dir", dir.display());
    }
    let sdk = match sdk {
        Some(p) => p.to_path_buf(),
        None => PathBuf::from(SDK_DIR),
    };
    let sdk = sdk
        .canonicalize()
        .with_context(|| format!("the plugin SDK is not at {}: pass --sdk PATH (plugins/sdk in a neurozoo checkout)", sdk.display()))?;
    std::fs::create_dir_all(dir.join("src")).with_context(|| format!("cannot create {}", dir.display()))?;
    let crate_name = format!("neurozoo-plugin-{name}");
    let files = [
        ("Cargo.toml", CARGO_TOML.replace("{crate}", &crate_name).replace("{sdk}", &sdk.display().to_string())),
        ("src/lib.rs", LIB_RS.replace("{name}", name)),
        ("README.md", README.replace("{name}", name).replace("{lib}", &crate_name.replace('-', "_"))),
    ];
    for (file, text) in files {
        std::fs::write(dir.join(file), text).with_context(|| format!("cannot write {}", dir.join(file).display()))?;
    }
    // The versions neurozoo itself was built and tested with; cargo drops what is unused.
    if Path::new(LOCK_FILE).is_file() {
        std::fs::copy(LOCK_FILE, dir.join("Cargo.lock")).with_context(|| format!("cannot write {}", dir.join("Cargo.lock").display()))?;
    }
    Ok(dir)
}

const CARGO_TOML: &str = r#"[package]
name = "{crate}"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
neurozoo-plugin = { path = "{sdk}" }

# A crate of its own, even when created inside another workspace.
[workspace]
"#;

const LIB_RS: &str = r##"//! `{name}`: a neurozoo analysis plugin. Edit `run`; `neurozoo analyze` does the rest.

use neurozoo_plugin::{export_plugin, Context, Figure, Input, Plugin, Table};

struct MyPlugin;

impl Plugin for MyPlugin {
    const NAME: &'static str = "{name}";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "per-unit peak response and the stimulus that drives it";
    const PARAMS: &'static str = r#"{"bins": {"type": "integer", "default": 20, "minimum": 1, "description": "histogram bins"}}"#;

    fn run(ctx: &mut Context<'_>, input: &Input<'_>) -> Result<(), String> {
        let bins = input.integer("bins")? as usize;
        // (n_stimuli, n_units), borrowed from the host: nothing is copied.
        let r = &input.representation;
        let ids: Vec<i64> = input.metadata["stimulus_ids"].as_array().map(|a| a.iter().filter_map(|v| v.as_i64()).collect()).unwrap_or_default();
        let (mut peak, mut best) = (Vec::new(), Vec::new());
        for (unit, column) in r.columns().into_iter().enumerate() {
            let (i, v) = column.iter().enumerate().fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
            peak.push(f64::from(v));
            best.push(ids.get(i).copied().unwrap_or(i as i64));
            ctx.progress(unit as u64 + 1, r.ncols() as u64);
        }
        let units = (0..r.ncols() as i64).collect();
        ctx.table("peaks", &Table::new().i64("unit", units).f64("peak", peak.clone()).i64("best_stimulus", best))?;
        ctx.figure("peaks", &Figure::Histogram { title: "peak response per unit".into(), x_label: "peak".into(), values: peak, bins })?;
        ctx.log(&format!("{} units", r.ncols()));
        Ok(())
    }
}

export_plugin!(MyPlugin);
"##;

const README: &str = r#"# {name}

A neurozoo analysis plugin.

```sh
cargo build --release
neurozoo analyze target/release/lib{lib}.so --repr R.h5 --out out/
# or, to call it by name:
NEUROZOO_PLUGIN_PATH=$PWD/target/release neurozoo analyze {name} --repr R.h5 --out out/
```

Make `R.h5` with `neurozoo extract` (a model layer, or a dataset's recorded responses).
See `docs/plugins.md` in the neurozoo repository for the SDK.
"#;
