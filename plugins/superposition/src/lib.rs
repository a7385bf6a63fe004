//! `superposition`: directions in a representation's activation space that may carry features
//! the single units mix (Klindt, Sanborn, Acosta, Poitevin & Miolane 2023) — spherical k-means
//! on unit-normalised activations (the paper's method; as many clusters as units by default),
//! PCA, FastICA, a dictionary another plugin learned (`--arrays` of `sparse-coding`'s output),
//! and random directions as the baseline. The activation along a direction is the projection of
//! a stimulus's activation vector on it.
//!
//! Outputs, per method M: arrays `directions_M` (directions × units, unit norm) and
//! `projections_M` (stimuli × directions), the input of `interpretability`; a table
//! `directions` (method, direction, kurtosis and maximum of its projections, the stimulus that
//! drives it most); figures `kurtosis` (sorted per method: heavy tails mark sparse, feature-like
//! directions) and `kmeans_directions` (a heatmap of the k-means directions over units).

mod directions;

use ndarray::{Array2, Axis};
use neurozoo_plugin::{export_plugin, ColumnValues, Context, Figure, Input, Plugin, Table};
use neurozoo_sparse::dictionary::unit_rows;
use neurozoo_tensor::{to_array2, to_tensor};

struct Superposition;

const METHODS: [&str; 5] = ["kmeans", "pca", "ica", "dictionary", "random"];

/// Excess kurtosis of each column: 0 for a Gaussian, large for sparse, heavy-tailed responses.
fn kurtosis(p: &Array2<f32>) -> Vec<f64> {
    p.axis_iter(Axis(1))
        .map(|c| {
            let n = c.len() as f64;
            let mean = c.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let (m2, m4) = c.iter().fold((0.0, 0.0), |(a, b), &v| {
                let d = f64::from(v) - mean;
                (a + d * d / n, b + d.powi(4) / n)
            });
            if m2 > 0.0 {
                m4 / (m2 * m2) - 3.0
            } else {
                f64::NAN
            }
        })
        .collect()
}

impl Plugin for Superposition {
    const NAME: &'static str = "superposition";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "directions in activation space: k-means (Klindt et al. 2023), PCA, ICA, a learned dictionary, random";
    const PARAMS: &'static str = r#"{
        "methods": {"type": "string", "default": "auto", "description": "comma-separated from kmeans, pca, ica, dictionary, random; auto: all, dictionary when an input array 'dictionary' is given"},
        "n_directions": {"type": "integer", "default": 0, "minimum": 0, "description": "directions per method; 0: as many as units (PCA and ICA at most that many)"},
        "iterations": {"type": "integer", "default": 200, "minimum": 1, "description": "most k-means / ICA iterations"},
        "device": {"type": "string", "default": "auto", "enum": ["auto", "cpu", "cuda"], "description": "where libtorch runs"}
    }"#;

    fn run(ctx: &mut Context<'_>, input: &Input<'_>) -> Result<(), String> {
        let device = neurozoo_tensor::device_named(input.string("device")?).map_err(|e| e.to_string())?;
        let (stimuli, units) = input.representation.dim();
        if stimuli < 2 || units == 0 {
            return Err(format!("the representation is too small ({stimuli} stimuli × {units} units)"));
        }
        if input.representation.iter().any(|v| !v.is_finite()) {
            return Err("the representation has NaN or infinite values".into());
        }
        // Every projection of a constant representation is constant: no kurtosis to rank by.
        let first = input.representation.row(0);
        if input.representation.rows().into_iter().all(|r| r == first) {
            return Err(format!("the representation is the same for all {stimuli} stimuli: no direction varies"));
        }
        let dictionary = input.array("dictionary");
        let methods: Vec<&str> = match input.string("methods")? {
            "auto" => METHODS.iter().copied().filter(|&m| m != "dictionary" || dictionary.is_some()).collect(),
            list => list.split(',').map(str::trim).filter(|m| !m.is_empty()).collect(),
        };
        if methods.is_empty() {
            return Err(format!("methods = {:?}: name at least one of {} (or auto)", input.string("methods")?, METHODS.join(", ")));
        }
        if let Some(bad) = methods.iter().find(|m| !METHODS.contains(m)) {
            return Err(format!("methods: unknown method {bad:?} (expected {})", METHODS.join(", ")));
        }
        // Check the dictionary before any method runs, so a bad input writes nothing.
        let dictionary = match (methods.contains(&"dictionary"), dictionary) {
            (false, _) => None,
            (true, None) => {
                return Err("methods: dictionary needs an input array 'dictionary' (analyze --arrays, from sparse-coding)".into())
            }
            (true, Some(d)) if d.ndim() != 2 || d.shape()[1] != units => {
                return Err(format!("the input array 'dictionary' is {:?}; it must be (atoms, {units})", d.shape()))
            }
            (true, Some(d)) => Some(d.view().into_dimensionality::<ndarray::Ix2>().map_err(|e| e.to_string())?),
        };
        let requested = match input.integer("n_directions")? as usize {
            0 => units,
            k => k,
        };
        // Each method's directions and projections, as tensors and as the arrays handed back.
        let bytes = neurozoo_util::memory::bytes_of(&[requested, units.saturating_add(stimuli)], 4 * 4);
        neurozoo_util::memory::fits_in_memory(bytes)
            .map_err(|e| format!("n_directions = {requested}: the directions and their projections {e}"))?;
        let iterations = input.integer("iterations")? as usize;
        let x = to_tensor(input.representation, device);
        let ids: Vec<i64> =
            input.metadata["stimulus_ids"].as_array().map(|a| a.iter().filter_map(|v| v.as_i64()).collect()).unwrap_or_default();
        let (mut col_method, mut col_direction, mut col_kurtosis, mut col_max, mut col_top) = (vec![], vec![], vec![], vec![], vec![]);
        let mut curves = Vec::new();
        for (i, &method) in methods.iter().enumerate() {
            let k = if matches!(method, "pca" | "ica") && requested > units {
                ctx.warn(&format!("{method}: at most {units} directions in {units} units"));
                units
            } else {
                requested
            };
            let found = match method {
                "kmeans" => directions::spherical_kmeans(&x, k, iterations, input.seed),
                "pca" => directions::pca(&x, k),
                "ica" => directions::fast_ica(&x, k, iterations, input.seed),
                "random" => directions::random(k, units, input.seed, &x),
                _ => unit_rows(&to_tensor(dictionary.expect("checked above"), device)).0,
            };
            let projections = to_array2(&x.matmul(&found.tr()));
            let found = to_array2(&found);
            let kurt = kurtosis(&projections);
            for (j, column) in projections.axis_iter(Axis(1)).enumerate() {
                let (arg, max) = column.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (s, &v)| if v > b.1 { (s, v) } else { b });
                col_method.push(method.to_string());
                col_direction.push(j as i64);
                col_kurtosis.push(kurt[j].is_finite().then_some(kurt[j]));
                col_max.push(f64::from(max));
                col_top.push(ids.get(arg).copied().unwrap_or(arg as i64));
            }
            let mut sorted: Vec<f64> = kurt.iter().copied().filter(|v| v.is_finite()).collect();
            sorted.sort_by(|a, b| b.total_cmp(a));
            curves.push((method.to_string(), sorted.iter().enumerate().map(|(r, &v)| (r as f64, v)).collect()));
            if method == "kmeans" {
                let rows = found.outer_iter().take(64).map(|r| r.iter().map(|&v| f64::from(v)).collect()).collect();
                ctx.figure(
                    "kmeans_directions",
                    &Figure::Heatmap {
                        title: "k-means directions (rows) over units".into(),
                        x_label: "unit".into(),
                        y_label: "direction".into(),
                        rows,
                    },
                )?;
            }
            ctx.array(&format!("directions_{method}"), found.view().into_dyn())?;
            ctx.array(&format!("projections_{method}"), projections.view().into_dyn())?;
            // A direction whose projections are all equal has no kurtosis: left out, and counted.
            let constant = kurt.len() - sorted.len();
            if constant > 0 {
                ctx.warn(&format!(
                    "{method}: {constant} of {} directions project every stimulus to one value: kurtosis undefined",
                    kurt.len()
                ));
            }
            let median = sorted.get(sorted.len() / 2).map_or("undefined".to_string(), |m| format!("{m:.2}"));
            ctx.log(&format!("{method}: {} directions, median kurtosis {median}", found.nrows()));
            ctx.progress(i as u64 + 1, methods.len() as u64);
        }
        let table = Table::new()
            .str("method", col_method)
            .i64("direction", col_direction)
            .column("kurtosis", ColumnValues::F64(col_kurtosis))
            .f64("max_projection", col_max)
            .i64("top_stimulus", col_top);
        ctx.table("directions", &table)?;
        ctx.figure(
            "kurtosis",
            &Figure::Line {
                title: "Kurtosis of the projections, sorted".into(),
                x_label: "direction (rank)".into(),
                y_label: "excess kurtosis".into(),
                series: curves,
            },
        )
    }
}

export_plugin!(Superposition);
