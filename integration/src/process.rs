//! What /proc says about one process: whether it still exists and how much memory it holds.
//! The root of procfs is a parameter so the parsing is tested on fixture files.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

/// Where procfs is mounted.
pub const PROC: &str = "/proc";

/// Whether a process with this pid exists (a zombie still counts: it has not been reaped).
pub fn process_exists(proc_root: &Path, pid: u32) -> bool {
    proc_root.join(pid.to_string()).exists()
}

/// The resident set size of `pid` in KiB (`VmRSS` of `/proc/PID/status`).
pub fn resident_kib(proc_root: &Path, pid: u32) -> Result<u64> {
    let path = proc_root.join(pid.to_string()).join("status");
    let status =
        fs::read_to_string(&path).with_context(|| format!("could not read {}", path.display()))?;
    parse_vm_rss_kib(&status).with_context(|| format!("no VmRSS line in {}", path.display()))
}

/// The `VmRSS:   1234 kB` value of a status file.
fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss() {
        let status = "Name:\tflotilla\nVmPeak:\t  99999 kB\nVmRSS:\t   18432 kB\nThreads:\t9\n";
        assert_eq!(parse_vm_rss_kib(status), Some(18432));
        assert_eq!(parse_vm_rss_kib("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn reads_a_fixture_proc_tree() {
        let proc_root = tempfile::tempdir().unwrap();
        fs::create_dir(proc_root.path().join("42")).unwrap();
        fs::write(proc_root.path().join("42/status"), "VmRSS:\t 100 kB\n").unwrap();
        assert!(process_exists(proc_root.path(), 42));
        assert!(!process_exists(proc_root.path(), 43));
        assert_eq!(resident_kib(proc_root.path(), 42).unwrap(), 100);
        assert!(resident_kib(proc_root.path(), 43).is_err());
    }

    #[test]
    fn this_process_exists_in_the_real_proc() {
        assert!(process_exists(Path::new(PROC), std::process::id()));
        assert!(resident_kib(Path::new(PROC), std::process::id()).unwrap() > 0);
    }
}
