use std::path::{Path, PathBuf};

/// Everything that can go wrong reading or writing a dataset. Every message names the file and,
/// where there is one, the HDF5 key at fault.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    // Not a `source`: the reason is in the message, which a report would otherwise print twice.
    #[error("{}: cannot open as HDF5 ({reason})", file.display())]
    Open { file: PathBuf, reason: hdf5::Error },
    #[error("{}: {key}: {problem}", file.display())]
    Key { file: PathBuf, key: String, problem: String },
    #[error("{}: {problem}", file.display())]
    File { file: PathBuf, problem: String },
    #[error("invalid dataset: {0}")]
    Invalid(String),
    /// One file given as two recordings (twice, or under another name: a symlink, `./a.h5`).
    #[error("{} and {} are the same file: give each recording once", first.display(), second.display())]
    SameFile { first: PathBuf, second: PathBuf },
    /// What `validate` found wrong with a file about to be fitted, evaluated or extracted from.
    #[error("{} is not usable:\n  {}", file.display(), problems.join("\n  "))]
    Unusable { file: PathBuf, problems: Vec<String> },
}

pub type Result<T, E = DatasetError> = std::result::Result<T, E>;

impl DatasetError {
    pub(crate) fn key(file: &Path, key: &str, problem: impl Into<String>) -> Self {
        DatasetError::Key { file: file.to_path_buf(), key: key.to_string(), problem: problem.into() }
    }

    pub(crate) fn file(file: &Path, problem: impl Into<String>) -> Self {
        DatasetError::File { file: file.to_path_buf(), problem: problem.into() }
    }
}
