//! `neurozoo plugins new NAME [--lang python]`: a plugin crate, or a Python executable plugin,
//! that builds and runs as it is.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The SDK and lock file of the checkout this binary was built from.
const SDK_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/sdk");
const LOCK_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock");

/// The directory a new plugin NAME goes into, checked: a valid name and a path not taken.
fn new_dir(name: &str, dir: Option<&Path>) -> Result<PathBuf> {
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
    Ok(dir)
}

/// An executable plugin in Python: `DIR/neurozoo-plugin-NAME`, which runs as it is where
/// numpy, h5py and pandas are installed. DIR goes on the plugin path.
pub fn new_python_plugin(name: &str, dir: Option<&Path>) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dir = new_dir(name, dir)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let script = dir.join(format!("neurozoo-plugin-{name}"));
    std::fs::write(&script, PYTHON_PLUGIN.replace("{name}", name)).with_context(|| format!("cannot write {}", script.display()))?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", script.display()))?;
    Ok(dir)
}

pub fn new_plugin(name: &str, dir: Option<&Path>, sdk: Option<&Path>) -> Result<PathBuf> {
    let dir = new_dir(name, dir)?;
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

use neurozoo_plugin::serde_json::Value;
use neurozoo_plugin::{export_plugin, params, Context, Figure, Input, Params, Plugin, Table};

params! {
    /// What `--param key=value` may set; the host checks values against this before `run`.
    struct Settings {
        /// histogram bins
        bins: usize = 20, min = 1;
    }
}

struct MyPlugin;

impl Plugin for MyPlugin {
    const NAME: &'static str = "{name}";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "per-unit peak response and the stimulus that drives it";

    fn params_schema() -> Value {
        Settings::schema()
    }

    fn run(ctx: &mut Context<'_>, input: &Input<'_>) -> Result<(), String> {
        let Settings { bins } = input.params_as()?;
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

const PYTHON_PLUGIN: &str = r##"#!/usr/bin/env python3
"""{name}: a neurozoo analysis plugin, an executable in Python (docs/plugins.md, "Executable
plugins"). `neurozoo analyze {name}` runs `neurozoo-plugin-{name} run` with a JSON request on
stdin; this writes its outputs into the request's `out` directory and `result.json` last.
Edit `analyse`. Needs numpy, h5py and pandas."""
import json
import sys

# The version of the executable-plugin protocol this speaks (neurozoo_plugin::protocol).
PROTOCOL = 1

DESCRIPTOR = {
    "protocol": PROTOCOL,
    "name": "{name}",
    "version": "0.1.0",
    "description": "per-unit peak response and the stimulus that drives it",
    "params": {
        "bins": {"type": "integer", "default": 20, "minimum": 1, "description": "histogram bins"},
    },
}


def analyse(x, params, seed):
    """x: (stimuli, units) float32. Returns tables (name -> DataFrame) and figure specs."""
    import numpy as np
    import pandas as pd

    peaks = pd.DataFrame({"unit": np.arange(x.shape[1]), "peak": x.max(axis=0), "best_stimulus": x.argmax(axis=0)})
    figure = {"kind": "histogram", "title": "peak response of each unit", "x_label": "peak",
              "values": [float(v) for v in peaks["peak"]], "bins": int(params["bins"])}
    return {"peaks": peaks}, {"peaks": figure}


def run(request):
    import h5py
    import numpy as np

    out = request["out"]
    with h5py.File(request["representation_file"], "r") as f:
        x = np.asarray(f["representations"][request["representation"]], dtype=np.float32)
    tables, figures = analyse(x, request["params"], request["seed"])
    for name, table in tables.items():
        table.to_csv(f"{out}/{name}.csv", index=False)
    for name, spec in figures.items():
        with open(f"{out}/{name}.figure.json", "w") as f:
            json.dump(spec, f)
    return {"protocol": PROTOCOL, "status": "ok", "log": [f"{x.shape[1]} units over {x.shape[0]} stimuli"]}


def main():
    if sys.argv[1:] == ["describe"]:
        print(json.dumps(DESCRIPTOR))
        return
    if sys.argv[1:] != ["run"]:
        sys.exit("usage: neurozoo-plugin-{name} describe | run < request.json")
    request = json.load(sys.stdin)
    try:
        if request["protocol"] != PROTOCOL:
            raise ValueError(f"neurozoo sent protocol version {request['protocol']}; this plugin speaks {PROTOCOL}")
        result = run(request)
    except Exception as e:  # reported to neurozoo as the run's error
        result = {"protocol": PROTOCOL, "status": "error", "error": f"{type(e).__name__}: {e}"}
    with open(f"{request['out']}/result.json", "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
"##;
