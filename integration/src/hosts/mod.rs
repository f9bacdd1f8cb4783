//! Test hosts: network namespaces joined by a bridge, real processes in them, and the faults a
//! test injects — kill -9, restart, pause, resume, partition and heal.
//!
//! Built as a pure planning core ([`layout`] names and addresses, [`plan`] and [`partition`]
//! the exact `ip` and `nft` commands, [`sweep`]'s choice of leftovers) that is unit-tested
//! without root, and a thin executor that runs those commands. The bridge sits in a namespace
//! of its own, so a run never adds a link, an address or a rule to the machine's own network,
//! and every resource is named after the run's owning process so that an interrupted run's
//! leftovers are found and removed by the next one.

mod cgroup_pids;
mod exec;
mod harness;
mod host_process;
mod layout;
mod namespaces;
mod netns_thread;
mod partition;
mod plan;
mod proc_state;
mod sweep;
#[cfg(test)]
mod tests;

pub use harness::{Hosts, ProcessId};
pub use host_process::ProcessSpec;
pub use layout::{HostId, MAX_HOSTS};
pub use partition::{Direction, Partition, Peers};
pub use sweep::{Swept, sweep_stale};
