//! The isolated pod sandbox of image containers: a pod's shared network, IPC and UTS
//! namespaces ([`pod`]), and for each container an init that gives it its own PID and mount
//! namespaces, an overlay root from the image's layers and the restrictions of [`Security`].
//!
//! The runtime decides everything and writes it down (`config`); `flotilla container-init`
//! ([`init`]) carries it out in the process that becomes the container (`setup`), resolving the
//! image's user in the container's own root (`user`) and filtering its system calls
//! (`seccomp`). `flotilla container-exec` ([`exec`]) runs further commands inside it. An OCI
//! runtime such as runc can run the same container instead, from a bundle written by
//! [`bundle`].

pub(crate) mod bundle;
pub(crate) mod config;
pub mod exec;
pub mod init;
pub mod pause;
pub(crate) mod pod;
mod seccomp;
mod security;
mod setup;
mod user;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use pod::{Namespace, SandboxSpec, connect_in};
pub use security::{DEFAULT_CAPABILITIES, Security};
pub(crate) use setup::identity_in;

/// How an image container is isolated; part of its [`crate::ContainerSpec`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Isolation {
    /// The pod sandbox (by id) whose namespaces the container joins.
    pub sandbox: String,
    /// The image's unpacked layers, lowest first.
    pub layers: Vec<PathBuf>,
    /// The image's USER, resolved in the container's root when it starts.
    pub user: Option<String>,
    pub security: Security,
    /// The OCI runtime (runc, by its binary) that runs the container; `None`: the container
    /// init.
    pub oci_runtime: Option<PathBuf>,
    /// Where the container writes its termination message, over a host file the runtime
    /// empties for each run (so what the agent reads after an exit is that run's).
    pub termination_log: Option<FileMount>,
}

/// A host file bind-mounted read-write over a file of the container, created empty there if
/// missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMount {
    /// Absolute, in the container.
    pub target: PathBuf,
    /// Absolute, on the host.
    pub source: PathBuf,
}
