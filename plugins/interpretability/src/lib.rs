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
use neurozoo_plugin::{export_plugin, Context, Figure, Input, Plugin, Table};
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
        let embedded = match input.string("embedding")? {
            "pixel" => embedding::pixels(&images),
            "energy" => tch::no_grad(|| embedding::filter_energy(&images)),
            _ => embedding::torchscript(input.string("model")?, &images, 256)?,
        };
        let embedded = to_array2(&embedded);
        let targets = targets(input, input.string("targets")?)?;
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
            for (j, column) in activations.axis_iter(Axis(1)).enumerate() {
                let started = Instant::now();
                let s = score(column, embedded.view(), &protocol, &mut rng);
                let mut shuffled = column.to_owned();
                shuffled.as_slice_mut().expect("an owned column is contiguous").shuffle(&mut chance_rng);
                col_chance.push(score(shuffled.view(), embedded.view(), &protocol, &mut chance_rng).ii);
                scoring += started.elapsed();
                col_target.push(name.clone());
                col_index.push(j as i64);
                col_ii.push(s.ii);
                col_mis.push(s.mis);
                ii.push(s.ii);
                ctx.progress(col_ii.len() as u64, total as u64);
            }
            let (mis, chance) = (&col_mis[col_mis.len() - ii.len()..], &col_chance[col_chance.len() - ii.len()..]);
            let k = ii.len() as f64;
            let mean = ii.iter().sum::<f64>() / k;
            let sem = if k > 1.0 { (ii.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (k - 1.0) / k).sqrt() } else { f64::NAN };
            let chance_mean = chance.iter().sum::<f64>() / k;
            summary.push((name.clone(), ii.len() as i64, mean, sem, mis.iter().sum::<f64>() / k, chance_mean));
            ctx.log(&format!("{name}: {} scored, mean II {mean:.3} ± {sem:.3} (shuffled: {chance_mean:.3})", ii.len()));
            let mut sorted = ii.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            curves.push((name.clone(), sorted.iter().enumerate().map(|(r, &v)| (r as f64, v)).collect()));
            ctx.figure(&format!("extremes_{name}"), &extremes(name, activations, &ii, stimuli))?;
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
                .f64("ii", col_ii)
                .f64("mis", col_mis)
                .f64("chance_ii", col_chance),
        )?;
        ctx.table(
            "summary",
            &Table::new()
                .str("target", summary.iter().map(|s| s.0.clone()).collect())
                .i64("count", summary.iter().map(|s| s.1).collect())
                .f64("mean_ii", summary.iter().map(|s| s.2).collect())
                .f64("sem_ii", summary.iter().map(|s| s.3).collect())
                .f64("mean_mis", summary.iter().map(|s| s.4).collect())
                .f64("chance_ii", summary.iter().map(|s| s.5).collect()),
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
