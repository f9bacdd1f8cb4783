//! cgroups on the real kernel, driven through cgroups-rs 0.3.
//!
//! The version is detected once: a cgroup2 file system at `/sys/fs/cgroup` means a pure v2
//! host, anything else is treated as v1 (including hybrid hosts, which mount cgroup2 only at
//! `/sys/fs/cgroup/unified`, usually without controllers). cgroups-rs handles creating,
//! writing limits, listing processes and deleting, for both versions. Two things are done
//! beside it, each explained where it happens: reading the v1 memory limit (cgroups-rs turns a
//! failed read into 0) and killing processes on hosts without `cgroup.kill`.
//!
//! cgroups-rs hierarchies are cheap to build (one read of `/proc/self/mountinfo`), so a fresh
//! handle is loaded per call instead of keeping handles that could go stale.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use cgroups_rs::cpu::CpuController;
use cgroups_rs::cpuacct::CpuAcctController;
use cgroups_rs::hierarchies::{self, UNIFIED_MOUNTPOINT, V1, V2};
use cgroups_rs::memory::MemController;
use cgroups_rs::pid::PidController;
use cgroups_rs::{
    Cgroup, ControllIdentifier, Controller, Controllers, Hierarchy, MaxValue, Subsystem,
};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::limits::{
    memory_from_v1, quota_from_kernel, shares_from_v1, shares_from_v2, v1_shares, v2_weight,
};
use super::usage::read_usage;
use super::{CgroupError, CgroupPaths, CgroupUsage, Cgroups, ResourceLimits, check_name};
use crate::component::component_problem;

/// The controllers we use on cgroup v1, each its own hierarchy (or co-mounted).
const V1_CONTROLLERS: [&str; 4] = ["memory", "cpu", "cpuacct", "pids"];

/// The controllers we use on cgroup v2 (CPU accounting is part of `cpu` there).
const V2_CONTROLLERS: [&str; 3] = ["memory", "cpu", "pids"];

/// How many times [`SystemCgroups::kill_all`] re-reads the cgroup for processes forked while
/// it was signalling, on hosts without `cgroup.kill`.
const KILL_ROUNDS: usize = 16;

/// Which cgroup interface the host offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

impl fmt::Display for CgroupVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CgroupVersion::V1 => "cgroup v1",
            CgroupVersion::V2 => "cgroup v2",
        })
    }
}

/// The kernel's cgroups under one root, e.g. `flotilla` for `/sys/fs/cgroup/<controller>/flotilla`
/// on v1 or `/sys/fs/cgroup/flotilla` on v2.
#[derive(Debug)]
pub struct SystemCgroups {
    root: String,
    version: CgroupVersion,
}

impl SystemCgroups {
    /// Detects the cgroup version and checks that every controller we use is there.
    /// `root_name` is one or more safe path components separated by `/`.
    pub fn new(root_name: &str) -> Result<Self, CgroupError> {
        if let Some(reason) = root_name.split('/').find_map(component_problem) {
            return Err(CgroupError::InvalidName {
                name: root_name.to_string(),
                reason,
            });
        }
        Ok(Self {
            root: root_name.to_string(),
            version: detect_version()?,
        })
    }

    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    pub fn root_name(&self) -> &str {
        &self.root
    }

    /// Removes the (last component of the) root itself; fails while cgroups remain under it.
    pub fn remove_root(&self) -> Result<(), CgroupError> {
        let children = self.list()?;
        if !children.is_empty() {
            return Err(CgroupError::RootNotEmpty {
                root: self.root.clone(),
                children,
            });
        }
        let root = self.load(&self.root);
        if !root.exists() {
            return Ok(());
        }
        root.delete().map_err(|source| CgroupError::Remove {
            name: self.root.clone(),
            source: Box::new(source),
        })
    }

    fn hierarchy(&self) -> Box<dyn Hierarchy> {
        match self.version {
            CgroupVersion::V1 => Box::new(V1::new()),
            CgroupVersion::V2 => Box::new(V2::new()),
        }
    }

    fn controllers(&self) -> Vec<String> {
        let names: &[&str] = match self.version {
            CgroupVersion::V1 => &V1_CONTROLLERS,
            CgroupVersion::V2 => &V2_CONTROLLERS,
        };
        names.iter().map(|name| name.to_string()).collect()
    }

    /// A handle on the cgroup at `relative` (below each hierarchy's mount point).
    fn load(&self, relative: &str) -> Cgroup {
        Cgroup::load_with_specified_controllers(self.hierarchy(), relative, self.controllers())
    }

    fn group(&self, name: &str) -> Result<Cgroup, CgroupError> {
        check_name(name)?;
        Ok(self.load(&format!("{}/{}", self.root, name)))
    }

    fn existing(&self, name: &str) -> Result<Cgroup, CgroupError> {
        let group = self.group(name)?;
        if group.exists() {
            Ok(group)
        } else {
            Err(CgroupError::NotFound {
                name: name.to_string(),
            })
        }
    }

    fn apply(
        &self,
        name: &str,
        group: &Cgroup,
        limits: &ResourceLimits,
    ) -> Result<(), CgroupError> {
        let memory = to_signed(name, "memory limit", limits.memory_bytes)?.unwrap_or(-1);
        controller::<MemController>(group, "memory", self.version)?
            .set_limit(memory)
            .map_err(|source| apply_error(name, "memory limit", memory, source))?;

        let cpu = controller::<CpuController>(group, "cpu", self.version)?;
        let quota = limits.cpu_quota_micros.unwrap_or(-1);
        let period = limits.cpu_period_micros;
        cpu.set_cfs_quota_and_period(Some(quota), Some(period))
            .map_err(|source| {
                apply_error(
                    name,
                    "cpu quota/period",
                    format!("{quota}/{period}"),
                    source,
                )
            })?;
        let (setting, weight) = match self.version {
            CgroupVersion::V1 => ("cpu shares", v1_shares(limits.cpu_shares)),
            CgroupVersion::V2 => ("cpu weight", v2_weight(limits.cpu_shares)),
        };
        cpu.set_shares(weight)
            .map_err(|source| apply_error(name, setting, weight, source))?;

        let pids_max =
            to_signed(name, "pids limit", limits.pids_max)?.map_or(MaxValue::Max, MaxValue::Value);
        controller::<PidController>(group, "pids", self.version)?
            .set_pid_max(pids_max)
            .map_err(|source| apply_error(name, "pids limit", pids_max, source))
    }

    fn read_limits(&self, name: &str, group: &Cgroup) -> Result<ResourceLimits, CgroupError> {
        let read_error = |setting: &'static str| {
            move |source| CgroupError::ReadSetting {
                name: name.to_string(),
                setting,
                source: Box::new(source),
            }
        };
        let memory = controller::<MemController>(group, "memory", self.version)?;
        let memory_bytes = match self.version {
            // cgroups-rs reads the v1 limit only inside `memory_stat()`, which turns a failed
            // read into 0 (a limit of nothing), so the file is read here.
            CgroupVersion::V1 => {
                memory_from_v1(read_u64(&memory.path().join("memory.limit_in_bytes"))?)
            }
            CgroupVersion::V2 => {
                let max = memory.get_mem().map_err(read_error("memory limit"))?.max;
                non_negative(max, &memory.path().join("memory.max"))?
            }
        };

        let cpu = controller::<CpuController>(group, "cpu", self.version)?;
        let quota = cpu.cfs_quota().map_err(read_error("cpu quota"))?;
        let period = cpu.cfs_period().map_err(read_error("cpu period"))?;
        let weight = cpu.shares().map_err(read_error("cpu shares"))?;
        let cpu_shares = match self.version {
            CgroupVersion::V1 => shares_from_v1(weight),
            CgroupVersion::V2 => shares_from_v2(weight),
        };

        let pids = controller::<PidController>(group, "pids", self.version)?;
        let pids_max = pids.get_pid_max().map_err(read_error("pids limit"))?;

        Ok(ResourceLimits {
            memory_bytes,
            cpu_quota_micros: quota_from_kernel(quota),
            cpu_period_micros: period,
            pids_max: non_negative(Some(pids_max), &pids.path().join("pids.max"))?,
            cpu_shares,
        })
    }
}

impl Cgroups for SystemCgroups {
    fn create(&self, name: &str, limits: &ResourceLimits) -> Result<CgroupPaths, CgroupError> {
        check_name(name)?;
        let group = Cgroup::new_with_specified_controllers(
            self.hierarchy(),
            format!("{}/{}", self.root, name),
            Some(self.controllers()),
        )
        .map_err(|source| CgroupError::Create {
            name: name.to_string(),
            source: Box::new(source),
        })?;
        let dirs = directories(&group);
        if let Some(missing) = dirs.iter().find(|dir| !dir.is_dir()) {
            return Err(CgroupError::NotCreated {
                name: name.to_string(),
                path: missing.clone(),
            });
        }
        self.apply(name, &group, limits)?;
        Ok(CgroupPaths {
            procs_files: dirs.iter().map(|dir| dir.join("cgroup.procs")).collect(),
            relative: format!("/{}/{name}", self.root),
        })
    }

    fn paths(&self, name: &str) -> Result<CgroupPaths, CgroupError> {
        let group = self.existing(name)?;
        Ok(CgroupPaths {
            procs_files: directories(&group)
                .iter()
                .map(|dir| dir.join("cgroup.procs"))
                .collect(),
            relative: format!("/{}/{name}", self.root),
        })
    }

    fn pids(&self, name: &str) -> Result<Vec<u32>, CgroupError> {
        let group = self.existing(name)?;
        // Keep only pids that are also valid `pid_t`s, so signalling one never turns into
        // signalling a process group.
        Ok(group
            .procs()
            .into_iter()
            .filter_map(|pid| i32::try_from(pid.pid).ok())
            .filter(|&pid| pid > 0)
            .map(|pid| pid.unsigned_abs())
            .collect())
    }

    fn kill_all(&self, name: &str) -> Result<(), CgroupError> {
        let group = self.group(name)?;
        if !group.exists() {
            return Ok(());
        }
        if self.version == CgroupVersion::V2
            && directories(&group)
                .iter()
                .any(|dir| dir.join("cgroup.kill").exists())
        {
            return group.kill().map_err(|source| CgroupError::KillFile {
                name: name.to_string(),
                source: Box::new(source),
            });
        }
        // Without cgroup.kill (v1, or v2 before Linux 5.14) each process is signalled, and the
        // cgroup re-read for children forked in the meantime.
        let mut signalled = BTreeSet::new();
        for _ in 0..KILL_ROUNDS {
            let fresh: Vec<u32> = self
                .pids(name)?
                .into_iter()
                .filter(|pid| !signalled.contains(pid))
                .collect();
            if fresh.is_empty() {
                break;
            }
            for pid in fresh {
                let Ok(raw) = i32::try_from(pid) else {
                    continue;
                };
                match kill(Pid::from_raw(raw), Signal::SIGKILL) {
                    Ok(()) | Err(Errno::ESRCH) => {}
                    Err(source) => {
                        return Err(CgroupError::Kill {
                            name: name.to_string(),
                            pid,
                            source,
                        });
                    }
                }
                signalled.insert(pid);
            }
        }
        Ok(())
    }

    fn remove(&self, name: &str) -> Result<(), CgroupError> {
        let group = self.group(name)?;
        if !group.exists() {
            return Ok(());
        }
        let pids = self.pids(name)?;
        if !pids.is_empty() {
            return Err(CgroupError::Busy {
                name: name.to_string(),
                pids,
            });
        }
        group.delete().map_err(|source| CgroupError::Remove {
            name: name.to_string(),
            source: Box::new(source),
        })
    }

    fn list(&self) -> Result<Vec<String>, CgroupError> {
        let mut names = BTreeSet::new();
        for dir in directories(&self.load(&self.root)) {
            let list_error = |source| CgroupError::List {
                path: dir.clone(),
                source,
            };
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(error) if error.kind() == ErrorKind::NotFound => continue,
                Err(error) => return Err(list_error(error)),
            };
            for entry in entries {
                let entry = entry.map_err(list_error)?;
                if !entry.file_type().map_err(list_error)?.is_dir() {
                    continue;
                }
                if let Some(name) = entry.file_name().to_str()
                    && component_problem(name).is_none()
                {
                    names.insert(name.to_string());
                }
            }
        }
        Ok(names.into_iter().collect())
    }

    fn limits(&self, name: &str) -> Result<ResourceLimits, CgroupError> {
        let group = self.existing(name)?;
        self.read_limits(name, &group)
    }

    fn usage(&self, name: &str) -> Result<CgroupUsage, CgroupError> {
        let group = self.existing(name)?;
        let memory = controller::<MemController>(&group, "memory", self.version)?.path();
        let cpu = match self.version {
            CgroupVersion::V1 => {
                controller::<CpuAcctController>(&group, "cpuacct", self.version)?.path()
            }
            CgroupVersion::V2 => controller::<CpuController>(&group, "cpu", self.version)?.path(),
        };
        read_usage(self.version, cpu, memory)
    }
}

fn detect_version() -> Result<CgroupVersion, CgroupError> {
    if hierarchies::is_cgroup2_unified_mode() {
        let path = Path::new(UNIFIED_MOUNTPOINT).join("cgroup.controllers");
        let available =
            fs::read_to_string(&path).map_err(|source| CgroupError::ReadFile { path, source })?;
        if let Some(controller) = V2_CONTROLLERS
            .iter()
            .find(|wanted| !available.split_whitespace().any(|c| c == **wanted))
        {
            return Err(CgroupError::MissingController {
                controller,
                version: CgroupVersion::V2,
            });
        }
        return Ok(CgroupVersion::V2);
    }
    let v1 = V1::new();
    let missing: Vec<&'static str> = V1_CONTROLLERS
        .iter()
        .zip([
            Controllers::Mem,
            Controllers::Cpu,
            Controllers::CpuAcct,
            Controllers::Pids,
        ])
        .filter(|(_, controller)| v1.get_mount_point(controller.clone()).is_none())
        .map(|(name, _)| *name)
        .collect();
    match missing.first() {
        None => Ok(CgroupVersion::V1),
        Some(_) if missing.len() == V1_CONTROLLERS.len() => Err(CgroupError::NoCgroupFs),
        Some(controller) => Err(CgroupError::MissingController {
            controller,
            version: CgroupVersion::V1,
        }),
    }
}

/// The directories of a cgroup, one per hierarchy (co-mounted controllers share one).
fn directories(group: &Cgroup) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = group
        .subsystems()
        .iter()
        .map(|subsystem| subsystem.to_controller().path().to_path_buf())
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

fn controller<'a, T>(
    group: &'a Cgroup,
    name: &'static str,
    version: CgroupVersion,
) -> Result<&'a T, CgroupError>
where
    &'a T: From<&'a Subsystem>,
    T: Controller + ControllIdentifier,
{
    group
        .controller_of::<T>()
        .ok_or(CgroupError::MissingController {
            controller: name,
            version,
        })
}

fn to_signed(
    name: &str,
    setting: &'static str,
    value: Option<u64>,
) -> Result<Option<i64>, CgroupError> {
    value
        .map(|v| {
            i64::try_from(v).map_err(|_| CgroupError::LimitOutOfRange {
                name: name.to_string(),
                setting,
                value: v,
            })
        })
        .transpose()
}

fn apply_error(
    name: &str,
    setting: &'static str,
    value: impl fmt::Display,
    source: cgroups_rs::error::Error,
) -> CgroupError {
    CgroupError::Apply {
        name: name.to_string(),
        setting,
        value: value.to_string(),
        source: Box::new(source),
    }
}

/// A `max`-or-number value as an optional limit; a negative number is not something the
/// kernel writes, so it is reported against `path`.
fn non_negative(value: Option<MaxValue>, path: &Path) -> Result<Option<u64>, CgroupError> {
    match value {
        None | Some(MaxValue::Max) => Ok(None),
        Some(MaxValue::Value(v)) => {
            u64::try_from(v)
                .map(Some)
                .map_err(|_| CgroupError::ParseFile {
                    path: path.to_path_buf(),
                    value: v.to_string(),
                })
        }
    }
}

pub(super) fn read_u64(path: &Path) -> Result<u64, CgroupError> {
    let text = fs::read_to_string(path).map_err(|source| CgroupError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    text.trim().parse().map_err(|_| CgroupError::ParseFile {
        path: path.to_path_buf(),
        value: text.trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use super::*;
    use crate::cgroups::test_root::TestRoot;

    fn limits() -> ResourceLimits {
        ResourceLimits {
            memory_bytes: Some(64 << 20),
            cpu_quota_micros: Some(50_000),
            cpu_period_micros: 200_000,
            pids_max: Some(32),
            cpu_shares: Some(512),
        }
    }

    fn kernel_file(paths: &CgroupPaths, file: &str) -> String {
        let dir = paths
            .procs_files
            .iter()
            .filter_map(|procs| procs.parent())
            .find(|dir| dir.join(file).exists())
            .unwrap_or_else(|| panic!("no {file} in {paths:?}"));
        fs::read_to_string(dir.join(file))
            .unwrap()
            .trim()
            .to_string()
    }

    #[test]
    fn rejects_unsafe_root_names() {
        for root in ["", "../x", "a//b", "/abs"] {
            assert!(
                matches!(
                    SystemCgroups::new(root),
                    Err(CgroupError::InvalidName { .. })
                ),
                "{root:?}"
            );
        }
    }

    #[test]
    fn creates_with_limits_and_reads_them_back_from_the_kernel() {
        let Some(root) = TestRoot::new() else { return };
        let cgroups = root.cgroups();
        let paths = cgroups.create("limits", &limits()).unwrap();
        let expected_files = match cgroups.version() {
            CgroupVersion::V1 => 3..=4,
            CgroupVersion::V2 => 1..=1,
        };
        assert!(
            expected_files.contains(&paths.procs_files.len()),
            "{paths:?}"
        );
        assert!(paths.procs_files.iter().all(|file| file.exists()));

        assert_eq!(cgroups.limits("limits").unwrap(), limits());
        match cgroups.version() {
            CgroupVersion::V1 => {
                assert_eq!(kernel_file(&paths, "memory.limit_in_bytes"), "67108864");
                assert_eq!(kernel_file(&paths, "cpu.cfs_quota_us"), "50000");
                assert_eq!(kernel_file(&paths, "cpu.cfs_period_us"), "200000");
                assert_eq!(kernel_file(&paths, "cpu.shares"), "512");
            }
            CgroupVersion::V2 => {
                assert_eq!(kernel_file(&paths, "memory.max"), "67108864");
                assert_eq!(kernel_file(&paths, "cpu.max"), "50000 200000");
            }
        }
        assert_eq!(kernel_file(&paths, "pids.max"), "32");
        assert_eq!(cgroups.list().unwrap(), vec!["limits".to_string()]);

        cgroups
            .create("limits", &ResourceLimits::default())
            .unwrap();
        assert_eq!(cgroups.limits("limits").unwrap(), ResourceLimits::default());
        assert_eq!(kernel_file(&paths, "pids.max"), "max");

        cgroups.remove("limits").unwrap();
        assert!(cgroups.list().unwrap().is_empty());
        assert!(matches!(
            cgroups.limits("limits"),
            Err(CgroupError::NotFound { .. })
        ));
    }

    #[test]
    fn kernel_refusals_are_reported_with_the_setting() {
        let Some(root) = TestRoot::new() else { return };
        let too_small_quota = ResourceLimits {
            cpu_quota_micros: Some(10),
            ..ResourceLimits::default()
        };
        match root.cgroups().create("bad", &too_small_quota) {
            Err(CgroupError::Apply { name, setting, .. }) => {
                assert_eq!(name, "bad");
                assert_eq!(setting, "cpu quota/period");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_cgroup_with_a_process_is_busy_until_killed() {
        let Some(root) = TestRoot::new() else { return };
        let cgroups = root.cgroups();
        let paths = cgroups.create("busy", &ResourceLimits::default()).unwrap();
        let mut child = Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        for file in &paths.procs_files {
            let mut procs = fs::OpenOptions::new().write(true).open(file).unwrap();
            write!(procs, "{}", child.id()).unwrap();
        }
        assert_eq!(cgroups.pids("busy").unwrap(), vec![child.id()]);
        assert!(matches!(
            cgroups.remove("busy"),
            Err(CgroupError::Busy { .. })
        ));

        cgroups
            .kill_and_remove("busy", Duration::from_secs(10))
            .unwrap();
        assert_eq!(child.wait().unwrap().signal(), Some(9));
        assert!(cgroups.list().unwrap().is_empty());
    }
}
