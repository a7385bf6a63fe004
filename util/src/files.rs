//! Outputs that appear complete or not at all, and output directories that are never written
//! over: the one place every crate writes files through.
//!
//! A file is written under a hidden `.STEM.partial.EXT` name beside its target (the same
//! extension, for writers that choose a format by it) and renamed into place; the partial file
//! is removed when writing fails, so a crash or a full disk leaves the old file or none.

use std::fmt::Display;
use std::path::{Path, PathBuf};

/// Where `path` is written before it is renamed into place.
pub fn partial_path(path: &Path) -> PathBuf {
    let stem = path.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    match path.extension() {
        Some(ext) => path.with_file_name(format!(".{stem}.partial.{}", ext.to_string_lossy())),
        None => path.with_file_name(format!(".{stem}.partial")),
    }
}

/// A file that could not be written: which, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    pub message: String,
}

impl From<WriteError> for String {
    fn from(e: WriteError) -> String {
        e.to_string()
    }
}

/// Write `path` with `write`, which is handed the partial path to write to.
pub fn write_atomic_with<E: Display>(path: &Path, write: impl FnOnce(&Path) -> Result<(), E>) -> Result<(), WriteError> {
    let tmp = partial_path(path);
    let result = write(&tmp).map_err(|e| e.to_string()).and_then(|()| std::fs::rename(&tmp, path).map_err(|e| e.to_string()));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|message| WriteError { path: path.to_path_buf(), message })
}

/// Write `bytes` (a manifest, a summary, a config, a page) to `path`.
pub fn write_atomic(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), WriteError> {
    write_atomic_with(path, |tmp| std::fs::write(tmp, bytes.as_ref()))
}

/// Why a path cannot be an output directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputDirError {
    #[error("{} is a file, not a directory", .0.display())]
    File(PathBuf),
    #[error("{} already exists and is not empty", .0.display())]
    NotEmpty(PathBuf),
    #[error("cannot read {}: {reason}", dir.display())]
    Unreadable { dir: PathBuf, reason: String },
}

impl OutputDirError {
    /// The refusal as a command says it: with what to do instead (`advice`, naming a flag) where
    /// the user has a choice; a directory that cannot be read leaves none.
    pub fn advise(&self, advice: &str) -> String {
        match self {
            OutputDirError::Unreadable { .. } => self.to_string(),
            OutputDirError::File(_) | OutputDirError::NotEmpty(_) => format!("{self}: {advice}"),
        }
    }
}

/// An output directory must be new or empty: a command never mixes its outputs with what is
/// there.
pub fn ensure_empty_dir(dir: &Path) -> Result<(), OutputDirError> {
    if dir.exists() && !dir.is_dir() {
        return Err(OutputDirError::File(dir.into()));
    }
    let mut entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(OutputDirError::Unreadable { dir: dir.into(), reason: e.to_string() }),
    };
    if entries.next().is_some() {
        return Err(OutputDirError::NotEmpty(dir.into()));
    }
    Ok(())
}

/// Make directory `out` (new or empty) whole or not at all: `fill` writes a directory beside
/// it, which is renamed into place when it succeeds and removed when it fails.
pub fn write_whole<E>(out: &Path, err: impl Fn(&Path, String) -> E, fill: impl FnOnce(&Path) -> Result<(), E>) -> Result<(), E> {
    ensure_empty_dir(out).map_err(|e| err(out, e.to_string()))?;
    // The directory is renamed into place, which would replace a link, not write through it.
    if let Ok(target) = std::fs::read_link(out) {
        return Err(err(out, format!("is a symbolic link (to {}): name the directory itself, or a new path", target.display())));
    }
    let tmp = partial_path(out);
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| err(&tmp, e.to_string()))?;
    // An empty `out` is replaced whole.
    let written = fill(&tmp).and_then(|()| std::fs::rename(&tmp, out).map_err(|e| err(out, e.to_string())));
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written
}

/// `path` as an absolute path through symbolic links and `..`, whether or not it exists yet:
/// its nearest existing ancestor canonicalised, the rest appended (`..` in the rest taken
/// lexically), so that every spelling of one place compares equal.
pub fn resolved(path: &Path) -> std::io::Result<PathBuf> {
    let path = std::path::absolute(path)?;
    let mut base = path.as_path();
    let mut rest = Vec::new();
    let canonical = loop {
        match std::fs::canonicalize(base) {
            Ok(c) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        // The last component: a name, or a `..` (which `file_name` does not give).
        let (Some(parent), Some(last)) = (base.parent(), base.components().next_back()) else {
            return Ok(path); // the root: nothing above it to resolve from
        };
        rest.push(last.as_os_str().to_os_string());
        base = parent;
    };
    let mut out = canonical;
    for name in rest.into_iter().rev() {
        if name == ".." {
            out.pop();
        } else if name != "." {
            out.push(name);
        }
    }
    Ok(out)
}

/// An output that would be written into what the command reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} would {} the input {}: commands never write into what they read (a run, a file tree, a recording); choose an output outside it", out.display(), if *.same { "overwrite" } else { "be written inside" }, input.display())]
pub struct InsideInput {
    pub out: PathBuf,
    pub input: PathBuf,
    /// The output is the input itself, not a path inside it.
    pub same: bool,
}

/// Refuse an output `out` that is one of `inputs` or lies inside one (a run directory, a file
/// tree), however either is spelled: through symbolic links, `..`, or not existing yet.
pub fn check_outside_inputs(out: &Path, inputs: &[&Path]) -> Result<(), InsideInput> {
    let Ok(target) = resolved(out) else {
        return Ok(());
    };
    for input in inputs {
        let Ok(input_path) = std::fs::canonicalize(input) else {
            continue; // not there: the command reports it as an input
        };
        let same = target == input_path;
        if same || (input_path.is_dir() && target.starts_with(&input_path)) {
            return Err(InsideInput { out: out.to_path_buf(), input: input.to_path_buf(), same });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_partial() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.json");
        write_atomic(&path, "old").unwrap();
        let err = write_atomic_with(&path, |tmp| {
            std::fs::write(tmp, "half").unwrap();
            Err("disk full")
        })
        .unwrap_err();
        assert_eq!((err.path.as_path(), err.message.as_str()), (path.as_path(), "disk full"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "the partial file is left behind");
        assert_eq!(partial_path(&path), dir.path().join(".summary.partial.json"));
    }

    #[test]
    fn a_whole_directory_is_not_written_over_a_symbolic_link() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        for (link, to) in [("to-empty", "empty"), ("dangling", "nowhere")] {
            let out = dir.path().join(link);
            std::os::unix::fs::symlink(to, &out).unwrap();
            let e = write_whole(&out, |p, m| format!("{}: {m}", p.display()), |_| Ok(())).unwrap_err();
            assert!(e.contains(&format!("is a symbolic link (to {to})")), "{e}");
            assert!(!partial_path(&out).exists());
        }
    }

    #[test]
    fn an_output_inside_an_input_is_refused_however_spelled() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("data/images")).unwrap();
        std::os::unix::fs::symlink(&tree, dir.path().join("link")).unwrap();
        let refused = |out: PathBuf| check_outside_inputs(&out, &[&tree]).unwrap_err().input;
        // Not existing yet, through a symbolic link, through `..`, the input itself.
        assert_eq!(refused(tree.join("data/images/5000.npy")), tree);
        assert_eq!(refused(dir.path().join("link/new/x.h5")), tree);
        assert_eq!(refused(dir.path().join("other/../tree/data")), tree);
        assert_eq!(refused(dir.path().join("link")), tree);
        check_outside_inputs(&dir.path().join("tree2/x.h5"), &[&tree]).unwrap();
        check_outside_inputs(&dir.path().join("new/../x.h5"), &[&tree]).unwrap();
        assert_eq!(resolved(&dir.path().join("link/a/../b")).unwrap(), tree.canonicalize().unwrap().join("b"));
    }
}
