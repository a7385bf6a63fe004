//! Leaf utilities shared by every neurozoo crate, with no data layer and nothing heavy behind
//! them: [`files`] (outputs that appear complete or not at all, output directories never
//! written over), [`process`] (which process holds a fit or a sweep point), [`hash`] (FNV-1a
//! fingerprints) and [`available_memory`].
//!
//! ```
//! use neurozoo_util::files::{ensure_empty_dir, write_atomic};
//!
//! let dir = tempfile::tempdir()?;
//! let out = dir.path().join("summary.json");
//! write_atomic(&out, "{}")?;
//! assert_eq!(std::fs::read_to_string(&out)?, "{}");
//! assert!(ensure_empty_dir(dir.path()).is_err()); // it holds summary.json now
//! assert_eq!(neurozoo_util::hash::Fnv1a::of(b"").len(), 16);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod files;
pub mod hash;
pub mod process;

/// Memory the kernel says is available for new allocations (Linux `MemAvailable`), in bytes:
/// what a declared dataset shape, or a model's parameters, is checked against before allocating.
pub fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = info.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}
