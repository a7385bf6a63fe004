//! Command-line arguments of `neurozoo`: the user-facing contract. The model commands become
//! typed jobs ([`Command::job`]) for the `neurozoo-torch` worker, which never sees these.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use neurozoo_analysis::compare::CompareParams;
use neurozoo_config::DeviceChoice;
use neurozoo_datasets::nwb::{NwbOptions, Split};
use neurozoo_datasets::simulate::v1::ImageKind;
use neurozoo_datasets::Tier;
use neurozoo_job::{EvalJob, Experiment, ExportJob, ExtractJob, FitJob, ImportJob, InsilicoJob, Job};

#[derive(Debug, Parser)]
#[command(name = "neurozoo", version, about = "Neural system identification and representation analysis")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Versions of neurozoo, libtorch, CUDA and HDF5, and where plugins are looked for.
    Doctor {
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Simulate, inspect and validate datasets.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Fit a model to a dataset (a preset name or a TOML config).
    Fit(FitArgs),
    /// Evaluate a fitted run on a dataset: correlation, FEVE, oracle, FEV against ground truth.
    /// Several runs (or a sweep directory of seeds) are evaluated as an ensemble, the mean of
    /// their predictions, and each alone.
    Eval {
        /// Run directory written by `neurozoo fit`; several response-model runs, or a sweep
        /// directory whose points differ only in their seed, make an ensemble.
        #[arg(required = true, num_args = 1..)]
        runs: Vec<PathBuf>,
        /// Recording (static HDF5, NWB or a file tree; a sprites file for slowvae and betavae
        /// runs). Give each recording of a multi-recording run to report it and the pooled result.
        #[arg(long, required = true)]
        data: Vec<PathBuf>,
        /// Where the model runs: auto (CUDA when libtorch sees a GPU), cpu or cuda.
        #[arg(long, value_enum, default_value_t)]
        device: DeviceChoice,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// slowvae and betavae runs: training points of the BetaVAE and FactorVAE scores (half as
        /// many evaluation points, five times as many for the variances; batches of 64). 0
        /// skips them. The reference uses 10 000.
        #[arg(long, default_value_t = EvalJob::DEFAULT_INTERVENTION_POINTS)]
        intervention_points: usize,
        /// Also draw what the model learned into this new or empty directory (PNG and SVG): readout against
        /// true receptive-field positions (simulations), readout masks, first-layer filters,
        /// predicted against recorded responses per tier.
        #[arg(long, value_name = "DIR")]
        figures: Option<PathBuf>,
        #[command(flatten)]
        nwb: NwbArgs,
    },
    /// Write a representation file (what `analyze` runs on): a fitted model's layer, or, without
    /// RUN, a dataset's recorded responses averaged over the repeats of each image. One row per
    /// distinct image, in the same order for both, so brain and model files align.
    Extract {
        /// Run directory written by `neurozoo fit`, or a TorchScript file (`torch.jit.save`) to
        /// use as it is; omit it to extract the recorded responses. Several runs (or a sweep
        /// directory of seeds) are an ensemble: their mean predicted rates.
        runs: Vec<PathBuf>,
        /// Recording (static HDF5, NWB or a file tree); for a multi-recording run, the readout
        /// of the recording of this name is used.
        #[arg(long)]
        data: PathBuf,
        /// Representation file to write.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing output file (never the recording or a file of the run).
        #[arg(long)]
        force: bool,
        /// With RUN: `core.K` (a core layer, flattened; `core` for a frozen core), `readout`
        /// (drive before the output nonlinearity) or `predicted` (predicted rates, the default;
        /// an ensemble's only layer).
        /// With a TorchScript file: `forward` (the default) or a method exported with
        /// `@torch.jit.export`, flattened. Several, comma-separated (`core.0,core.1,predicted`),
        /// give one representation each in the same file.
        #[arg(long)]
        layer: Option<String>,
        /// Only the images first shown in these tiers, comma-separated (train, validation, test,
        /// final_test); default all. `--tiers validation,test` leaves out what a model was
        /// fitted to, for `compare`.
        #[arg(long, value_delimiter = ',')]
        tiers: Vec<Tier>,
        /// Where the model runs: auto (CUDA when libtorch sees a GPU), cpu or cuda.
        #[arg(long, value_enum, default_value_t)]
        device: DeviceChoice,
        #[command(flatten)]
        nwb: NwbArgs,
    },
    /// Analysis plugins: list, describe.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// Run an analysis plugin on a representation file.
    Analyze(AnalyzeArgs),
    /// Internal: run one plugin job read as JSON on stdin (how `analyze` isolates a plugin).
    #[command(name = neurozoo_analysis::host::ISOLATED_COMMAND, hide = true)]
    PluginHost,
    /// Brain vs model: how well each representation in A (model layers) accounts for one in B
    /// (recorded responses) of the same stimuli: cross-validated ridge predictivity (as a
    /// fraction of the oracle when B has noise ceilings), linear and RBF CKA, and RSA, with
    /// bootstrap intervals over stimuli.
    Compare(CompareArgs),
    /// Many fits of one base config: a grid of config values × seeds × recordings, run on this
    /// machine or as a SLURM job array; re-running resumes. See docs/sweeps.md.
    Sweep(SweepArgs),
    /// Print a shell completion script
    /// (`neurozoo completions bash > ~/.local/share/bash-completion/completions/neurozoo`).
    Completions { shell: clap_complete::Shell },
    /// The model presets.
    Zoo {
        #[command(subcommand)]
        command: ZooCommand,
    },
    /// Make a run of a PyTorch checkpoint: a neuralpredictors model's `state_dict` saved by
    /// `torch.save` (the SENSORIUM 2022 models, a lab's own), read without running any of its
    /// pickle. Every key is checked against the architecture first. See docs/exchange.md.
    Import(ImportArgs),
    /// Hand a run to PyTorch: `state_dict.pth` with neuralpredictors 0.3.0's names and a
    /// `model.py` that builds the model from neuralpredictors' modules and loads it strictly.
    Export {
        /// Run directory (`neurozoo fit` or `neurozoo import`).
        run: PathBuf,
        /// The library whose names and modules to use.
        #[arg(long, value_enum)]
        to: ExportTarget,
        /// Output directory (new or empty).
        #[arg(long)]
        out: PathBuf,
    },
    /// In-silico experiments on a fitted or imported response model.
    Insilico {
        #[command(subcommand)]
        command: InsilicoCommand,
    },
    /// Run the whole pipeline on built-in simulated data.
    Demo {
        /// Output directory.
        #[arg(long, default_value = "demo-out")]
        out: PathBuf,
        /// Upper bound on each fit's epochs (early stopping may end it sooner); default 20, 2
        /// with --quick.
        #[arg(long)]
        max_epochs: Option<usize>,
        /// A reduced run (a small population, few epochs and resamples) that checks the whole
        /// pipeline in about a minute; its numbers mean little.
        #[arg(long)]
        quick: bool,
    },
}

impl Command {
    /// The job for the `neurozoo-torch` worker, for a model command; a sweep directory given as
    /// a run is read for the runs of its seeds, which fails when it has more than one config.
    pub fn job(&self) -> Result<Option<Job>, neurozoo_sweep::SweepError> {
        Ok(Some(match self {
            Command::Fit(args) => Job::Fit(args.job()),
            Command::Eval { runs, data, device, json, intervention_points, figures, nwb } => Job::Eval(EvalJob {
                runs: ensemble(runs)?,
                data: data.clone(),
                device: *device,
                json: *json,
                intervention_points: *intervention_points,
                figures: figures.clone(),
                nwb: nwb.options(),
            }),
            Command::Extract { runs, data, out, layer, tiers, device, nwb, force: _ } if !runs.is_empty() => Job::Extract(ExtractJob {
                runs: ensemble(runs)?,
                data: data.clone(),
                out: out.clone(),
                layer: layer.clone(),
                tiers: tiers.clone(),
                device: *device,
                nwb: nwb.options(),
            }),
            Command::Import(args) => Job::Import(ImportJob {
                checkpoint: args.checkpoint.clone(),
                arch: args.arch.clone(),
                config: args.config.clone(),
                image_shape: args.image_shape,
                out: args.out.clone(),
            }),
            Command::Export { run, to: ExportTarget::Neuralpredictors, out } => {
                Job::Export(ExportJob { run: run.clone(), out: out.clone() })
            }
            Command::Insilico { command } => Job::Insilico(command.job()?),
            _ => return Ok(None),
        }))
    }
}

/// The runs given, a sweep directory among them replaced by the runs of its seeds.
fn ensemble(runs: &[PathBuf]) -> Result<Vec<PathBuf>, neurozoo_sweep::SweepError> {
    let mut expanded = Vec::new();
    for run in runs {
        if run.join(neurozoo_sweep::plan::PLAN_FILE).is_file() {
            expanded.extend(neurozoo_sweep::plan::Plan::load(run)?.ensemble_runs(run)?);
        } else {
            expanded.push(run.clone());
        }
    }
    Ok(expanded)
}

/// Where `neurozoo export` hands a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportTarget {
    /// neuralpredictors 0.3.0 (and the sensorium builder's conventions).
    Neuralpredictors,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The checkpoint (`torch.save(model.state_dict())`, or a dict holding it under
    /// `model_state_dict`, `state_dict` or `model`).
    pub checkpoint: PathBuf,
    /// The preset whose architecture the checkpoint has (`neurozoo zoo list`).
    #[arg(long)]
    pub arch: String,
    /// A model TOML merged over --arch: what the checkpoint's builder changed (e.g. the
    /// SENSORIUM 2022 SOTA model: `[model]` `behavior_channels = false`, `shifter = false`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// C,H,W of the images the model was trained on, without behaviour channels.
    #[arg(long, value_parser = parse_shape, default_value = "1,36,64")]
    pub image_shape: [usize; 3],
    /// Run directory to write (new or empty).
    #[arg(long)]
    pub out: PathBuf,
}

fn parse_finite(text: &str) -> Result<f64, String> {
    text.trim().parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| format!("{text:?} is not a finite number"))
}

fn parse_range(text: &str) -> Result<(f64, f64), String> {
    match text.split(',').map(|p| p.trim().parse::<f64>()).collect::<Result<Vec<f64>, _>>().as_deref() {
        Ok(&[lo, hi]) if lo.is_finite() && hi.is_finite() && lo < hi => Ok((lo, hi)),
        _ => Err(format!("{text:?} is not LO,HI (two finite numbers, LO below HI)")),
    }
}

fn parse_shape(text: &str) -> Result<[usize; 3], String> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let dims: Vec<usize> = parts.iter().filter_map(|p| p.parse().ok().filter(|&d| d > 0)).collect();
    <[usize; 3]>::try_from(dims).map_err(|_| format!("{text:?} is not C,H,W (three positive integers)"))
}

#[derive(Debug, Subcommand)]
pub enum InsilicoCommand {
    /// Most exciting inputs: gradient ascent on the input under an L2 norm budget, every unit's
    /// image in one batch (sinzlab/mei's defaults). Writes meis.h5, mei.parquet/.csv and meis.png.
    Mei {
        #[command(flatten)]
        common: InsilicoArgs,
        /// Optimisation steps (sinzlab/mei: 1000).
        #[arg(long)]
        steps: Option<usize>,
        /// SGD learning rate (sinzlab/mei's quickstart: 1.0).
        #[arg(long, value_parser = parse_finite)]
        lr: Option<f64>,
        /// Standard deviation in pixels of the Gaussian blur of each gradient (sinzlab/mei: 1).
        #[arg(long, value_parser = parse_finite)]
        blur: Option<f64>,
        /// Random shifts of up to this many pixels each step (default 0).
        #[arg(long)]
        jitter: Option<usize>,
        /// Weight of a squared-Laplacian smoothness penalty (default 0).
        #[arg(long, value_parser = parse_finite)]
        smoothness: Option<f64>,
    },
    /// Grating tuning: orientation, spatial frequency and phase (full field), size (disks at
    /// each unit's receptive-field centre) and contrast. Writes tuning.parquet/.csv and figures.
    Tuning {
        #[command(flatten)]
        common: InsilicoArgs,
        /// Orientations over 180° (default 16).
        #[arg(long)]
        orientations: Option<usize>,
        /// Spatial frequencies, log-spaced (default 8).
        #[arg(long)]
        spatial_frequencies: Option<usize>,
        /// Phases over 360° (default 8).
        #[arg(long)]
        phases: Option<usize>,
    },
}

impl InsilicoCommand {
    fn job(&self) -> Result<InsilicoJob, neurozoo_sweep::SweepError> {
        let (common, experiment) = match self {
            InsilicoCommand::Mei { common, steps, lr, blur, jitter, smoothness } => {
                (common, Experiment::Mei { steps: *steps, lr: *lr, blur: *blur, jitter: *jitter, smoothness: *smoothness })
            }
            InsilicoCommand::Tuning { common, orientations, spatial_frequencies, phases } => {
                (common, Experiment::Tuning { orientations: *orientations, spatial_frequencies: *spatial_frequencies, phases: *phases })
            }
        };
        Ok(InsilicoJob {
            experiment,
            runs: ensemble(&common.runs)?,
            recording: common.recording.clone(),
            data: common.data.clone(),
            units: common.units.clone(),
            norm: common.norm,
            range: common.range,
            seed: common.seed,
            batch_size: common.batch_size,
            device: common.device,
            out: common.out.clone(),
        })
    }
}

#[derive(Debug, clap::Args)]
pub struct InsilicoArgs {
    /// Run directory (`neurozoo fit` or `neurozoo import`); several runs, or a sweep directory
    /// whose points differ only in their seed, are an ensemble: the mean of their rates.
    #[arg(required = true, num_args = 1..)]
    pub runs: Vec<PathBuf>,
    /// Output directory (new or empty).
    #[arg(long)]
    pub out: PathBuf,
    /// The recording whose units to use, by name (default: the run's only recording).
    #[arg(long)]
    pub recording: Option<String>,
    /// The recording's data: its training images set the default --norm and --range and the
    /// values behaviour and pupil inputs are held at. Without it give --norm (and, for MEIs, --range).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Unit ids, comma-separated (default: every unit).
    #[arg(long, value_delimiter = ',')]
    pub units: Vec<i64>,
    /// L2 norm of every image in z-scored pixels: the MEI budget, the gratings' contrast.
    #[arg(long, value_parser = parse_finite)]
    pub norm: Option<f64>,
    /// LO,HI: the MEI's pixel range (z-scored).
    #[arg(long, value_parser = parse_range, allow_hyphen_values = true)]
    pub range: Option<(f64, f64)>,
    /// Seed of the starting images and jitter.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// MEIs: units optimised together, batch after batch (default 256; a unit's MEI does not
    /// depend on it; a GPU takes thousands). Tuning: stimuli per forward pass (default 256).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Where the model runs: auto (CUDA when libtorch sees a GPU), cpu or cuda.
    #[arg(long, value_enum, default_value_t)]
    pub device: DeviceChoice,
}

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// Representation file whose every representation is scored (e.g. `extract RUN --layer
    /// core.0,core.1,predicted`).
    pub a: PathBuf,
    /// Representation file to account for (e.g. `extract --data F`, recorded responses with
    /// their oracle correlations and the single trials of repeated images).
    pub b: PathBuf,
    /// Output directory (new or empty): tables, figures and compare.json.
    #[arg(long)]
    pub out: PathBuf,
    /// The representation of B to use when it has several.
    #[arg(long)]
    pub b_name: Option<String>,
    /// Cross-validation folds of the ridge predictivity.
    #[arg(long, default_value_t = CompareParams::default().folds)]
    pub folds: usize,
    /// Bootstrap resamples of the stimuli for the 95% intervals (0: none).
    #[arg(long, default_value_t = CompareParams::default().bootstrap)]
    pub bootstrap: usize,
    /// Compare on at most this many stimuli (a seeded random subset).
    #[arg(long, default_value_t = CompareParams::default().max_stimuli)]
    pub max_stimuli: usize,
    /// RBF CKA bandwidth as a fraction of the median distance.
    #[arg(long, default_value_t = CompareParams::default().rbf_threshold)]
    pub rbf_threshold: f64,
    /// Shuffles of the stimuli for the shape distances' permutation p-values (0: none).
    #[arg(long, default_value_t = CompareParams::default().permutations)]
    pub permutations: usize,
    #[arg(long, default_value_t = CompareParams::default().seed)]
    pub seed: u64,
    /// Fail when B gives no RSA noise ceiling (no single trials, fewer than 3 compared images
    /// shown at least twice) instead of leaving it out with a note.
    #[arg(long)]
    pub require_rsa_ceiling: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// Every plugin in the plugin path (`neurozoo doctor` prints it), one line each.
    List,
    /// A plugin's description and parameters.
    Describe {
        /// Plugin name, or the path of its library.
        name: String,
    },
    /// Create a plugin crate that builds and runs as it is.
    New {
        /// Plugin name: lowercase letters, digits and '-'.
        name: String,
        /// Directory to create (default ./neurozoo-plugin-NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The plugin SDK (plugins/sdk of a neurozoo checkout); default: the one this binary
        /// was built from.
        #[arg(long)]
        sdk: Option<PathBuf>,
        /// rust: a cdylib crate; python: an executable plugin (h5py, numpy, pandas).
        #[arg(long, value_enum, default_value_t)]
        lang: Lang,
    },
}

/// The language of a new plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Lang {
    /// A `cdylib` crate on the plugin SDK.
    #[default]
    Rust,
    /// An executable plugin.
    Python,
}

#[derive(Debug, Clone, clap::Args)]
pub struct AnalyzeArgs {
    /// Plugin name (see `neurozoo plugins list`), or the path of its library.
    pub plugin: String,
    /// Representation file (`neurozoo extract`).
    #[arg(long)]
    pub repr: PathBuf,
    /// Which representation in the file, when it holds several.
    #[arg(long)]
    pub name: Option<String>,
    /// Output directory (created; must be new or empty).
    #[arg(long)]
    pub out: PathBuf,
    /// More named input arrays: an earlier plugin's `arrays.h5` (or any representation file's
    /// arrays), e.g. the `dictionary` the sparse-coding plugin learned; repeat for several.
    #[arg(long = "arrays", value_name = "ARRAYS.h5")]
    pub arrays: Vec<PathBuf>,
    /// A plugin parameter, `key=value`; repeat for several.
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// Seed handed to the plugin.
    #[arg(long, default_value_t = CompareParams::default().seed)]
    pub seed: u64,
    /// Run the plugin in this process, without the child process it runs in by default (which
    /// turns a crash into an error message and keeps the outputs written before it, for about
    /// 2 ms a call: bench/plugins.sh). A crash then takes neurozoo down with it.
    #[arg(long)]
    pub in_process: bool,
    /// Stop a plugin that runs longer than this many seconds (a failed run): an executable
    /// plugin, or a library plugin in its isolated process (not with --in-process).
    #[arg(long, value_name = "SECONDS", value_parser = parse_timeout)]
    pub timeout: Option<f64>,
    /// The default, kept so that scripts which ask for isolation still run.
    #[arg(long, hide = true, conflicts_with = "in_process")]
    pub isolate: bool,
}

fn parse_timeout(s: &str) -> Result<f64, String> {
    s.parse::<f64>().ok().filter(|t| *t > 0.0 && t.is_finite()).ok_or_else(|| format!("{s:?}: expected seconds > 0"))
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("{s:?}: expected KEY=VALUE"))
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    pub command: Option<SweepCommand>,
    /// The sweep file (TOML): base, [grid], seeds, data, [slurm].
    #[arg(required = true)]
    pub file: Option<PathBuf>,
    /// Sweep directory: new, or the same sweep's to continue it.
    #[arg(long, required = true)]
    pub out: Option<PathBuf>,
    /// local: fit here; slurm: submit a job array with sbatch.
    #[arg(long, value_enum, default_value_t)]
    pub executor: Executor,
    /// local: points fitted at once (the cores split between them) [1]; slurm: array tasks
    /// running at once (`%N`) [no limit].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub jobs: Option<u64>,
    /// Print the points (and, for slurm, the batch script) without writing or running anything.
    #[arg(long)]
    pub dry_run: bool,
    /// slurm: `--partition` (overrides the sweep file's [slurm] table).
    #[arg(long)]
    pub partition: Option<String>,
    /// slurm: `--account`.
    #[arg(long)]
    pub account: Option<String>,
    /// slurm: `--time` of one point.
    #[arg(long)]
    pub time: Option<String>,
    /// slurm: `--mem` of one point.
    #[arg(long)]
    pub mem: Option<String>,
    /// slurm: `--cpus-per-task`.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub cpus_per_task: Option<u64>,
}

/// Where a sweep's points are fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Executor {
    /// On this machine, `--jobs` at a time.
    #[default]
    Local,
    /// As a SLURM job array, submitted with sbatch.
    Slurm,
}

#[derive(Debug, Subcommand)]
pub enum SweepCommand {
    /// Fit and evaluate one point (what each local job and SLURM array task runs).
    RunPoint {
        dir: PathBuf,
        index: usize,
        /// libtorch threads of the fit.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        threads: Option<u32>,
    },
    /// Each point's state (done, failed, running, interrupted, pending; SLURM's queue state).
    Status {
        dir: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// results.parquet + .csv (a row per point), best.json, and a figure per swept key.
    Collect {
        dir: PathBuf,
        /// The eval metric best.json ranks by [validation_correlation; mcc_spearman for
        /// sprite-pair models].
        #[arg(long)]
        metric: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ZooCommand {
    /// One line per preset.
    List,
}

#[derive(Debug, Clone, clap::Args)]
pub struct FitArgs {
    /// A preset (see `neurozoo zoo list`) or a TOML config file.
    pub model: String,
    /// Recording: static HDF5, NWB, or a neuralpredictors file tree (directory or .zip); a
    /// sprites file for slowvae and betavae. Give it several times to fit several recordings
    /// with one shared core and a readout each (named by file stem). Default: the config's
    /// `[[data]]` list.
    #[arg(long)]
    pub data: Vec<PathBuf>,
    /// Run directory to create (or to continue with --resume).
    #[arg(long)]
    pub out: PathBuf,
    /// Where the model runs: auto (CUDA when libtorch sees a GPU), cpu or cuda.
    #[arg(long, value_enum, default_value_t)]
    pub device: DeviceChoice,
    /// Seed of initialisation, minibatch order and readout sampling (overrides the config).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Maximum epochs (overrides the config).
    #[arg(long)]
    pub max_epochs: Option<usize>,
    /// Training steps of the sprite-pair models, slowvae and betavae (overrides the config).
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Continue an interrupted run from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// libtorch intra-op threads (default: libtorch's choice, one per core).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    #[command(flatten)]
    pub nwb: NwbArgs,
}

impl FitArgs {
    pub fn job(&self) -> FitJob {
        FitJob {
            model: self.model.clone(),
            data: self.data.clone(),
            out: self.out.clone(),
            device: self.device,
            seed: self.seed,
            max_epochs: self.max_epochs,
            iterations: self.iterations,
            resume: self.resume,
            threads: self.threads,
            nwb: self.nwb.options(),
        }
    }
}

// Parsed once per process: the size of the simulator's options does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Simulate a dataset with known ground truth.
    Simulate {
        #[command(subcommand)]
        kind: SimulateKind,
    },
    /// Shapes, dtypes, tiers, repeats, units, value ranges and ground truth of a static file.
    Inspect {
        file: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check a static file; exit 0, or non-zero naming each problem (file and key).
    Validate {
        file: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SimulateKind {
    /// A V1 population in the spirit of Klindt et al. 2017 (cell types × locations).
    V1(SimulateV1Args),
    /// Sparse superposition with a known dictionary (O'Neill, Klindt et al. 2024), written as a
    /// representation file with the ground truth as arrays `gt_dictionary` and `gt_codes`.
    Sparse(SimulateSparseArgs),
    /// Sprite frame pairs with temporally sparse factor changes (SlowVAE, Klindt et al. 2021):
    /// dSprites' factors, drawn by a built-in renderer or taken from the dSprites npz.
    Sprites(SimulateSpritesArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct SimulateSpritesArgs {
    /// Output file (HDF5: images, classes).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
    /// Frame pairs.
    #[arg(long, default_value_t = 10_000)]
    pub pairs: usize,
    /// lap: every factor takes a discrete Laplace step; loc: k factors jump uniformly.
    #[arg(long, value_enum, default_value_t)]
    pub transition: TransitionKind,
    /// LAP rate λ, or "random" for λ ~ U(1, 10) per pair (the reference's dSprites setting).
    #[arg(long, default_value = "random")]
    pub rate: String,
    /// LOC: factors that jump, or "random" for 1–4 per pair (the reference's default).
    #[arg(long, default_value = "random")]
    pub k: String,
    /// Take the frames from the public dSprites npz instead of rendering them.
    #[arg(long)]
    pub npz: Option<PathBuf>,
    #[arg(long, default_value_t = CompareParams::default().seed)]
    pub seed: u64,
}

/// The noise `data simulate v1` adds to the noiseless rates; `--noise-sd` gives the Gaussian's
/// standard deviation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NoiseKind {
    /// Spike counts: Poisson with the rate as mean.
    Poisson,
    /// rate + N(0, sd²), clipped at zero.
    Gaussian,
}

/// How the factors of a sprite pair's second frame follow from the first's (SlowVAE's
/// transition prior); `--rate` and `--k` give the amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TransitionKind {
    /// Every factor takes a discrete Laplace step.
    #[default]
    Lap,
    /// k factors jump uniformly.
    Loc,
}

/// Options left out take the generator's defaults (shown in brackets).
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateSparseArgs {
    /// Output representation file.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
    /// Random seed [0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// N: atoms of the ground-truth dictionary [16].
    #[arg(long)]
    pub n_sources: Option<usize>,
    /// M: dimensions of a sample [8].
    #[arg(long)]
    pub n_dims: Option<usize>,
    /// K: atoms active in each sample [3].
    #[arg(long)]
    pub k_active: Option<usize>,
    /// Samples [1024].
    #[arg(long)]
    pub n_samples: Option<usize>,
    /// Standard deviation of added Gaussian noise [0].
    #[arg(long)]
    pub noise_sd: Option<f32>,
}

/// Options left out take the simulator's defaults (shown in brackets).
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateV1Args {
    /// Output file (neuralpredictors static HDF5 layout), or directory with --tree. With
    /// --recordings K, K files named after it: v1.h5 gives v1-1.h5 … v1-K.h5.
    #[arg(long)]
    pub out: PathBuf,
    /// Write a neuralpredictors file tree (a directory of .npy files) instead of HDF5.
    #[arg(long)]
    pub tree: bool,
    /// Replace existing output files (a file tree is always written into a new directory).
    #[arg(long)]
    pub force: bool,
    /// Recordings to simulate [1]: each its own neurons (types, positions, gains) and images,
    /// all drawn from the same cell types, as several mice share one visual cortex's features.
    /// Recording k uses seed + k - 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub recordings: u64,
    /// Random seed; the same seed gives the same file, byte for byte [0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Number of neurons [300].
    #[arg(long)]
    pub n_units: Option<usize>,
    /// Unique training images [4000].
    #[arg(long)]
    pub n_train: Option<usize>,
    /// Unique validation images [500].
    #[arg(long)]
    pub n_validation: Option<usize>,
    /// Unique test images, each shown --repeats times [50].
    #[arg(long)]
    pub n_test: Option<usize>,
    /// Unique final-test images, each shown --repeats times [25].
    #[arg(long)]
    pub n_final_test: Option<usize>,
    /// Presentations of each test image [10].
    #[arg(long)]
    pub repeats: Option<usize>,
    /// Image height in pixels [32].
    #[arg(long)]
    pub height: Option<usize>,
    /// Image width in pixels [32].
    #[arg(long)]
    pub width: Option<usize>,
    /// Stimuli [naturalistic].
    #[arg(long, value_enum)]
    pub images: Option<ImageKind>,
    /// Trial-to-trial noise [poisson].
    #[arg(long, value_enum)]
    pub noise: Option<NoiseKind>,
    /// Standard deviation of Gaussian noise [1.0].
    #[arg(long, requires = "noise")]
    pub noise_sd: Option<f32>,
    /// Behavioural gain modulation [0, off]: a per-trial arousal state, recorded as behaviour
    /// (pupil dilation, its change, running speed), multiplies each neuron's rate by
    /// exp(GAIN · s · arousal), s ~ U(0.5, 1.5) per neuron.
    #[arg(long)]
    pub behavior_gain: Option<f64>,
    /// Eye movements [0, off]: a per-trial pupil position p ~ N(0, I), recorded as
    /// pupil_center, moves every receptive field by SHIFT · p pixels.
    #[arg(long)]
    pub pupil_shift: Option<f64>,
}

/// How NWB files are read; other layouts ignore these.
#[derive(Debug, Clone, Args)]
pub struct NwbArgs {
    /// NWB: the RoiResponseSeries to read [the first under a DfOverF, else a Fluorescence].
    #[arg(long = "nwb-series", value_name = "PATH")]
    pub series: Option<String>,
    /// NWB: the IndexSeries or TimeIntervals of the presentations [the first IndexSeries in
    /// stimulus/presentation, else the first intervals table with an image index].
    #[arg(long = "nwb-presentations", value_name = "PATH")]
    pub presentations: Option<String>,
    /// NWB: seconds after onset over which a response is averaged [0,0.5].
    #[arg(long = "nwb-window", value_name = "START,END", value_parser = parse_window)]
    pub window: Option<(f64, f64)>,
    /// NWB without a tier column: auto (repeated images are test, unless every image repeats:
    /// then images:0.1,0.1), repeats, images, or images:VALIDATION,TEST (fractions of the
    /// images, each with all its repeats in one tier) [auto].
    #[arg(long = "nwb-split", value_name = "POLICY", default_value = "auto", value_parser = |s: &str| s.parse::<Split>())]
    pub split: Split,
    /// NWB: seed of the images the split holds out [0].
    #[arg(long = "nwb-split-seed", default_value_t = 0)]
    pub split_seed: u64,
}

impl NwbArgs {
    pub fn options(&self) -> NwbOptions {
        let d = NwbOptions::default();
        NwbOptions {
            series: self.series.clone(),
            presentations: self.presentations.clone(),
            window: self.window.unwrap_or(d.window),
            split: self.split,
            split_seed: self.split_seed,
        }
    }
}

fn parse_window(s: &str) -> Result<(f64, f64), String> {
    let (a, b) = s.split_once(',').ok_or_else(|| format!("{s:?}: expected START,END in seconds"))?;
    let parse = |v: &str| v.trim().parse::<f64>().map_err(|_| format!("{s:?}: expected START,END in seconds"));
    Ok((parse(a)?, parse(b)?))
}
