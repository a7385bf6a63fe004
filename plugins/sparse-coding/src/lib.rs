//! `sparse-coding`: learn a dictionary of a representation — by alternating FISTA/ISTA sparse
//! inference with least-squares atom updates, or as a ReLU or TopK sparse autoencoder — and,
//! for an SAE, measure its amortisation gap against sparse inference on its own decoder.
//!
//! When the representation file carries ground truth (`gt_dictionary`, `gt_codes`, as
//! `neurozoo data simulate sparse` writes), the dictionary and codes are scored by MCC under the
//! optimal matching (O'Neill, Klindt et al. 2024).
//!
//! Outputs: arrays `dictionary` (atoms × units) and `codes` (stimuli × atoms), plus
//! `inferred_codes` for an SAE; tables `scores`, `atoms`, `training`; figures `training_curve`,
//! `atom_usage`, and `atoms` when the units are the stimulus pixels.

use ndarray::{Array2, ArrayView2, Axis};
use neurozoo_metrics::{dictionary_mcc, mcc, Matching};
use neurozoo_plugin::{export_plugin, ColumnValues, Context, Figure, Input, Plugin, Table};
use neurozoo_sparse::{amortisation_gap, DictionaryLearning, Fit, Sae, SaeConfig, SaeKind, Solver, SparseInference};
use neurozoo_tensor::{to_array2, to_tensor};
use tch::{Kind, Tensor};

struct SparseCoding;

/// One way of coding the data, scored.
struct Scored {
    codes_from: &'static str,
    fit: Fit,
    code_mcc: Option<f64>,
}

/// A per-epoch series for the training-curve figure.
type Curve = (String, Vec<(f64, f64)>);

fn curve(name: &str, epochs: impl Iterator<Item = usize>, values: impl Iterator<Item = f64>) -> Curve {
    (name.to_string(), epochs.map(|e| e as f64).zip(values).collect())
}

struct GroundTruth {
    dictionary: Array2<f64>,
    codes: Array2<f64>,
}

impl GroundTruth {
    /// The file's ground truth, when it has both arrays and they fit the representation.
    fn of(ctx: &mut Context<'_>, input: &Input<'_>) -> Option<GroundTruth> {
        let (d, c) = (input.array("gt_dictionary")?, input.array("gt_codes")?);
        let (samples, units) = input.representation.dim();
        if d.ndim() != 2 || c.ndim() != 2 || d.shape()[1] != units || c.shape()[0] != samples || c.shape()[1] != d.shape()[0] {
            ctx.warn(&format!(
                "ignoring ground truth: gt_dictionary {:?} and gt_codes {:?} do not fit the representation ({samples}, {units})",
                d.shape(),
                c.shape()
            ));
            return None;
        }
        let as_f64 = |a: &ndarray::ArrayViewD<'_, f32>| a.mapv(f64::from).into_dimensionality().expect("checked 2-D");
        Some(GroundTruth { dictionary: as_f64(d), codes: as_f64(c) })
    }

    /// The mean number of active sources per sample.
    fn k(&self) -> usize {
        let active = self.codes.iter().filter(|&&v| v != 0.0).count() as f64;
        (active / self.codes.nrows() as f64).round().max(1.0) as usize
    }
}

fn f64_matrix(t: &Tensor) -> Array2<f64> {
    to_array2(t).mapv(f64::from)
}

impl Plugin for SparseCoding {
    const NAME: &'static str = "sparse-coding";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "dictionary learning (FISTA/ISTA) and ReLU/TopK sparse autoencoders, with MCC against ground truth";
    const PARAMS: &'static str = r#"{
        "method": {"type": "string", "default": "dictionary", "enum": ["dictionary", "sae-relu", "sae-topk"], "description": "dictionary learning, or a sparse autoencoder"},
        "n_atoms": {"type": "integer", "default": 0, "minimum": 0, "description": "atoms / latents; 0: as many as the ground truth has, else 2 x units"},
        "lambda": {"type": "number", "default": 0.1, "minimum": 0, "description": "L1 weight of 1/2|x - zD|^2 + lambda |z|_1 (dictionary, sae-relu, and the inference the SAE is compared with)"},
        "k": {"type": "integer", "default": 0, "minimum": 0, "description": "sae-topk: active latents per sample; 0: the ground truth's K, else 4"},
        "solver": {"type": "string", "default": "fista", "enum": ["fista", "ista"], "description": "sparse inference"},
        "nonnegative": {"type": "boolean", "default": false, "description": "dictionary: codes >= 0 (SAE codes always are)"},
        "iterations": {"type": "integer", "default": 200, "minimum": 1, "description": "most inference iterations per epoch"},
        "restarts": {"type": "integer", "default": 6, "minimum": 1, "description": "dictionary: independent initialisations, the lowest objective is kept"},
        "epochs": {"type": "integer", "default": 300, "minimum": 1, "description": "dictionary epochs or SAE passes over the data"},
        "batch_size": {"type": "integer", "default": 256, "minimum": 1, "description": "SAE minibatch"},
        "lr": {"type": "number", "default": 0.001, "minimum": 0, "description": "SAE Adam learning rate"},
        "center": {"type": "boolean", "default": false, "description": "dictionary: subtract each unit's mean first (SAEs learn a bias)"},
        "device": {"type": "string", "default": "auto", "enum": ["auto", "cpu", "cuda"], "description": "where libtorch runs"}
    }"#;

    fn run(ctx: &mut Context<'_>, input: &Input<'_>) -> Result<(), String> {
        let device = neurozoo_tensor::device_named(input.string("device")?).map_err(|e| e.to_string())?;
        let (samples, units) = input.representation.dim();
        if samples == 0 || units == 0 {
            return Err(format!("the representation is empty ({samples} stimuli × {units} units)"));
        }
        check_input(input.representation)?;
        let truth = GroundTruth::of(ctx, input);
        let n_atoms = match input.integer("n_atoms")? as usize {
            0 => truth.as_ref().map_or(2 * units, |t| t.dictionary.nrows()),
            n => n,
        };
        check_memory(n_atoms, samples, units)?;
        let method = input.string("method")?;
        let epochs = input.integer("epochs")? as usize;
        let inference = SparseInference {
            solver: if input.string("solver")? == "ista" { Solver::Ista } else { Solver::Fista },
            lambda: input.number("lambda")?,
            nonnegative: method != "dictionary" || input.boolean("nonnegative")?,
            max_iter: input.integer("iterations")? as usize,
            ..SparseInference::default()
        };
        let mut x = to_tensor(input.representation, device);
        if method == "dictionary" && input.boolean("center")? {
            x = &x - x.mean_dim([0i64].as_slice(), true, Kind::Float);
        }
        ctx.log(&format!("{method}: {n_atoms} atoms for {samples} × {units} on {device:?}"));
        let score = |codes_from, codes: &Tensor, fit: Fit| Scored {
            codes_from,
            fit,
            code_mcc: truth.as_ref().map(|t| mcc(t.codes.view(), f64_matrix(codes).view()).mean),
        };
        let (dictionary, codes, scores, training, curves) = if method == "dictionary" {
            let restarts = input.integer("restarts")? as usize;
            let learner = DictionaryLearning { n_atoms, inference: inference.clone(), epochs, tol: 1e-7, restarts, seed: input.seed };
            // Progress counts epochs of all restarts; a restart that converges early skips ahead.
            let total = (epochs * restarts) as u64;
            let learned = learner.fit(&x, |r, e| ctx.progress((r * epochs + e.epoch) as u64, total));
            let objectives: Vec<String> = learned.restart_objectives.iter().map(|o| format!("{o:.5}")).collect();
            ctx.log(&format!("objective of each restart: {} (the lowest is kept)", objectives.join(", ")));
            let h = &learned.history;
            let training = Table::new()
                .i64("epoch", h.iter().map(|e| e.epoch as i64).collect())
                .f64("objective", h.iter().map(|e| e.fit.objective).collect())
                .f64("mse", h.iter().map(|e| e.fit.mse).collect())
                .f64("l0", h.iter().map(|e| e.fit.l0).collect())
                .i64("iterations", h.iter().map(|e| e.iterations as i64).collect())
                .i64("reseeded", h.iter().map(|e| e.reseeded as i64).collect());
            let fit = neurozoo_sparse::fit(&x, &learned.dictionary, &learned.codes, inference.lambda);
            let scores = vec![score("inference", &learned.codes, fit)];
            let curves = vec![
                curve("objective", h.iter().map(|e| e.epoch), h.iter().map(|e| e.fit.objective)),
                curve("mse", h.iter().map(|e| e.epoch), h.iter().map(|e| e.fit.mse)),
            ];
            (learned.dictionary, learned.codes, scores, training, curves)
        } else {
            let kind = if method == "sae-relu" {
                SaeKind::Relu { lambda: inference.lambda }
            } else {
                let k = match input.integer("k")? as usize {
                    0 => truth.as_ref().map_or(4, GroundTruth::k),
                    k => k,
                };
                if k > n_atoms {
                    return Err(format!("k = {k}: a TopK SAE keeps at most its n_atoms = {n_atoms} latents active"));
                }
                SaeKind::TopK { k, aux_k: 0 }
            };
            let cfg = SaeConfig {
                epochs,
                batch_size: input.integer("batch_size")? as usize,
                lr: input.number("lr")?,
                seed: input.seed,
                dead_after: samples.max(1),
                ..SaeConfig::new(kind, n_atoms)
            };
            let (sae, history) = Sae::train(&x, &cfg, |e| ctx.progress(e.epoch as u64, epochs as u64)).map_err(|e| e.to_string())?;
            let (atoms, _) = sae.atoms();
            let gap = amortisation_gap(&sae, &x, &inference);
            let training = Table::new()
                .i64("epoch", history.iter().map(|e| e.epoch as i64).collect())
                .f64("loss", history.iter().map(|e| e.loss).collect())
                .f64("mse", history.iter().map(|e| e.mse).collect())
                .f64("l0", history.iter().map(|e| e.l0).collect())
                .f64("dead_fraction", history.iter().map(|e| e.dead_fraction).collect());
            let scores = vec![
                score("sae_encoder", &gap.encoder, gap.encoder_fit),
                score("inference_on_sae_decoder", &gap.inferred, gap.inferred_fit),
            ];
            let curves = vec![
                curve("loss", history.iter().map(|e| e.epoch), history.iter().map(|e| e.loss)),
                curve("mse", history.iter().map(|e| e.epoch), history.iter().map(|e| e.mse)),
            ];
            ctx.array("inferred_codes", to_array2(&gap.inferred).view().into_dyn())?;
            (atoms, gap.encoder, scores, training, curves)
        };
        let (dictionary, codes) = (to_array2(&dictionary), to_array2(&codes));
        // Every row of `scores` codes on the same atoms: one matching scores them all.
        let matching = truth.as_ref().map(|t| dictionary_mcc(t.dictionary.view(), dictionary.mapv(f64::from).view()));
        ctx.array("dictionary", dictionary.view().into_dyn())?;
        ctx.array("codes", codes.view().into_dyn())?;
        write_scores(ctx, method, &scores, matching.as_ref())?;
        write_atoms(ctx, input, &dictionary, &codes, matching.as_ref())?;
        ctx.table("training", &training)?;
        ctx.figure(
            "training_curve",
            &Figure::Line {
                title: format!("{method}: training"),
                x_label: "epoch".into(),
                y_label: "per-sample value".into(),
                series: curves,
            },
        )?;
        for s in &scores {
            let mcc_text = match (&matching, s.code_mcc) {
                (Some(d), Some(c)) => format!(", dictionary MCC {:.3}, code MCC {c:.3}", d.mean),
                _ => String::new(),
            };
            ctx.log(&format!("{}: mse {:.4}, L0 {:.2}, objective {:.4}{mcc_text}", s.codes_from, s.fit.mse, s.fit.l0, s.fit.objective));
        }
        Ok(())
    }
}

/// What sparse coding cannot work with, said before anything runs: too few stimuli to learn
/// from, nothing but zeros, values whose squares overflow f32 (NaN and Inf the host refuses).
fn check_input(x: ArrayView2<'_, f32>) -> Result<(), String> {
    let (samples, units) = x.dim();
    if samples < 3 {
        return Err(format!("sparse coding needs at least 3 stimuli to learn from; the representation has {samples}"));
    }
    let largest = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if largest == 0.0 {
        return Err("every value is 0: there is nothing to code".into());
    }
    // Squared errors are summed over every value in f32.
    let limit = (f32::MAX / (samples * units) as f32).sqrt() / 10.0;
    if largest > limit {
        return Err(format!(
            "values up to {largest:e} are too large to square and sum in f32 (at most {limit:.1e} here): rescale the representation"
        ));
    }
    Ok(())
}

/// The dictionary, the codes and their optimiser state must fit in memory.
fn check_memory(n_atoms: usize, samples: usize, units: usize) -> Result<(), String> {
    // Dictionary and codes, each with a gradient and Adam's two moments: 4 × f32.
    let bytes = neurozoo_util::memory::bytes_of(&[n_atoms, units.saturating_add(samples)], 4 * 4);
    neurozoo_util::memory::fits_in_memory(bytes)
        .map_err(|e| format!("n_atoms = {n_atoms}: learning a dictionary and codes of that size {e}"))
}

fn write_scores(ctx: &mut Context<'_>, method: &str, scores: &[Scored], matching: Option<&Matching>) -> Result<(), String> {
    let table = Table::new()
        .str("method", scores.iter().map(|_| method.to_string()).collect())
        .str("codes_from", scores.iter().map(|s| s.codes_from.to_string()).collect())
        .f64("objective", scores.iter().map(|s| s.fit.objective).collect())
        .f64("mse", scores.iter().map(|s| s.fit.mse).collect())
        .f64("l0", scores.iter().map(|s| s.fit.l0).collect())
        .column("dictionary_mcc", ColumnValues::F64(scores.iter().map(|_| matching.map(|m| m.mean)).collect()))
        .column("code_mcc", ColumnValues::F64(scores.iter().map(|s| s.code_mcc).collect()));
    ctx.table("scores", &table)
}

fn write_atoms(
    ctx: &mut Context<'_>,
    input: &Input<'_>,
    dictionary: &Array2<f32>,
    codes: &Array2<f32>,
    matching: Option<&Matching>,
) -> Result<(), String> {
    let n_atoms = dictionary.nrows();
    let samples = codes.nrows() as f64;
    let usage: Vec<f64> = codes.axis_iter(Axis(1)).map(|c| c.iter().filter(|&&v| v != 0.0).count() as f64 / samples).collect();
    let mean: Vec<f64> = codes.axis_iter(Axis(1)).map(|c| c.iter().map(|&v| f64::from(v)).sum::<f64>() / samples).collect();
    let mut table = Table::new()
        .i64("atom", (0..n_atoms as i64).collect())
        .f64("usage_frequency", usage.clone())
        .f64("mean_activation", mean)
        .bool("dead", usage.iter().map(|&u| u == 0.0).collect());
    if let Some(Matching { pairs, scores, .. }) = matching {
        let (mut source, mut cosine) = (vec![None; n_atoms], vec![None; n_atoms]);
        for (&(s, a), &c) in pairs.iter().zip(scores) {
            source[a] = Some(s as i64);
            cosine[a] = Some(c);
        }
        table = table.column("matched_source", ColumnValues::I64(source)).column("match_cosine", ColumnValues::F64(cosine));
    }
    ctx.table("atoms", &table)?;
    let dead = usage.iter().filter(|&&u| u == 0.0).count();
    ctx.figure(
        "atom_usage",
        &Figure::Histogram {
            title: format!("Fraction of stimuli using each atom ({dead} of {n_atoms} unused)"),
            x_label: "usage frequency".into(),
            values: usage.clone(),
            bins: 30,
        },
    )?;
    if let Some(grid) = atom_images(input, dictionary.view(), &usage) {
        ctx.figure("atoms", &grid)?;
    }
    Ok(())
}

/// The most used atoms drawn as images, when the units are the pixels of one-channel stimuli.
fn atom_images(input: &Input<'_>, dictionary: ArrayView2<'_, f32>, usage: &[f64]) -> Option<Figure> {
    let shape = input.stimuli.as_ref()?.shape().to_vec();
    let (channels, height, width) = (shape[1], shape[2], shape[3]);
    if channels != 1 || height * width != dictionary.ncols() {
        return None;
    }
    let mut order: Vec<usize> = (0..dictionary.nrows()).collect();
    order.sort_by(|&a, &b| usage[b].total_cmp(&usage[a]));
    let images = order
        .iter()
        .take(64)
        .map(|&a| {
            let pixels = dictionary.row(a).iter().map(|&v| f64::from(v)).collect::<Vec<_>>().chunks(width).map(<[f64]>::to_vec).collect();
            (format!("atom {a}"), pixels)
        })
        .collect();
    Some(Figure::ImageGrid { title: "Most used atoms".into(), images, columns: 8 })
}

export_plugin!(SparseCoding);
