//! Whether processes are stopped, read from `/proc/PID/stat`, so that pause and resume return
//! only once the kernel has acted on the signal.

use std::fs;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::wait::{Observation, poll_until};

/// How long pause and resume wait for every process to change state.
pub const STATE_PATIENCE: Duration = Duration::from_secs(10);
/// How often they look meanwhile.
const STATE_POLL: Duration = Duration::from_millis(5);

/// The state letter of a `/proc/PID/stat` line (`R`, `S`, `T`, `Z`, ...). It follows the
/// command name, which is in parentheses and may itself hold spaces and parentheses.
pub fn parse_state(stat: &str) -> Option<char> {
    let (_, after_name) = stat.rsplit_once(')')?;
    after_name.trim_start().chars().next()
}

/// The state of `pid`, or `None` once it has gone.
fn state(proc_root: &Path, pid: u32) -> Option<char> {
    let stat = fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
    parse_state(&stat)
}

/// Waits up to `patience` until each of `pids` is stopped (`stopped`) or no longer stopped
/// (`!stopped`); a process that exits or becomes a zombie meanwhile no longer counts.
pub fn wait_all(proc_root: &Path, pids: &[u32], stopped: bool, patience: Duration) -> Result<()> {
    let wanted = if stopped { "stopped" } else { "running" };
    poll_until(patience, STATE_POLL, || {
        let pending: Vec<(u32, char)> = pids
            .iter()
            .filter_map(|&pid| state(proc_root, pid).map(|state| (pid, state)))
            .filter(|&(_, state)| state != 'Z' && (state == 'T') != stopped)
            .collect();
        Ok(if pending.is_empty() {
            Observation::Done
        } else {
            Observation::Waiting(format!("not yet {wanted} (pid, state): {pending:?}"))
        })
    })
    .with_context(|| format!("processes {pids:?} did not become {wanted}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_state_after_the_command_name() {
        assert_eq!(parse_state("7314 (sleep) T 7296 7293 0"), Some('T'));
        assert_eq!(parse_state("42 (a (b) c) S 1 42 42"), Some('S'));
        assert_eq!(parse_state("garbage"), None);
        assert_eq!(parse_state("1 (x)"), None);
    }

    fn fixture(proc_root: &Path, pid: u32, state: char) {
        let dir = proc_root.join(pid.to_string());
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("stat"), format!("{pid} (httpd) {state} 1 1 1")).unwrap();
    }

    #[test]
    fn waits_for_stopped_processes_and_ignores_gone_and_zombie_ones() {
        let proc_root = tempfile::tempdir().unwrap();
        fixture(proc_root.path(), 10, 'T');
        fixture(proc_root.path(), 11, 'Z');
        wait_all(proc_root.path(), &[10, 11, 12], true, STATE_PATIENCE).unwrap();
        fixture(proc_root.path(), 10, 'S');
        wait_all(proc_root.path(), &[10, 11, 12], false, STATE_PATIENCE).unwrap();
    }

    #[test]
    fn reports_which_process_did_not_change_state() {
        let proc_root = tempfile::tempdir().unwrap();
        fixture(proc_root.path(), 20, 'R');
        let error = wait_all(proc_root.path(), &[20], true, Duration::ZERO).unwrap_err();
        let message = format!("{error:#}");
        assert!(
            message.starts_with("processes [20] did not become stopped"),
            "{message}"
        );
        assert!(message.contains("(20, 'R')"), "{message}");
    }
}
