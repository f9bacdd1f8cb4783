//! What /proc says about one process: whether it still exists, how much memory it holds and how
//! much CPU time it used. The root of procfs is a parameter so the parsing is tested on fixture
//! files.

use std::fs;
use std::path::Path;
use std::time::Duration;

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

/// The CPU time `pid` used so far, user and system, over all its threads (`utime + stime` of
/// `/proc/PID/stat`, counted in clock ticks).
pub fn cpu_time(proc_root: &Path, pid: u32) -> Result<Duration> {
    let path = proc_root.join(pid.to_string()).join("stat");
    let stat =
        fs::read_to_string(&path).with_context(|| format!("could not read {}", path.display()))?;
    let ticks = parse_cpu_ticks(&stat)
        .with_context(|| format!("no utime and stime fields in {}", path.display()))?;
    let per_second = procfs::ticks_per_second().max(1);
    Ok(Duration::from_secs_f64(ticks as f64 / per_second as f64))
}

/// `utime + stime` (fields 14 and 15) of a stat file. The command name (field 2) is in
/// parentheses and may hold spaces and parentheses itself, so fields are counted from the last
/// `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
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
    fn reads_cpu_ticks_after_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 2870 0 0 0 \
                    1234 567 0 0 20 0 3 0 99 12345678 4567 18446744073709551615\n";
        assert_eq!(parse_cpu_ticks(stat), Some(1234 + 567));
        assert_eq!(parse_cpu_ticks("4242 (cut) S 1 2"), None);
        assert_eq!(parse_cpu_ticks("no name at all"), None);
    }

    #[test]
    fn this_process_exists_in_the_real_proc() {
        assert!(process_exists(Path::new(PROC), std::process::id()));
        assert!(resident_kib(Path::new(PROC), std::process::id()).unwrap() > 0);
    }

    #[test]
    fn this_process_cpu_time_grows_while_it_computes() {
        let this = std::process::id();
        let before = cpu_time(Path::new(PROC), this).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut sum = 0u64;
        while cpu_time(Path::new(PROC), this).unwrap() <= before {
            assert!(std::time::Instant::now() < deadline, "no CPU time counted");
            sum = (0..100_000u64).fold(sum, |acc, x| acc.wrapping_mul(31).wrapping_add(x));
        }
        std::hint::black_box(sum);
    }
}
