//! flotilla-integration: the harness for end-to-end tests and benchmarks of the real `flotilla`
//! binary.
//!
//! Tests drive flotilla only through its CLI contract (`flotilla up`, `apply`, `get -o json`, …)
//! and check what the kernel enforces (cgroup files, /proc), as an operator would, so they hold
//! whatever the internals become. Every cluster is isolated (temporary data dir and HOME, free
//! loopback port, unique cgroup root) and is cleaned up even when a test fails. Pure pieces — JSON
//! views, cgroup and procfs parsing, percentiles, the report — are unit-tested without root.

mod admin_config;
mod api_report;
mod binary;
mod bounded_command;
mod cgroup_tree;
mod client;
mod cluster;
mod container_cgroup;
pub mod containerd;
mod control_plane;
mod etcd_server;
mod failover_report;
mod fleet;
mod fleet_pods;
pub mod hosts;
mod joined_node;
mod logged_child;
mod mounts;
pub mod objects;
mod pauses;
mod pod_runtime;
mod pod_start_report;
mod port;
mod process;
mod registry;
mod startup_report;
mod stats;
mod store_report;
mod store_server;
mod test_images;
mod transport_report;
mod wait;

pub use admin_config::admin_transport;
pub use api_report::{ApiReport, Burst, CreateRun, Reads};
pub use binary::flotilla_binary;
pub use client::Client;
pub use cluster::{Cluster, ClusterOptions};
pub use container_cgroup::{ContainerCgroup, CpuQuota};
pub use control_plane::ControlPlane;
pub use etcd_server::EtcdServer;
pub use failover_report::{FailoverReport, FailoverRun, FailoverSeries};
pub use fleet::{Fleet, PodView};
/// The end-to-end tests create cgroups and namespaces, which only root may do: without root they
/// skip, or fail when `CI` is set (flotilla-test-policy decides).
pub use flotilla_test_policy::root_or_skip as running_as_root_or_skip;
pub use hosts::{Direction, HostId, Hosts, Partition, Peers, ProcessId, ProcessSpec};
pub use joined_node::JoinedNode;
pub use mounts::{mounts_under, unmount_under};
pub use objects::ContainerId;
pub use pauses::pause_running;
pub use pod_runtime::{ImageCluster, PodRuntime};
pub use pod_start_report::PodStartReport;
pub use process::{PROC, cpu_time, process_exists, resident_kib};
pub use registry::Registry;
pub use startup_report::StartupReport;
pub use stats::{micros, percentile, ratio, round};
pub use store_report::{OpFigures, StoreReport, StoreWorkload};
pub use store_server::StoreServer;
pub use test_images::{BUSYBOX_IMAGE, BusyboxArchives, MARKER, busybox_archives};
pub use transport_report::{CallFigures, Compared, Reconnect, TransportReport};
pub use wait::{Observation, poll_until, wait_until};
