//! `fit`, `eval` and `extract` for the sprite-pair models (presets `slowvae` and `betavae`).

use std::path::Path;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{s, Array2, Axis};
use neurozoo_analysis::figures::draw;
use neurozoo_cli::args::FitArgs;
use neurozoo_datasets::files::write_atomic;
use neurozoo_datasets::representation::{Representation, RepresentationFile};
use neurozoo_datasets::simulate::sprites::{SpritePairs, FACTOR_NAMES};
use neurozoo_plugin::Figure;
use neurozoo_tables::{write_table, Table};
use neurozoo_zoo::config::{Preset, VaeFitConfig};
use neurozoo_zoo::run::{self, RunStatus};
use neurozoo_zoo::slowvae::scores::{disentanglement, held_out, intervention_scores, Budget, Disentanglement};
use neurozoo_zoo::slowvae::train::{self as vae, latents, pairs_tensor, LogRecord};
use neurozoo_zoo::slowvae::SlowVae;
use neurozoo_zoo::train::{load_weights, named_weights, write_safetensors_atomic};
use neurozoo_zoo::TorchRuntime;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tch::{nn, Device, Kind, Tensor};

/// `run.json` of a sprite-pair run.
#[derive(Debug, Serialize, Deserialize)]
struct VaeRunInfo {
    neurozoo: String,
    libtorch: Option<String>,
    device: String,
    /// The sprites file and its number of pairs.
    data: String,
    pairs: usize,
    status: RunStatus,
    iterations: usize,
    seconds: f64,
    /// The process fitting the run, while it runs (as a response model's run.json).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fitter: Option<run::Fitter>,
}

fn read_pairs(data: &Path, preset: &str) -> Result<SpritePairs> {
    SpritePairs::read(data).with_context(|| format!("{preset} fits sprite frame pairs (make them with `neurozoo data simulate sprites`)"))
}

/// The config of the run `--resume` continues: the same model and `--seed`; `--iterations` may
/// only raise the number of steps (said).
fn resume_config(args: &FitArgs, asked: &VaeFitConfig) -> Result<VaeFitConfig> {
    let out = &args.out;
    let mut saved = match run::load_config(out).map_err(|e| anyhow::anyhow!("cannot resume: {e}"))? {
        Preset::SpritePairs(c) => c,
        Preset::Responses(_) => bail!("cannot resume {}: it is a response model's run, not a sprite-pair model's", out.display()),
    };
    let same_model =
        asked.slowvae == saved.slowvae && asked.train.batch_pairs == saved.train.batch_pairs && asked.train.lr == saved.train.lr;
    if !same_model {
        return Err(super::resume_error(out, run::ResumeConflict::OtherModel(args.model.clone())));
    }
    let t = &mut saved.train;
    let raised = run::reconcile_resume((args.seed, t.seed), ("iterations", args.iterations, &mut t.iterations))
        .map_err(|c| super::resume_error(out, c))?;
    if let Some((from, to)) = raised {
        eprintln!("iterations raised from {from} to {to}");
    }
    Ok(saved)
}

pub fn fit(args: &FitArgs, mut cfg: VaeFitConfig) -> Result<()> {
    let name = cfg.preset.clone().unwrap_or_else(|| args.model.clone());
    if args.max_epochs.is_some() {
        bail!("{name} trains for a number of steps, not epochs: use --iterations");
    }
    let [data] = args.data.as_slice() else {
        bail!("{name} fits one sprites file; --data was given {} times", args.data.len());
    };
    if let Some(n) = args.threads {
        tch::set_num_threads(n);
    }
    if args.resume {
        cfg = resume_config(args, &cfg)?;
    } else {
        if let Some(seed) = args.seed {
            cfg.train.seed = seed;
        }
        if let Some(n) = args.iterations {
            cfg.train.iterations = n;
        }
        cfg.check().map_err(|e| anyhow::anyhow!("{e} (from the command line)"))?;
    }
    let device = super::device(args.device)?;
    let pairs = read_pairs(data, &name)?;
    let out = &args.out;
    let n_pairs = pairs.images.shape()[0];
    if args.resume {
        let info = load_info(out).map_err(|e| anyhow::anyhow!("cannot resume: {e}"))?;
        if info.status == RunStatus::Complete {
            bail!("cannot resume {}: it is already complete", out.display());
        }
        if info.data != data.display().to_string() || info.pairs != n_pairs {
            bail!(
                "cannot resume {}: it was fitted to {} ({} pairs), not to {} ({n_pairs} pairs)",
                out.display(),
                info.data,
                info.pairs,
                data.display()
            );
        }
    } else {
        neurozoo_cli::ensure_empty_dir(out, "choose a new --out, or add --resume to continue it")?;
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    }
    // Written again on resume: a raised --iterations is now the run's.
    write_atomic(&out.join(run::CONFIG_FILE), cfg.to_toml())?;
    let mut info = VaeRunInfo {
        neurozoo: env!("CARGO_PKG_VERSION").into(),
        libtorch: TorchRuntime::probe().version_full,
        device: format!("{device:?}"),
        data: data.display().to_string(),
        pairs: n_pairs,
        status: RunStatus::Running,
        iterations: 0,
        seconds: 0.0,
        fitter: Some(run::Fitter::this()),
    };
    save_info(out, &info)?;

    tch::manual_seed(cfg.train.seed as i64);
    let vs = nn::VarStore::new(device);
    let model = SlowVae::new(&vs.root(), &cfg.slowvae);
    let frames = pairs_tensor(&pairs, device);
    let v = &cfg.slowvae;
    eprintln!(
        "fit {name} (β {}, γ {}, λ {}, z {}) on {} ({n_pairs} pairs) on {device:?}: {} steps of {} pairs",
        v.beta,
        v.gamma,
        v.rate_prior,
        v.z_dim,
        data.display(),
        cfg.train.iterations,
        cfg.train.batch_pairs
    );
    let bar = ProgressBar::new(cfg.train.iterations as u64)
        .with_style(ProgressStyle::with_template("step [{bar:30}] {pos}/{len} {elapsed} (eta {eta})").expect("valid template"));
    let log = vae::train(
        &model,
        &vs,
        &frames,
        &cfg.train,
        Some(vae::Checkpoints { dir: out, resume: args.resume }),
        |i| bar.set_position(i as u64),
        |r| {
            bar.suspend(|| {
                eprintln!(
                    "step {:>7}  loss {:.2}  reconstruction {:.2}  KL {:.2}  temporal {:.2}  {:.0} s",
                    r.iteration, r.loss, r.reconstruction, r.kl_normal, r.kl_laplace, r.seconds
                )
            })
        },
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
    bar.finish_and_clear();

    write_table(&training_table(&log), out, "training").map_err(anyhow::Error::msg)?;
    write_safetensors_atomic(&named_weights(&vs), &out.join(run::MODEL_FILE)).map_err(anyhow::Error::msg)?;
    let scores = disentanglement(&latents(&model, &frames, 0), &pairs.frame_classes(0));
    figures(&model, &frames, &scores, out)?;
    info.status = RunStatus::Complete;
    info.iterations = cfg.train.iterations;
    info.seconds = log.last().map_or(0.0, |r| r.seconds);
    info.fitter = None;
    save_info(out, &info)?;
    eprintln!(
        "{} steps in {:.0} s; on the training pairs MCC {:.3}, MIG {:.3}; wrote {}\nevaluate with: neurozoo eval {} --data SPRITES.h5",
        cfg.train.iterations,
        info.seconds,
        scores.mcc_spearman,
        scores.mig,
        out.display(),
        out.display()
    );
    Ok(())
}

fn load_info(dir: &Path) -> Result<VaeRunInfo> {
    let path = dir.join(run::RUN_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a sprite-pair run's run.json", path.display()))
}

fn save_info(dir: &Path, info: &VaeRunInfo) -> Result<()> {
    let path = dir.join(run::RUN_FILE);
    Ok(write_atomic(&path, serde_json::to_string_pretty(info)?)?)
}

fn training_table(log: &[LogRecord]) -> Table {
    let f = |get: fn(&LogRecord) -> f64| log.iter().map(get).collect();
    Table::new()
        .i64("iteration", log.iter().map(|r| r.iteration as i64).collect())
        .f64("loss", f(|r| r.loss))
        .f64("reconstruction", f(|r| r.reconstruction))
        .f64("kl_normal", f(|r| r.kl_normal))
        .f64("kl_laplace", f(|r| r.kl_laplace))
        .f64("seconds", f(|r| r.seconds))
}

/// `traversal`: each latent swept over −2…2 from the first frame's posterior mean, decoded;
/// `correlations`: |Spearman ρ| of factors and latents.
fn figures(model: &SlowVae, frames: &Tensor, scores: &Disentanglement, out: &Path) -> Result<()> {
    let steps = [-2.0, -4.0 / 3.0, -2.0 / 3.0, 0.0, 2.0 / 3.0, 4.0 / 3.0, 2.0];
    let z_dim = model.cfg.z_dim;
    // One column per latent, one row per step.
    let images = tch::no_grad(|| {
        let first = frames.get(0).get(0).reshape([1, 1, 64, 64]).to_kind(Kind::Float);
        let (mu, _) = model.encode(&first);
        let mut codes = Vec::new();
        for &v in &steps {
            for d in 0..z_dim {
                let z = mu.copy();
                let _ = z.narrow(1, d, 1).fill_(v);
                codes.push(z);
            }
        }
        model.decode(&Tensor::cat(&codes, 0)).sigmoid().squeeze_dim(1).to_device(Device::Cpu)
    });
    let images = neurozoo_tensor::to_array(&images);
    let grid: Vec<(String, Vec<Vec<f64>>)> = images
        .axis_iter(Axis(0))
        .enumerate()
        .map(|(i, im)| {
            let (k, d) = (i / z_dim as usize, i % z_dim as usize);
            (format!("z{d} {:+.1}", steps[k]), im.outer_iter().map(|row| row.iter().map(|&p| f64::from(p)).collect()).collect())
        })
        .collect();
    let traversal =
        Figure::ImageGrid {
            title: "latent traversals (columns: latents; rows: −2 … +2)".into(), images: grid, columns: z_dim as usize
        };
    let heat = Figure::Heatmap {
        title: format!("|Spearman ρ|: factors (rows: {}) × latents", FACTOR_NAMES.join(", ")),
        x_label: "latent".into(),
        y_label: "factor".into(),
        rows: scores.correlations.outer_iter().map(|r| r.to_vec()).collect(),
    };
    for (stem, figure) in [("traversal", traversal), ("correlations", heat)] {
        draw(&figure.to_json(), out, stem).map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

fn load(run_dir: &Path, cfg: &VaeFitConfig, data: &Path, device: Device) -> Result<(SlowVae, SpritePairs, Tensor, nn::VarStore)> {
    let info = load_info(run_dir)?;
    match (&info.status, &info.fitter) {
        (RunStatus::Complete, _) => {}
        (RunStatus::Running, Some(f)) if f.alive() => {
            bail!("{} is still being fitted (process {} on {}): wait for it to finish", run_dir.display(), f.pid, f.host)
        }
        (RunStatus::Running, _) => bail!(
            "{} was interrupted before it finished: continue it with `neurozoo fit … --out {} --resume`",
            run_dir.display(),
            run_dir.display()
        ),
    }
    let pairs = read_pairs(data, cfg.preset.as_deref().unwrap_or("slowvae"))?;
    let vs = nn::VarStore::new(device);
    let model = SlowVae::new(&vs.root(), &cfg.slowvae);
    load_weights(&vs, &run_dir.join(run::MODEL_FILE)).map_err(anyhow::Error::msg)?;
    let frames = pairs_tensor(&pairs, device);
    Ok((model, pairs, frames, vs))
}

/// Disentanglement of the posterior means of every pair's first frame; with rendered sprites,
/// also the BetaVAE and FactorVAE scores on freshly rendered batches.
pub fn eval(
    run_dir: &Path,
    cfg: VaeFitConfig,
    data: &Path,
    device: neurozoo_config::DeviceChoice,
    as_json: bool,
    points: usize,
) -> Result<()> {
    let device = super::device(device)?;
    let (model, pairs, frames, _vs) = load(run_dir, &cfg, data, device)?;
    let (z, classes) = (latents(&model, &frames, 0), pairs.frame_classes(0));
    let scores = disentanglement(&z, &classes);
    let held = held_out(&z, &classes);
    let n = pairs.images.shape()[0];
    // The scores need frames of any factor combination: the renderer can draw them, a file of
    // dSprites frames cannot.
    let budget = Budget { batch_size: 64, num_train: points, num_eval: points.div_ceil(2), num_variance_estimate: 5 * points };
    let intervention = (points > 0 && pairs.source == "rendered").then(|| intervention_scores(&model, device, cfg.train.seed, budget));
    if as_json {
        let mut value = serde_json::to_value(&scores)?;
        value["sap"] = json!(held.sap);
        value["explicitness"] = json!(held.explicitness);
        value["held_out_frames"] = json!({"train": held.train_frames, "test": held.test_frames});
        if let Some(i) = &intervention {
            value["intervention"] = serde_json::to_value(i)?;
        }
        value["run"] = json!(run_dir.display().to_string());
        value["data"] = json!(data.display().to_string());
        value["frames"] = json!(n);
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!("{} on {} ({n} frames, posterior means)", run_dir.display(), data.display());
    let matched: Vec<String> = scores.matching.iter().map(|m| format!("{}→z{} {:.2}", m.factor, m.latent, m.correlation)).collect();
    println!("  MCC (Spearman)  {:.4}   {}", scores.mcc_spearman, matched.join(", "));
    println!("  MCC (Pearson)   {:.4}", scores.mcc_pearson);
    println!("  MIG             {:.4}", scores.mig);
    println!("  SAP             {:.4}   (continuous-factor variant {:.4})", held.sap, scores.sap_continuous);
    println!("  modularity      {:.4}", scores.modularity);
    println!(
        "  explicitness    {:.4}   (SAP and explicitness: trained on {} frames, tested on {})",
        held.explicitness, held.train_frames, held.test_frames
    );
    let r2: Vec<String> = scores.r2_per_factor.iter().map(|(f, r)| format!("{f} {r:.2}")).collect();
    println!("  linear R²       {:.4}   {}", scores.r2, r2.join(", "));
    match &intervention {
        Some(i) => {
            let b = &i.budget;
            println!(
                "  BetaVAE score   {:.4}   (train {:.4}; {} / {} batches of {})",
                i.beta_vae, i.beta_vae_train, b.num_train, b.num_eval, b.batch_size
            );
            println!("  FactorVAE score {:.4}   (train {:.4}; {} active latents)", i.factor_vae, i.factor_vae_train, i.active_latents);
        }
        None if points == 0 => {}
        None => println!("  BetaVAE and FactorVAE scores need rendered sprites ({} holds {} frames)", data.display(), pairs.source),
    }
    Ok(())
}

/// A representation file of the posterior means of every pair's first frame, with the frames as
/// stimuli and the factor classes as array `factors`.
pub fn extract(
    run_dir: &Path,
    cfg: VaeFitConfig,
    data: &Path,
    out: &Path,
    layer: Option<&str>,
    device: neurozoo_config::DeviceChoice,
) -> Result<()> {
    if let Some(layer) = layer.filter(|l| *l != "latents") {
        bail!("{}: no layer {layer:?} (a {} run has: latents)", run_dir.display(), cfg.preset.as_deref().unwrap_or("slowvae"));
    }
    let (model, pairs, frames, _vs) = load(run_dir, &cfg, data, super::device(device)?)?;
    let z = latents(&model, &frames, 0).mapv(|v| v as f32);
    let n = z.nrows();
    let stimuli = pairs.images.slice(s![.., 0..1, .., ..]).mapv(f32::from);
    let factors: Array2<f32> = pairs.frame_classes(0).mapv(|v| v as f32);
    let source = json!({"kind": "model", "run": run_dir.display().to_string(), "preset": cfg.preset, "layer": "latents", "file": data.display().to_string(), "factors": FACTOR_NAMES});
    let file = RepresentationFile {
        representations: vec![Representation { name: "latents".into(), data: z, source: source.to_string() }],
        stimulus_ids: (0..n as i64).collect(),
        stimuli: Some(stimuli),
        arrays: vec![("factors".into(), factors.into_dyn())],
    };
    file.write(out)?;
    eprintln!(
        "wrote {}: posterior means of {} latents for {n} frames (array factors: {})",
        out.display(),
        cfg.slowvae.z_dim,
        FACTOR_NAMES.join(", ")
    );
    Ok(())
}
