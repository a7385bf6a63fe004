//! Brain-vs-model comparison (`neurozoo compare A.h5 B.h5`): how well each representation in A
//! (model layers, say) accounts for one representation in B (recorded responses, say) of the
//! same stimuli, by three measures of the field:
//!
//! - **ridge predictivity**: each unit of B predicted from A by cross-validated ridge regression
//!   ([`ridge_predictivity`]); the score is the mean Pearson r over units, and, when B carries
//!   each unit's noise ceiling (the `oracle_correlation` array that `neurozoo extract` writes for
//!   recorded responses), the **fraction of oracle**: mean r over mean ceiling. The ceiling is
//!   the single-trial oracle, and r is measured against B's rows, which for a repeated image
//!   are averages over its repeats: the ratio is a fraction of oracle when most images were
//!   shown once (the static datasets' train and validation tiers), and overstates it when most
//!   rows are averages;
//! - **CKA**, linear and RBF (Kornblith et al. 2019), with the unbiased HSIC estimator (Song et
//!   al. 2012): the plain estimator grows as stimuli get fewer, and a bootstrap resample, which
//!   repeats stimuli, inflates it further (measured: 0.05 for unrelated representations, its
//!   bootstrap interval 0.09–0.11);
//! - **RSA**: Spearman ρ between correlation-distance RDMs; and, when B carries the single
//!   trials of its repeated images (the `trial_responses` and `trial_rows` arrays that
//!   `neurozoo extract --data` writes), RSA on those images as rsatoolbox evaluates a model
//!   against noisy data (see [`neurozoo_metrics::rsa`]): the trials split into repeat
//!   partitions (the k-th presentation of an image in partition k mod P, P its fewest
//!   presentations), `rsa_repeats` the mean Spearman ρ of A's RDM with each partition's RDM,
//!   bounded by the **RSA noise ceiling** (lower: each partition against the others' mean
//!   ranked RDM; upper: against all partitions' mean), and `rsa_crossnobis`, Spearman ρ of A's
//!   squared-Euclidean RDM with B's crossnobis RDM (cross-validated squared Euclidean distances
//!   over the same partitions, unbiased by the noise: the same geometry, estimated without
//!   noise's bias). Neither has a bootstrap interval: the resamples are of
//!   the compared stimuli, the ceiling is of the repeated images;
//! - **shape distances** (Williams et al. 2021, netrep's `LinearMetric`; see
//!   [`neurozoo_metrics::shape`]): `procrustes` (Euclidean, after centring and the best
//!   rotation, in the data's units), `procrustes_angular` (the angle between the aligned
//!   representations, 0 to π/2) and `cca_angular` (the angle after full whitening: arccos of the
//!   mean canonical correlation). Distances: smaller is closer. Each has a permutation p-value
//!   (`p_value`: shuffled stimuli, `permutations` of them) instead of a bootstrap interval, as
//!   the alignment is refitted per shuffle. CCA needs more stimuli than units on both sides and
//!   whitens with a units × units eigendecomposition: it is left undefined, with a warning, past
//!   [`MAX_WHITENED_UNITS`] units or when the stimuli are too few.
//!
//! Rows are matched by stimulus id. Confidence intervals are percentile bootstrap intervals over
//! stimuli: the same resamples for every representation, so differences between layers are
//! paired. Ridge predictions are cross-validated once and resampled (the fits are not redone);
//! kernels and RDMs are computed once and resampled by rows and columns. CKA uses the distinct
//! stimuli of each resample (the unbiased estimator assumes distinct samples); RSA leaves out
//! the pairs a resample makes of one stimulus with itself, as rsatoolbox's bootstrap.
//!
//! ```no_run
//! use neurozoo_analysis::compare::{compare, CompareParams};
//! let summary = compare("model.h5".as_ref(), "responses.h5".as_ref(), "cmp".as_ref(), None, &CompareParams::default())?;
//! for (layer, scores) in &summary.scores {
//!     println!("{layer}: linear CKA {:?}", scores.get("linear_cka").and_then(|s| s.score));
//! }
//! # Ok::<(), neurozoo_analysis::compare::CompareError>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array1, Array2, Axis};
use neurozoo_datasets::representation::{Representation, RepresentationFile};
use neurozoo_metrics::paired_correlations;
use neurozoo_metrics::rsa::{mean_spearman, spearman, spearman_noise_ceiling, NoiseCeiling as RsaCeilingBounds, RepeatPartitions};
use neurozoo_metrics::shape::{Score as ShapeScore, ShapeMetric};
use neurozoo_metrics::similarity::{
    debiased_cka_of_rows, euclidean_rdm_matrix, gram_linear, rbf_from_linear, rdm_matrix, ridge_predictivity, upper_triangle, RankedRdm,
};
use neurozoo_plugin::{Figure, Point};
use neurozoo_util::files::{ensure_empty_dir, write_atomic};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::figures;
use neurozoo_tables::{write_table, Table};

/// The per-unit noise ceiling a representation file may carry in `/arrays`: the jackknife oracle
/// correlation from repeated presentations (neuralpredictors' `oracle_corr_jackknife`).
pub const CEILING: &str = "oracle_correlation";

/// The single-trial responses a representation file may carry in `/arrays`: (n_trials, n_units),
/// the trials of the images shown more than once, in the order shown.
pub const TRIAL_RESPONSES: &str = "trial_responses";

/// Which row of the file (index into `stimulus_ids`) each of [`TRIAL_RESPONSES`] shows:
/// (n_trials,), as f32 like every array (exact below 2²⁴ rows).
pub const TRIAL_ROWS: &str = "trial_rows";

/// CCA whitens each side with an eigendecomposition of its units × units covariance (Jacobi,
/// cubic in the units): past this many units it is left undefined, with a warning.
pub const MAX_WHITENED_UNITS: usize = 500;

/// What `compare` writes last: its presence means every table and figure is complete.
pub const SUMMARY: &str = "compare.json";

/// Comparison settings; each field documents its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareParams {
    /// Cross-validation folds of the ridge predictivity (contiguous, as scikit-learn's `KFold`).
    /// Default 5.
    pub folds: usize,
    /// Ridge penalties searched per unit and fold by exact leave-one-out error (`RidgeCV`).
    /// Default 10⁻¹, 10⁰, …, 10⁷: features are not rescaled, so the grid is wide.
    pub alphas: Vec<f64>,
    /// Bootstrap resamples of the stimuli for the 95% intervals; 0 for none. Default 200.
    pub bootstrap: usize,
    /// Compare on at most this many stimuli, a seeded random subset: kernels, RDMs and the dual
    /// ridge solve grow with its square. Default 1000.
    pub max_stimuli: usize,
    /// RBF bandwidth as a fraction of the median distance. Default 0.5 (Kornblith et al.).
    pub rbf_threshold: f64,
    /// Seeds the stimulus subset, the bootstrap and the permutations. Default 0.
    pub seed: u64,
    /// Shuffles of the stimuli for the shape distances' permutation p-values; 0 for none.
    /// Default 100 (the smallest p-value is then 1/101).
    #[serde(default = "default_permutations")]
    pub permutations: usize,
    /// Fail when B gives no RSA noise ceiling (no single trials, or too few repeats) instead of
    /// leaving it out with a note. Default false.
    #[serde(default)]
    pub require_rsa_ceiling: bool,
}

fn default_permutations() -> usize {
    100
}

impl Default for CompareParams {
    fn default() -> Self {
        CompareParams {
            folds: 5,
            alphas: (-1..=7).map(|e| 10f64.powi(e)).collect(),
            bootstrap: 200,
            max_stimuli: 1000,
            rbf_threshold: 0.5,
            seed: 0,
            permutations: default_permutations(),
            require_rsa_ceiling: false,
        }
    }
}

impl CompareParams {
    /// Settings that cannot give scores, named by their field.
    pub fn check(&self) -> Result<(), CompareError> {
        let bad = |param, value: &dyn std::fmt::Display, wanted| Err(CompareError::Param { param, value: value.to_string(), wanted });
        if self.folds < 2 {
            return bad("folds", &self.folds, "at least 2");
        }
        if self.alphas.is_empty() || self.alphas.iter().any(|a| !(*a > 0.0 && a.is_finite())) {
            return bad("alphas", &format!("{:?}", self.alphas), "finite numbers > 0");
        }
        if !(self.rbf_threshold > 0.0 && self.rbf_threshold.is_finite()) {
            return bad("rbf_threshold", &self.rbf_threshold, "a finite number > 0");
        }
        if self.max_stimuli < 10 {
            return bad("max_stimuli", &self.max_stimuli, "at least 10");
        }
        Ok(())
    }
}

/// Why a comparison cannot be made. Messages name the file, or the setting by its field name.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// A setting that cannot give scores.
    #[error("{param} = {value}: must be {wanted}")]
    Param { param: &'static str, value: String, wanted: &'static str },
    /// A setting that would take more memory than there is: what it sizes, and how much.
    #[error("{param} = {value}: {what} {memory}")]
    Memory { param: &'static str, value: usize, what: String, memory: neurozoo_util::memory::TooLarge },
    /// Fewer stimuli in common (after `max_stimuli`) than the cross-validation needs.
    #[error("{} vs {}: only {n} stimuli to compare (in common, at most max_stimuli): too few for {folds} folds", a.display(), b.display())]
    TooFewStimuli { a: PathBuf, b: PathBuf, n: usize, folds: usize },
    #[error(transparent)]
    Read(#[from] neurozoo_datasets::DatasetError),
    #[error(transparent)]
    Table(#[from] neurozoo_tables::TableError),
    #[error(transparent)]
    Figure(#[from] crate::figures::FigureError),
    /// An input file that cannot be compared (a sentence naming it), or an output that cannot
    /// be written.
    #[error("{0}")]
    File(String),
}

impl From<String> for CompareError {
    fn from(message: String) -> CompareError {
        CompareError::File(message)
    }
}

/// What [`compare`] found, also written as [`SUMMARY`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareSummary {
    pub a: String,
    pub b: String,
    /// The representation of B compared with.
    pub b_representation: String,
    pub n_common_stimuli: usize,
    /// The stimuli compared on (at most `max_stimuli` of the common ones).
    pub n_stimuli: usize,
    /// B's per-unit noise ceiling, when it carries one.
    pub noise_ceiling: Option<NoiseCeiling>,
    /// The noise ceiling of `rsa_repeats`, when B carries single trials of enough repeated
    /// images (absent otherwise, with a note saying why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rsa_noise_ceiling: Option<RsaNoiseCeiling>,
    pub params: CompareParams,
    /// Representation of A → metric (`predictivity`, `predictivity_normalised`, `linear_cka`,
    /// `rbf_cka`, `rsa`, `rsa_repeats`, `rsa_crossnobis`, `procrustes`, `procrustes_angular`,
    /// `cca_angular`) → score.
    pub scores: BTreeMap<String, BTreeMap<String, ScoreInterval>>,
    pub warnings: Vec<String>,
    /// What was left out and why, where nothing is wrong (no RSA noise ceiling without repeats).
    #[serde(default)]
    pub notes: Vec<String>,
    /// The tables and figures written, by file name.
    pub files: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseCeiling {
    /// The array of B it is (`oracle_correlation`).
    pub array: String,
    pub mean: f64,
}

/// The RSA noise ceiling of B's repeat partitions (see [`neurozoo_metrics::rsa`]): what
/// `rsa_repeats` can reach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RsaNoiseCeiling {
    /// Each partition's RDM against the mean ranked RDM of the others (absent if undefined).
    pub lower: Option<f64>,
    /// Each partition's RDM against the mean ranked RDM of all.
    pub upper: Option<f64>,
    /// The repeated images among those compared, the partitions and the trials they hold.
    pub n_images: usize,
    pub n_partitions: usize,
    pub n_trials: usize,
}

/// A score and its 95% bootstrap interval; `None` where not a number (no bootstrap, a constant
/// resample, a shape distance).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreInterval {
    pub score: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// A shape distance's permutation p-value (absent for the other metrics and without
    /// permutations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
}

/// A score with its bootstrap interval (NaN bounds without a bootstrap) or its permutation
/// p-value (NaN where there is none).
struct Score {
    representation: String,
    metric: &'static str,
    value: f64,
    low: f64,
    high: f64,
    p_value: f64,
}

/// Compare every representation of the file `a` with the representation `b_name` (or the only
/// one) of the file `b`, writing tables, figures and the summary into `out` (new or empty).
/// Returns the summary, also written as [`SUMMARY`].
pub fn compare(a: &Path, b: &Path, out: &Path, b_name: Option<&str>, params: &CompareParams) -> Result<CompareSummary, CompareError> {
    params.check()?;
    let file_a = RepresentationFile::read(a)?;
    let file_b = RepresentationFile::read(b)?;
    let target = file_b.get(b_name).map_err(|e| format!("{}: {e}", b.display()))?;
    for (path, file) in [(a, &file_a), (b, &file_b)] {
        check_input(path, file)?;
    }
    let ceiling = match file_b.arrays.iter().find(|(n, _)| n == CEILING) {
        Some((_, c)) if c.len() == target.data.ncols() => Some(c.iter().map(|&v| f64::from(v)).collect::<Vec<_>>()),
        Some((_, c)) => {
            return Err(format!("{}: arrays/{CEILING} has {} values for {} units", b.display(), c.len(), target.data.ncols()).into());
        }
        None => None,
    };
    let mut warnings = Vec::new();
    // A fraction of a ceiling that is not above zero means nothing (and flips signs).
    let positive_ceiling = match ceiling.as_deref().map(|c| (c, mean(c))) {
        Some((c, m)) if m > 0.0 => Some(c),
        Some((_, m)) => {
            warnings.push(format!(
                "{}: the mean noise ceiling ({CEILING}) is {m:.3}, not above zero: no fraction of oracle (predictivity_normalised)",
                b.display()
            ));
            None
        }
        None => None,
    };

    // Rows: B's stimuli that A has too, in B's order; then a seeded subset, kept in that order.
    let in_a: HashMap<i64, usize> = file_a.stimulus_ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let common: Vec<(usize, usize)> = file_b.stimulus_ids.iter().enumerate().filter_map(|(j, id)| in_a.get(id).map(|&i| (i, j))).collect();
    // Ids are matched, and the integer ids of unrelated files overlap by chance: where both
    // files hold their stimuli, an id must be the same image in both.
    if let (Some(sa), Some(sb)) = (&file_a.stimuli, &file_b.stimuli) {
        let same_shape = sa.shape()[1..] == sb.shape()[1..];
        let differ: Vec<&(usize, usize)> =
            common.iter().filter(|&&(i, j)| !same_shape || sa.index_axis(Axis(0), i) != sb.index_axis(Axis(0), j)).collect();
        if let Some(&&(_, j)) = differ.first() {
            return Err(format!(
                "{} and {} share {} stimulus ids, but {} of them are different images (first: id {}): they are not the same stimuli",
                a.display(),
                b.display(),
                common.len(),
                differ.len(),
                file_b.stimulus_ids[j]
            )
            .into());
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let rows: Vec<(usize, usize)> = if common.len() > params.max_stimuli {
        let mut keep = rand::seq::index::sample(&mut rng, common.len(), params.max_stimuli).into_vec();
        keep.sort_unstable();
        keep.into_iter().map(|k| common[k]).collect()
    } else {
        common.clone()
    };
    let n = rows.len();
    if n < 2 * params.folds.max(5) {
        return Err(CompareError::TooFewStimuli { a: a.into(), b: b.into(), n, folds: params.folds });
    }
    // The resamples (n indices each) and the bootstrap values of each metric, held at once.
    let bytes = neurozoo_util::memory::bytes_of(&[params.bootstrap, n + METRICS.len()], 8);
    neurozoo_util::memory::fits_in_memory(bytes).map_err(|memory| CompareError::Memory {
        param: "bootstrap",
        value: params.bootstrap,
        what: format!("resampling {n} stimuli that often"),
        memory,
    })?;
    let resamples: Vec<Vec<usize>> = (0..params.bootstrap).map(|_| (0..n).map(|_| rng.random_range(0..n)).collect()).collect();
    let mut notes = Vec::new();
    let repeats = match repeats_of(b, &file_b, target, &rows)? {
        Ok(r) => Some(r),
        Err(why) if params.require_rsa_ceiling => return Err(format!("{why} (a noise ceiling was required)").into()),
        Err(why) => {
            notes.push(why);
            None
        }
    };

    ensure_empty_dir(out).map_err(|e| format!("{e}: choose a new output directory"))?;

    let pick = |r: &Representation, column: fn(&(usize, usize)) -> usize| {
        r.data.select(Axis(0), &rows.iter().map(column).collect::<Vec<_>>()).mapv(f64::from)
    };
    let y = pick(target, |&(_, j)| j);
    // A target unit that never varies has no correlation with anything: undefined, not 0, and
    // left out of the mean predictivity.
    let varies: Vec<bool> = y.columns().into_iter().map(|c| c.iter().any(|&v| v != c[0])).collect();
    let constant_units = varies.iter().filter(|v| !**v).count();
    if constant_units == varies.len() {
        return Err(format!(
            "{}: representations/{} is the same for all {n} stimuli compared: there is nothing to predict or compare with",
            b.display(),
            target.name
        )
        .into());
    }
    if constant_units > 0 {
        warnings.push(format!(
            "{}: {constant_units} of {} units of representations/{} are the same for all {n} stimuli: their predictivity is \
             undefined (null) and left out of the means",
            b.display(),
            varies.len(),
            target.name
        ));
    }
    let over_varying = |r: Vec<f64>| -> Vec<f64> { r.into_iter().zip(&varies).filter(|(_, v)| **v).map(|(r, _)| r).collect() };
    let linear_y = gram_linear(y.view());
    let (rbf_y, rdm_y) = (rbf_from_linear(&linear_y, params.rbf_threshold), RankedRdm::new(&rdm_matrix(y.view())));

    let bar = ProgressBar::new(file_a.representations.len() as u64)
        .with_style(ProgressStyle::with_template("compare [{bar:30}] {pos}/{len} {msg} {elapsed}").expect("valid template"));
    let mut scores = Vec::new();
    let mut units = UnitRows::default();
    for rep in &file_a.representations {
        bar.set_message(rep.name.clone());
        let x = pick(rep, |&(i, _)| i);
        // A representation that is the same for every stimulus predicts nothing and has no
        // geometry: every score is undefined (null), none is 0.
        if x.rows().into_iter().all(|row| row == x.row(0)) {
            warnings.push(format!(
                "{}: representations/{} is the same for all {n} stimuli compared: its scores are undefined",
                a.display(),
                rep.name
            ));
            let bootstrapped = METRICS.iter().map(|(m, _)| *m).filter(|m| *m != "predictivity_normalised" || positive_ceiling.is_some());
            let with_repeats = REPEAT_METRICS.iter().map(|(m, _)| *m).filter(|_| repeats.is_some());
            for metric in bootstrapped.chain(with_repeats).chain(SHAPE_METRICS.iter().map(|(m, _)| *m)) {
                scores.push(Score {
                    representation: rep.name.clone(),
                    metric,
                    value: f64::NAN,
                    low: f64::NAN,
                    high: f64::NAN,
                    p_value: f64::NAN,
                });
            }
            units.push(&rep.name, &vec![f64::NAN; varies.len()], ceiling.as_deref(), &Array2::from_elem((1, varies.len()), f64::NAN));
            bar.inc(1);
            continue;
        }
        let ridge = ridge_predictivity(x.view(), y.view(), &params.alphas, params.folds);
        let mean_r = |s: &[usize]| {
            mean(&over_varying(paired_correlations(ridge.predictions.select(Axis(0), s).view(), y.select(Axis(0), s).view())))
        };
        let all: Vec<usize> = (0..n).collect();
        let mut add = |metric: &'static str, statistic: &(dyn Fn(&[usize]) -> f64 + Sync)| {
            let values = in_parallel(&resamples, statistic);
            let (low, high) = percentile_interval(values);
            scores.push(Score { representation: rep.name.clone(), metric, value: statistic(&all), low, high, p_value: f64::NAN });
        };
        add("predictivity", &mean_r);
        if let Some(c) = positive_ceiling {
            let mean_ceiling = mean(c);
            add("predictivity_normalised", &|s| mean_r(s) / mean_ceiling);
        }
        let linear_x = gram_linear(x.view());
        let (rbf_x, rdm_x) = (rbf_from_linear(&linear_x, params.rbf_threshold), RankedRdm::new(&rdm_matrix(x.view())));
        // The unbiased estimator assumes distinct samples: a resample's distinct stimuli.
        let cka = |x: &Array2<f64>, y: &Array2<f64>, s: &[usize]| debiased_cka_of_rows(x, y, &distinct(s));
        add("linear_cka", &|s| cka(&linear_x, &linear_y, s));
        add("rbf_cka", &|s| cka(&rbf_x, &rbf_y, s));
        let rdms = rdm_x.paired(&rdm_y);
        add("rsa", &|s| rdms.rsa(s));
        if let Some(r) = &repeats {
            let x = rows_of(rep, &r.rows_a);
            let model = rdm_matrix(x.view());
            // Crossnobis estimates squared Euclidean distances: A's RDM in the same geometry.
            let euclidean = upper_triangle(&euclidean_rdm_matrix(x.view()));
            for (metric, value) in
                [("rsa_repeats", mean_spearman(&model, &r.rdms)), ("rsa_crossnobis", spearman(&euclidean, &r.crossnobis))]
            {
                scores.push(Score { representation: rep.name.clone(), metric, value, low: f64::NAN, high: f64::NAN, p_value: f64::NAN });
            }
        }
        for (metric, shape) in SHAPE_METRICS {
            let p = x.ncols().max(y.ncols());
            if shape.alpha < 1.0 && (p >= n || p > MAX_WHITENED_UNITS) {
                warnings.push(format!(
                    "{}: representations/{} ({} units) against {} units of {}: {metric} needs fewer units than the {n} stimuli and at most \
                     {MAX_WHITENED_UNITS}: undefined",
                    a.display(),
                    rep.name,
                    x.ncols(),
                    y.ncols(),
                    target.name
                ));
                let undefined = f64::NAN;
                scores.push(Score {
                    representation: rep.name.clone(),
                    metric,
                    value: undefined,
                    low: undefined,
                    high: undefined,
                    p_value: undefined,
                });
                continue;
            }
            let test = shape.permutation_test(x.view(), y.view(), params.permutations, params.seed);
            let p_value = if params.permutations > 0 { test.p_value } else { f64::NAN };
            scores.push(Score { representation: rep.name.clone(), metric, value: test.distance, low: f64::NAN, high: f64::NAN, p_value });
        }
        let r: Vec<f64> = ridge.r.iter().zip(&varies).map(|(&r, v)| if *v { r } else { f64::NAN }).collect();
        units.push(&rep.name, &r, ceiling.as_deref(), &ridge.alphas);
        bar.inc(1);
    }
    bar.finish_and_clear();

    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut files: Vec<PathBuf> = Vec::new();
    files.extend(write_table(&scores_table(&scores, n), out, "scores")?);
    files.extend(write_table(&units.table(), out, "units")?);
    let names: Vec<String> = file_a.representations.iter().map(|r| r.name.clone()).collect();
    let rsa_ceiling = repeats.as_ref().map(|r| r.ceiling);
    files.extend(figures::draw_figure(&scores_figure(&scores, &names, &target.name, rsa_ceiling), out, "scores")?);
    // The representation with the best fraction of oracle (of those it is defined for), unit
    // by unit against the ceiling.
    let best =
        scores.iter().filter(|s| s.metric == "predictivity_normalised" && s.value.is_finite()).max_by(|p, q| p.value.total_cmp(&q.value));
    if let (Some(c), Some(best)) = (positive_ceiling, best) {
        let r = units.r_of(&best.representation);
        files.extend(figures::draw_figure(&ceiling_figure(&best.representation, &r, c), out, "predictivity_vs_oracle")?);
    }

    let mut by_representation: BTreeMap<String, BTreeMap<String, ScoreInterval>> = BTreeMap::new();
    for s in &scores {
        let interval = ScoreInterval { score: finite(s.value), ci_low: finite(s.low), ci_high: finite(s.high), p_value: finite(s.p_value) };
        by_representation.entry(s.representation.clone()).or_default().insert(s.metric.to_string(), interval);
    }
    let summary = CompareSummary {
        a: a.display().to_string(),
        b: b.display().to_string(),
        b_representation: target.name.clone(),
        n_common_stimuli: common.len(),
        n_stimuli: n,
        noise_ceiling: ceiling.as_ref().map(|c| NoiseCeiling { array: CEILING.to_string(), mean: mean(c) }),
        rsa_noise_ceiling: repeats.as_ref().map(|r| RsaNoiseCeiling {
            lower: finite(r.ceiling.lower),
            upper: finite(r.ceiling.upper),
            n_images: r.rows_a.len(),
            n_partitions: r.rdms.len(),
            n_trials: r.n_trials,
        }),
        params: params.clone(),
        scores: by_representation,
        warnings,
        notes,
        files: files.iter().filter_map(|f| f.file_name().map(|n| n.to_string_lossy().to_string())).collect(),
    };
    write_atomic(&out.join(SUMMARY), serde_json::to_string_pretty(&summary).expect("the summary serialises")).map_err(|e| e.to_string())?;
    Ok(summary)
}

/// A representation's rows `rows`, as f64.
fn rows_of(rep: &Representation, rows: &[usize]) -> Array2<f64> {
    rep.data.select(Axis(0), rows).mapv(f64::from)
}

/// B's repeated images among those compared, split into repeat partitions.
struct Repeats {
    /// The images' rows in A, in B's order.
    rows_a: Vec<usize>,
    /// One correlation-distance RDM per partition.
    rdms: Vec<Array2<f64>>,
    /// B's crossnobis RDM, its upper triangle.
    crossnobis: Array1<f64>,
    ceiling: RsaCeilingBounds,
    n_trials: usize,
}

/// B's single trials of the compared images that were shown more than once: `Err` (outer) for
/// arrays that are malformed, `Ok(Err(why))` where there is no noise ceiling to give (no single
/// trials, too few repeats), a note.
fn repeats_of(
    b: &Path,
    file_b: &RepresentationFile,
    target: &Representation,
    rows: &[(usize, usize)],
) -> Result<Result<Repeats, String>, String> {
    let array = |name: &str| file_b.arrays.iter().find(|(n, _)| n == name).map(|(_, a)| a);
    let (responses, trial_rows) = match (array(TRIAL_RESPONSES), array(TRIAL_ROWS)) {
        (Some(r), Some(t)) => (r, t),
        (None, None) => {
            return Ok(Err(format!(
                "{}: no single trials (arrays/{TRIAL_RESPONSES}): no RSA noise ceiling, rsa_repeats or rsa_crossnobis (`neurozoo extract --data` \
                 writes them for recorded responses with repeated images)",
                b.display()
            )))
        }
        (Some(_), None) => return Err(format!("{}: arrays/{TRIAL_RESPONSES} without arrays/{TRIAL_ROWS}", b.display())),
        (None, Some(_)) => return Err(format!("{}: arrays/{TRIAL_ROWS} without arrays/{TRIAL_RESPONSES}", b.display())),
    };
    let units = target.data.ncols();
    let responses = responses.view().into_dimensionality::<ndarray::Ix2>().ok().filter(|r| r.ncols() == units).ok_or_else(|| {
        format!(
            "{}: arrays/{TRIAL_RESPONSES} has shape {:?}, expected (n_trials, {units}) for representations/{}",
            b.display(),
            responses.shape(),
            target.name
        )
    })?;
    if trial_rows.shape() != [responses.nrows()] {
        return Err(format!("{}: arrays/{TRIAL_ROWS} has shape {:?} for {} trials", b.display(), trial_rows.shape(), responses.nrows()));
    }
    let n_b = file_b.stimulus_ids.len();
    if let Some(v) = trial_rows.iter().find(|&&v| !(v >= 0.0 && v.fract() == 0.0 && (v as usize) < n_b)) {
        return Err(format!("{}: arrays/{TRIAL_ROWS} holds {v}, not a row of the {n_b} stimulus ids", b.display()));
    }
    if let Some(((t, u), v)) = responses.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(format!("{}: arrays/{TRIAL_RESPONSES} is {v} at trial {t}, unit {u}", b.display()));
    }
    // The compared images shown more than once, in B's order; their trials in the order shown.
    let mut shown = vec![0usize; n_b];
    trial_rows.iter().for_each(|&v| shown[v as usize] += 1);
    let images: Vec<(usize, usize)> = rows.iter().copied().filter(|&(_, j)| shown[j] > 1).collect();
    let mut pattern = vec![usize::MAX; n_b];
    images.iter().enumerate().for_each(|(p, &(_, j))| pattern[j] = p);
    let trials: Vec<usize> = (0..responses.nrows()).filter(|&t| pattern[trial_rows[t] as usize] != usize::MAX).collect();
    let stimulus: Vec<usize> = trials.iter().map(|&t| pattern[trial_rows[t] as usize]).collect();
    let single = responses.select(Axis(0), &trials).mapv(f64::from);
    match RepeatPartitions::new(single.view(), &stimulus, images.len()) {
        Ok(partitions) => {
            let rdms = partitions.rdms();
            Ok(Ok(Repeats {
                rows_a: images.iter().map(|&(i, _)| i).collect(),
                ceiling: spearman_noise_ceiling(&rdms),
                rdms,
                crossnobis: upper_triangle(&partitions.crossnobis()),
                n_trials: trials.len(),
            }))
        }
        Err(e) => {
            Ok(Err(format!("{}: single trials of the compared images (arrays/{TRIAL_RESPONSES}): {e}: no RSA noise ceiling", b.display())))
        }
    }
}

/// Refuse what would give meaningless scores or panics later: a representation without units,
/// a value that is not finite, a stimulus id twice (rows are matched by id).
fn check_input(path: &Path, file: &RepresentationFile) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    if let Some(id) = file.stimulus_ids.iter().find(|id| !seen.insert(**id)) {
        return Err(format!("{}: stimulus id {id} appears twice in stimulus_ids", path.display()));
    }
    for r in &file.representations {
        if r.data.ncols() == 0 {
            return Err(format!("{}: representations/{} has no units", path.display(), r.name));
        }
        if let Some(((row, unit), v)) = r.data.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(format!("{}: representations/{} is {v} at stimulus row {row}, unit {unit}", path.display(), r.name));
        }
    }
    if let Some((_, c)) = file.arrays.iter().find(|(n, _)| n == CEILING) {
        if let Some(v) = c.iter().find(|v| !v.is_finite()) {
            return Err(format!("{}: arrays/{CEILING} holds {v}", path.display()));
        }
    }
    Ok(())
}

/// The number, or None for NaN (no bootstrap, or a constant resample).
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// `statistic` of every resample, the resamples split over the cores (results in their order).
fn in_parallel(resamples: &[Vec<usize>], statistic: &(dyn Fn(&[usize]) -> f64 + Sync)) -> Vec<f64> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(resamples.len().max(1));
    let chunk = resamples.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            resamples.chunks(chunk).map(|part| scope.spawn(move || part.iter().map(|s| statistic(s)).collect::<Vec<f64>>())).collect();
        handles.into_iter().flat_map(|h| h.join().expect("a statistic does not panic")).collect()
    })
}

/// The distinct stimuli of a resample, in order.
fn distinct(s: &[usize]) -> Vec<usize> {
    let mut d = s.to_vec();
    d.sort_unstable();
    d.dedup();
    d
}

/// The 2.5th and 97.5th percentiles (linear interpolation, as numpy), NaN without values.
fn percentile_interval(mut values: Vec<f64>) -> (f64, f64) {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let pos = q * (values.len() - 1) as f64;
        let (i, frac) = (pos.floor() as usize, pos - pos.floor());
        values[i] + frac * (values[(i + 1).min(values.len() - 1)] - values[i])
    };
    (at(0.025), at(0.975))
}

fn scores_table(scores: &[Score], n: usize) -> Table {
    Table::new()
        .str("representation", scores.iter().map(|s| s.representation.clone()).collect())
        .str("metric", scores.iter().map(|s| s.metric.to_string()).collect())
        .column("score", neurozoo_tables::ColumnValues::F64(scores.iter().map(|s| Some(s.value).filter(|v| v.is_finite())).collect()))
        .column("ci_low", neurozoo_tables::ColumnValues::F64(scores.iter().map(|s| Some(s.low).filter(|v| v.is_finite())).collect()))
        .column("ci_high", neurozoo_tables::ColumnValues::F64(scores.iter().map(|s| Some(s.high).filter(|v| v.is_finite())).collect()))
        .column("p_value", neurozoo_tables::ColumnValues::F64(scores.iter().map(|s| Some(s.p_value).filter(|v| v.is_finite())).collect()))
        .i64("n_stimuli", vec![n as i64; scores.len()])
}

/// Per-unit ridge results of every representation.
#[derive(Default)]
struct UnitRows {
    representation: Vec<String>,
    unit: Vec<i64>,
    r: Vec<f64>,
    ceiling: Vec<Option<f64>>,
    alpha: Vec<f64>,
}

impl UnitRows {
    fn push(&mut self, name: &str, r: &[f64], ceiling: Option<&[f64]>, alphas: &Array2<f64>) {
        for (u, &ru) in r.iter().enumerate() {
            self.representation.push(name.to_string());
            self.unit.push(u as i64);
            self.r.push(ru);
            self.ceiling.push(ceiling.map(|c| c[u]));
            // The penalty most folds chose (the smallest of equally frequent ones).
            let column = alphas.column(u);
            let mode = column.iter().copied().max_by(|a, b| {
                let count = |v: f64| column.iter().filter(|&&w| w == v).count();
                count(*a).cmp(&count(*b)).then(b.total_cmp(a))
            });
            self.alpha.push(mode.unwrap_or(f64::NAN));
        }
    }

    fn r_of(&self, name: &str) -> Vec<f64> {
        self.representation.iter().zip(&self.r).filter(|(n, _)| *n == name).map(|(_, &r)| r).collect()
    }

    fn table(&self) -> Table {
        let normalised = self.r.iter().zip(&self.ceiling).map(|(r, c)| c.filter(|c| *c > 0.0).map(|c| r / c)).collect();
        Table::new()
            .str("representation", self.representation.clone())
            .i64("unit", self.unit.clone())
            .column("r", neurozoo_tables::ColumnValues::F64(self.r.iter().map(|r| Some(*r).filter(|r| r.is_finite())).collect()))
            .column(CEILING, neurozoo_tables::ColumnValues::F64(self.ceiling.clone()))
            .column("r_normalised", neurozoo_tables::ColumnValues::F64(normalised))
            .f64("alpha", self.alpha.clone())
    }
}

/// The shape distances, by metric name (netrep's `LinearMetric` settings).
const SHAPE_METRICS: [(&str, ShapeMetric); 3] = [
    ("procrustes", ShapeMetric { alpha: 1.0, score: ShapeScore::Euclidean }),
    ("procrustes_angular", ShapeMetric { alpha: 1.0, score: ShapeScore::Angular }),
    ("cca_angular", ShapeMetric { alpha: 0.0, score: ShapeScore::Angular }),
];

/// The scores with a bootstrap interval, drawn together in the scores figure (the shape
/// distances are on other scales: in the table and summary only).
const METRICS: [(&str, &str); 5] = [
    ("predictivity", "ridge predictivity (mean r)"),
    ("predictivity_normalised", "fraction of oracle"),
    ("linear_cka", "linear CKA (debiased)"),
    ("rbf_cka", "RBF CKA (debiased)"),
    ("rsa", "RSA (Spearman of RDMs)"),
];

/// The RSA scores on B's repeated images (no bootstrap interval), drawn with the others.
const REPEAT_METRICS: [(&str, &str); 2] =
    [("rsa_repeats", "RSA vs each repeat partition (mean)"), ("rsa_crossnobis", "RSA vs crossnobis RDM")];

/// Every score per representation, one line per metric, with the bootstrap intervals as bars;
/// the RSA noise ceiling, where there is one, as its lower and upper bound across the
/// representations (rsatoolbox shades the band between them).
fn scores_figure(scores: &[Score], names: &[String], target: &str, rsa_ceiling: Option<RsaCeilingBounds>) -> Figure {
    let bound = |label: &str, v: f64| {
        (v.is_finite() && !names.is_empty()).then(|| (label.to_string(), (0..names.len()).map(|x| Point::new(x as f64, v)).collect()))
    };
    let ceiling = rsa_ceiling
        .into_iter()
        .flat_map(|c| [bound("RSA noise ceiling, lower", c.lower), bound("RSA noise ceiling, upper", c.upper)].into_iter().flatten());
    let series = METRICS
        .iter()
        .chain(&REPEAT_METRICS)
        .filter(|(m, _)| scores.iter().any(|s| s.metric == *m))
        .map(|(m, label)| {
            let points = scores
                .iter()
                .filter(|s| s.metric == *m && s.value.is_finite())
                .map(|s| {
                    let x = names.iter().position(|n| *n == s.representation).expect("a known representation") as f64;
                    Point::with_interval(x, s.value, s.low, s.high)
                })
                .collect();
            (label.to_string(), points)
        })
        .chain(ceiling)
        .collect();
    Figure::Points {
        title: format!("similarity to {target} per representation (95% bootstrap intervals)"),
        x_label: "representation".into(),
        y_label: "score".into(),
        joined: true,
        x_ticks: names.to_vec(),
        series,
    }
}

/// Each unit's cross-validated r against its noise ceiling, with the diagonal r = ceiling.
fn ceiling_figure(name: &str, r: &[f64], ceiling: &[f64]) -> Figure {
    let top = ceiling.iter().chain(r).copied().filter(|v| v.is_finite()).fold(0.0f64, f64::max);
    Figure::Scatter {
        title: format!("{name}: ridge predictivity per unit against its oracle correlation"),
        x_label: "oracle correlation (noise ceiling)".into(),
        y_label: "cross-validated r".into(),
        series: vec![
            ("units".into(), ceiling.iter().zip(r).map(|(&c, &r)| (c, r)).collect()),
            (
                "r = ceiling".into(),
                (0..=20)
                    .map(|k| {
                        let v = top * f64::from(k) / 20.0;
                        (v, v)
                    })
                    .collect(),
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        // numpy.percentile(range(11), [2.5, 97.5]) = [0.25, 9.75]
        let (lo, hi) = percentile_interval((0..=10).map(f64::from).collect());
        assert!((lo - 0.25).abs() < 1e-12 && (hi - 9.75).abs() < 1e-12, "{lo} {hi}");
        assert!(percentile_interval(vec![f64::NAN]).0.is_nan());
    }
}
