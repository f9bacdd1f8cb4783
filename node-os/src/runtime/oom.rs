//! Whether the kernel's OOM killer ended a container: its memory cgroup counts the processes
//! it killed (`oom_kill` in `memory.oom_control` on cgroup v1, in `memory.events` on v2), read
//! when the main process has exited and before the cgroup is removed.
//!
//! An OCI runtime removes the cgroup itself before its process (the one waited for) exits, so
//! for its containers an [`OomWatch`] asks the kernel beforehand to be told of an OOM.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::event::{EventfdFlags, eventfd};

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

/// Whether the OOM killer struck a cgroup that will be gone by the time anyone asks: on cgroup
/// v1 an eventfd registered on its `memory.oom_control` (the kernel signals it on an OOM, and
/// when the cgroup is removed), waited on by a thread of its own; an OOM is a signal while
/// the cgroup still exists. Without v1's notifications it never reports one.
#[derive(Debug, Clone, Default)]
pub(crate) struct OomWatch(Arc<AtomicBool>);

impl OomWatch {
    /// Starts watching the memory cgroup among `paths`, if notifications can be registered.
    pub(crate) fn start(paths: &CgroupPaths) -> Self {
        let watch = Self::default();
        let memory = paths
            .procs_files
            .iter()
            .filter_map(|procs| procs.parent())
            .find(|dir| dir.join("memory.oom_control").exists());
        if let Some(dir) = memory {
            match register(dir) {
                Ok(events) => {
                    let struck = Arc::clone(&watch.0);
                    let dir = dir.to_path_buf();
                    let spawned = std::thread::Builder::new()
                        .name("oom-watch".into())
                        .spawn(move || wait_for_oom(events, &dir, &struck));
                    if let Err(error) = spawned {
                        tracing::warn!(%error, "cannot watch a container for OOM kills");
                    }
                }
                Err(error) => {
                    tracing::warn!(dir = %dir.display(), %error, "cannot watch a container for OOM kills");
                }
            }
        }
        watch
    }

    pub(crate) fn oom_killed(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Registers an eventfd for the OOMs of the v1 memory cgroup `dir`.
fn register(dir: &Path) -> std::io::Result<File> {
    let events = File::from(eventfd(0, EventfdFlags::CLOEXEC)?);
    let control = File::open(dir.join("memory.oom_control"))?;
    let mut register = fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.event_control"))?;
    // One write: the kernel parses each write as a whole line.
    register.write_all(format!("{} {}", events.as_raw_fd(), control.as_raw_fd()).as_bytes())?;
    Ok(events)
}

fn wait_for_oom(mut events: File, dir: &Path, struck: &AtomicBool) {
    let mut count = [0u8; 8];
    if events.read_exact(&mut count).is_ok() && dir.exists() {
        struck.store(true, Ordering::Release);
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
