//! `interpretability`: automated 2AFC interpretability scores of every unit of a representation
//! and of every direction another plugin found (`projections_*` arrays of `superposition`, given
//! with `--arrays`), so units and directions, brain and model, are scored the same way.
//!
//! Per unit or direction: **II** (Klindt et al. 2023: σ(ℓ_correct − ℓ_swap) on each trial's
//! z-scored similarities, averaged over trials) and **MIS**-style σ(α·Δ) on raw similarities
//! (Zimmermann et al. 2024's form, α = 0.16 by default; see `scoring`). Similarity is the cosine
//! of an image embedding: `energy` (oriented filter energy, built in, no downloads), `pixel`, or
//! `torchscript` (any user image model saved with `torch.jit.save`, e.g. an exported DreamSim or
//! LPIPS backbone, given as `model`).
//!
//! Every column is also scored once with its activations shuffled across stimuli: the protocol's
//! chance level for this embedding and stimulus set (0.5 in expectation; a bias here would mean
//! the ranking leaks into the task).
//!
//! Outputs: tables `scores` (target, index, ii, mis, chance_ii) and `summary` (per target: count,
//! mean and standard error of II, mean MIS, mean chance II); figures `ii_by_target` (sorted II per target) and
//! `extremes_TARGET` (top and bottom stimuli of the best-scoring four of each target).

mod embedding;
mod scoring;

use std::time::{Duration, Instant};

use ndarray::{ArrayView2, Axis};
use neurozoo_plugin::{export_plugin, ColumnValues, Context, Figure, Input, Plugin, Table};
use neurozoo_tensor::{to_array2, to_tensor};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use scoring::{score, Protocol};

struct Interpretability;

/// The columns to score: the representation's units, then each `projections_*` input array.
fn targets<'a>(input: &'a Input<'_>, which: &str) -> Result<Vec<(String, ArrayView2<'a, f32>)>, String> {
    let stimuli = input.representation.nrows();
    let mut out = vec![("units".to_string(), input.representation.view())];
    for (name, array) in &input.arrays {
        let Some(method) = name.strip_prefix("projections_") else { continue };
        if array.ndim() != 2 || array.shape()[0] != stimuli {
            return Err(format!("input array {name:?} is {:?}; projections must be ({stimuli}, directions)", array.shape()));
        }
        out.push((method.to_string(), array.view().into_dimensionality().map_err(|e| e.to_string())?));
    }
    if which != "auto" {
        let wanted: Vec<&str> = which.split(',').map(str::trim).collect();
        if let Some(missing) = wanted.iter().find(|w| !out.iter().any(|(n, _)| n == *w)) {
            let have: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
            return Err(format!("targets: no {missing:?} to score (have: {})", have.join(", ")));
        }
        out.retain(|(n, _)| wanted.contains(&n.as_str()));
    }
    Ok(out)
}

impl Plugin for Interpretability {
    const NAME: &'static str = "interpretability";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "automated 2AFC interpretability (II, MIS-style) of units and of superposition directions";
    const PARAMS: &'static str = r#"{
        "targets": {"type": "string", "default": "auto", "description": "comma-separated: units and/or methods whose projections_M arrays were given; auto: all"},
        "embedding": {"type": "string", "default": "energy", "enum": ["energy", "pixel", "torchscript"], "description": "image similarity: oriented filter energy, pixels, or a TorchScript model"},
        "model": {"type": "string", "default": "", "description": "embedding=torchscript: path of the model saved with torch.jit.save"},
        "trials": {"type": "integer", "default": 20, "minimum": 1, "description": "2AFC trials per unit (fewer when there are too few stimuli)"},
        "references": {"type": "integer", "default": 9, "minimum": 1, "description": "reference images per side and trial"},
        "alpha": {"type": "number", "default": 0.16, "description": "slope of the MIS-style classifier sigmoid(alpha * delta)"},
        "device": {"type": "string", "default": "auto", "enum": ["auto", "cpu", "cuda"], "description": "where the embedding runs"}
    }"#;

    fn run(ctx: &mut Context<'_>, input: &Input<'_>) -> Result<(), String> {
        let stimuli = input.stimuli.as_ref().ok_or("the representation file has no stimuli: interpretability compares images")?;
        if stimuli.ndim() != 4 {
            return Err(format!("stimuli must be (n, C, H, W), not {:?}", stimuli.shape()));
        }
        // Settings and inputs first: a bad one is a sentence, not an error from deep in libtorch.
        let embedding_kind = input.string("embedding")?;
        if embedding_kind == "torchscript" && input.string("model")?.is_empty() {
            return Err("embedding = torchscript needs model = the path of a model saved with torch.jit.save".into());
        }
        if let Some((index, v)) = stimuli.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(format!(
                "stimulus {} holds {v} (at {:?}): image similarity needs finite pixels",
                index[0],
                ndarray::Dimension::slice(&index)
            ));
        }
        let targets = targets(input, input.string("targets")?)?;
        let varies = |c: ndarray::ArrayView1<'_, f32>| c.iter().any(|&v| v != c[0]);
        if !targets.iter().any(|(_, a)| a.axis_iter(Axis(1)).any(varies)) {
            return Err("every unit and direction is the same for all stimuli: there is no most or least activating image to score".into());
        }
        let device = neurozoo_tensor::device_named(input.string("device")?).map_err(|e| e.to_string())?;
        let n = input.representation.nrows();
        let references = input.integer("references")? as usize;
        let most_trials = n / (2 * (references + 1));
        if most_trials == 0 {
            return Err(format!("{n} stimuli are too few for {references} references per side"));
        }
        let mut protocol = Protocol { trials: input.integer("trials")? as usize, references, alpha: input.number("alpha")? };
        if protocol.trials > most_trials {
            ctx.warn(&format!("{n} stimuli allow {most_trials} trials of {references} references per side, not {}", protocol.trials));
            protocol.trials = most_trials;
        }
        let images = to_tensor(stimuli.view(), device);
        let embedded = match embedding_kind {
            "pixel" => embedding::pixels(&images),
            "energy" => tch::no_grad(|| embedding::filter_energy(&images)),
            _ => embedding::torchscript(input.string("model")?, &images, 256)?,
        };
        let embedded = to_array2(&embedded);
        let total: usize = targets.iter().map(|(_, a)| a.ncols()).sum();
        let mut rng = ChaCha8Rng::seed_from_u64(input.seed);
        // The shuffled control draws from its own stream, so adding it leaves the scores as they were.
        let mut chance_rng = ChaCha8Rng::seed_from_u64(input.seed);
        chance_rng.set_stream(1);
        let (mut col_target, mut col_index, mut col_ii, mut col_mis, mut col_chance) = (vec![], vec![], vec![], vec![], vec![]);
        let (mut summary, mut curves) = (Vec::new(), Vec::new());
        // Scoring time only (both scorings of each column), not the figures drawn between targets.
        let mut scoring = Duration::ZERO;
        for (name, activations) in &targets {
            let mut ii = Vec::with_capacity(activations.ncols());
            let mut constant = 0;
            for (j, column) in activations.axis_iter(Axis(1)).enumerate() {
                col_target.push(name.clone());
                col_index.push(j as i64);
                // A column that never varies ranks no stimulus above another: its II is
                // undefined (null), not the 0.5 a tie-broken ranking would give.
                if !varies(column) {
                    constant += 1;
                    col_ii.push(None);
                    col_mis.push(None);
                    col_chance.push(None);
                    continue;
                }
                let started = Instant::now();
                let s = score(column, embedded.view(), &protocol, &mut rng);
                let mut shuffled = column.to_owned();
                shuffled.as_slice_mut().expect("an owned column is contiguous").shuffle(&mut chance_rng);
                col_chance.push(Some(score(shuffled.view(), embedded.view(), &protocol, &mut chance_rng).ii));
                scoring += started.elapsed();
                col_ii.push(Some(s.ii));
                col_mis.push(Some(s.mis));
                ii.push(s.ii);
                ctx.progress(col_ii.len() as u64, total as u64);
            }
            if constant > 0 {
                ctx.warn(&format!(
                    "{name}: {constant} of {} are the same for all stimuli: their II is undefined and left out of the mean",
                    activations.ncols()
                ));
            }
            let defined = |c: &[Option<f64>]| -> Vec<f64> { c[c.len() - activations.ncols()..].iter().flatten().copied().collect() };
            let (mis, chance) = (defined(&col_mis), defined(&col_chance));
            if ii.is_empty() {
                summary.push((name.clone(), 0, None, None, None, None));
                continue;
            }
            let k = ii.len() as f64;
            let mean = ii.iter().sum::<f64>() / k;
            let sem = if k > 1.0 { (ii.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (k - 1.0) / k).sqrt() } else { f64::NAN };
            let chance_mean = chance.iter().sum::<f64>() / k;
            summary.push((
                name.clone(),
                ii.len() as i64,
                Some(mean),
                Some(sem).filter(|s| s.is_finite()),
                Some(mis.iter().sum::<f64>() / k),
                Some(chance_mean),
            ));
            ctx.log(&format!("{name}: {} scored, mean II {mean:.3} ± {sem:.3} (shuffled: {chance_mean:.3})", ii.len()));
            let mut sorted = ii.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            curves.push((name.clone(), sorted.iter().enumerate().map(|(r, &v)| (r as f64, v)).collect()));
            let scored: Vec<f64> = col_ii[col_ii.len() - activations.ncols()..].iter().map(|v| v.unwrap_or(f64::NEG_INFINITY)).collect();
            ctx.figure(&format!("extremes_{name}"), &extremes(name, activations, &scored, stimuli))?;
        }
        let seconds = scoring.as_secs_f64();
        ctx.log(&format!(
            "{total} units and directions scored in {seconds:.2} s ({:.0} per second, {} trials each, shuffled control included)",
            total as f64 / seconds,
            protocol.trials
        ));
        ctx.table(
            "scores",
            &Table::new()
                .str("target", col_target)
                .i64("index", col_index)
                .column("ii", ColumnValues::F64(col_ii))
                .column("mis", ColumnValues::F64(col_mis))
                .column("chance_ii", ColumnValues::F64(col_chance)),
        )?;
        ctx.table(
            "summary",
            &Table::new()
                .str("target", summary.iter().map(|s| s.0.clone()).collect())
                .i64("count", summary.iter().map(|s| s.1).collect())
                .column("mean_ii", ColumnValues::F64(summary.iter().map(|s| s.2).collect()))
                .column("sem_ii", ColumnValues::F64(summary.iter().map(|s| s.3).collect()))
                .column("mean_mis", ColumnValues::F64(summary.iter().map(|s| s.4).collect()))
                .column("chance_ii", ColumnValues::F64(summary.iter().map(|s| s.5).collect())),
        )?;
        ctx.figure(
            "ii_by_target",
            &Figure::Line {
                title: "II per unit or direction, sorted".into(),
                x_label: "rank".into(),
                y_label: "II".into(),
                series: curves,
            },
        )
    }
}

/// The 5 most and 5 least activating stimuli (grey) of the target's four best-scoring columns.
fn extremes(name: &str, activations: &ArrayView2<'_, f32>, ii: &[f64], stimuli: &ndarray::ArrayViewD<'_, f32>) -> Figure {
    let mut best: Vec<usize> = (0..ii.len()).collect();
    best.sort_by(|&a, &b| ii[b].total_cmp(&ii[a]));
    let grey = |s: usize| -> Vec<Vec<f64>> {
        let image = stimuli.index_axis(Axis(0), s);
        let (c, h, w) = (image.shape()[0], image.shape()[1], image.shape()[2]);
        (0..h).map(|y| (0..w).map(|x| (0..c).map(|ch| f64::from(image[[ch, y, x]])).sum::<f64>() / c as f64).collect()).collect()
    };
    let mut images = Vec::new();
    for &j in best.iter().take(4) {
        let column = activations.column(j);
        let mut order: Vec<usize> = (0..column.len()).collect();
        order.sort_by(|&a, &b| column[b].total_cmp(&column[a]));
        for (k, &s) in order.iter().take(5).enumerate() {
            images.push((format!("#{j} +{}", k + 1), grey(s)));
        }
        for (k, &s) in order.iter().rev().take(5).enumerate() {
            images.push((format!("#{j} −{}", k + 1), grey(s)));
        }
    }
    Figure::ImageGrid { title: format!("{name}: most (+) and least (−) activating stimuli of the four highest-II"), images, columns: 10 }
}

export_plugin!(Interpretability);
