//! `fit`, `eval` and `extract` for the sprite-pair models (presets `slowvae` and `betavae`):
//! the request from the command line, progress, figures and reports; the work is
//! `neurozoo_zoo::run::vae`.

use std::path::Path;

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::Axis;
use neurozoo_analysis::figures::draw_figure;
use neurozoo_datasets::simulate::sprites::FACTOR_NAMES;
use neurozoo_job::FitJob;
use neurozoo_plugin::Figure;
use neurozoo_zoo::config::VaeFitConfig;
use neurozoo_zoo::run::vae::{VaeFit, VaeFitRequest, VaeRun};
use neurozoo_zoo::slowvae::scores::Disentanglement;
use neurozoo_zoo::slowvae::SlowVae;
use serde_json::json;
use tch::{Device, Kind, Tensor};

pub fn fit(args: &FitJob, config: VaeFitConfig) -> Result<()> {
    let name = config.preset.clone().unwrap_or_else(|| args.model.clone());
    if args.max_epochs.is_some() {
        bail!("{name} trains for a number of steps, not epochs: use --iterations");
    }
    let [data] = args.data.as_slice() else {
        bail!("{name} fits one sprites file; --data was given {} times", args.data.len());
    };
    super::set_threads(args.threads);
    let request = VaeFitRequest {
        config,
        model: args.model.clone(),
        seed: args.seed,
        iterations: args.iterations,
        data: data.clone(),
        out: args.out.clone(),
        device: super::device(args.device)?,
        resume: args.resume,
    };
    let fit = VaeFit::prepare(request).map_err(super::prepare_error)?;
    if let Some((from, to)) = fit.raised {
        eprintln!("iterations raised from {from} to {to}");
    }
    let (cfg, v) = (&fit.config, &fit.config.slowvae);
    eprintln!(
        "fit {name} (β {}, γ {}, λ {}, z {}) on {} ({} pairs) on {:?}: {} steps of {} pairs",
        v.beta,
        v.gamma,
        v.rate_prior,
        v.z_dim,
        fit.data.display(),
        fit.pairs.images.shape()[0],
        fit.device,
        cfg.train.iterations,
        cfg.train.batch_pairs
    );
    let out = fit.out.clone();
    let bar = ProgressBar::new(cfg.train.iterations as u64)
        .with_style(ProgressStyle::with_template("step [{bar:30}] {pos}/{len} {elapsed} (eta {eta})").expect("valid template"));
    let fitted = fit
        .train(
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
        .map_err(|e| super::run_error(e, ""))?;
    bar.finish_and_clear();
    figures(&fitted.model, &fitted.frames, &fitted.scores, &out)?;
    eprintln!(
        "{} steps in {:.0} s (peak memory {}); on the training pairs MCC {:.3}, MIG {:.3}; wrote {}\nevaluate with: neurozoo eval {} --data SPRITES.h5",
        fitted.info.iterations,
        fitted.info.seconds,
        fitted.info.memory,
        fitted.scores.mcc_spearman,
        fitted.scores.mig,
        out.display(),
        out.display()
    );
    Ok(())
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
        draw_figure(&figure, out, stem)?;
    }
    Ok(())
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
    let run = VaeRun::load(run_dir, cfg, device).map_err(|e| super::run_error(e, ""))?;
    let ev = run.evaluate(data, points, device).map_err(|e| super::run_error(e, ""))?;
    let (scores, held, intervention, n) = (&ev.scores, &ev.held_out, &ev.intervention, ev.frames);
    if as_json {
        let mut value = serde_json::to_value(scores)?;
        value["sap"] = json!(held.sap);
        value["explicitness"] = json!(held.explicitness);
        value["dci"] = json!({
            "disentanglement": held.dci_disentanglement,
            "completeness": held.dci_completeness,
            "informativeness": held.dci_informativeness,
        });
        value["held_out_frames"] = json!({"train": held.train_frames, "test": held.test_frames});
        if let Some(i) = intervention {
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
    println!(
        "  DCI             disentanglement {:.4}, completeness {:.4}, informativeness {:.4}   (logistic-regression importances)",
        held.dci_disentanglement, held.dci_completeness, held.dci_informativeness
    );
    let r2: Vec<String> = scores.r2_per_factor.iter().map(|(f, r)| format!("{f} {r:.2}")).collect();
    println!("  linear R²       {:.4}   {}", scores.r2, r2.join(", "));
    match intervention {
        Some(i) => {
            let b = &i.budget;
            println!(
                "  BetaVAE score   {:.4}   (train {:.4}; {} / {} batches of {})",
                i.beta_vae, i.beta_vae_train, b.num_train, b.num_eval, b.batch_size
            );
            println!("  FactorVAE score {:.4}   (train {:.4}; {} active latents)", i.factor_vae, i.factor_vae_train, i.active_latents);
        }
        None if points == 0 => {}
        None => println!("  BetaVAE and FactorVAE scores need rendered sprites ({} holds {} frames)", data.display(), ev.source),
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
    let (device, z_dim) = (super::device(device)?, cfg.slowvae.z_dim);
    let file = VaeRun::load(run_dir, cfg, device).and_then(|run| run.extract(data, device)).map_err(|e| super::run_error(e, ""))?;
    file.write(out)?;
    eprintln!(
        "wrote {}: posterior means of {z_dim} latents for {} frames (array factors: {})",
        out.display(),
        file.stimulus_ids.len(),
        FACTOR_NAMES.join(", ")
    );
    Ok(())
}
