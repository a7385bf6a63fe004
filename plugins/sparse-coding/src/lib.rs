//! `sparse-coding`: learn a dictionary of a representation — by alternating FISTA/ISTA sparse
//! inference with least-squares atom updates, or as a ReLU, TopK, BatchTopK, JumpReLU or
//! Matryoshka sparse autoencoder — and, for an SAE, measure its amortisation gap against sparse
//! inference on its own decoder. Every method reports L0, the fraction of variance unexplained
//! and its dead and dense atoms; `sweep` adds a model per sparsity setting and plots FVU
//! against L0.
//!
//! When the representation file carries ground truth (`gt_dictionary`, `gt_codes`, as
//! `neurozoo data simulate sparse` writes), the dictionary and codes are scored by MCC under the
//! optimal matching (O'Neill, Klindt et al. 2024).
//!
//! Outputs: arrays `dictionary` (atoms × units) and `codes` (stimuli × atoms), plus
//! `inferred_codes` for an SAE; tables `scores`, `atoms`, `training` (and `sparsity_sweep`);
//! figures `training_curve`, `atom_usage`, `atoms` when the units are the stimulus pixels (and
//! `fvu_vs_l0`).

use ndarray::{Array2, ArrayView2, Axis};
use neurozoo_metrics::{dictionary_mcc, mcc, Matching};
use neurozoo_plugin::{export_plugin, ColumnValues, Context, Figure, Input, Plugin, Point, Table};
use neurozoo_sparse::{amortisation_gap, AmortisationGap, DictionaryLearning, Fit, Sae, SaeConfig, SaeKind, Solver, SparseInference};
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
    const DESCRIPTION: &'static str =
        "dictionary learning (FISTA/ISTA) and ReLU/TopK/BatchTopK/JumpReLU/Matryoshka sparse autoencoders; L0, FVU, dead and dense atoms, MCC against ground truth";
    const PARAMS: &'static str = r#"{
        "method": {"type": "string", "default": "dictionary", "enum": ["dictionary", "sae-relu", "sae-topk", "sae-batchtopk", "sae-jumprelu", "sae-matryoshka"], "description": "dictionary learning, or a sparse autoencoder"},
        "n_atoms": {"type": "integer", "default": 0, "minimum": 0, "description": "atoms / latents; 0: as many as the ground truth has, else 2 x units"},
        "lambda": {"type": "number", "default": 0.1, "minimum": 0, "description": "L1 weight of 1/2|x - zD|^2 + lambda |z|_1 (dictionary, sae-relu, and the inference the SAE is compared with)"},
        "k": {"type": "number", "default": 0, "minimum": 0, "description": "sae-topk: active latents per sample; sae-batchtopk, sae-matryoshka: per sample on average over a batch; 0: the ground truth's K, else 4"},
        "l0_coefficient": {"type": "number", "default": 1.0, "minimum": 0, "description": "sae-jumprelu: weight of the L0 penalty (SAELens' default)"},
        "bandwidth": {"type": "number", "default": 0.05, "minimum": 0, "description": "sae-jumprelu: width of the window in which the thresholds get a gradient (SAELens' default)"},
        "threshold": {"type": "number", "default": 0.01, "minimum": 0, "description": "sae-jumprelu: the thresholds' starting value (SAELens' default)"},
        "widths": {"type": "string", "default": "", "description": "sae-matryoshka: nested widths, comma-separated, ending at n_atoms; empty: n/8, n/4, n/2, n"},
        "sweep": {"type": "string", "default": "", "description": "comma-separated values of the method's sparsity setting (lambda for dictionary and sae-relu, k for the TopK family, l0_coefficient for sae-jumprelu): one more model each, scored in table sparsity_sweep and figure fvu_vs_l0"},
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
        let method = Method::of(input, n_atoms, truth.as_ref())?;
        let sweep = sweep_values(input.string("sweep")?)?;
        let swept = sweep.iter().map(|&v| method.with_sparsity(v, n_atoms)).collect::<Result<Vec<_>, _>>()?;
        let settings = Settings {
            n_atoms,
            inference: SparseInference {
                solver: if input.string("solver")? == "ista" { Solver::Ista } else { Solver::Fista },
                lambda: input.number("lambda")?,
                nonnegative: !matches!(method, Method::Dictionary { .. }) || input.boolean("nonnegative")?,
                max_iter: input.integer("iterations")? as usize,
                ..SparseInference::default()
            },
            epochs: input.integer("epochs")? as usize,
            restarts: input.integer("restarts")? as usize,
            batch_size: input.integer("batch_size")? as usize,
            lr: input.number("lr")?,
            seed: input.seed,
        };
        let mut x = to_tensor(input.representation, device);
        if matches!(method, Method::Dictionary { .. }) && input.boolean("center")? {
            x = &x - x.mean_dim([0i64].as_slice(), true, Kind::Float);
        }
        let name = method.name();
        ctx.log(&format!("{name}: {n_atoms} atoms for {samples} × {units} on {device:?}"));
        let learned = learn(ctx, &method, &settings, &x, true)?;
        let score = |codes_from, codes: &Tensor, fit: Fit| Scored {
            codes_from,
            fit,
            code_mcc: truth.as_ref().map(|t| mcc(t.codes.view(), f64_matrix(codes).view()).mean),
        };
        let mut scores = vec![score(learned.codes_from, &learned.codes, learned.fit)];
        if let Some(gap) = &learned.gap {
            scores.push(score("inference_on_sae_decoder", &gap.inferred, gap.inferred_fit));
            ctx.array("inferred_codes", to_array2(&gap.inferred).view().into_dyn())?;
        }
        let (dictionary, codes) = (to_array2(&learned.dictionary), to_array2(&learned.codes));
        // Every row of `scores` codes on the same atoms: one matching scores them all.
        let matching = truth.as_ref().map(|t| dictionary_mcc(t.dictionary.view(), dictionary.mapv(f64::from).view()));
        ctx.array("dictionary", dictionary.view().into_dyn())?;
        ctx.array("codes", codes.view().into_dyn())?;
        write_scores(ctx, name, &scores, matching.as_ref())?;
        write_atoms(ctx, input, &dictionary, &codes, matching.as_ref())?;
        ctx.table("training", &learned.training)?;
        ctx.figure(
            "training_curve",
            &Figure::Line {
                title: format!("{name}: training"),
                x_label: "epoch".into(),
                y_label: "per-sample value".into(),
                series: learned.curves,
            },
        )?;
        for s in &scores {
            let mcc_text = match (&matching, s.code_mcc) {
                (Some(d), Some(c)) => format!(", dictionary MCC {:.3}, code MCC {c:.3}", d.mean),
                _ => String::new(),
            };
            let f = &s.fit;
            ctx.log(&format!(
                "{}: mse {:.4}, FVU {:.4}, L0 {:.2}, {} dead and {} dense of {n_atoms} atoms, objective {:.4}{mcc_text}",
                s.codes_from, f.mse, f.fvu, f.l0, f.dead, f.dense, f.objective
            ));
        }
        if !sweep.is_empty() {
            sparsity_sweep(ctx, &method, &swept, &settings, &x, &sweep, learned.fit)?;
        }
        Ok(())
    }
}

/// What is learned, and with which sparsity setting.
#[derive(Debug, Clone, PartialEq)]
enum Method {
    Dictionary { lambda: f64 },
    Sae(SaeKind),
}

impl Method {
    fn of(input: &Input<'_>, n_atoms: usize, truth: Option<&GroundTruth>) -> Result<Method, String> {
        let k = || -> Result<f64, String> {
            let k = input.number("k")?;
            Ok(if k == 0.0 { truth.map_or(4, GroundTruth::k) as f64 } else { k })
        };
        let lambda = input.number("lambda")?;
        let method = match input.string("method")? {
            "dictionary" => Method::Dictionary { lambda },
            "sae-relu" => Method::Sae(SaeKind::Relu { lambda }),
            "sae-topk" => Method::Sae(SaeKind::TopK { k: whole_k(k()?)?, aux_k: 0 }),
            "sae-batchtopk" => Method::Sae(SaeKind::BatchTopK { k: k()? }),
            "sae-jumprelu" => Method::Sae(SaeKind::JumpRelu {
                l0_coefficient: input.number("l0_coefficient")?,
                bandwidth: input.number("bandwidth")?,
                init_threshold: input.number("threshold")?,
            }),
            "sae-matryoshka" => Method::Sae(SaeKind::Matryoshka { k: k()?, widths: matryoshka_widths(input.string("widths")?, n_atoms)? }),
            other => return Err(format!("method = {other:?}: not a method of this plugin")),
        };
        method.check(n_atoms)?;
        Ok(method)
    }

    fn name(&self) -> &'static str {
        match self {
            Method::Dictionary { .. } => "dictionary",
            Method::Sae(kind) => kind.name(),
        }
    }

    fn check(&self, n_atoms: usize) -> Result<(), String> {
        match self {
            Method::Dictionary { lambda } if !(lambda.is_finite() && *lambda >= 0.0) => Err(format!("lambda = {lambda}: it must be ≥ 0")),
            Method::Dictionary { .. } => Ok(()),
            Method::Sae(kind) => kind.check(n_atoms),
        }
    }

    /// The name of the setting a sparsity sweep varies.
    fn sparsity_setting(&self) -> &'static str {
        match self {
            Method::Dictionary { .. } | Method::Sae(SaeKind::Relu { .. }) => "lambda",
            Method::Sae(SaeKind::JumpRelu { .. }) => "l0_coefficient",
            Method::Sae(_) => "k",
        }
    }

    /// The same method with its sparsity setting at `value`, checked for `n_atoms`.
    fn with_sparsity(&self, value: f64, n_atoms: usize) -> Result<Method, String> {
        let method = match self.clone() {
            Method::Dictionary { .. } => Method::Dictionary { lambda: value },
            Method::Sae(SaeKind::Relu { .. }) => Method::Sae(SaeKind::Relu { lambda: value }),
            Method::Sae(SaeKind::TopK { aux_k, .. }) => Method::Sae(SaeKind::TopK { k: whole_k(value)?, aux_k }),
            Method::Sae(SaeKind::BatchTopK { .. }) => Method::Sae(SaeKind::BatchTopK { k: value }),
            Method::Sae(SaeKind::Matryoshka { widths, .. }) => Method::Sae(SaeKind::Matryoshka { k: value, widths }),
            Method::Sae(SaeKind::JumpRelu { bandwidth, init_threshold, .. }) => {
                Method::Sae(SaeKind::JumpRelu { l0_coefficient: value, bandwidth, init_threshold })
            }
        };
        method.check(n_atoms).map_err(|e| format!("sweep: {e}"))?;
        Ok(method)
    }
}

/// TopK keeps a whole number of latents per sample; a fraction is refused, not rounded.
fn whole_k(k: f64) -> Result<usize, String> {
    if k.fract() != 0.0 || k < 0.0 {
        return Err(format!("k = {k}: a TopK SAE keeps a whole number of latents per sample (sae-batchtopk takes a mean)"));
    }
    Ok(k as usize)
}

/// Everything but the method that a model is learned with.
struct Settings {
    n_atoms: usize,
    inference: SparseInference,
    epochs: usize,
    restarts: usize,
    batch_size: usize,
    lr: f64,
    seed: u64,
}

/// A learned dictionary with its codes, their fit, and the training record.
struct Learned {
    dictionary: Tensor,
    codes: Tensor,
    codes_from: &'static str,
    fit: Fit,
    /// SAEs: sparse inference on the SAE's own decoder.
    gap: Option<AmortisationGap>,
    training: Table,
    curves: Vec<Curve>,
}

/// Learn one model; `progress` drives the host's progress bar (the main model only).
fn learn(ctx: &mut Context<'_>, method: &Method, s: &Settings, x: &Tensor, progress: bool) -> Result<Learned, String> {
    let epochs = s.epochs;
    match method {
        Method::Dictionary { lambda } => {
            let inference = SparseInference { lambda: *lambda, ..s.inference.clone() };
            let learner = DictionaryLearning { n_atoms: s.n_atoms, inference, epochs, tol: 1e-7, restarts: s.restarts, seed: s.seed };
            // Progress counts epochs of all restarts; a restart that converges early skips ahead.
            let total = (epochs * s.restarts) as u64;
            let learned = learner.fit(x, |r, e| {
                if progress {
                    ctx.progress((r * epochs + e.epoch) as u64, total)
                }
            });
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
            let curves = vec![
                curve("objective", h.iter().map(|e| e.epoch), h.iter().map(|e| e.fit.objective)),
                curve("mse", h.iter().map(|e| e.epoch), h.iter().map(|e| e.fit.mse)),
            ];
            let fit = neurozoo_sparse::fit(x, &learned.dictionary, &learned.codes, *lambda);
            Ok(Learned { dictionary: learned.dictionary, codes: learned.codes, codes_from: "inference", fit, gap: None, training, curves })
        }
        Method::Sae(kind) => {
            let samples = x.size()[0] as usize;
            let cfg = SaeConfig {
                epochs,
                batch_size: s.batch_size,
                lr: s.lr,
                seed: s.seed,
                dead_after: samples.max(1),
                ..SaeConfig::new(kind.clone(), s.n_atoms)
            };
            let (sae, history) = Sae::train(x, &cfg, |e| {
                if progress {
                    ctx.progress(e.epoch as u64, epochs as u64)
                }
            })
            .map_err(|e| e.to_string())?;
            let (atoms, _) = sae.atoms();
            let gap = amortisation_gap(&sae, x, &s.inference);
            let training = Table::new()
                .i64("epoch", history.iter().map(|e| e.epoch as i64).collect())
                .f64("loss", history.iter().map(|e| e.loss).collect())
                .f64("mse", history.iter().map(|e| e.mse).collect())
                .f64("l0", history.iter().map(|e| e.l0).collect())
                .f64("dead_fraction", history.iter().map(|e| e.dead_fraction).collect())
                .f64("seconds", history.iter().map(|e| e.seconds).collect());
            let curves = vec![
                curve("loss", history.iter().map(|e| e.epoch), history.iter().map(|e| e.loss)),
                curve("mse", history.iter().map(|e| e.epoch), history.iter().map(|e| e.mse)),
            ];
            Ok(Learned {
                dictionary: atoms,
                codes: gap.encoder.shallow_clone(),
                codes_from: "sae_encoder",
                fit: gap.encoder_fit,
                gap: Some(gap),
                training,
                curves,
            })
        }
    }
}

/// `sweep`'s values, comma-separated numbers.
fn sweep_values(text: &str) -> Result<Vec<f64>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| v.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| format!("sweep = {text:?}: {v:?} is not a number")))
        .collect()
}

/// Matryoshka's nested widths: the given ones, or n/8, n/4, n/2, n (those > 0, each once).
fn matryoshka_widths(text: &str, n_atoms: usize) -> Result<Vec<usize>, String> {
    if text.trim().is_empty() {
        let mut widths: Vec<usize> = [8, 4, 2, 1].iter().map(|d| n_atoms / d).filter(|&w| w > 0).collect();
        widths.dedup();
        return Ok(widths);
    }
    text.split(',')
        .map(|w| w.trim().parse::<usize>().map_err(|_| format!("widths = {text:?}: {:?} is not a whole number", w.trim())))
        .collect()
}

/// One model per sweep value (the main model's seed and settings otherwise), each scored; the
/// table `sparsity_sweep` and figure `fvu_vs_l0` put them beside the main model.
fn sparsity_sweep(
    ctx: &mut Context<'_>,
    method: &Method,
    swept: &[Method],
    s: &Settings,
    x: &Tensor,
    values: &[f64],
    main: Fit,
) -> Result<(), String> {
    let setting = method.sparsity_setting();
    let mut fits = Vec::with_capacity(values.len());
    for (i, (value, model)) in values.iter().zip(swept).enumerate() {
        let fit = learn(ctx, model, s, x, false)?.fit;
        ctx.log(&format!("sweep {setting} = {value}: FVU {:.4} at L0 {:.2} ({} dead, {} dense)", fit.fvu, fit.l0, fit.dead, fit.dense));
        ctx.progress((i + 1) as u64, values.len() as u64);
        fits.push(fit);
    }
    let table = Table::new()
        .f64(setting, values.to_vec())
        .f64("l0", fits.iter().map(|f| f.l0).collect())
        .f64("fvu", fits.iter().map(|f| f.fvu).collect())
        .f64("mse", fits.iter().map(|f| f.mse).collect())
        .i64("dead_atoms", fits.iter().map(|f| f.dead as i64).collect())
        .i64("dense_atoms", fits.iter().map(|f| f.dense as i64).collect());
    ctx.table("sparsity_sweep", &table)?;
    let mut points: Vec<Point> = fits.iter().map(|f| Point::new(f.l0, f.fvu)).collect();
    points.sort_by(|a, b| a.x.total_cmp(&b.x));
    ctx.figure(
        "fvu_vs_l0",
        &Figure::Points {
            title: format!("{}: reconstruction against sparsity over {setting}", method.name()),
            x_label: "L0 (active atoms per sample)".into(),
            y_label: "fraction of variance unexplained".into(),
            joined: true,
            x_ticks: Vec::new(),
            series: vec![("sweep".into(), points), ("this run".into(), vec![Point::new(main.l0, main.fvu)])],
        },
    )
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
        .f64("fvu", scores.iter().map(|s| s.fit.fvu).collect())
        .i64("dead_atoms", scores.iter().map(|s| s.fit.dead as i64).collect())
        .i64("dense_atoms", scores.iter().map(|s| s.fit.dense as i64).collect())
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
