//! Analysis side of neurozoo: the plugin host ([`host::run`] a typed job; where plugins are found, how they are checked and
//! run), brain-vs-model comparison, result tables (Parquet + CSV) and figures (PNG + SVG) drawn
//! from declarative specs.
//!
//! ```
//! let dirs = neurozoo_analysis::plugin_search_path();
//! for dir in &dirs {
//!     println!("plugins are looked for in {}", dir.display());
//! }
//! ```

use std::path::PathBuf;

pub mod compare;
pub mod executable;
pub mod figures;
pub mod host;
pub mod plugin;

/// Environment variable with extra plugin directories, `:`-separated like `PATH`.
pub const PLUGIN_PATH_ENV: &str = "NEUROZOO_PLUGIN_PATH";

/// Directories searched for plugins, first match wins: `NEUROZOO_PLUGIN_PATH` entries in order,
/// then the directory of the running binary (where cargo puts the built-in plugins), its
/// `plugins/` subdirectory, and `../lib/neurozoo/plugins` beside it (where `make install` puts
/// them).
pub fn plugin_search_path() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os(PLUGIN_PATH_ENV)
        .map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect())
        .unwrap_or_default();
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(PathBuf::from)) {
        dirs.extend([exe_dir.clone(), exe_dir.join("plugins")]);
        if let Some(prefix) = exe_dir.parent() {
            dirs.push(prefix.join("lib/neurozoo/plugins"));
        }
    }
    dirs
}
