//! The sprite-pair models (presets `slowvae` and `betavae`) as the worker runs them: the fit
//! request, figures and summary, `eval` and `extract`; the work is `neurozoo_zoo::run::vae`.

use std::path::Path;

use anyhow::{bail, Result};
use ndarray::Axis;
use neurozoo_analysis::figures::draw_figure;
use neurozoo_datasets::simulate::sprites::FACTOR_NAMES;
use neurozoo_job::{EvalJob, ExtractJob, FitJob};
use neurozoo_plugin::Figure;
use neurozoo_zoo::run::family::{EvalOptions, FitOutcome, FitRequest, ModelFamily, Run};
use neurozoo_zoo::run::SpritePairs;
use neurozoo_zoo::slowvae::scores::Disentanglement;
use neurozoo_zoo::slowvae::SlowVae;
use serde_json::json;
use tch::{Device, Kind, Tensor};

use super::family::Worker;

impl Worker for SpritePairs {
    const BAR: &'static str = "step [{bar:30}] {pos}/{len} {elapsed} (eta {eta})";

    fn request(job: &FitJob, config: Self::Config) -> Result<FitRequest<Self>> {
        let name = config.preset.clone().unwrap_or_else(|| job.model.clone());
        if job.max_epochs.is_some() {
            bail!("{name} trains for a number of steps, not epochs: use --iterations");
        }
        if job.data.len() != 1 {
            bail!("{name} fits one sprites file; --data was given {} times", job.data.len());
        }
        super::family::fit_request(job, config, job.iterations)
    }

    /// The figures of the latents, and the summary.
    fn finish(_: &FitJob, fitted: &FitOutcome<Self>, out: &Path) -> Result<()> {
        let scores = &fitted.trained.scores;
        figures(&fitted.model, &fitted.prepared.frames, scores, out)?;
        eprintln!(
            "{} steps in {:.0} s (peak memory {}); on the training pairs MCC {:.3}, MIG {:.3}; wrote {}\nevaluate with: neurozoo eval {} --data SPRITES.h5",
            fitted.info.iterations,
            fitted.info.seconds,
            fitted.info.memory,
            scores.mcc_spearman,
            scores.mig,
            out.display(),
            out.display()
        );
        Ok(())
    }

    fn eval_job(job: &EvalJob) -> Result<()> {
        let run = super::family::one_run::<Self>(&job.runs)?;
        if job.figures.is_some() {
            bail!("--figures: {} is a sprite-pair model, whose fit already drew its figures", run.display());
        }
        let [data] = job.data.as_slice() else {
            bail!("{} is a sprite-pair model: evaluate it on one sprites file (--data given {} times)", run.display(), job.data.len());
        };
        eval(job, run, data)
    }

    /// A representation file of the posterior means of every pair's first frame, with the
    /// frames as stimuli and the factor classes as array `factors`.
    fn extract_job(job: &ExtractJob) -> Result<()> {
        let run = super::family::one_run::<Self>(&job.runs)?;
        if !job.tiers.is_empty() {
            bail!("--tiers: {} is a sprite-pair model, whose data have no tiers", run.display());
        }
        let options = super::family::extract_options(job)?;
        let run = Run::<SpritePairs>::load(run, options.device).map_err(|e| super::run_error(e, ""))?;
        let z_dim = run.config.slowvae.z_dim;
        let file = SpritePairs::extract(&run, &job.data, &options).map_err(|e| super::run_error(e, ""))?.file;
        file.write(&job.out)?;
        eprintln!(
            "wrote {}: posterior means of {z_dim} latents for {} frames (array factors: {})",
            job.out.display(),
            file.stimulus_ids.len(),
            FACTOR_NAMES.join(", ")
        );
        Ok(())
    }
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
fn eval(job: &EvalJob, run_dir: &Path, data: &Path) -> Result<()> {
    let (as_json, points) = (job.json, job.intervention_points);
    let device = super::device(job.device)?;
    let run = Run::<SpritePairs>::load(run_dir, device).map_err(|e| super::run_error(e, ""))?;
    let options = EvalOptions { nwb: job.nwb.clone(), intervention_points: points, device };
    let ev = SpritePairs::evaluate(&run, data, &options).map_err(|e| super::run_error(e, ""))?;
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
