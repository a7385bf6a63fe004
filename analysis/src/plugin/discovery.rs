//! Where plugins are found: the libraries and executables on the plugin path, by name or all
//! of them, the first of a name winning.

use neurozoo_plugin::protocol::EXECUTABLE_PREFIX;
use std::path::{Path, PathBuf};

use super::{Deadline, Plugin, PluginError, LIBRARY_PREFIX};

/// The plugin libraries and executables in the search path, directory by directory, each
/// directory's sorted.
fn plugin_files() -> Vec<PathBuf> {
    let mut all = Vec::new();
    for dir in crate::plugin_search_path() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(LIBRARY_PREFIX) && n.ends_with(std::env::consts::DLL_SUFFIX))
                    || crate::executable::is_executable_plugin(p)
            })
            .collect();
        paths.sort();
        all.extend(paths);
    }
    all
}

/// The library file a plugin of this name is expected in: `libneurozoo_plugin_NAME.so`, with
/// `-` as `_` (what cargo makes of a crate `neurozoo-plugin-NAME`).
fn library_file_name(name: &str) -> String {
    format!("{LIBRARY_PREFIX}{}{}", name.replace('-', "_"), std::env::consts::DLL_SUFFIX)
}

/// Every plugin library in the search path, loaded; libraries that fail to load are returned
/// as errors (a listing shows them rather than hiding them). The first plugin of a name is
/// used; a later one of the same name is an error saying which one is used instead.
pub fn discover() -> Vec<Result<Plugin, PluginError>> {
    discover_within(None)
}

fn discover_within(deadline: Option<Deadline>) -> Vec<Result<Plugin, PluginError>> {
    let mut found: Vec<Result<Plugin, PluginError>> = Vec::new();
    for path in plugin_files() {
        let plugin = Plugin::load_within(&path, deadline).and_then(|p| match found.iter().flatten().find(|q| q.name == p.name) {
            Some(first) => Err(PluginError::Load(format!(
                "{}: plugin {:?} is not used: {} has the same name and comes first in the plugin path",
                path.display(),
                p.name,
                first.path.display()
            ))),
            None => Ok(p),
        });
        found.push(plugin);
    }
    found
}

/// A plugin by name or by the path of its library. By name, only the library whose file is
/// named after it is opened (a broken library elsewhere in the path does not matter); when no
/// file is, every library is, and the first whose descriptor has the name is used. A plugin
/// of the same name further down the path is reported on stderr, naming the one used.
pub fn find(name_or_path: &str) -> Result<Plugin, PluginError> {
    find_within(name_or_path, None)
}

/// [`find`], each executable plugin's `describe` stopped at `deadline` (None: after
/// [`super::DESCRIBE_TIMEOUT`] each).
pub(crate) fn find_within(name_or_path: &str, deadline: Option<Deadline>) -> Result<Plugin, PluginError> {
    let path = Path::new(name_or_path);
    if name_or_path.contains('/') || name_or_path.ends_with(std::env::consts::DLL_SUFFIX) {
        return Plugin::load_within(path, deadline);
    }
    let files = [library_file_name(name_or_path), format!("{EXECUTABLE_PREFIX}{name_or_path}")];
    let named: Vec<PathBuf> = plugin_files()
        .into_iter()
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| files.iter().any(|f| f == n)))
        .collect();
    if let Some(first) = named.first() {
        let plugin = Plugin::load_within(first, deadline)?;
        if plugin.name == name_or_path {
            for other in &named[1..] {
                eprintln!(
                    "warning: using plugin {name_or_path} from {}; {} has the same name and is not used",
                    first.display(),
                    other.display()
                );
            }
            return Ok(plugin);
        }
    }
    let (mut names, mut failed) = (Vec::new(), Vec::new());
    for p in discover_within(deadline) {
        match p {
            Ok(p) if p.name == name_or_path => return Ok(p),
            Ok(p) => names.push(p.name),
            Err(e) => failed.push(e),
        }
    }
    let mut message = format!(
        "no plugin {name_or_path:?} in the plugin path ({}); found: {}",
        crate::plugin_search_path().iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(":"),
        if names.is_empty() { "none".into() } else { names.join(", ") }
    );
    // A library that did not load may be the one meant: say why it did not.
    for e in failed {
        message.push_str(&format!("\n  not loaded: {e}"));
    }
    Err(PluginError::NotFound(message))
}
