//! Which process holds a piece of work (a fit, a sweep point) while it runs, so that a reader
//! tells work still in progress from work whose process died.

use serde::{Deserialize, Serialize};

/// A process, by id and host name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Process {
    pub pid: u32,
    pub host: String,
}

impl Process {
    /// This process.
    pub fn this() -> Process {
        Process { pid: std::process::id(), host: hostname() }
    }

    /// Whether the process still runs; on another host that cannot be known, and it is taken to.
    /// A zombie (dead, not yet reaped: in a container whose first process reaps nothing, a
    /// killed parent's children stay so) is not running.
    pub fn alive(&self) -> bool {
        if self.host != hostname() {
            return true;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return false;
        };
        // pid (comm) state …: comm may hold spaces and parentheses, the state follows the last ')'.
        !matches!(stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next()), Some('Z' | 'X'))
    }
}

/// This machine's host name (empty where /proc does not tell it).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}
