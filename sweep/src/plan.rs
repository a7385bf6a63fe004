//! The sweep file and the plan made of it: every point's config, checked before anything runs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use neurozoo_config::toml_merge::set_dotted;
use neurozoo_config::{DeviceChoice, ModelKind, Preset};
use serde::{Deserialize, Serialize};

use crate::SweepError;

/// `SWEEP.toml` as written by the user.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    /// A preset name or a fit config file (relative to the sweep file).
    base: String,
    /// Dotted config keys, each with the values to try.
    #[serde(default)]
    grid: toml::Table,
    /// Seeds of every point; default (absent) the base's seed.
    seeds: Option<Vec<u64>>,
    /// Recordings: each entry a path, or a list of paths fitted together with one shared core.
    #[serde(default)]
    data: Vec<DataEntry>,
    /// `auto`, `cpu` or `cuda`; default `auto`.
    #[serde(default)]
    device: DeviceChoice,
    #[serde(default)]
    slurm: SlurmSettings,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum DataEntry {
    One(PathBuf),
    Several(Vec<PathBuf>),
}

/// The `[slurm]` table: resources of each array task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlurmSettings {
    pub partition: Option<String>,
    pub account: Option<String>,
    /// Wall time of one point, `--time`. Default "02:00:00".
    pub time: String,
    /// Memory of one point, `--mem`. Default "8G".
    pub mem: String,
    /// `--cpus-per-task`, also the libtorch threads of each fit. Default 4.
    pub cpus_per_task: usize,
}

impl Default for SlurmSettings {
    fn default() -> Self {
        SlurmSettings { partition: None, account: None, time: "02:00:00".into(), mem: "8G".into(), cpus_per_task: 4 }
    }
}

/// One fit of the sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Stable, derived from the recording, the swept values and the seed.
    pub name: String,
    /// The recordings' stems, joined by `+` for a multi-recording fit.
    pub recording: String,
    /// Absolute paths of the recordings.
    pub data: Vec<PathBuf>,
    /// Swept key → value, in the grid's key order.
    pub values: BTreeMap<String, serde_json::Value>,
    pub seed: u64,
}

/// `DIR/sweep.json`: what the sweep fits; every command on DIR reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The sweep file it was made from.
    pub sweep_file: PathBuf,
    pub base: String,
    pub kind: ModelKind,
    pub device: DeviceChoice,
    /// The swept keys, sorted.
    pub keys: Vec<String>,
    pub points: Vec<Point>,
    pub slurm: SlurmSettings,
}

/// The plan's file in a sweep directory.
pub const PLAN_FILE: &str = "sweep.json";

impl Plan {
    /// Read a sweep file and make its plan, with every point's complete config (in plan order).
    /// Every key and value is checked here: an error names the key, value or file at fault.
    pub fn from_file(path: &Path) -> Result<(Plan, Vec<Preset>), SweepError> {
        let at = |message: String| SweepError::Plan { file: path.to_path_buf(), message };
        let text = std::fs::read_to_string(path).map_err(|e| at(format!("cannot read it: {e}")))?;
        let file: SweepFile = toml::from_str(&text).map_err(|e| at(e.to_string()))?;
        let path = std::path::absolute(path).map_err(|e| at(e.to_string()))?;
        let dir = path.parent().unwrap_or(Path::new("/"));

        let is_file = Path::new(&file.base).extension().is_some_and(|e| e == "toml");
        let base_ref = if is_file { dir.join(&file.base).display().to_string() } else { file.base.clone() };
        let base = Preset::resolve(&base_ref).map_err(|e| at(format!("base: {e}")))?;
        let mut base_table: toml::Table = toml::from_str(&base.to_toml()).expect("a config's TOML reads back");
        let base_data = base_table.remove("data");
        let kind = base.kind();

        let mut data: Vec<Vec<PathBuf>> = file
            .data
            .into_iter()
            .map(|d| match d {
                DataEntry::One(p) => vec![dir.join(p)],
                DataEntry::Several(ps) => ps.into_iter().map(|p| dir.join(p)).collect(),
            })
            .collect();
        if data.is_empty() {
            // The base config's own [[data]] list, as `fit` would take it: one fit of them all.
            if let Some(toml::Value::Array(list)) = base_data {
                data.push(list.iter().filter_map(|d| d.get("path")?.as_str().map(PathBuf::from)).collect());
            }
        }
        if data.is_empty() || data.iter().any(Vec::is_empty) {
            return Err(at("data: name the recordings to fit (data = [\"v1.h5\"]; a list inside the list fits several together)".into()));
        }
        for p in data.iter().flatten() {
            if !p.exists() {
                return Err(at(format!("data: {} does not exist", p.display())));
            }
        }

        let mut grid: Vec<(String, Vec<toml::Value>)> = Vec::new();
        for (key, values) in file.grid {
            let toml::Value::Array(values) = values else {
                return Err(at(format!("grid key {key:?}: give a list of values ([{values}])")));
            };
            if values.is_empty() {
                return Err(at(format!("grid key {key:?}: the list of values is empty")));
            }
            if key == "preset" || key == "data" || key == "train.seed" {
                return Err(at(format!("grid key {key:?}: sweep it with {}", if key == "train.seed" { "seeds" } else { "base and data" })));
            }
            // Each value on its own over the base, so an error names one key and one value.
            for v in &values {
                let mut t = base_table.clone();
                set_dotted(&mut t, &key, v.clone()).map_err(|e| at(format!("grid key {key:?}: {e}")))?;
                Preset::from_table(t).map_err(|e| at(format!("grid key {key:?} = {v}: {e}")))?;
            }
            grid.push((key, values));
        }
        let seeds = match file.seeds {
            None => vec![base_seed(&base_table)],
            Some(seeds) if seeds.is_empty() => {
                return Err(at("seeds: the list is empty; list at least one seed, or leave seeds out for the base's".into()))
            }
            Some(seeds) => seeds,
        };
        // A config is TOML, whose integers are signed 64-bit: train.seed cannot hold more.
        if let Some(s) = seeds.iter().find(|&&s| i64::try_from(s).is_err()) {
            return Err(at(format!("seeds: {s} is above {}, the largest seed a config's train.seed holds", i64::MAX)));
        }
        if let Some(s) = seeds.iter().enumerate().find_map(|(i, s)| seeds[..i].contains(s).then_some(s)) {
            return Err(at(format!("seeds: {s} is listed twice")));
        }

        let keys: Vec<String> = grid.iter().map(|(k, _)| k.clone()).collect();
        let short = short_names(&keys);
        let mut points = Vec::new();
        let mut configs = Vec::new();
        let mut names = BTreeSet::new();
        for recordings in &data {
            let stems = recordings.iter().map(|p| stem(p)).collect::<Vec<_>>();
            let recording = stems.join("+");
            for combo in product(&grid) {
                for &seed in &seeds {
                    let mut t = base_table.clone();
                    let mut name = vec![sanitize(&recording)];
                    let mut values = BTreeMap::new();
                    for ((key, v), s) in keys.iter().zip(&combo).zip(&short) {
                        set_dotted(&mut t, key, (*v).clone()).expect("checked above");
                        name.push(format!("{s}-{}", sanitize(&display(v))));
                        values.insert(key.clone(), serde_json::to_value(v).expect("TOML values are JSON values"));
                    }
                    set_dotted(&mut t, "train.seed", toml::Value::Integer(seed as i64)).expect("train is a table");
                    name.push(format!("seed-{seed}"));
                    let name = name.join("_");
                    let cfg = Preset::from_table(t).map_err(|e| at(format!("point {name}: {e}")))?;
                    if !names.insert(name.clone()) {
                        return Err(at(format!(
                            "two points are both named {name}: make the grid's values differ in more than punctuation"
                        )));
                    }
                    points.push(Point { name, recording: recording.clone(), data: recordings.clone(), values, seed });
                    configs.push(cfg);
                }
            }
        }
        let plan = Plan { sweep_file: path.to_path_buf(), base: file.base, kind, device: file.device, keys, points, slurm: file.slurm };
        Ok((plan, configs))
    }

    /// The plan saved in a sweep directory.
    pub fn load(dir: &Path) -> Result<Plan, SweepError> {
        let path = dir.join(PLAN_FILE);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| SweepError::Plan { file: path.clone(), message: format!("{e} (is {} a sweep directory?)", dir.display()) })?;
        serde_json::from_str(&text).map_err(|e| SweepError::Plan { file: path, message: e.to_string() })
    }

    /// The run directories of the sweep at `dir` as one ensemble: every point's, when the points
    /// differ in their seed alone (one config on one set of recordings, fitted with several
    /// seeds). A sweep of several configs or recordings is refused, naming them: which of them
    /// to average is the user's choice, made by giving those points' runs.
    pub fn ensemble_runs(&self, dir: &Path) -> Result<Vec<PathBuf>, SweepError> {
        let config = |p: &Point| {
            let values: Vec<String> = p.values.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            std::iter::once(p.recording.clone()).chain(values).collect::<Vec<_>>().join(", ")
        };
        let mut configs: Vec<String> = Vec::new();
        for point in &self.points {
            let c = config(point);
            if !configs.contains(&c) {
                configs.push(c);
            }
        }
        if configs.len() > 1 {
            return Err(SweepError::Plan {
                file: dir.join(PLAN_FILE),
                message: format!(
                    "the sweep has {} configurations besides its seeds ({}): an ensemble of a sweep is the seeds of one \
                     configuration; give those points' runs ({}/runs/NAME) instead",
                    configs.len(),
                    configs.join("; "),
                    dir.display()
                ),
            });
        }
        Ok(self.points.iter().map(|p| crate::point::PointDirs::new(dir, p).run).collect())
    }
}

fn base_seed(table: &toml::Table) -> u64 {
    table.get("train").and_then(|t| t.get("seed")).and_then(toml::Value::as_integer).unwrap_or(0) as u64
}

/// A recording's name, as `fit` names it: the file stem (a tree's directory name, a zip's stem).
fn stem(path: &Path) -> String {
    path.file_stem().map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned())
}

/// A key's last part names it in point names (`lr`), unless two swept keys share it.
fn short_names(keys: &[String]) -> Vec<String> {
    let last = |k: &str| k.rsplit('.').next().unwrap_or(k).to_string();
    keys.iter().map(|k| if keys.iter().filter(|o| last(o) == last(k)).count() > 1 { k.replace('.', "-") } else { last(k) }).collect()
}

fn display(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Letters, digits, `.`, `+` and `-` as they are; anything else becomes `_` (names are paths).
fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || ".+-".contains(c) { c } else { '_' }).collect()
}

/// Every combination of one value per key, the last key varying fastest.
fn product(grid: &[(String, Vec<toml::Value>)]) -> Vec<Vec<&toml::Value>> {
    grid.iter().fold(vec![vec![]], |acc, (_, values)| {
        acc.iter().flat_map(|prefix| values.iter().map(move |v| prefix.iter().copied().chain([v]).collect())).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Result<(Plan, Vec<Preset>), SweepError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("v1.h5"), b"").unwrap();
        std::fs::write(dir.path().join("v2.h5"), b"").unwrap();
        let file = dir.path().join("sweep.toml");
        std::fs::write(&file, text).unwrap();
        Plan::from_file(&file)
    }

    #[test]
    fn points_are_the_product_with_stable_names() {
        let (p, configs) = plan(
            "base = \"klindt2017\"\nseeds = [1, 2]\ndata = [\"v1.h5\", [\"v1.h5\", \"v2.h5\"]]\n[grid]\n\"model.core.channels\" = [16, 32]\n\"train.lr\" = [0.002]\n",
        )
        .unwrap();
        assert_eq!(p.points.len(), 2 * 2 * 2);
        assert_eq!(p.points[0].name, "v1_channels-16_lr-0.002_seed-1");
        assert_eq!(p.points[7].name, "v1+v2_channels-32_lr-0.002_seed-2");
        assert_eq!(p.points[7].data.len(), 2);
        let Preset::Responses(c) = &configs[7] else { panic!() };
        assert_eq!((c.model.core.as_ref().unwrap().channels, c.train.lr, c.train.seed), (32, 0.002, 2));
    }

    #[test]
    fn a_bad_key_or_value_is_refused_by_name() {
        let err = plan("base = \"klindt2017\"\ndata = [\"v1.h5\"]\n[grid]\n\"model.core.chanels\" = [16]\n").unwrap_err().to_string();
        assert!(err.contains("model.core.chanels") && err.contains("unknown field"), "{err}");
        let err = plan("base = \"klindt2017\"\ndata = [\"v1.h5\"]\n[grid]\n\"train.lr\" = [0.1, 2.0]\n").unwrap_err().to_string();
        assert!(err.contains("\"train.lr\" = 2.0") && err.contains("(0, 1)"), "{err}");
        let err = plan("base = \"klindt2017\"\ndata = [\"missing.h5\"]\n").unwrap_err().to_string();
        assert!(err.contains("missing.h5 does not exist"), "{err}");
        let err = plan("base = \"klindt2018\"\ndata = [\"v1.h5\"]\n").unwrap_err().to_string();
        assert!(err.contains("unknown preset \"klindt2018\""), "{err}");
    }
}
