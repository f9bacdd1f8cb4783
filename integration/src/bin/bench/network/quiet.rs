//! Waiting for a fleet to go quiet: until its flotilla processes (the server and the node
//! agents, found by their data dirs on their command lines) use almost no CPU, so that a timed
//! Service meets controllers and proxies that have finished with the batch before it, not
//! their backlog. Machine-wide load from other programs does not count.

use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use flotilla_integration::{PROC, cpu_time};

/// The window CPU use is measured over.
const WINDOW: Duration = Duration::from_secs(1);
/// Quiet: all the fleet's processes together used less than this much CPU in one window (5%
/// of a core).
const QUIET_CPU: Duration = Duration::from_millis(50);

/// Waits until the processes whose command line names a path under `dir` have been quiet for
/// one window; returns how long that took, or `None` if they were still busy after `limit`
/// (said on stderr: the benchmark goes on, and reports that it did not settle).
pub fn wait_quiet(dir: &Path, limit: Duration) -> Result<Option<Duration>> {
    let started = Instant::now();
    loop {
        let pids = processes_under(dir);
        if pids.is_empty() {
            bail!("no process of the fleet in {} is running", dir.display());
        }
        let before = total_cpu(&pids);
        thread::sleep(WINDOW);
        let used = total_cpu(&pids).saturating_sub(before);
        if used < QUIET_CPU {
            return Ok(Some(started.elapsed()));
        }
        if started.elapsed() >= limit {
            eprintln!(
                "bench: the fleet was still busy after {limit:?} ({used:?} of CPU in the last \
                 {WINDOW:?}); going on"
            );
            return Ok(None);
        }
    }
}

/// The CPU time `pids` have used so far (a process that is gone counts as nothing).
fn total_cpu(pids: &[u32]) -> Duration {
    pids.iter()
        .filter_map(|pid| cpu_time(Path::new(PROC), *pid).ok())
        .sum()
}

/// The processes with an argument that is `dir` or a path under it.
fn processes_under(dir: &Path) -> Vec<u32> {
    let Ok(entries) = fs::read_dir(PROC) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read(Path::new(PROC).join(pid.to_string()).join("cmdline")).is_ok_and(|line| {
                line.split(|byte| *byte == 0)
                    .any(|arg| Path::new(&*String::from_utf8_lossy(arg)).starts_with(dir))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_process_by_a_path_on_its_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("data");
        fs::write(&marker, "").unwrap();
        let mut child = std::process::Command::new("tail")
            .arg("-f")
            .arg(&marker)
            .spawn()
            .unwrap();
        // Until the child has exec'd `tail`, its command line is still this test's.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut found = processes_under(dir.path());
        while found.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            found = processes_under(dir.path());
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(found, [child.id()]);
    }
}
