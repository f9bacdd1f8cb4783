//! Errors of the cgroup layer. Each variant names the cgroup (or file) involved, so a caller
//! can report "cgroup web-1: cannot set memory limit to 1048576" without more context.

use std::path::PathBuf;

use super::CgroupVersion;

/// Why a cgroup operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// The cgroup (or root) name is not a safe path component.
    #[error("invalid cgroup name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    /// No cgroup v1 hierarchy and no cgroup v2 unified hierarchy is mounted.
    #[error("no cgroup file system is mounted")]
    NoCgroupFs,
    /// A controller we rely on is not mounted (v1) or not available (v2).
    #[error("cgroup controller {controller} is not available on this {version} host")]
    MissingController {
        controller: &'static str,
        version: CgroupVersion,
    },
    /// cgroups-rs could not create the cgroup.
    #[error("cgroup {name}: cannot create")]
    Create {
        name: String,
        #[source]
        source: Box<cgroups_rs::error::Error>,
    },
    /// The cgroup's directory does not exist after creating it (cgroups-rs only logs v1
    /// `mkdir` failures, so we check).
    #[error("cgroup {name}: directory {path} could not be created")]
    NotCreated { name: String, path: PathBuf },
    /// A limit does not fit the kernel's signed 64-bit field.
    #[error("cgroup {name}: {setting} {value} is out of range")]
    LimitOutOfRange {
        name: String,
        setting: &'static str,
        value: u64,
    },
    /// Writing a limit was refused.
    #[error("cgroup {name}: cannot set {setting} to {value}")]
    Apply {
        name: String,
        setting: &'static str,
        value: String,
        #[source]
        source: Box<cgroups_rs::error::Error>,
    },
    /// Reading a setting back through cgroups-rs failed.
    #[error("cgroup {name}: cannot read {setting}")]
    ReadSetting {
        name: String,
        setting: &'static str,
        #[source]
        source: Box<cgroups_rs::error::Error>,
    },
    /// Reading a cgroup file directly failed.
    #[error("cannot read {path}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A cgroup file holds something the kernel does not write there.
    #[error("{path} holds unexpected value {value:?}")]
    ParseFile { path: PathBuf, value: String },
    /// A flat-keyed cgroup file (`memory.stat`, `cpu.stat`) lacks a line the kernel writes.
    #[error("{path} has no {field} line")]
    MissingField { path: PathBuf, field: &'static str },
    /// The cgroup does not exist.
    #[error("cgroup {name} does not exist")]
    NotFound { name: String },
    /// The cgroup still holds processes, so it cannot be removed.
    #[error("cgroup {name} still holds processes {pids:?}")]
    Busy { name: String, pids: Vec<u32> },
    /// The root still holds cgroups, so it cannot be removed.
    #[error("cgroup root {root} still holds cgroups {children:?}")]
    RootNotEmpty { root: String, children: Vec<String> },
    /// Removing the cgroup's directories failed.
    #[error("cgroup {name}: cannot remove")]
    Remove {
        name: String,
        #[source]
        source: Box<cgroups_rs::error::Error>,
    },
    /// Writing `cgroup.kill` failed.
    #[error("cgroup {name}: cannot kill its processes through cgroup.kill")]
    KillFile {
        name: String,
        #[source]
        source: Box<cgroups_rs::error::Error>,
    },
    /// Sending SIGKILL to one of the cgroup's processes failed.
    #[error("cgroup {name}: cannot kill process {pid}")]
    Kill {
        name: String,
        pid: u32,
        #[source]
        source: nix::Error,
    },
    /// Listing the cgroups under our root failed.
    #[error("cannot list cgroups in {path}")]
    List {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
