//! flotilla-cri: the node agent as a client of a CRI runtime (containerd's CRI plug-in), over
//! the runtime's unix socket.
//!
//! A pod whose RuntimeClass names the CRI handler — or every image pod of a node started with
//! `--container-runtime-endpoint` — gets its sandbox, image and containers from the CRI
//! runtime instead of the native one. What the agent asks is decided in pure functions
//! ([`config`]: pod and container to CRI configs; [`watch`]: which containers exited between
//! two listings); [`CriRuntime`] performs the calls on a thread of its own, and [`WithCri`]
//! puts it beside the native runtime behind the one [`flotilla_node_os::Runtime`] the agent
//! drives, each container and sandbox answered by the runtime that made it.

mod book;
mod calls;
mod client;
pub mod config;
pub mod exec;
mod poller;
mod routed;
mod runtime;
mod spdy;
mod stream;
pub mod watch;

/// The CRI's messages and clients, generated from `proto/runtime_v1.proto`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod proto {
    tonic::include_proto!("runtime.v1");
}

pub use client::{CriClient, CriError, socket_path};
pub use config::{ContainerRequest, PodSandboxRequest, SandboxDns, SandboxPort};
pub use routed::WithCri;
pub use runtime::{CriRuntime, ImageFacts, ImageUnavailable};
