//! cgroups: the kernel's resource limits and process grouping for containers.
//!
//! Every container gets one cgroup `<root>/<name>` in each controller we use (memory, cpu,
//! cpuacct and pids on cgroup v1; the single unified directory on v2). The [`Cgroups`] trait
//! is what the runtime and the node agent see; [`SystemCgroups`] drives the kernel through
//! cgroups-rs, [`FakeCgroups`] keeps everything in memory for callers' unit tests.
//!
//! cgroups survive the agent: after a restart the agent lists what is under its root and
//! reconciles (see `Runtime::cleanup_stale`), which is why [`Cgroups::list`] exists.
//!
//! The kernel also accounts what each cgroup uses; [`Cgroups::usage`] reads it for
//! `flotilla top`.

mod error;
mod fake;
mod limits;
mod system;
#[cfg(test)]
pub(crate) mod test_root;
mod usage;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use error::CgroupError;
pub use fake::FakeCgroups;
pub use limits::{DEFAULT_CPU_PERIOD_MICROS, ResourceLimits};
pub use system::{CgroupVersion, SystemCgroups};
pub use usage::CgroupUsage;

use crate::component::component_problem;

/// How often [`Cgroups::kill_and_remove`] looks whether killed processes are gone.
const EMPTY_POLL: Duration = Duration::from_millis(10);

/// The files a process writes its pid (or "0" for itself) into to join a cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupPaths {
    /// One `cgroup.procs` per hierarchy on v1, a single one on v2; empty for the fake.
    pub procs_files: Vec<PathBuf>,
    /// The cgroup below each hierarchy's mount point, as an OCI runtime's `cgroupsPath`.
    pub relative: String,
}

/// The cgroups under one root that belong to this node agent.
pub trait Cgroups: Send + Sync {
    /// Creates (or re-uses) the cgroup `<root>/<name>` in every controller we use and applies
    /// `limits`: a `None` limit is written as "unlimited", so re-using a cgroup converges it
    /// to exactly `limits`.
    fn create(&self, name: &str, limits: &ResourceLimits) -> Result<CgroupPaths, CgroupError>;

    /// The `cgroup.procs` files of the existing cgroup `<root>/<name>`, for another process
    /// (an exec into the container) to join it.
    fn paths(&self, name: &str) -> Result<CgroupPaths, CgroupError>;

    /// The processes in the cgroup, sorted.
    fn pids(&self, name: &str) -> Result<Vec<u32>, CgroupError>;

    /// Sends SIGKILL to every process in the cgroup; a cgroup that does not exist has nothing
    /// to kill. Processes may linger briefly while the kernel tears them down.
    fn kill_all(&self, name: &str) -> Result<(), CgroupError>;

    /// Removes the cgroup; fails with [`CgroupError::Busy`] while processes remain. Removing a
    /// cgroup that does not exist succeeds.
    fn remove(&self, name: &str) -> Result<(), CgroupError>;

    /// The names of the cgroups under our root, sorted.
    fn list(&self) -> Result<Vec<String>, CgroupError>;

    /// The limits in force, read back from the kernel.
    fn limits(&self, name: &str) -> Result<ResourceLimits, CgroupError>;

    /// What the cgroup's processes have used: CPU time so far and memory now (see
    /// [`CgroupUsage`]).
    fn usage(&self, name: &str) -> Result<CgroupUsage, CgroupError>;

    /// Kills every process in the cgroup and removes it, killing again (forked children) until
    /// it is empty or `timeout` has passed.
    fn kill_and_remove(&self, name: &str, timeout: Duration) -> Result<(), CgroupError> {
        let deadline = Instant::now() + timeout;
        loop {
            self.kill_all(name)?;
            match self.remove(name) {
                Err(CgroupError::Busy { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(EMPTY_POLL);
                }
                result => return result,
            }
        }
    }
}

/// Checks that `name` is one safe path component.
pub(crate) fn check_name(name: &str) -> Result<(), CgroupError> {
    match component_problem(name) {
        None => Ok(()),
        Some(reason) => Err(CgroupError::InvalidName {
            name: name.to_string(),
            reason,
        }),
    }
}
