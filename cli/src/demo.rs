//! `neurozoo demo`: the whole pipeline on built-in simulated data, written under one directory
//! with a report page that shows every figure and links every table.
//!
//! ```text
//! OUT/index.html          the report: a section per step, its figures and tables
//! OUT/doctor.json         the environment (libtorch, CUDA, HDF5)
//! OUT/v1.h5               a simulated V1 population with ground truth
//! OUT/runs/<model>/       klindt2017 and the baselines (gaussian, full, ln), `fit` run directories
//! OUT/eval/               each model's `eval --json`; models.{parquet,csv,png,svg} side by side
//! OUT/eval/klindt2017/    `eval --figures`: receptive fields, masks, filters, predictions
//! OUT/responses.h5        the recorded responses (averaged over repeats, with oracle correlations)
//! OUT/heldout.h5          the same for the images no model was fitted to (validation, test)
//! OUT/layers.h5           klindt2017's core layers and predictions for those held-out images
//! OUT/sparse/             the `sparse-coding` plugin on the responses (a learned dictionary)
//! OUT/superposition/      the `superposition` plugin: k-means, PCA, ICA, dictionary and random
//!                         directions in response space
//! OUT/interpretability/   the `interpretability` plugin on units and directions
//! OUT/compare/            `compare layers.h5 heldout.h5`: predictivity, CKA, RSA per layer
//! ```
//!
//! The demo owns OUT: running it again replaces what an earlier demo wrote there.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use neurozoo_analysis::compare::{CompareParams, CompareSummary};
use neurozoo_config::DeviceChoice;
use neurozoo_datasets::meis::MeiFile;
use neurozoo_datasets::simulate::truth::{MeisAgainstTruth, TuningAgainstTruth};
use neurozoo_datasets::simulate::v1::{self, V1Config};
use neurozoo_datasets::{static_h5, Tier};
use neurozoo_job::{EvalJob, EvalReport, Experiment, ExtractJob, FitJob, InsilicoJob, Job, TierMetrics};
use neurozoo_plugin::{Figure, Point};
use neurozoo_tables::{f64_column, read_csv, str_column, write_table, ColumnValues, Table};

use crate::report::{self, Section};
use crate::{doctor, torch};

/// The models the demo fits: the paper's model first, then the baselines.
const MODELS: [&str; 4] = ["klindt2017", "gaussian", "full", "ln"];

/// The layers of klindt2017 that `compare` scores.
const LAYERS: &str = "core.0,core.1,core.2,predicted";

/// The tiers no model was fitted to: `compare` runs on their images (validation only chose when
/// to stop).
const HELD_OUT: [Tier; 3] = [Tier::Validation, Tier::Test, Tier::FinalTest];

/// How big the demo is: the full one (about five minutes on 2 CPU cores) or `--quick` (for tests).
struct Size {
    population: V1Config,
    max_epochs: usize,
    sparse_epochs: usize,
    bootstrap: usize,
    max_stimuli: usize,
    trials: usize,
    /// Gradient steps of each MEI.
    mei_steps: usize,
}

impl Size {
    fn new(quick: bool, max_epochs: Option<usize>) -> Size {
        let population = if quick {
            V1Config { n_units: 24, n_train: 300, n_validation: 60, n_test: 20, n_final_test: 0, repeats: 5, ..V1Config::default() }
        } else {
            V1Config { n_units: 100, n_train: 2000, n_validation: 300, n_test: 50, n_final_test: 25, ..V1Config::default() }
        };
        let (epochs, sparse_epochs, bootstrap, max_stimuli, trials) = if quick { (2, 20, 20, 200, 5) } else { (20, 150, 200, 600, 20) };
        // Half of sinzlab/mei's 1000 steps: the demo's MEIs have converged by then.
        let mei_steps = if quick { 100 } else { 500 };
        Size { population, max_epochs: max_epochs.unwrap_or(epochs), sparse_epochs, bootstrap, max_stimuli, trials, mei_steps }
    }
}

pub fn run(out: &Path, max_epochs: Option<usize>, quick: bool) -> Result<()> {
    let started = Instant::now();
    let size = Size::new(quick, max_epochs);
    clear(out)?;
    let step = |n: usize, what: &str| eprintln!("demo {n}/9 ({:.0} s): {what}", started.elapsed().as_secs_f64());
    let mut sections = Vec::new();

    step(1, "environment");
    sections.push(environment(out)?);
    step(2, "simulating a V1 population");
    let data = simulate(out, &size.population, &mut sections)?;
    step(3, "fitting klindt2017 and the baselines");
    let evals = fit_models(out, &data, &size, &mut sections)?;
    step(4, "in-silico experiments on klindt2017");
    insilico(out, &data, &size, &mut sections)?;
    step(5, "extracting representations");
    let reps = extract(out, &data, &size.population, &mut sections)?;
    step(6, "sparse coding of the responses");
    sparse_coding(out, &reps, &size, &mut sections)?;
    step(7, "superposition directions");
    superposition(out, &reps, &mut sections)?;
    step(8, "interpretability");
    let ii = interpretability(out, &reps, &size, &mut sections)?;
    step(9, "comparing model layers with the responses");
    let cmp = brain_vs_model(out, &reps, &size, &mut sections)?;

    let index = report::write(
        out,
        "neurozoo demo report",
        &format!(
            "The whole pipeline on a simulated V1 population, run by `neurozoo demo{}` in {:.0} s. Each section says what a step did \
             and what it measured; figures open as PNG (SVG beside), tables as Parquet and CSV.",
            if quick { " --quick" } else { "" },
            started.elapsed().as_secs_f64()
        ),
        &sections,
    )?;
    print_summary(&evals, &cmp, &ii);
    println!("report: {} ({:.0} s)", index.display(), started.elapsed().as_secs_f64());
    Ok(())
}

/// Make `out` and remove what an earlier demo wrote there.
fn clear(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for old in [
        "index.html",
        "doctor.json",
        "v1.h5",
        "runs",
        "eval",
        "responses.h5",
        "heldout.h5",
        "layers.h5",
        "sparse",
        "superposition",
        "interpretability",
        "compare",
    ] {
        remove(&out.join(old))?;
    }
    Ok(())
}

/// Step 1: the environment, kept as doctor.json; a libtorch that does not load ends the demo.
fn environment(out: &Path) -> Result<Section> {
    let (doctor_report, torch_error) = doctor::report();
    std::fs::write(out.join("doctor.json"), serde_json::to_string_pretty(&doctor_report)?).context("cannot write doctor.json")?;
    if let Some(e) = torch_error {
        bail!("{e}");
    }
    Ok(Section {
        title: "Environment".into(),
        text: vec![format!(
            "neurozoo {} with libtorch {} ({} intra-op threads, CUDA {}) and HDF5 {}; the full report is doctor.json.",
            env!("CARGO_PKG_VERSION"),
            doctor_report["torch"]["version_full"].as_str().unwrap_or("?"),
            doctor_report["torch"]["threads"],
            if doctor_report["torch"]["cuda_available"] == true { "available" } else { "not available" },
            doctor_report["hdf5"].as_str().unwrap_or("?"),
        )],
        files: vec!["doctor.json".into()],
    })
}

/// Step 2: the simulated recording, OUT/v1.h5.
fn simulate(out: &Path, p: &V1Config, sections: &mut Vec<Section>) -> Result<PathBuf> {
    let data = out.join("v1.h5");
    static_h5::write(&v1::simulate(p)?, &data)?;
    sections.push(Section {
        title: "Simulated V1 population".into(),
        text: vec![format!(
            "{} model neurons of four cell types (simple cells at 0° and 60°, a complex cell at 120°, a centre-surround cell), each \
             type tiled over the visual field, respond with Poisson noise to {}×{} naturalistic (1/f) images: {} training and {} \
             validation images shown once, {} test images shown {} times each, whose repeats give each neuron's noise ceiling. The \
             file (v1.h5) has the neuralpredictors static layout plus the ground truth: noiseless rates, receptive-field positions \
             and cell types.",
            p.n_units,
            p.height,
            p.width,
            p.n_train,
            p.n_validation,
            p.n_test + p.n_final_test,
            p.repeats
        )],
        files: vec!["v1.h5".into()],
    });
    Ok(data)
}

/// One model's evaluation on the recording, as `eval --json` reported it.
struct ModelEval {
    model: &'static str,
    report: EvalReport,
}

impl ModelEval {
    /// A test-tier metric (`correlation`, `oracle_correlation`, `feve`, `fev_ground_truth`);
    /// NaN where the tier or the metric is missing.
    fn test(&self, metric: &str) -> f64 {
        self.report.tiers.get("test").and_then(|m| test_metric(m, metric)).unwrap_or(f64::NAN)
    }
}

fn test_metric(m: &TierMetrics, metric: &str) -> Option<f64> {
    match metric {
        "correlation" => Some(m.correlation),
        "oracle_correlation" => m.oracle_correlation,
        "feve" => m.feve,
        "fev_ground_truth" => m.fev_ground_truth,
        other => unreachable!("no test metric {other}"),
    }
}

/// Step 3: fit and evaluate every model (klindt2017's eval also draws what it learned), with
/// the metrics side by side and the training curves.
fn fit_models(out: &Path, data: &Path, size: &Size, sections: &mut Vec<Section>) -> Result<Vec<ModelEval>> {
    let mut evals = Vec::new();
    std::fs::create_dir_all(out.join("eval")).context("cannot create eval/")?;
    for model in MODELS {
        let run = out.join("runs").join(model);
        eprintln!("demo: fitting {model} (at most {} epochs)", size.max_epochs);
        let fit = FitJob { max_epochs: Some(size.max_epochs), ..FitJob::new(model, vec![data.to_path_buf()], run.clone()) };
        worker(&Job::Fit(fit), "fit")?;
        let figures = (model == MODELS[0]).then(|| out.join("eval").join(model));
        let eval = EvalJob { json: true, figures, ..EvalJob::new(run, vec![data.to_path_buf()]) };
        let output = torch::output(&Job::Eval(eval))?;
        if !output.status.success() {
            bail!("the demo evaluation of {model} failed ({})", output.status);
        }
        let report: EvalReport = serde_json::from_slice(&output.stdout).context("eval printed no report")?;
        std::fs::write(out.join("eval").join(format!("{model}.json")), serde_json::to_string_pretty(&report)?)?;
        evals.push(ModelEval { model, report });
    }
    let [klindt, gaussian, full, ln] = [0, 1, 2, 3].map(|i| &evals[i]);
    let rf = klindt.report.rf_recovery.as_ref();
    let px = |v: Option<f64>| v.map_or("n/a".to_string(), |x| format!("{x:.3}"));
    sections.push(Section {
        title: "Fitting klindt2017 and the baselines".into(),
        text: vec![
            format!(
                "Each model was fitted with Adam on the Poisson loss, early stopping on validation correlation (at most {} epochs). \
                 klindt2017 is a three-layer CNN core with the factorised what × where readout (Klindt et al. 2017); gaussian has the \
                 same core with a Gaussian readout (Lurz et al. 2021), full a dense readout, ln is a linear-nonlinear model.",
                size.max_epochs
            ),
            format!(
                "On the test images, klindt2017 reaches single-trial correlation {:.3} against an oracle of {:.3}, FEVE {:.3}, and its \
                 predictions explain {:.3} of the variance of the noiseless ground truth (gaussian {:.3}, full {:.3}, ln {:.3}). Its \
                 model neurons are most sensitive {} px from the true receptive-field centres (median), {} px after removing each \
                 cell type's shift.",
                klindt.test("correlation"),
                klindt.test("oracle_correlation"),
                klindt.test("feve"),
                klindt.test("fev_ground_truth"),
                gaussian.test("fev_ground_truth"),
                full.test("fev_ground_truth"),
                ln.test("fev_ground_truth"),
                px(rf.map(|r| r.median_error_px)),
                px(rf.map(|r| r.aligned_median_error_px)),
            ),
            "What klindt2017 learned: receptive_fields.png puts each neuron's readout position against its true one (row and \
             column; the diagonal is perfect recovery), masks.png shows the where of a sample of neurons, filters.png the \
             first-layer filters, predicted_vs_recorded.png the predictions against the responses per tier."
                .into(),
        ],
        files: [
            models_table(&out.join("eval"), &evals)?,
            training_curves(out)?,
            report::outputs(out, &Path::new("eval").join(MODELS[0]))?,
            MODELS.iter().map(|m| Path::new("eval").join(format!("{m}.json"))).collect(),
            MODELS.iter().map(|m| report::outputs(out, &Path::new("runs").join(m))).collect::<Result<Vec<_>>>()?.concat(),
        ]
        .concat(),
    });
    Ok(evals)
}

/// Step 4: MEIs and grating tuning of every klindt2017 neuron, scored against the simulator's
/// true filters, orientations and cell types.
fn insilico(out: &Path, data: &Path, size: &Size, sections: &mut Vec<Section>) -> Result<()> {
    let run = out.join("runs").join(MODELS[0]);
    let job = |experiment, dir: &str| InsilicoJob {
        experiment,
        runs: vec![run.clone()],
        recording: None,
        data: Some(data.to_path_buf()),
        units: Vec::new(),
        norm: None,
        range: None,
        seed: 0,
        batch_size: None,
        device: DeviceChoice::default(),
        out: out.join(dir),
    };
    let mei = Experiment::Mei { steps: Some(size.mei_steps), lr: None, blur: None, jitter: None, smoothness: None };
    worker(&Job::Insilico(job(mei, "mei")), "MEI optimisation")?;
    let tuning = Experiment::Tuning { orientations: None, spatial_frequencies: None, phases: None };
    worker(&Job::Insilico(job(tuning, "tuning")), "grating tuning")?;

    let truth = static_h5::read(data)?.ground_truth.context("the simulated file has no ground truth")?;
    let meis = MeiFile::read(&out.join("mei").join("meis.h5"))?;
    let index = |ids: &[i64]| ids.iter().map(|&i| i as usize).collect::<Vec<_>>();
    let against = MeisAgainstTruth::of(meis.meis.view(), &index(&meis.unit_index), &truth)?;
    let [simple, complex, center_surround] = against.medians();
    let ratio = meis.best_activation.as_ref().map(|best| {
        let r: Vec<f64> = meis.activation.iter().zip(best).map(|(&m, &b)| f64::from(m / b)).collect();
        r.iter().sum::<f64>() / r.len() as f64
    });
    let table = read_csv(&out.join("tuning").join("tuning.csv"))?;
    let units: Vec<i64> = f64_column(&table, "unit_index")?.iter().map(|&u| u as i64).collect();
    let tuned =
        TuningAgainstTruth::of(&index(&units), &f64_column(&table, "preferred_orientation_deg")?, &f64_column(&table, "f1_f0")?, &truth)?;
    sections.push(Section {
        title: "In-silico experiments".into(),
        text: vec![
            format!(
                "neurozoo insilico mei optimised one image per klindt2017 neuron, all {} in one batch ({} steps of gradient ascent at \
                 the training images' mean contrast, gradients blurred, sinzlab/mei's settings). The simulator knows each neuron's true \
                 filter: within the receptive-field window the MEIs correlate with it at a median of {:.3} for simple cells, {:.3} for \
                 complex cells (against the best phase of their quadrature pair) and {:.3} for centre-surround cells. On average an MEI \
                 drives its neuron {} times as hard as the best training image.",
                meis.unit_ids.len(),
                meis.steps,
                simple,
                complex,
                center_surround,
                ratio.map_or("n/a".into(), |r| format!("{r:.2}")),
            ),
            format!(
                "neurozoo insilico tuning showed every neuron full-field gratings (16 orientations × 8 spatial frequencies × 8 \
                 phases), disks of growing size at its receptive-field centre and a contrast series. The preferred orientation is \
                 {:.1}° from the truth (median over {} oriented cells); F1/F0 tells simple from complex cells with AUC {:.3}. \
                 meis.png shows the MEIs; the tuning figures the curves of a few neurons and the population's histograms.",
                tuned.median_orientation_error(),
                tuned.orientation_errors_deg.len(),
                tuned.f1_f0_auc(),
            ),
        ],
        files: [report::outputs(out, Path::new("mei"))?, report::outputs(out, Path::new("tuning"))?].concat(),
    });
    Ok(())
}

/// The representation files of step 5.
struct Representations {
    /// Every distinct image's recorded responses, with oracle correlations.
    responses: PathBuf,
    /// The same for the images no model was fitted to.
    heldout: PathBuf,
    /// klindt2017's layers for those images.
    layers: PathBuf,
}

/// Step 5: the recorded responses (all images, and the held-out ones) and klindt2017's layers.
fn extract(out: &Path, data: &Path, p: &V1Config, sections: &mut Vec<Section>) -> Result<Representations> {
    let reps = Representations { responses: out.join("responses.h5"), heldout: out.join("heldout.h5"), layers: out.join("layers.h5") };
    crate::analyze::extract_responses(data, &reps.responses, &[], &Default::default())?;
    crate::analyze::extract_responses(data, &reps.heldout, &HELD_OUT, &Default::default())?;
    let run = out.join("runs").join(MODELS[0]);
    let job = ExtractJob {
        runs: vec![run],
        data: data.to_path_buf(),
        out: reps.layers.clone(),
        layer: Some(LAYERS.into()),
        tiers: HELD_OUT.to_vec(),
        device: DeviceChoice::default(),
        nwb: Default::default(),
    };
    worker(&Job::Extract(job), "extraction")?;
    sections.push(Section {
        title: "Representations".into(),
        text: vec![format!(
            "responses.h5 holds the recorded responses of the {} distinct images (averaged over repeats) with each neuron's oracle \
             correlation, what the analysis plugins below run on. heldout.h5 holds the {} images no model was fitted to (validation, \
             test) and layers.h5 klindt2017's representation of those images at {}: one row per image, aligned by image id, for the \
             brain-vs-model comparison.",
            p.n_train + p.n_validation + p.n_test + p.n_final_test,
            p.n_validation + p.n_test + p.n_final_test,
            LAYERS.replace(',', ", ")
        )],
        files: vec!["responses.h5".into(), "heldout.h5".into(), "layers.h5".into()],
    });
    Ok(reps)
}

/// Step 6: a learned dictionary for the population responses.
fn sparse_coding(out: &Path, reps: &Representations, size: &Size, sections: &mut Vec<Section>) -> Result<()> {
    let sparse = out.join("sparse");
    let params = [("epochs", size.sparse_epochs.to_string()), ("restarts", "2".into())];
    analyze("sparse-coding", &reps.responses, &sparse, &[], &params)?;
    let scores = read_csv(&sparse.join("scores.csv"))?;
    let first = |column: &str| -> Result<String> { Ok(f64_column(&scores, column)?.first().map_or("n/a".into(), |v| format!("{v:.3}"))) };
    sections.push(Section {
        title: "Sparse coding".into(),
        text: vec![format!(
            "The sparse-coding plugin learned a dictionary of {} atoms for the population responses (FISTA inference, L1 weight 0.1, \
             {} epochs): reconstruction error {} with {} active atoms per image on average. Its atoms are the candidate features the \
             next step compares with other directions.",
            2 * size.population.n_units,
            size.sparse_epochs,
            first("mse")?,
            first("l0")?,
        )],
        files: report::outputs(out, Path::new("sparse"))?,
    });
    Ok(())
}

/// Step 7: directions in response space by five methods, and how heavy-tailed they are.
fn superposition(out: &Path, reps: &Representations, sections: &mut Vec<Section>) -> Result<()> {
    let dir = out.join("superposition");
    analyze("superposition", &reps.responses, &dir, &[out.join("sparse").join("arrays.h5")], &[])?;
    let directions = read_csv(&dir.join("directions.csv"))?;
    let (methods, kurtosis) = (str_column(&directions, "method"), f64_column(&directions, "kurtosis"));
    let (methods, kurtosis) = (methods?, kurtosis?);
    let mean_kurtosis = |method: &str| {
        let v: Vec<f64> = methods.iter().zip(&kurtosis).filter(|(m, _)| *m == method).map(|(_, k)| *k).collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    sections.push(Section {
        title: "Superposition".into(),
        text: vec![format!(
            "Directions in response space from k-means (Klindt et al. 2023), PCA, ICA, the learned dictionary and random directions. \
             Features carried by several neurons show as heavy-tailed projections: mean excess kurtosis k-means {:.2}, ICA {:.2}, \
             dictionary {:.2}, PCA {:.2}, random {:.2}.",
            mean_kurtosis("kmeans"),
            mean_kurtosis("ica"),
            mean_kurtosis("dictionary"),
            mean_kurtosis("pca"),
            mean_kurtosis("random")
        )],
        files: report::outputs(out, Path::new("superposition"))?,
    });
    Ok(())
}

/// Mean interpretability index of one kind of target (units, or a method's directions), and
/// the same with activations shuffled.
struct Interpretability {
    target: String,
    mean_ii: f64,
    chance_ii: f64,
}

/// Step 8: the 2AFC interpretability of units and directions.
fn interpretability(out: &Path, reps: &Representations, size: &Size, sections: &mut Vec<Section>) -> Result<Vec<Interpretability>> {
    let dir = out.join("interpretability");
    let arrays = [out.join("superposition").join("arrays.h5")];
    analyze("interpretability", &reps.responses, &dir, &arrays, &[("trials", size.trials.to_string())])?;
    let summary = read_csv(&dir.join("summary.csv"))?;
    let columns = (str_column(&summary, "target"), f64_column(&summary, "mean_ii"), f64_column(&summary, "chance_ii"));
    let (targets, mean_ii, chance_ii) = (columns.0?, columns.1?, columns.2?);
    let ii: Vec<Interpretability> = targets
        .into_iter()
        .zip(mean_ii.into_iter().zip(chance_ii))
        .map(|(target, (mean_ii, chance_ii))| Interpretability { target, mean_ii, chance_ii })
        .collect();
    sections.push(Section {
        title: "Interpretability".into(),
        text: vec![format!(
            "Automated 2AFC interpretability (Zimmermann et al.'s II with an oriented filter-energy image similarity): for each neuron \
             or direction, can the query images be told apart by how much they resemble its maximally and minimally activating \
             references? Mean II: {}. The same scores with activations shuffled across images (chance): {}.",
            mean_iis(&ii),
            ii.iter().map(|i| format!("{:.3}", i.chance_ii)).collect::<Vec<_>>().join(", ")
        )],
        files: report::outputs(out, Path::new("interpretability"))?,
    });
    Ok(ii)
}

/// `target mean_ii` for each target, comma-separated.
fn mean_iis(ii: &[Interpretability]) -> String {
    ii.iter().map(|i| format!("{} {:.3}", i.target, i.mean_ii)).collect::<Vec<_>>().join(", ")
}

/// Step 9: klindt2017's layers against the held-out responses.
fn brain_vs_model(out: &Path, reps: &Representations, size: &Size, sections: &mut Vec<Section>) -> Result<CompareSummary> {
    let params = CompareParams { bootstrap: size.bootstrap, max_stimuli: size.max_stimuli, ..CompareParams::default() };
    let cmp = neurozoo_analysis::compare::compare(&reps.layers, &reps.heldout, &out.join("compare"), None, &params)?;
    let interval = |layer: &str, metric: &str| {
        let s = cmp.scores.get(layer).and_then(|m| m.get(metric));
        let n = |v: Option<f64>| v.map_or("n/a".to_string(), |x| format!("{x:.3}"));
        format!("{} [{}, {}]", n(s.and_then(|s| s.score)), n(s.and_then(|s| s.ci_low)), n(s.and_then(|s| s.ci_high)))
    };
    let by_layer = |metric: &str| LAYERS.split(',').map(|l| format!("{l} {}", interval(l, metric))).collect::<Vec<_>>().join(", ");
    // The model's own predictions are trained for this; the question is which core layer.
    let best = LAYERS
        .split(',')
        .filter(|l| l.starts_with("core"))
        .max_by(|a, b| fraction_of_oracle(&cmp, a).total_cmp(&fraction_of_oracle(&cmp, b)))
        .expect("layers");
    sections.push(Section {
        title: "Brain vs model".into(),
        text: vec![
            format!(
                "Each klindt2017 layer against the responses to {} held-out images ({} bootstrap resamples, 95% intervals in brackets). Ridge \
                 predictivity as a fraction of the oracle: {}. Linear CKA (debiased): {}. RSA: {}.",
                cmp.n_stimuli,
                size.bootstrap,
                by_layer("predictivity_normalised"),
                by_layer("linear_cka"),
                by_layer("rsa"),
            ),
            format!(
                "Of the core layers, {best} predicts the neurons best ({:.3} of the oracle, against {:.3} for the model's own \
                 predictions). scores.png shows every measure per layer; predictivity_vs_oracle.png shows each neuron of the \
                 best-predicting representation against its noise ceiling.",
                fraction_of_oracle(&cmp, best),
                fraction_of_oracle(&cmp, "predicted")
            ),
        ],
        files: report::outputs(out, Path::new("compare"))?,
    });
    Ok(cmp)
}

/// A layer's ridge predictivity as a fraction of the oracle; NaN without a ceiling.
fn fraction_of_oracle(cmp: &CompareSummary, layer: &str) -> f64 {
    cmp.scores.get(layer).and_then(|m| m.get("predictivity_normalised")).and_then(|s| s.score).unwrap_or(f64::NAN)
}

/// What the demo found, in a few lines on stdout.
fn print_summary(evals: &[ModelEval], cmp: &CompareSummary, ii: &[Interpretability]) {
    let [klindt, gaussian, full, ln] = [0, 1, 2, 3].map(|i| &evals[i]);
    let rf = klindt.report.rf_recovery.as_ref();
    let px = |v: Option<f64>| v.map_or("n/a".to_string(), |x| format!("{x:.3}"));
    println!("demo: klindt2017 on simulated V1, test tier");
    println!("  single-trial correlation     {:.3}", klindt.test("correlation"));
    println!("  oracle correlation (ceiling) {:.3}", klindt.test("oracle_correlation"));
    println!("  FEVE                         {:.3}", klindt.test("feve"));
    println!(
        "  FEV vs ground truth          {:.3}  (gaussian {:.3}, full {:.3}, ln {:.3})",
        klindt.test("fev_ground_truth"),
        gaussian.test("fev_ground_truth"),
        full.test("fev_ground_truth"),
        ln.test("fev_ground_truth")
    );
    println!(
        "  RF location error (median)   {} px, {} px after each cell type's shift",
        px(rf.map(|r| r.median_error_px)),
        px(rf.map(|r| r.aligned_median_error_px))
    );
    let fractions: Vec<String> = LAYERS.split(',').map(|l| format!("{l} {:.3}", fraction_of_oracle(cmp, l))).collect();
    println!("  fraction of oracle by layer  {}", fractions.join(", "));
    println!("  mean II                      {}", mean_iis(ii));
}

fn remove(path: &Path) -> Result<()> {
    if path.is_dir() {
        std::fs::remove_dir_all(path).with_context(|| format!("cannot replace {}", path.display()))
    } else if path.exists() {
        std::fs::remove_file(path).with_context(|| format!("cannot replace {}", path.display()))
    } else {
        Ok(())
    }
}

fn worker(job: &Job, what: &str) -> Result<()> {
    let status = torch::run(job)?;
    if !status.success() {
        bail!("the demo {what} failed ({status})");
    }
    Ok(())
}

/// A plugin run in a child process, so that a crash there leaves the demo's other results.
fn analyze(plugin: &str, repr: &Path, out: &Path, arrays: &[PathBuf], params: &[(&str, String)]) -> Result<()> {
    let mut job = neurozoo_analysis::host::PluginJob::new(plugin, repr, out);
    job.arrays_files = arrays.to_vec();
    job.params = params.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    crate::analyze::run_plugin(&job)
}

/// Each model's test metrics in one table and one figure.
fn models_table(dir: &Path, evals: &[ModelEval]) -> Result<Vec<PathBuf>> {
    const METRICS: [(&str, &str); 4] = [
        ("correlation", "single-trial correlation"),
        ("oracle_correlation", "oracle correlation"),
        ("feve", "FEVE"),
        ("fev_ground_truth", "FEV vs ground truth"),
    ];
    let get = |e: &ModelEval, key: &str| e.report.tiers.get("test").and_then(|m| test_metric(m, key));
    let mut table = Table::new().str("model", evals.iter().map(|e| e.model.to_string()).collect());
    for (key, _) in METRICS {
        table = table.column(key, ColumnValues::F64(evals.iter().map(|e| get(e, key)).collect()));
    }
    let rf_error = evals.iter().map(|e| e.report.rf_recovery.as_ref().map(|r| r.median_error_px)).collect();
    table = table.column("rf_median_error_px", ColumnValues::F64(rf_error));
    let mut files = write_table(&table, dir, "models")?.to_vec();
    let series = METRICS
        .iter()
        .map(|(key, label)| {
            let points = evals.iter().enumerate().filter_map(|(i, e)| Some(Point::new(i as f64, get(e, key)?))).collect();
            (label.to_string(), points)
        })
        .collect();
    let figure = Figure::Points {
        title: "test-set metrics per model".into(),
        x_label: "model".into(),
        y_label: "score".into(),
        joined: false,
        x_ticks: evals.iter().map(|e| e.model.to_string()).collect(),
        series,
    };
    files.extend(neurozoo_analysis::figures::draw_figure(&figure, dir, "models")?);
    // The report shows the PNG and links its SVG itself.
    Ok(files
        .iter()
        .filter(|f| f.extension() != Some(OsStr::new("svg")))
        .map(|f| Path::new("eval").join(f.file_name().expect("a file")))
        .collect())
}

/// Validation correlation per epoch of every model, from the runs' metrics tables.
fn training_curves(out: &Path) -> Result<Vec<PathBuf>> {
    let mut series = Vec::new();
    for model in MODELS {
        let metrics = read_csv(&out.join("runs").join(model).join("metrics.csv"))?;
        let epochs = f64_column(&metrics, "epoch")?;
        let correlations = f64_column(&metrics, "validation_correlation")?;
        let points = epochs.into_iter().zip(correlations).collect();
        series.push((model.to_string(), points));
    }
    let figure = Figure::Line {
        title: "validation correlation during training".into(),
        x_label: "epoch".into(),
        y_label: "validation correlation".into(),
        series,
    };
    let dir = out.join("eval");
    neurozoo_analysis::figures::draw_figure(&figure, &dir, "training")?;
    Ok(vec!["eval/training.png".into()])
}
