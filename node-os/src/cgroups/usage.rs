//! What a cgroup has used, read from the kernel's accounting files as the kubelet reads them
//! (through cAdvisor): the CPU time its processes used since it was created, and its memory
//! "working set" — memory in use minus the inactive file cache, which the kernel can take back
//! at once and which would otherwise make every container that reads files look big.
//!
//! | version | CPU time                   | memory in use           | inactive file cache                    |
//! |---------|----------------------------|-------------------------|----------------------------------------|
//! | v1      | `cpuacct.usage` (ns)       | `memory.usage_in_bytes` | `total_inactive_file` in `memory.stat` |
//! | v2      | `usage_usec` in `cpu.stat` | `memory.current`        | `inactive_file` in `memory.stat`       |
//!
//! The reader takes the controllers' directories, so tests run it on fixture files.

use std::fs;
use std::path::Path;

use super::system::read_u64;
use super::{CgroupError, CgroupVersion};

/// What one cgroup has used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CgroupUsage {
    /// CPU time its processes, past and present, have used since it was created, in
    /// nanoseconds; a rate needs two readings.
    pub cpu_usage_nanos: u64,
    /// Its working set now, in bytes: memory in use minus the inactive file cache.
    pub memory_bytes: u64,
}

/// Reads the usage of the cgroup whose CPU accounting is in `cpu_dir` (cpuacct's directory on
/// v1, the cgroup's only one on v2) and whose memory accounting is in `memory_dir`.
pub(super) fn read_usage(
    version: CgroupVersion,
    cpu_dir: &Path,
    memory_dir: &Path,
) -> Result<CgroupUsage, CgroupError> {
    let (cpu_usage_nanos, in_use, inactive_field) = match version {
        CgroupVersion::V1 => (
            read_u64(&cpu_dir.join("cpuacct.usage"))?,
            read_u64(&memory_dir.join("memory.usage_in_bytes"))?,
            "total_inactive_file",
        ),
        CgroupVersion::V2 => {
            let usage_usec = read_field(&cpu_dir.join("cpu.stat"), "usage_usec")?;
            (
                usage_usec.saturating_mul(1000),
                read_u64(&memory_dir.join("memory.current"))?,
                "inactive_file",
            )
        }
    };
    let inactive = read_field(&memory_dir.join("memory.stat"), inactive_field)?;
    Ok(CgroupUsage {
        cpu_usage_nanos,
        memory_bytes: in_use.saturating_sub(inactive),
    })
}

/// The value of `field` in the flat-keyed file at `path`.
fn read_field(path: &Path, field: &'static str) -> Result<u64, CgroupError> {
    let text = fs::read_to_string(path).map_err(|source| CgroupError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    parse_field(path, &text, field)
}

/// The value of `field` in the text of a flat-keyed file (`key value` lines), read from
/// `path`.
pub(super) fn parse_field(
    path: &Path,
    text: &str,
    field: &'static str,
) -> Result<u64, CgroupError> {
    let value = text
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once(' ')?;
            (key == field).then_some(value.trim())
        })
        .ok_or_else(|| CgroupError::MissingField {
            path: path.to_path_buf(),
            field,
        })?;
    value.parse().map_err(|_| CgroupError::ParseFile {
        path: path.to_path_buf(),
        value: value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::cgroups::test_root::TestRoot;
    use crate::cgroups::{Cgroups, ResourceLimits};

    /// The start of a real v1 `memory.stat`, with the hierarchical totals further down.
    const V1_MEMORY_STAT: &str = "cache 16588800\nrss 4055040\ninactive_file 339968\n\
                                  active_file 5697536\ntotal_cache 22170382336\n\
                                  total_inactive_file 1048576\n";
    const V2_MEMORY_STAT: &str = "anon 4055040\nfile 16588800\ninactive_anon 0\n\
                                  active_anon 4055040\ninactive_file 2097152\n";
    const V2_CPU_STAT: &str =
        "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\nnr_periods 0\n";

    fn write(dir: &Path, file: &str, text: &str) {
        fs::write(dir.join(file), text).unwrap();
    }

    #[test]
    fn v1_reads_cpuacct_and_the_working_set() {
        let cpu = tempfile::tempdir().unwrap();
        let memory = tempfile::tempdir().unwrap();
        write(cpu.path(), "cpuacct.usage", "123456789\n");
        write(memory.path(), "memory.usage_in_bytes", "5242880\n");
        write(memory.path(), "memory.stat", V1_MEMORY_STAT);
        let usage = read_usage(CgroupVersion::V1, cpu.path(), memory.path()).unwrap();
        assert_eq!(
            usage,
            CgroupUsage {
                cpu_usage_nanos: 123_456_789,
                // The hierarchical total_inactive_file, not the cgroup's own inactive_file.
                memory_bytes: 5_242_880 - 1_048_576,
            }
        );
    }

    #[test]
    fn v2_reads_cpu_stat_in_microseconds_and_the_working_set() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "cpu.stat", V2_CPU_STAT);
        write(dir.path(), "memory.current", "3145728\n");
        write(dir.path(), "memory.stat", V2_MEMORY_STAT);
        let usage = read_usage(CgroupVersion::V2, dir.path(), dir.path()).unwrap();
        assert_eq!(
            usage,
            CgroupUsage {
                cpu_usage_nanos: 1_500_000_000,
                memory_bytes: 1_048_576,
            }
        );
    }

    #[test]
    fn a_cache_larger_than_the_usage_is_no_memory_at_all() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "cpu.stat", V2_CPU_STAT);
        write(dir.path(), "memory.current", "1024\n");
        write(dir.path(), "memory.stat", V2_MEMORY_STAT);
        let usage = read_usage(CgroupVersion::V2, dir.path(), dir.path()).unwrap();
        assert_eq!(usage.memory_bytes, 0);
    }

    #[test]
    fn missing_files_and_lines_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let error = read_usage(CgroupVersion::V2, dir.path(), dir.path()).unwrap_err();
        assert!(
            error.to_string().ends_with("cpu.stat"),
            "{error}: names the file"
        );
        write(dir.path(), "cpu.stat", "user_usec 1\n");
        let error = read_usage(CgroupVersion::V2, dir.path(), dir.path()).unwrap_err();
        assert!(
            matches!(
                &error,
                CgroupError::MissingField {
                    field: "usage_usec",
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .ends_with("cpu.stat has no usage_usec line")
        );
    }

    #[test]
    fn fields_must_be_numbers() {
        let path = Path::new("memory.stat");
        assert_eq!(
            parse_field(path, V2_MEMORY_STAT, "inactive_file").unwrap(),
            2_097_152
        );
        assert!(matches!(
            parse_field(path, "inactive_file lots\n", "inactive_file"),
            Err(CgroupError::ParseFile { value, .. }) if value == "lots"
        ));
        // A field is matched whole, not by prefix.
        assert!(matches!(
            parse_field(path, "inactive_file_x 1\n", "inactive_file"),
            Err(CgroupError::MissingField { .. })
        ));
    }

    #[test]
    fn the_kernel_accounts_a_busy_process() {
        let Some(root) = TestRoot::new() else { return };
        let cgroups = root.cgroups();
        let paths = cgroups.create("usage", &ResourceLimits::default()).unwrap();
        assert_eq!(cgroups.usage("usage").unwrap().cpu_usage_nanos, 0);
        // The shell waits for a line, so it spins and execs `sleep` only once in the cgroup:
        // what it then uses is charged there.
        let mut child = Command::new("sh")
            .args([
                "-c",
                "read go; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 30",
            ])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        for file in &paths.procs_files {
            let mut procs = fs::OpenOptions::new().write(true).open(file).unwrap();
            write!(procs, "{}", child.id()).unwrap();
        }
        writeln!(child.stdin.take().unwrap(), "go").unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let usage = cgroups.usage("usage").unwrap();
            if usage.cpu_usage_nanos > 1_000_000 && usage.memory_bytes > 0 {
                break;
            }
            assert!(Instant::now() < deadline, "nothing accounted: {usage:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        cgroups
            .kill_and_remove("usage", Duration::from_secs(10))
            .unwrap();
        let _ = child.wait();
        assert!(matches!(
            cgroups.usage("usage"),
            Err(CgroupError::NotFound { .. })
        ));
    }
}
