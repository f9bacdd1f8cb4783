//! flotilla-node-os: the node agent's boundary with the operating system.
//!
//! Everything the node agent (our kubelet) needs from the kernel goes through this crate:
//! the hardware inventory read from procfs ([`inventory`]) and what the node uses
//! ([`node_usage`]), cgroups for resource limits and accounting ([`cgroups`]), a native
//! process runtime that starts containers in their own cgroup and namespaces ([`runtime`]),
//! the isolated sandbox of image containers ([`sandbox`]), container log files ([`logs`]),
//! and the duties of PID 1 ([`init`]).
//!
//! Each boundary is a trait with a real implementation and an in-memory fake, so the agent's
//! own logic is unit tested without root, while the real implementations are exercised by
//! root-only tests that create real cgroups and processes. Every root (procfs root, cgroup root
//! name, log paths) is a parameter, never a constant, so tests run side by side.
//!
//! This is the only crate of the workspace allowed to use `unsafe`: starting a process in its
//! cgroup and namespaces needs a `pre_exec` hook (see `runtime::child_setup`), and so does
//! restoring the signal mask of the agent an init starts (see `init`); the container init
//! forks (`sandbox::init`) and a pod's loopback is brought up by ioctl (`sandbox::pod`).

#![allow(unsafe_code)]

pub mod cgroups;
mod component;
pub mod hardware;
pub mod init;
pub mod inventory;
pub mod logs;
pub mod network;
pub mod node_usage;
pub mod runtime;
pub mod sandbox;

pub use cgroups::{
    CgroupError, CgroupPaths, CgroupUsage, CgroupVersion, Cgroups, FakeCgroups, ResourceLimits,
    SystemCgroups,
};
pub use hardware::{Disk, Nic};
pub use inventory::{Inventory, InventoryError, read_inventory};
pub use logs::{LogError, follow_log, read_log};
pub use node_usage::{NodeUsage, read_node_usage};
pub use runtime::{
    ContainerSpec, ContainerState, ExitEvent, FakeRuntime, NativeRuntime, Runtime, RuntimeError,
    Signal,
};
pub use sandbox::{Isolation, SandboxSpec, Security};
