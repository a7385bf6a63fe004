//! One writer per output: an exclusive advisory lock (`flock`) on a hidden `.NAME.lock` file
//! beside what is being written (a run directory, a sweep directory, an output file or
//! directory and so its `.partial` sibling), taken before anything is written there.
//!
//! The kernel drops a `flock` when its process ends, however it ends (`kill -9` included), so a
//! lock never outlives its writer; the file itself is removed when the [`Lock`] is dropped and
//! is harmless when a killed process leaves it (the next writer takes it over). The holder
//! writes its process, host, command and start time into the file, so that a refused writer can
//! say who holds it.
//!
//! Advisory: it keeps neurozoo commands apart, not other programs. `flock` on a network file
//! system may be local to one host, as it is on some NFS setups.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::files::resolved;
use crate::process::Process;

/// Who holds a lock: written into the lock file by its holder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    #[serde(flatten)]
    pub process: Process,
    /// What it runs, as a command line (`neurozoo fit … --out runs/k`).
    pub command: String,
    /// When it took the lock, in seconds since the Unix epoch.
    pub since: u64,
}

/// Why a lock was not taken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LockError {
    /// Another process writes `path` now.
    #[error("{} is being written by another neurozoo process ({}): wait for it to finish, or stop it", path.display(), holder.as_ref().map_or_else(|| "which has not yet said who it is".to_string(), describe))]
    Held { path: PathBuf, holder: Option<Holder> },
    /// The lock file cannot be made.
    #[error("cannot lock {}: {reason}", path.display())]
    Io { path: PathBuf, reason: String },
}

fn describe(h: &Holder) -> String {
    let ago = now().saturating_sub(h.since);
    format!("pid {} on {}, `{}`, started {ago} s ago", h.process.pid, h.process.host, h.command)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// An exclusive lock on writing one path, held until dropped (or the process ends).
#[derive(Debug)]
pub struct Lock {
    /// Open for as long as the lock is held: closing it releases the lock.
    _held: File,
    path: PathBuf,
}

/// Where the lock of writing `target` is: `.NAME.lock` beside it, `target` resolved first (an
/// absolute path through symbolic links and `..`), so that two spellings of one output share one
/// lock.
pub fn lock_path(target: &Path) -> Result<PathBuf, LockError> {
    let io = |reason: String| LockError::Io { path: target.to_path_buf(), reason };
    let target = resolved(target).map_err(|e| io(e.to_string()))?;
    let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
        return Err(io("the file system's root cannot be an output".into()));
    };
    Ok(parent.join(format!(".{}.lock", name.to_string_lossy())))
}

/// Take the lock of writing `target` for `command`, or say who holds it. The directory that
/// will hold `target` is made if need be (the writer would make it anyway).
pub fn lock(target: &Path, command: &str) -> Result<Lock, LockError> {
    let path = lock_path(target)?;
    let io = |reason: String| LockError::Io { path: path.clone(), reason };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io(e.to_string()))?;
    }
    loop {
        let mut file = File::options().read(true).write(true).create(true).truncate(false).open(&path).map_err(|e| io(e.to_string()))?;
        // SAFETY: flock on a descriptor this function owns; it touches no memory.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(io(err.to_string()));
            }
            let mut text = String::new();
            let holder = file.read_to_string(&mut text).ok().and_then(|_| serde_json::from_str(&text).ok());
            return Err(LockError::Held { path: target.to_path_buf(), holder });
        }
        // A holder that just finished removed the file after this one opened it: the lock is
        // on a file nobody else will open. Take the one at `path` instead.
        let same = std::fs::metadata(&path).ok().zip(file.metadata().ok()).is_some_and(|(p, f)| p.dev() == f.dev() && p.ino() == f.ino());
        if !same {
            continue;
        }
        let holder = Holder { process: Process::this(), command: command.to_string(), since: now() };
        let text = serde_json::to_string(&holder).expect("a holder serialises");
        file.set_len(0).and_then(|()| file.rewind()).and_then(|()| file.write_all(text.as_bytes())).map_err(|e| io(e.to_string()))?;
        return Ok(Lock { _held: file, path });
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed while still held: a writer that opened it meanwhile sees it gone and retries.
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_by_name_and_takes_over_once_the_first_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("runs").join("k");
        let first = lock(&out, "neurozoo fit --out runs/k").unwrap();
        // Another spelling of the same output shares the lock.
        let other = dir.path().join("runs").join("..").join("runs").join("k");
        let err = lock(&other, "neurozoo fit --resume").unwrap_err();
        let LockError::Held { holder: Some(h), .. } = &err else { panic!("{err:?}") };
        assert_eq!((h.process.pid, h.command.as_str()), (std::process::id(), "neurozoo fit --out runs/k"));
        let text = err.to_string();
        assert!(text.contains(&format!("pid {}", std::process::id())) && text.contains("`neurozoo fit --out runs/k`"), "{text}");
        drop(first);
        assert!(!dir.path().join("runs").join(".k.lock").exists(), "the lock file is removed with the lock");
        let _second = lock(&other, "neurozoo fit --resume").unwrap();
        assert!(dir.path().join("runs").join(".k.lock").exists());
    }
}
