//! An in-memory [`Cgroups`] for unit tests of the runtime's and node agent's logic: it keeps
//! the limits it was given and lets a test place pids in a cgroup and set what it uses, with
//! the same name rules and the same errors as the real thing.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::{CgroupError, CgroupPaths, CgroupUsage, Cgroups, ResourceLimits, check_name};

/// In-memory cgroups: no kernel, no root needed.
#[derive(Debug, Default)]
pub struct FakeCgroups {
    groups: Mutex<BTreeMap<String, FakeGroup>>,
    /// How long killed processes take to go.
    linger: Duration,
}

#[derive(Debug)]
struct FakeGroup {
    limits: ResourceLimits,
    pids: Vec<u32>,
    usage: CgroupUsage,
    /// When its processes were first killed.
    killed_at: Option<Instant>,
}

impl FakeCgroups {
    pub fn new() -> Self {
        Self::default()
    }

    /// Cgroups whose killed processes take `linger` to go, as processes stuck in the kernel
    /// (uninterruptible I/O) do: removing such a cgroup waits that long.
    pub fn with_linger(linger: Duration) -> Self {
        Self {
            linger,
            ..Self::default()
        }
    }

    /// Puts `pid` in the cgroup `name`, as a process joining it would.
    pub fn add_pid(&self, name: &str, pid: u32) -> Result<(), CgroupError> {
        let mut groups = self.lock();
        let group = groups.get_mut(name).ok_or_else(|| not_found(name))?;
        if let Err(at) = group.pids.binary_search(&pid) {
            group.pids.insert(at, pid);
        }
        Ok(())
    }

    /// Sets what the cgroup `name` reports it has used.
    pub fn set_usage(&self, name: &str, usage: CgroupUsage) -> Result<(), CgroupError> {
        let mut groups = self.lock();
        let group = groups.get_mut(name).ok_or_else(|| not_found(name))?;
        group.usage = usage;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, FakeGroup>> {
        self.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Cgroups for FakeCgroups {
    fn create(&self, name: &str, limits: &ResourceLimits) -> Result<CgroupPaths, CgroupError> {
        check_name(name)?;
        self.lock()
            .entry(name.to_string())
            .and_modify(|group| group.limits = limits.clone())
            .or_insert_with(|| FakeGroup {
                limits: limits.clone(),
                pids: Vec::new(),
                usage: CgroupUsage::default(),
                killed_at: None,
            });
        Ok(CgroupPaths {
            procs_files: Vec::new(),
            relative: format!("/fake/{name}"),
        })
    }

    fn paths(&self, name: &str) -> Result<CgroupPaths, CgroupError> {
        self.lock().get(name).ok_or_else(|| not_found(name))?;
        Ok(CgroupPaths {
            procs_files: Vec::new(),
            relative: format!("/fake/{name}"),
        })
    }

    fn pids(&self, name: &str) -> Result<Vec<u32>, CgroupError> {
        self.lock()
            .get(name)
            .map(|group| group.pids.clone())
            .ok_or_else(|| not_found(name))
    }

    fn kill_all(&self, name: &str) -> Result<(), CgroupError> {
        let linger = self.linger;
        if let Some(group) = self.lock().get_mut(name) {
            let killed_at = *group.killed_at.get_or_insert_with(Instant::now);
            if killed_at.elapsed() >= linger {
                group.pids.clear();
            }
        }
        Ok(())
    }

    fn remove(&self, name: &str) -> Result<(), CgroupError> {
        let mut groups = self.lock();
        match groups.get(name) {
            Some(group) if !group.pids.is_empty() => Err(CgroupError::Busy {
                name: name.to_string(),
                pids: group.pids.clone(),
            }),
            _ => {
                groups.remove(name);
                Ok(())
            }
        }
    }

    fn list(&self) -> Result<Vec<String>, CgroupError> {
        Ok(self.lock().keys().cloned().collect())
    }

    fn limits(&self, name: &str) -> Result<ResourceLimits, CgroupError> {
        self.lock()
            .get(name)
            .map(|group| group.limits.clone())
            .ok_or_else(|| not_found(name))
    }

    fn usage(&self, name: &str) -> Result<CgroupUsage, CgroupError> {
        self.lock()
            .get(name)
            .map(|group| group.usage)
            .ok_or_else(|| not_found(name))
    }
}

fn not_found(name: &str) -> CgroupError {
    CgroupError::NotFound {
        name: name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits() -> ResourceLimits {
        ResourceLimits {
            memory_bytes: Some(64 << 20),
            pids_max: Some(10),
            ..ResourceLimits::default()
        }
    }

    #[test]
    fn create_keeps_limits_and_re_use_updates_them() {
        let cgroups = FakeCgroups::new();
        cgroups.create("a", &limits()).unwrap();
        assert_eq!(cgroups.limits("a").unwrap(), limits());
        cgroups.create("a", &ResourceLimits::default()).unwrap();
        assert_eq!(cgroups.limits("a").unwrap(), ResourceLimits::default());
        assert_eq!(cgroups.list().unwrap(), vec!["a".to_string()]);
    }

    #[test]
    fn rejects_unsafe_names() {
        let cgroups = FakeCgroups::new();
        assert!(matches!(
            cgroups.create("../etc", &limits()),
            Err(CgroupError::InvalidName { .. })
        ));
    }

    #[test]
    fn remove_refuses_while_processes_remain() {
        let cgroups = FakeCgroups::new();
        cgroups.create("a", &limits()).unwrap();
        cgroups.add_pid("a", 42).unwrap();
        cgroups.add_pid("a", 7).unwrap();
        assert_eq!(cgroups.pids("a").unwrap(), vec![7, 42]);
        match cgroups.remove("a") {
            Err(CgroupError::Busy { name, pids }) => {
                assert_eq!(name, "a");
                assert_eq!(pids, vec![7, 42]);
            }
            other => panic!("unexpected {other:?}"),
        }
        cgroups.kill_and_remove("a", Duration::ZERO).unwrap();
        assert!(cgroups.list().unwrap().is_empty());
        assert!(matches!(
            cgroups.pids("a"),
            Err(CgroupError::NotFound { .. })
        ));
    }

    #[test]
    fn lingering_processes_hold_up_removal_until_they_are_gone() {
        let linger = Duration::from_millis(50);
        let cgroups = FakeCgroups::with_linger(linger);
        cgroups.create("a", &limits()).unwrap();
        cgroups.add_pid("a", 42).unwrap();
        cgroups.kill_all("a").unwrap();
        assert!(matches!(cgroups.remove("a"), Err(CgroupError::Busy { .. })));
        cgroups
            .kill_and_remove("a", Duration::from_secs(10))
            .unwrap();
        assert!(cgroups.list().unwrap().is_empty());
    }

    #[test]
    fn usage_is_what_the_test_set() {
        let cgroups = FakeCgroups::new();
        cgroups.create("a", &limits()).unwrap();
        assert_eq!(cgroups.usage("a").unwrap(), CgroupUsage::default());
        let usage = CgroupUsage {
            cpu_usage_nanos: 5_000_000,
            memory_bytes: 12 << 20,
        };
        cgroups.set_usage("a", usage).unwrap();
        assert_eq!(cgroups.usage("a").unwrap(), usage);
        assert!(matches!(
            cgroups.usage("b"),
            Err(CgroupError::NotFound { .. })
        ));
    }

    #[test]
    fn missing_cgroups_have_nothing_to_kill_or_remove() {
        let cgroups = FakeCgroups::new();
        cgroups.kill_all("nope").unwrap();
        cgroups.remove("nope").unwrap();
        assert!(matches!(
            cgroups.add_pid("nope", 1),
            Err(CgroupError::NotFound { .. })
        ));
    }
}
