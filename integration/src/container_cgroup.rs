//! Reads what the kernel enforces on one running container: its memory limit, CPU quota, pids
//! limit and processes, from its cgroup `<cgroup root>/<container id>` on a v1 or v2 host.
//!
//! The tests check the kernel's files rather than flotilla's own status because the point is
//! that the limits are really applied. The filesystem root is a parameter so that the parsing of
//! both layouts is tested on fixture directories.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cgroup_tree::{self, hierarchy_dirs};
use crate::objects::ContainerId;

/// A CFS bandwidth limit: `quota_us` of CPU time per `period_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuQuota {
    pub quota_us: u64,
    pub period_us: u64,
}

/// The cgroup of one container, in every hierarchy it lives in.
#[derive(Debug, Clone)]
pub struct ContainerCgroup {
    fs_root: PathBuf,
    relative: PathBuf,
}

impl ContainerCgroup {
    /// The cgroup of `container` under cgroup root `cgroup_root`, below the mount point
    /// `fs_root` (normally [`cgroup_tree::CGROUP_FS`]).
    pub fn new(fs_root: &Path, cgroup_root: &str, container: &ContainerId) -> Self {
        Self {
            fs_root: fs_root.to_path_buf(),
            relative: Path::new(cgroup_root).join(container.as_str()),
        }
    }

    /// The memory limit in bytes; `None` when unlimited (`max` on v2).
    pub fn memory_limit_bytes(&self) -> Result<Option<u64>> {
        if self.unified() {
            parse_limit(&self.read_unified("memory.max")?)
        } else {
            parse_limit(&self.read_v1("memory", "memory.limit_in_bytes")?)
        }
    }

    /// The CPU bandwidth limit; `None` when unlimited.
    pub fn cpu_quota(&self) -> Result<Option<CpuQuota>> {
        if self.unified() {
            parse_cpu_max(&self.read_unified("cpu.max")?)
        } else {
            let quota = self.read_v1("cpu", "cpu.cfs_quota_us")?;
            let period = self.read_v1("cpu", "cpu.cfs_period_us")?;
            parse_cfs(&quota, &period)
        }
    }

    /// The process-count limit (`pids.max`); `None` when unlimited.
    pub fn pids_max(&self) -> Result<Option<u64>> {
        if self.unified() {
            parse_limit(&self.read_unified("pids.max")?)
        } else {
            parse_limit(&self.read_v1("pids", "pids.max")?)
        }
    }

    /// Every pid in the cgroup, across all hierarchies, sorted and without repeats.
    pub fn pids(&self) -> Result<Vec<u32>> {
        let mut pids = Vec::new();
        for dir in hierarchy_dirs(&self.fs_root, &self.relative) {
            pids.extend(cgroup_tree::procs_in(&dir)?);
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Fails, listing where, if the cgroup still exists in any hierarchy.
    pub fn ensure_gone(&self) -> Result<()> {
        cgroup_tree::ensure_gone(&self.fs_root, &self.relative)
    }

    fn unified(&self) -> bool {
        self.fs_root.join("cgroup.controllers").is_file()
    }

    fn read_unified(&self, file: &str) -> Result<String> {
        read(&self.fs_root.join(&self.relative).join(file))
    }

    fn read_v1(&self, controller: &str, file: &str) -> Result<String> {
        read(
            &self
                .fs_root
                .join(controller)
                .join(&self.relative)
                .join(file),
        )
    }
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))
}

/// A limit as written in `memory.max`, `memory.limit_in_bytes` or `pids.max`: a number or `max`.
fn parse_limit(text: &str) -> Result<Option<u64>> {
    match text.trim() {
        "max" => Ok(None),
        number => number
            .parse()
            .map(Some)
            .with_context(|| format!("not a byte limit: {number:?}")),
    }
}

/// v2 `cpu.max`: `"<quota|max> <period>"`.
fn parse_cpu_max(text: &str) -> Result<Option<CpuQuota>> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [quota, period] = fields.as_slice() else {
        bail!("cpu.max is not `<quota> <period>`: {text:?}");
    };
    if *quota == "max" {
        return Ok(None);
    }
    Ok(Some(CpuQuota {
        quota_us: quota
            .parse()
            .with_context(|| format!("not a CPU quota: {quota:?}"))?,
        period_us: period
            .parse()
            .with_context(|| format!("not a CPU period: {period:?}"))?,
    }))
}

/// v1 `cpu.cfs_quota_us` (`-1` = unlimited) and `cpu.cfs_period_us`.
fn parse_cfs(quota: &str, period: &str) -> Result<Option<CpuQuota>> {
    let quota: i64 = quota
        .trim()
        .parse()
        .with_context(|| format!("not a CFS quota: {quota:?}"))?;
    let period: u64 = period
        .trim()
        .parse()
        .with_context(|| format!("not a CFS period: {period:?}"))?;
    Ok(u64::try_from(quota).ok().map(|quota_us| CpuQuota {
        quota_us,
        period_us: period,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: PathBuf, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn reads_limits_and_pids_on_a_v1_host() {
        let fs_root = tempfile::tempdir().unwrap();
        let base = fs_root.path();
        write(
            base.join("memory/flo/abc/memory.limit_in_bytes"),
            "67108864\n",
        );
        write(base.join("memory/flo/abc/cgroup.procs"), "41\n42\n");
        write(base.join("cpu/flo/abc/cpu.cfs_quota_us"), "25000\n");
        write(base.join("cpu/flo/abc/cpu.cfs_period_us"), "100000\n");
        write(base.join("cpu/flo/abc/cgroup.procs"), "42\n");

        let cgroup = ContainerCgroup::new(base, "flo", &ContainerId::new("abc"));
        assert_eq!(cgroup.memory_limit_bytes().unwrap(), Some(67_108_864));
        assert_eq!(
            cgroup.cpu_quota().unwrap(),
            Some(CpuQuota {
                quota_us: 25_000,
                period_us: 100_000
            })
        );
        assert_eq!(cgroup.pids().unwrap(), vec![41, 42]);
        assert!(cgroup.ensure_gone().is_err());
    }

    #[test]
    fn reads_limits_on_a_v2_host() {
        let fs_root = tempfile::tempdir().unwrap();
        let base = fs_root.path();
        write(base.join("cgroup.controllers"), "cpu memory pids\n");
        write(base.join("flo/abc/memory.max"), "max\n");
        write(base.join("flo/abc/cpu.max"), "25000 100000\n");
        write(base.join("flo/abc/cgroup.procs"), "7\n");

        let cgroup = ContainerCgroup::new(base, "flo", &ContainerId::new("abc"));
        assert_eq!(cgroup.memory_limit_bytes().unwrap(), None);
        assert_eq!(
            cgroup.cpu_quota().unwrap(),
            Some(CpuQuota {
                quota_us: 25_000,
                period_us: 100_000
            })
        );
        assert_eq!(cgroup.pids().unwrap(), vec![7]);
    }

    #[test]
    fn unlimited_and_malformed_values() {
        assert_eq!(parse_cpu_max("max 100000").unwrap(), None);
        assert_eq!(parse_cfs("-1", "100000").unwrap(), None);
        assert!(parse_cpu_max("25000").is_err());
        assert!(parse_limit("lots").is_err());
        assert!(parse_cfs("x", "100000").is_err());
    }

    #[test]
    fn a_missing_cgroup_is_reported_gone_and_its_files_unreadable() {
        let fs_root = tempfile::tempdir().unwrap();
        let cgroup = ContainerCgroup::new(fs_root.path(), "flo", &ContainerId::new("zzz"));
        assert!(cgroup.ensure_gone().is_ok());
        assert!(cgroup.pids().unwrap().is_empty());
        let error = cgroup.memory_limit_bytes().unwrap_err();
        assert!(
            error.to_string().contains("memory.limit_in_bytes"),
            "{error}"
        );
    }
}
