//! Errors of the runtime. Every variant names the container, so the node agent can put the
//! message straight into the pod's status.

use std::path::PathBuf;

use super::Signal;
use crate::cgroups::CgroupError;

/// Why a runtime operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The id is not a safe path component (it names the container's cgroup).
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },
    /// A field of the spec cannot be used.
    #[error("container {id}: invalid {field}: {reason}")]
    InvalidSpec {
        id: String,
        field: &'static str,
        reason: &'static str,
    },
    /// A container with this id is already known.
    #[error("container {id} already exists")]
    AlreadyExists { id: String },
    /// No container with this id is known.
    #[error("container {id} not found")]
    NotFound { id: String },
    /// The container has exited (or is still starting), so it cannot be signalled.
    #[error("container {id} is not running")]
    NotRunning { id: String },
    /// The container's main process still runs, so it cannot be removed.
    #[error("container {id} is still running")]
    StillRunning { id: String },
    /// No executable named like the command exists in the search path.
    #[error("container {id}: command {command:?} not found in {search_path}")]
    CommandNotFound {
        id: String,
        command: String,
        search_path: String,
    },
    /// The log file (or its directory) could not be created or opened.
    #[error("container {id}: cannot open log file {path}")]
    LogFile {
        id: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Creating, signalling or removing the container's cgroup failed.
    #[error("container {id}: cgroup operation failed")]
    Cgroup {
        id: String,
        #[source]
        source: CgroupError,
    },
    /// The cgroups under our root could not be listed.
    #[error("cannot list the cgroups of the runtime")]
    ListCgroups {
        #[source]
        source: CgroupError,
    },
    /// The process could not be started: exec failed (permission denied, no such file) or
    /// its set-up did (working directory, cgroup, namespaces).
    #[error("container {id}: cannot start {program}")]
    Spawn {
        id: String,
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The container init could not set the container up or execute its command; the message
    /// is the init's, such as `exec: "x": executable file not found in $PATH`.
    #[error("container {id}: {message}")]
    Sandbox { id: String, message: String },
    /// A command run in the container did not finish in time and was killed.
    #[error("container {id}: command timed out after {seconds}s")]
    ExecTimeout { id: String, seconds: f64 },
    /// The container's directory (overlay layers, init config) could not be prepared.
    #[error("container {id}: cannot prepare {path}")]
    ContainerDir {
        id: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The pod sandbox a container is to join does not exist.
    #[error("container {id}: pod sandbox {sandbox} does not exist")]
    NoSandbox { id: String, sandbox: String },
    /// A pod sandbox could not be created, listed or removed.
    #[error("pod sandbox {id}: {source}")]
    PodSandbox {
        id: String,
        #[source]
        source: std::io::Error,
    },
    /// A CRI runtime (containerd) refused or failed a call about container or sandbox `id`.
    #[error("{id}: {call}: {message}")]
    Cri {
        id: String,
        call: &'static str,
        message: String,
    },
    /// Sending a signal failed.
    #[error("container {id}: cannot send {signal} to process group {pid}")]
    Signal {
        id: String,
        pid: u32,
        signal: Signal,
        #[source]
        source: nix::Error,
    },
}
