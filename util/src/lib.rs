//! Leaf utilities shared by every neurozoo crate, with no data layer and nothing heavy behind
//! them: [`files`] (outputs that appear complete or not at all, output directories never
//! written over, outputs kept out of inputs), [`lock`] (one writer per output), [`process`]
//! (which process holds a fit or a sweep point), [`hash`] (FNV-1a
//! fingerprints) and [`memory`] (the one check before an allocation a file or a setting sizes,
//! and freed memory kept for the next batch).
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
pub mod lock;
pub mod memory;
pub mod process;

pub use memory::available_memory;
