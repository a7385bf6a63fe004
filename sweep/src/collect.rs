//! `sweep collect`: one table row per point, the best values, and a figure per swept key.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use neurozoo_analysis::figures::draw_figure;
use neurozoo_config::ModelKind;
use neurozoo_job::RunInfo;
use neurozoo_plugin::Figure;
use neurozoo_tables::{write_table, ColumnValues, Table};
use serde::Serialize;
use serde_json::Value;

use crate::plan::{Plan, Point};
use crate::point::{failure, read_eval, read_status, PointDirs, State, Status};
use crate::SweepError;

/// What `collect` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Collected {
    pub table: [PathBuf; 2],
    pub best: Option<Best>,
    pub figures: Vec<PathBuf>,
    /// Points by state: done, failed, …
    pub states: BTreeMap<String, usize>,
    /// Configurations (recording and values, as JSON) ranked on fewer seeds than planned, with
    /// the seeds they miss.
    pub short_of_seeds: Vec<(String, Vec<u64>)>,
    /// Failed points, by name, with why.
    pub failed: Vec<(String, String)>,
}

/// `best.json`: the swept values whose mean metric over seeds is highest.
#[derive(Debug, Clone, Serialize)]
pub struct Best {
    pub metric: String,
    pub recording: String,
    pub values: BTreeMap<String, Value>,
    pub mean: f64,
    /// Sample standard deviation over the seeds (0 for one seed).
    pub sd: f64,
    pub seeds: Vec<u64>,
    /// Seeds the plan has for these values that have no metric (failed, unreadable, not run):
    /// the mean is over fewer seeds than planned when this is not empty.
    pub missing_seeds: Vec<u64>,
    /// The point names it averages.
    pub points: Vec<String>,
}

/// The metric `best.json` ranks by: the validation correlation of response models (pooled over
/// recordings), the Spearman MCC of sprite-pair models.
pub fn default_metric(plan: &Plan) -> &'static str {
    match plan.kind {
        ModelKind::Responses => "validation_correlation",
        ModelKind::SpritePairs => "mcc_spearman",
    }
}

/// Numbers of an `eval --json` object, flattened to `tier_metric` names (the pooled section of
/// a multi-recording run).
pub fn eval_metrics(eval: &Value) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let source = eval.get("pooled").unwrap_or(eval);
    flatten(source, "", &mut out);
    out
}

fn flatten(v: &Value, prefix: &str, out: &mut BTreeMap<String, f64>) {
    match v {
        Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                out.insert(prefix.to_string(), x);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}_{k}") };
                flatten(v, &name, out);
            }
        }
        _ => {}
    }
}

struct Row<'a> {
    point: &'a Point,
    state: State,
    metrics: BTreeMap<String, f64>,
    epochs: Option<i64>,
    seconds: Option<f64>,
    error: String,
}

/// Write `DIR/results.parquet` and `.csv`, `DIR/best.json` and `DIR/figures/<key>.png|svg`.
pub fn collect(dir: &Path, plan: &Plan, metric: &str) -> Result<Collected, SweepError> {
    // The states `sweep status` shows, SLURM's view included.
    let rows: Vec<Row> = plan
        .points
        .iter()
        .zip(crate::observe(dir, plan))
        .map(|(p, observed)| {
            let dirs = PointDirs::new(dir, p);
            let state = observed.state;
            // A done point's report read as its state was: unreadable, it is failed.
            let metrics = match state {
                State::Done => read_eval(&dirs).map(|e| eval_metrics(&e)).unwrap_or_default(),
                _ => BTreeMap::new(),
            };
            // Epochs or steps, in the run's own unit.
            let epochs = RunInfo::load(&dirs.run).ok().map(|r| r.trained() as i64);
            let seconds = match read_status(&dirs) {
                Some(Status::Done { seconds } | Status::Failed { seconds, .. }) => Some(seconds),
                _ => None,
            };
            let error = if state == State::Failed { failure(&dirs).unwrap_or_default() } else { String::new() };
            Row { point: p, state, metrics, epochs, seconds, error }
        })
        .collect();

    let mut table = Table::new().str("point", rows.iter().map(|r| r.point.name.clone()).collect());
    table = table.str("recording", rows.iter().map(|r| r.point.recording.clone()).collect());
    for key in &plan.keys {
        let values: Vec<&Value> = rows.iter().map(|r| &r.point.values[key]).collect();
        table = table.column(key, value_column(&values));
    }
    table = table
        .i64("seed", rows.iter().map(|r| r.point.seed as i64).collect())
        .str("status", rows.iter().map(|r| r.state.as_str().to_string()).collect())
        .column("epochs", ColumnValues::I64(rows.iter().map(|r| r.epochs).collect()))
        .column("seconds", ColumnValues::F64(rows.iter().map(|r| r.seconds).collect()));
    let names: BTreeSet<&String> = rows.iter().flat_map(|r| r.metrics.keys()).collect();
    for name in names {
        table = table.column(name, ColumnValues::F64(rows.iter().map(|r| r.metrics.get(name).copied()).collect()));
    }
    table = table.str("error", rows.iter().map(|r| r.error.clone()).collect());
    let table_files = write_table(&table, dir, "results").map_err(|e| SweepError::Write(e.to_string()))?;

    // Mean and spread over seeds of every (recording, values) group.
    let mut groups: BTreeMap<(String, String), Vec<&Row>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.metrics.contains_key(metric)) {
        groups.entry((r.point.recording.clone(), serde_json::to_string(&r.point.values).expect("values serialise"))).or_default().push(r);
    }
    // The seeds each group was planned with, and those it ranks without.
    let missing = |rs: &[&Row]| -> Vec<u64> {
        let p = rs[0].point;
        plan.points
            .iter()
            .filter(|q| q.recording == p.recording && q.values == p.values && !rs.iter().any(|r| r.point.seed == q.seed))
            .map(|q| q.seed)
            .collect()
    };
    let short_of_seeds: Vec<(String, Vec<u64>)> = groups
        .iter()
        .filter_map(|((recording, values), rs)| {
            let m = missing(rs);
            (!m.is_empty()).then(|| (format!("{recording} {values}"), m))
        })
        .collect();
    let summary = |rs: &[&Row]| mean_sd(&rs.iter().map(|r| r.metrics[metric]).collect::<Vec<_>>());
    let best = groups.values().map(|rs| (rs, summary(rs))).max_by(|a, b| a.1 .0.total_cmp(&b.1 .0)).map(|(rs, (mean, sd))| Best {
        metric: metric.to_string(),
        recording: rs[0].point.recording.clone(),
        values: rs[0].point.values.clone(),
        mean,
        sd,
        seeds: rs.iter().map(|r| r.point.seed).collect(),
        missing_seeds: missing(rs),
        points: rs.iter().map(|r| r.point.name.clone()).collect(),
    });
    let best_file = dir.join("best.json");
    match &best {
        Some(b) => crate::write_atomic(&best_file, &serde_json::to_string_pretty(b).expect("serialises"))?,
        // Nothing to rank (no point done): no stale best.json from an earlier collect.
        None => drop(std::fs::remove_file(&best_file)),
    }

    // One figure per swept key of several values: the metric against the key's value, mean ± sd
    // over the other keys' values and the seeds as bars, one line per recording.
    let mut figures = Vec::new();
    let fig_dir = dir.join("figures");
    for key in &plan.keys {
        let order: Vec<&Value> = plan.points.iter().map(|p| &p.values[key]).fold(Vec::new(), |mut acc, v| {
            if !acc.contains(&v) {
                acc.push(v);
            }
            acc
        });
        if order.len() < 2 {
            continue; // one value: nothing to draw against
        }
        let numeric = order.iter().all(|v| v.is_number());
        let x = |v: &Value| if numeric { v.as_f64().unwrap_or(f64::NAN) } else { order.iter().position(|o| *o == v).unwrap_or(0) as f64 };
        let mut series = Vec::new();
        let recordings: BTreeSet<&String> = rows.iter().map(|r| &r.point.recording).collect();
        for rec in recordings {
            let stats: Vec<(f64, f64, f64)> = order
                .iter()
                .filter_map(|v| {
                    let ys: Vec<f64> = rows
                        .iter()
                        .filter(|r| &r.point.recording == rec && &r.point.values[key] == *v)
                        .filter_map(|r| r.metrics.get(metric).copied())
                        .collect();
                    (!ys.is_empty()).then(|| {
                        let (m, sd) = mean_sd(&ys);
                        (x(v), m, sd)
                    })
                })
                .collect();
            if stats.is_empty() {
                continue;
            }
            series.push((
                rec.to_string(),
                stats.iter().map(|&(x, m, s)| neurozoo_plugin::Point::with_interval(x, m, m - s, m + s)).collect(),
            ));
        }
        if series.is_empty() {
            continue;
        }
        // Values that are not numbers stand at x = 0, 1, … under their own labels.
        let x_ticks =
            if numeric { Vec::new() } else { order.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect() };
        let figure = Figure::Points {
            title: format!("{metric} against {key} (mean ± sd over seeds)"),
            x_label: key.clone(),
            y_label: metric.to_string(),
            joined: true,
            x_ticks,
            series,
        };
        std::fs::create_dir_all(&fig_dir).map_err(|e| SweepError::Write(format!("{}: {e}", fig_dir.display())))?;
        let stem = key.replace('.', "_");
        figures.extend(draw_figure(&figure, &fig_dir, &stem).map_err(|e| SweepError::Write(e.to_string()))?);
    }
    let mut states = BTreeMap::new();
    for r in &rows {
        *states.entry(r.state.as_str().to_string()).or_insert(0) += 1;
    }
    let failed = rows.iter().filter(|r| r.state == State::Failed).map(|r| (r.point.name.clone(), r.error.clone())).collect();
    Ok(Collected { table: table_files, best, figures, states, short_of_seeds, failed })
}

/// A swept key's column: numbers as f64, booleans as bool, anything else as text.
fn value_column(values: &[&Value]) -> ColumnValues {
    if values.iter().all(|v| v.is_number()) {
        ColumnValues::F64(values.iter().map(|v| v.as_f64()).collect())
    } else if values.iter().all(|v| v.is_boolean()) {
        ColumnValues::Bool(values.iter().map(|v| v.as_bool()).collect())
    } else {
        ColumnValues::Str(values.iter().map(|v| Some(v.as_str().map_or_else(|| v.to_string(), str::to_string))).collect())
    }
}

/// Mean and sample standard deviation (0 for one value).
fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let sd = if xs.len() > 1 { (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
    (mean, sd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_metrics_flatten_tiers_and_prefer_the_pooled_section() {
        let one = serde_json::json!({"run": "r", "validation": {"correlation": 0.5, "trials": 3}, "rf_recovery": {"median_error_px": 0.2, "type_offsets_px": {"a": [1, 2]}}});
        let m = eval_metrics(&one);
        assert_eq!(m["validation_correlation"], 0.5);
        assert_eq!(m["rf_recovery_median_error_px"], 0.2);
        assert!(!m.keys().any(|k| k.contains("offsets")), "{m:?}");
        let many =
            serde_json::json!({"recordings": {"a": {"validation": {"correlation": 0.1}}}, "pooled": {"validation": {"correlation": 0.4}}});
        assert_eq!(eval_metrics(&many).into_iter().collect::<Vec<_>>(), [("validation_correlation".to_string(), 0.4)]);
    }

    #[test]
    fn mean_sd_is_the_sample_spread() {
        assert_eq!(mean_sd(&[1.0]), (1.0, 0.0));
        let (m, sd) = mean_sd(&[1.0, 2.0, 3.0]);
        assert!((m - 2.0).abs() < 1e-12 && (sd - 1.0).abs() < 1e-12);
    }
}
