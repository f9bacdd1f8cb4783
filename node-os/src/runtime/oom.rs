//! Whether the kernel's OOM killer ended a container: its memory cgroup counts the processes
//! it killed (`oom_kill` in `memory.oom_control` on cgroup v1, in `memory.events` on v2), read
//! when the main process has exited and before the cgroup is removed.
//!
//! An OCI runtime removes the cgroup itself before its process (the one waited for) exits, so
//! for its containers an [`OomWatch`] asks the kernel beforehand to be told of an OOM.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::event::{EventfdFlags, eventfd};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::cgroups::{CgroupPaths, Cgroups};

/// Whether anything in container `id`'s cgroup was killed for lack of memory.
pub(crate) fn oom_killed(cgroups: &dyn Cgroups, id: &str) -> bool {
    let Ok(paths) = cgroups.paths(id) else {
        return false;
    };
    paths
        .procs_files
        .iter()
        .filter_map(|procs| procs.parent())
        .flat_map(|dir| ["memory.oom_control", "memory.events"].map(|file| dir.join(file)))
        .filter_map(|file| fs::read_to_string(file).ok())
        .any(|text| oom_kills(&text) > 0)
}

/// The `oom_kill` count of a `memory.oom_control` or `memory.events` file.
fn oom_kills(text: &str) -> u64 {
    text.lines()
        .filter_map(|line| line.strip_prefix("oom_kill "))
        .filter_map(|count| count.trim().parse::<u64>().ok())
        .sum()
}

/// Whether the OOM killer struck a cgroup that will be gone by the time anyone asks. On cgroup
/// v1 the kernel signals an eventfd registered on the cgroup's `memory.oom_control` when an OOM
/// strikes, and again when the cgroup is removed: a signal while the cgroup exists, or two, is
/// an OOM; one that finds it gone is its removal, unless a second (the removal after an OOM)
/// follows within [`SETTLE`]. A task waits on it; without v1's notifications there is no OOM
/// to report.
#[derive(Debug, Default)]
pub(crate) struct OomWatch(Option<JoinHandle<bool>>);

/// How long the removal's signal may trail an OOM's.
const SETTLE: Duration = Duration::from_millis(500);

impl OomWatch {
    /// Starts watching the memory cgroup among `paths`, if notifications can be registered.
    pub(crate) fn start(paths: &CgroupPaths, tokio: &Handle) -> Self {
        let Some(dir) = paths
            .procs_files
            .iter()
            .filter_map(|procs| procs.parent())
            .find(|dir| dir.join("memory.oom_control").exists())
        else {
            return Self::default();
        };
        let _runtime = tokio.enter();
        match register(dir) {
            Ok(events) => Self(Some(tokio.spawn(verdict(events, dir.to_path_buf())))),
            Err(error) => {
                tracing::warn!(dir = %dir.display(), %error, "cannot watch a container for OOM kills");
                Self::default()
            }
        }
    }

    /// Whether an OOM ended the container, which `killed` says SIGKILL ended (the only way
    /// an OOM ends one); waits for the verdict only then.
    pub(crate) async fn oom_killed(self, killed: bool) -> bool {
        let Some(task) = self.0 else {
            return false;
        };
        if !killed {
            task.abort();
            return false;
        }
        let abort = task.abort_handle();
        match tokio::time::timeout(SETTLE * 2, task).await {
            Ok(verdict) => verdict.unwrap_or(false),
            Err(_) => {
                abort.abort();
                false
            }
        }
    }
}

/// Registers an eventfd for the OOMs of the v1 memory cgroup `dir`.
fn register(dir: &Path) -> std::io::Result<AsyncFd<File>> {
    let events = File::from(eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?);
    let control = File::open(dir.join("memory.oom_control"))?;
    let mut register = fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.event_control"))?;
    // One write: the kernel parses each write as a whole line.
    register.write_all(format!("{} {}", events.as_raw_fd(), control.as_raw_fd()).as_bytes())?;
    // SAFETY: the File owns its descriptor for as long as the AsyncFd owns the File, and
    // always answers the same one.
    unsafe { AsyncFd::register_with_interest(events, Interest::READABLE) }.map_err(Into::into)
}

async fn verdict(events: AsyncFd<File>, dir: PathBuf) -> bool {
    let Ok(first) = signals(&events).await else {
        return false;
    };
    if first >= 2 || dir.exists() {
        return true;
    }
    tokio::time::timeout(SETTLE, signals(&events)).await.is_ok()
}

/// The signals since the last read, once there are some.
async fn signals(events: &AsyncFd<File>) -> std::io::Result<u64> {
    loop {
        let mut ready = events.readable().await?;
        let mut count = [0u8; 8];
        match ready.try_io(|events| events.get_ref().read_exact(&mut count)) {
            Ok(read) => return read.map(|()| u64::from_ne_bytes(count)),
            Err(_would_block) => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_come_from_either_file() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        let v2 = "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(oom_kills(v1), 2);
        assert_eq!(oom_kills(v2), 1);
        assert_eq!(oom_kills("oom_kill_disable 0\nunder_oom 0\n"), 0);
    }
}
