//! Checkpoints that survive a crash at any moment and refuse to resume from changed bytes:
//! named tensor files and one JSON state in `DIR/checkpoint/`, written into
//! `checkpoint.tmp/` and swapped in, with the FNV-1a checksum of every file verified on load.
//! The response models' trainer and the sprite-pair models' loop both keep theirs here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use neurozoo_util::hash::Fnv1a;
use tch::{Device, Tensor};

const CHECKPOINT: &str = "checkpoint";
/// The previous checkpoint, during the swap.
const OLD: &str = "checkpoint.old";
/// The JSON state (counters, history); also the mark of a complete checkpoint.
const STATE: &str = "schedule.json";
const CHECKSUMS: &str = "checksums.json";

/// An error of a checkpoint: the file or directory at fault and what is wrong.
pub type Error = (PathBuf, String);

fn err(path: &Path, e: impl std::fmt::Display) -> Error {
    (path.to_path_buf(), e.to_string())
}

/// `Tensor::write_safetensors`, for tensors in any layout: safetensors holds row-major bytes,
/// and channels-last weights (and their Adam moments) are not row-major.
pub fn write_safetensors(named: &[(String, Tensor)], path: &Path) -> Result<(), tch::TchError> {
    let row_major: Vec<(&str, Tensor)> = named.iter().map(|(name, t)| (name.as_str(), t.contiguous())).collect();
    Tensor::write_safetensors(&row_major, path)
}

/// Whether `dir` holds a checkpoint to resume from.
pub fn exists(dir: &Path) -> bool {
    [CHECKPOINT, OLD].iter().any(|n| dir.join(n).join(STATE).exists())
}

/// The epochs completed that the checkpoint of `dir` holds (its state's `epoch`), if it has
/// one: what an interrupted run has to show, as its `run.json` is written only at the start and
/// the end of a fit.
pub fn epochs(dir: &Path) -> Option<usize> {
    let ckpt = [CHECKPOINT, OLD].iter().map(|n| dir.join(n)).find(|p| p.join(STATE).exists())?;
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(ckpt.join(STATE)).ok()?).ok()?;
    usize::try_from(state.get("epoch")?.as_u64()?).ok()
}

/// Write `tensors` (file stem → named tensors) and `state` as the checkpoint of `dir`: into
/// `checkpoint.tmp/`, then swapped for `checkpoint/`, so a crash at any point leaves one complete
/// checkpoint (`checkpoint/`, or `checkpoint.old/` during the swap).
pub fn save(dir: &Path, tensors: &[(&str, Vec<(String, Tensor)>)], state: &str) -> Result<(), Error> {
    let tmp = dir.join(format!("{CHECKPOINT}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    let written = write_into(&tmp, tensors, state);
    if written.is_err() {
        // A full disk, say: the half-written copy is of no use, and would hold the space.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written?;
    let (final_dir, old) = (dir.join(CHECKPOINT), dir.join(OLD));
    if final_dir.exists() {
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(&final_dir, &old).map_err(|e| err(&final_dir, e))?;
    }
    std::fs::rename(&tmp, &final_dir).map_err(|e| err(&final_dir, e))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// The files of a checkpoint and their checksums, in the new directory `tmp`.
fn write_into(tmp: &Path, tensors: &[(&str, Vec<(String, Tensor)>)], state: &str) -> Result<(), Error> {
    std::fs::create_dir_all(tmp).map_err(|e| err(tmp, e))?;
    let mut files = Vec::new();
    for (stem, named) in tensors {
        let file = format!("{stem}.safetensors");
        write_safetensors(named, &tmp.join(&file)).map_err(|e| err(&tmp.join(&file), e))?;
        files.push(file);
    }
    std::fs::write(tmp.join(STATE), state).map_err(|e| err(&tmp.join(STATE), e))?;
    files.push(STATE.to_string());
    let mut sums = BTreeMap::new();
    for name in &files {
        let bytes = std::fs::read(tmp.join(name)).map_err(|e| err(&tmp.join(name), e))?;
        sums.insert(name.clone(), Fnv1a::of(&bytes));
    }
    let json = serde_json::to_string_pretty(&sums).expect("checksums serialise");
    std::fs::write(tmp.join(CHECKSUMS), json).map_err(|e| err(tmp, e))
}

/// A checkpoint read back: the tensor files asked for, on the device, and the state.
pub struct Loaded {
    /// The checkpoint directory it came from.
    pub dir: PathBuf,
    pub state: String,
    tensors: BTreeMap<String, Vec<(String, Tensor)>>,
}

impl Loaded {
    /// The named tensors of file `stem` (one of those [`load`] was asked for).
    pub fn take(&mut self, stem: &str) -> Vec<(String, Tensor)> {
        self.tensors.remove(stem).unwrap_or_default()
    }
}

/// Read the checkpoint of `dir` (`checkpoint/`, or `checkpoint.old/` when a crash came during the
/// swap), checking every file against the checksums written with it.
pub fn load(dir: &Path, stems: &[&str], device: Device) -> Result<Loaded, Error> {
    let ckpt = [CHECKPOINT, OLD]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.join(STATE).exists())
        .ok_or_else(|| err(&dir.join(CHECKPOINT), "no checkpoint to resume from"))?;
    // A checkpoint changed after it was written (a damaged disk, a hand edit) must not be
    // resumed from as if it were the run's.
    let sums = std::fs::read_to_string(ckpt.join(CHECKSUMS)).map_err(|e| err(&ckpt.join(CHECKSUMS), e))?;
    let sums: BTreeMap<String, String> = serde_json::from_str(&sums).map_err(|e| err(&ckpt.join(CHECKSUMS), e))?;
    let files: Vec<String> = stems.iter().map(|s| format!("{s}.safetensors")).chain([STATE.to_string()]).collect();
    for name in &files {
        let path = ckpt.join(name);
        let bytes = std::fs::read(&path).map_err(|e| err(&path, e))?;
        if sums.get(name) != Some(&Fnv1a::of(&bytes)) {
            return Err(err(&path, "does not match the checksum written with it: the checkpoint changed after it was saved"));
        }
    }
    let state = std::fs::read_to_string(ckpt.join(STATE)).map_err(|e| err(&ckpt.join(STATE), e))?;
    let mut tensors = BTreeMap::new();
    for stem in stems {
        let path = ckpt.join(format!("{stem}.safetensors"));
        let named = Tensor::read_safetensors(&path).map_err(|e| err(&path, e))?;
        tensors.insert(stem.to_string(), named.into_iter().map(|(n, t)| (n, t.to_device(device))).collect());
    }
    Ok(Loaded { dir: ckpt, state, tensors })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A save that fails half-way (here a tensor file that cannot be created, as on a full disk)
    /// leaves no `checkpoint.tmp/` and the previous checkpoint as it was.
    #[test]
    fn a_failed_save_leaves_the_previous_checkpoint_and_no_partial_copy() {
        let dir = tempfile::tempdir().unwrap();
        let weights = || vec![("w".to_string(), Tensor::from_slice(&[1.0f32, 2.0, 3.0]))];
        save(dir.path(), &[("model", weights())], "{\"epoch\": 1}").unwrap();
        let (path, _) = save(dir.path(), &[("model", weights()), ("no/such/dir", weights())], "{\"epoch\": 2}").unwrap_err();
        assert!(path.ends_with("no/such/dir.safetensors"), "{path:?}");
        assert!(!dir.path().join("checkpoint.tmp").exists(), "a partial checkpoint was left");
        let mut loaded = load(dir.path(), &["model"], Device::Cpu).unwrap();
        assert_eq!(loaded.state, "{\"epoch\": 1}");
        assert_eq!(Vec::<f32>::try_from(&loaded.take("model")[0].1).unwrap(), vec![1.0, 2.0, 3.0]);
    }
}
