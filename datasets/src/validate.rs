//! `neurozoo data validate`: every problem in a recording (static HDF5, file tree or NWB), each
//! naming the file and the key.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use ndarray::{Axis, Dimension};
use serde::Serialize;

use crate::dataset::{Dataset, Images, Tier};
use crate::error::DatasetError;
use crate::file_tree::TreeFile;
use crate::layout::{read_all, Layout, Partial};
use crate::static_h5::StaticFile;
use crate::{detect_format, Format};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, Serialize)]
pub struct Issue {
    pub severity: Severity,
    /// The HDF5 key at fault, when the problem is with one key.
    pub key: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    pub file: PathBuf,
    pub issues: Vec<Issue>,
}

impl Validation {
    /// No errors (warnings allowed).
    pub fn is_ok(&self) -> bool {
        !self.issues.iter().any(|i| i.severity == Severity::Error)
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.issues.iter().filter(|i| i.severity == severity).count()
    }

    fn push(&mut self, severity: Severity, key: Option<&str>, message: impl Into<String>) {
        self.issues.push(Issue { severity, key: key.map(str::to_string), message: message.into() });
    }

    fn push_err(&mut self, e: DatasetError) {
        match e {
            DatasetError::Key { key, problem, .. } => self.push(Severity::Error, Some(&key), problem),
            DatasetError::Open { reason, .. } => self.push(Severity::Error, None, format!("cannot open as HDF5 ({reason})")),
            DatasetError::File { problem, .. } => self.push(Severity::Error, None, problem),
            DatasetError::Invalid(problem) => self.push(Severity::Error, None, problem),
            e @ DatasetError::SameFile { .. } => self.push(Severity::Error, None, e.to_string()),
            DatasetError::Unusable { problems, .. } => problems.into_iter().for_each(|p| self.push(Severity::Error, None, p)),
        }
    }

    /// One line per issue: `file: key: message` (with `warning: ` before warnings).
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.issues.iter().map(|i| {
            let level = if i.severity == Severity::Warning { "warning: " } else { "" };
            match &i.key {
                Some(k) => format!("{level}{}: {k}: {}", self.file.display(), i.message),
                None => format!("{level}{}: {}", self.file.display(), i.message),
            }
        })
    }
}

impl fmt::Display for Validation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.lines() {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// Keys whose first dimension counts trials and must match `images`.
const PER_TRIAL: [&str; 8] = [
    "responses",
    "tiers",
    "item_info/frame_image_id",
    "item_info/image_id",
    "item_info/colorframeprojector_image_id",
    "item_info/trial_idx",
    "behavior",
    "pupil_center",
];

/// Check a static file: structure (keys, ranks, dtypes, first dimensions), content (NaN/Inf,
/// empty tiers) and what evaluation needs (repeats). Never panics on a malformed file.
pub fn validate(path: &Path) -> Validation {
    let mut v = Validation { file: path.to_path_buf(), issues: Vec::new() };
    match detect_format(path) {
        Err(e) => {
            v.push_err(e);
            return v;
        }
        // NWB keys are checked as they are read; then the same content checks apply.
        Ok(Format::Nwb) => {
            match crate::nwb::read(path, &crate::nwb::NwbOptions::default()) {
                Ok(ds) => check_content(&ds, None, &mut v),
                Err(e) => v.push_err(e),
            }
            return v;
        }
        Ok(Format::FileTree) => {
            validate_tree(path, &mut v);
            return v;
        }
        Ok(Format::Static) => {}
    }
    let f = match StaticFile::open(path) {
        Ok(f) => f,
        Err(e) => {
            v.push_err(e);
            return v;
        }
    };

    // Shapes first, from metadata alone, so a mismatch is reported even if the data is unreadable.
    if let Ok(images) = f.dataset("images") {
        let n = images.shape().first().copied().unwrap_or(0);
        if n == 0 {
            v.push(Severity::Error, Some("images"), "has no trials (first dimension is 0)");
        }
        for key in PER_TRIAL.iter().chain(["ground_truth/noiseless_rates"].iter()) {
            if let Ok(ds) = f.dataset(key) {
                let m = ds.shape().first().copied().unwrap_or(0);
                if m != n {
                    v.push(Severity::Error, Some(key), format!("has {m} rows but images has {n}"));
                }
            }
        }
    }

    check_layout(&f, ("item_info", "frame_image_id, image_id or colorframeprojector_image_id"), &mut v);
    v
}

/// A file tree: the trial files (missing, of another shape or dtype, truncated), the per-trial
/// arrays' lengths, then the same content checks as any layout.
fn validate_tree(path: &Path, v: &mut Validation) {
    let t = match TreeFile::open(path) {
        Ok(t) => t,
        Err(e) => return v.push_err(e),
    };
    check_layout(&t, ("meta/trials", "frame_image_id.npy, image_id.npy or colorframeprojector_image_id.npy"), v);
}

/// Read every key, reporting each broken one, and warn when there are no image ids (`id_keys`:
/// where the layout looks for them); then check the content of what could be read.
fn check_layout(layout: &impl Layout, id_keys: (&str, &str), v: &mut Validation) {
    let mut errors = Vec::new();
    let read = read_all(layout, |e| errors.push(e));
    errors.into_iter().for_each(|e| v.push_err(e));
    let id_key = layout.image_id_key();
    if id_key.is_none() {
        let (key, names) = id_keys;
        v.push(Severity::Warning, Some(key), format!("no image ids ({names}): every trial counts as its own image"));
    }
    match read {
        Partial::Complete(ds) => check_content(&ds, id_key.as_deref(), v),
        // Some key is broken: still report non-finite values in whatever could be read.
        Partial::Broken { images, responses } => {
            if let Some(Images::F32(a)) = images {
                check_finite("images", a.view().into_dyn(), v);
            }
            if let Some(a) = responses {
                check_finite("responses", a.view().into_dyn(), v);
            }
        }
    }
}

/// The content checks of `validate` (finite values, units, tiers, repeats) on a dataset already
/// read without error: for a loader that should not read a large recording twice.
pub fn validate_loaded(path: &Path, ds: &Dataset) -> Validation {
    let mut v = Validation { file: path.to_path_buf(), issues: Vec::new() };
    check_content(ds, None, &mut v);
    v
}

fn check_finite(key: &str, arr: ndarray::ArrayViewD<'_, f32>, v: &mut Validation) {
    let nan = arr.iter().filter(|x| x.is_nan()).count();
    let inf = arr.iter().filter(|x| x.is_infinite()).count();
    if nan + inf > 0 {
        let first = arr.indexed_iter().find(|(_, x)| !x.is_finite()).map(|(i, _)| i.as_array_view().to_vec()).unwrap_or_default();
        v.push(Severity::Error, Some(key), format!("{nan} NaN and {inf} infinite values (first at index {first:?})"));
    }
}

/// Finite values so large that their squares, summed over the array as statistics and losses
/// do, overflow f32: as good as infinite once used (a pixel of 3e38 makes every later number
/// Inf or NaN).
fn check_magnitude(key: &str, arr: ndarray::ArrayViewD<'_, f32>, v: &mut Validation) {
    let limit = (f32::MAX / arr.len().max(1) as f32).sqrt();
    let large = arr.iter().filter(|x| x.is_finite() && x.abs() > limit).count();
    if large > 0 {
        let (first, value) = arr
            .indexed_iter()
            .find(|(_, x)| x.is_finite() && x.abs() > limit)
            .map(|(i, x)| (i.as_array_view().to_vec(), *x))
            .unwrap_or_default();
        v.push(
            Severity::Error,
            Some(key),
            format!(
                "{large} values too large to square and sum in f32 (above {limit:.1e}; first {value:e} at index {first:?}): rescale the data"
            ),
        );
    }
}

/// Data that fit and evaluation would turn into numbers that mean nothing: responses that never
/// vary (nothing to predict), the same image in every trial (nothing to predict from), and
/// units that never vary (their correlations are undefined).
fn check_constant(ds: &Dataset, v: &mut Validation) {
    let r = &ds.responses;
    let first = r[[0, 0]];
    if r.iter().all(|&x| x == first) {
        v.push(Severity::Error, Some("responses"), format!("every response is {first}: there is nothing to predict"));
        return;
    }
    let constant: Vec<usize> = r.axis_iter(Axis(1)).enumerate().filter(|(_, c)| c.iter().all(|&x| x == c[0])).map(|(u, _)| u).collect();
    if !constant.is_empty() {
        v.push(
            Severity::Warning,
            Some("responses"),
            format!(
                "{} of {} units have the same response in every trial (first: unit {}): their correlations are undefined and left out of means",
                constant.len(),
                ds.n_units(),
                constant[0]
            ),
        );
    }
    let same_image = match &ds.images {
        Images::U8(x) => x.outer_iter().all(|i| i == x.index_axis(Axis(0), 0)),
        Images::F32(x) => x.outer_iter().all(|i| i == x.index_axis(Axis(0), 0)),
    };
    if same_image && ds.n_trials() > 1 {
        v.push(
            Severity::Error,
            Some("images"),
            format!("all {} trials show the same image: there is nothing to predict from", ds.n_trials()),
        );
    }
}

/// Checks on a dataset read from any format: finite values, units, then the tiers.
fn check_content(ds: &Dataset, id_key: Option<&str>, v: &mut Validation) {
    if let Images::F32(a) = &ds.images {
        check_finite("images", a.view().into_dyn(), v);
    }
    check_finite("responses", ds.responses.view().into_dyn(), v);
    if ds.n_units() == 0 {
        v.push(Severity::Error, Some("responses"), "has no units (second dimension is 0)");
    }
    if let Images::F32(a) = &ds.images {
        check_magnitude("images", a.view().into_dyn(), v);
    }
    check_magnitude("responses", ds.responses.view().into_dyn(), v);
    if v.is_ok() && ds.n_trials() > 0 && ds.n_units() > 0 {
        check_constant(ds, v);
    }
    let negative = ds.responses.iter().filter(|&&r| r < 0.0).count();
    if negative > 0 {
        let min = ds.responses.iter().copied().fold(f32::INFINITY, f32::min);
        v.push(
            Severity::Warning,
            Some("responses"),
            format!("{negative} negative values (min {min}): the Poisson loss of the response models needs responses ≥ 0"),
        );
    }
    if v.is_ok() && ds.n_trials() > 0 {
        check_tiers(ds, id_key, v);
        check_image_ids(ds, id_key, v);
    }
}

/// Trials that share an image id must show the same image: repeats are found, and averaged, by id.
fn check_image_ids(ds: &Dataset, id_key: Option<&str>, v: &mut Validation) {
    let same = |a: usize, b: usize| match &ds.images {
        Images::U8(x) => x.index_axis(Axis(0), a) == x.index_axis(Axis(0), b),
        Images::F32(x) => x.index_axis(Axis(0), a) == x.index_axis(Axis(0), b),
    };
    let mut first: HashMap<i64, usize> = HashMap::new();
    let (mut clashes, mut example) = (0usize, None);
    for (trial, &id) in ds.image_ids.iter().enumerate() {
        let shown = *first.entry(id).or_insert(trial);
        if shown != trial && !same(shown, trial) {
            clashes += 1;
            example.get_or_insert((id, shown, trial));
        }
    }
    if let Some((id, a, b)) = example {
        v.push(
            Severity::Error,
            Some(id_key.unwrap_or("image ids")),
            format!("{clashes} trials show another image than the first trial with their image id (id {id}: trials {a} and {b})"),
        );
    }
}

/// Train and validation must exist; test and repeats are what evaluation needs.
fn check_tiers(ds: &Dataset, id_key: Option<&str>, v: &mut Validation) {
    for tier in Tier::ALL {
        if ds.tier_indices(tier).is_empty() {
            match tier {
                Tier::Train | Tier::Validation => {
                    v.push(Severity::Error, Some("tiers"), format!("no {tier} trials: models need train and validation data"))
                }
                Tier::Test => v.push(Severity::Warning, Some("tiers"), "no test trials: test metrics cannot be computed"),
                Tier::FinalTest => {}
            }
        }
    }
    let repeated = Tier::ALL.iter().flat_map(|&t| ds.repeats(t)).filter(|g| g.len() > 1).count();
    if repeated == 0 {
        v.push(
            Severity::Warning,
            Some(id_key.unwrap_or("item_info")),
            "no image is shown more than once: oracle correlation and FEVE need repeats",
        );
    }
}
