//! The container runtime: a CRI-shaped [`Runtime`] trait that starts, signals and removes
//! containers and reports their exits.
//!
//! [`NativeRuntime`] runs each container as a process in its own cgroup and session: a host
//! image's with new UTS and IPC namespaces on the host's root, an image container isolated in
//! its pod's sandbox (see [`crate::sandbox`]), by the container init or an OCI runtime such as
//! runc (`oci`); [`FakeRuntime`] keeps containers in memory for
//! the node agent's unit tests. Both keep their bookkeeping in the same pure state table (`table`), so the fake
//! answers exactly as the real runtime does. A container's cgroup is named after its id,
//! which is why ids are validated as safe path components.

mod adopt;
mod child_setup;
mod error;
mod exec;
mod fake;
mod native;
mod oci;
mod oom;
mod spec;
mod stale;
mod table;

use std::fmt;
use std::time::SystemTime;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::cgroups::CgroupUsage;
use crate::sandbox::SandboxSpec;

pub use adopt::Adoption;
pub(crate) use adopt::{read_facts, still_running};
pub use error::RuntimeError;
pub use exec::{
    ExecOutput, ExecProcess, ExecRequest, TerminalSize, exec_stdio, exec_sync, exit_code,
    resize_terminal,
};
pub use fake::FakeRuntime;
pub use native::{NativeRuntime, empty_termination_log};
pub use spec::{ContainerSpec, DEFAULT_PATH, find_in_path};

pub use crate::sandbox::connect_in;

/// The cgroup under the runtime's root where a CRI runtime puts the containers the agent
/// asks it for: the CRI runtime's to manage, never adopted or removed as the native runtime's.
pub const CRI_CGROUP: &str = "cri";

/// Where a container is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    Running {
        pid: u32,
        started_at: SystemTime,
    },
    /// The main process ended. `exit_code` is its status, or 128+N when signal N killed it.
    Exited {
        exit_code: i32,
        signal: Option<i32>,
        /// The kernel's OOM killer killed a process of the container (Kubernetes' `OOMKilled`).
        oom_killed: bool,
        started_at: SystemTime,
        finished_at: SystemTime,
    },
}

/// One container's main process ended; sent once to every subscriber at that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitEvent {
    pub id: String,
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub finished_at: SystemTime,
}

/// The signals a caller may send to a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM to the container's process group: a request to shut down.
    Term,
    /// SIGKILL to the process group and every other process in the container's cgroup.
    Kill,
}

impl Signal {
    fn to_nix(self) -> nix::sys::signal::Signal {
        match self {
            Signal::Term => nix::sys::signal::Signal::SIGTERM,
            Signal::Kill => nix::sys::signal::Signal::SIGKILL,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.to_nix().as_str())
    }
}

/// What the node agent needs from a container runtime.
pub trait Runtime: Send + Sync {
    /// Starts the container and returns its main pid. The process is in the container's
    /// cgroup before it executes anything; start failures (unknown command, permission
    /// denied, bad working directory) come back as errors naming the container.
    fn start(&self, spec: &ContainerSpec) -> Result<u32, RuntimeError>;

    /// The container's state, or `None` if this runtime does not know it.
    fn state(&self, id: &str) -> Option<ContainerState>;

    /// Sends `signal` to the running container (see [`Signal`] for who receives it).
    fn signal(&self, id: &str, signal: Signal) -> Result<(), RuntimeError>;

    /// Forgets an exited container: kills whatever is left in its cgroup, removes the cgroup.
    /// Fails while the main process still runs.
    fn remove(&self, id: &str) -> Result<(), RuntimeError>;

    /// Every known container, sorted by id.
    fn list(&self) -> Vec<(String, ContainerState)>;

    /// A stream of the exits that happen from now on.
    fn subscribe(&self) -> UnboundedReceiver<ExitEvent>;

    /// At agent start-up, before starting containers: takes over the containers a previous
    /// agent left running under our root (they keep running untouched), and kills and removes
    /// cgroups that hold no living container.
    fn adopt_running(&self) -> Result<Adoption, RuntimeError>;

    /// Creates the pod sandbox — the namespaces a pod's image containers share — unless it
    /// exists already.
    fn run_pod_sandbox(&self, sandbox: &SandboxSpec) -> Result<(), RuntimeError>;

    /// Removes the pod sandbox `id` (after its containers); a missing one is fine.
    fn remove_pod_sandbox(&self, id: &str) -> Result<(), RuntimeError>;

    /// The ids of every pod sandbox, sorted.
    fn list_pod_sandboxes(&self) -> Result<Vec<String>, RuntimeError>;

    /// The network namespace file of the pod sandbox `id`, for the node's CNI plug-ins to
    /// wire; `None` when the sandbox has none of its own (host network), does not exist, or
    /// its runtime wires its network itself (a CRI runtime).
    fn pod_netns(&self, id: &str) -> Option<std::path::PathBuf>;

    /// Starts `request`'s command in the running container `id`: in its namespaces, root and
    /// cgroup, as its user and under its restrictions, with its environment and working
    /// directory. Fails with the reason when the command cannot start (not found in the
    /// container, for one).
    fn exec(&self, id: &str, request: &ExecRequest) -> Result<ExecProcess, RuntimeError>;

    /// What the container `id` has used, read from its cgroup (see [`CgroupUsage`]). Fails
    /// with [`RuntimeError::NotFound`] for a container this runtime does not know.
    fn usage(&self, id: &str) -> Result<CgroupUsage, RuntimeError>;

    /// Opens a TCP connection to `address` from inside the pod sandbox `sandbox`'s network
    /// (the host's for a pod on the host network or without a sandbox), as probes connect.
    fn connect(
        &self,
        sandbox: &str,
        address: std::net::SocketAddr,
        timeout: std::time::Duration,
    ) -> std::io::Result<std::net::TcpStream>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_display_their_names() {
        assert_eq!(Signal::Term.to_string(), "SIGTERM");
        assert_eq!(Signal::Kill.to_string(), "SIGKILL");
    }
}
