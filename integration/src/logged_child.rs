//! Child processes of the fixtures (`flotilla up`, `flotilla store serve`, etcd): started with
//! stdout and stderr appended to one log file across launches, and waited for until they are
//! ready — or until they exit, which a fixture reports with the log rather than a timeout.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::wait::{Observation, poll_until};

/// How many of a log's last lines a start failure quotes.
const LOG_TAIL_LINES: usize = 60;

/// Appends `header` to the log at `log_path`, then starts `command` writing to it.
pub fn spawn_logged(command: &mut Command, log_path: &Path, header: &str) -> Result<Child> {
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .with_context(|| format!("could not open {}", log_path.display()))?;
    writeln!(log, "==== {header} ====")
        .with_context(|| format!("could not write {}", log_path.display()))?;
    let stderr: File = log
        .try_clone()
        .with_context(|| format!("could not reopen {}", log_path.display()))?;
    command
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("could not start {:?}", command.get_program()))
}

/// How waiting for a child to be ready ended.
#[derive(Debug)]
enum Start {
    Ready,
    /// The child exited first.
    Exited(ExitStatus),
}

/// Polls `ready` until it is done or the child exits, within `timeout`.
fn wait_ready(
    child: &mut Child,
    timeout: Duration,
    poll: Duration,
    mut ready: impl FnMut() -> Result<Observation>,
) -> Result<Start> {
    let mut exited = None;
    poll_until(timeout, poll, || {
        if let Some(status) = child.try_wait().context("could not poll the process")? {
            exited = Some(status);
            return Ok(Observation::Done);
        }
        ready()
    })?;
    Ok(exited.map_or(Start::Ready, Start::Exited))
}

/// Waits as [`wait_ready`] does for the child in `slot` (`what`, logging to `log_path`) to
/// reach `goal`. An early exit (which empties `slot`) or a timeout is an error quoting the end of
/// the log.
pub fn wait_started(
    slot: &mut Option<Child>,
    what: &str,
    goal: &str,
    log_path: &Path,
    timeout: Duration,
    poll: Duration,
    ready: impl FnMut() -> Result<Observation>,
) -> Result<()> {
    let Some(child) = slot.as_mut() else {
        bail!("{what} is not running");
    };
    match wait_ready(child, timeout, poll, ready) {
        Ok(Start::Ready) => Ok(()),
        Ok(Start::Exited(status)) => {
            *slot = None;
            bail!(
                "{what} exited ({status}) before {goal}; log:\n{}",
                log_tail(log_path)
            )
        }
        Err(error) => Err(error).with_context(|| {
            format!(
                "{what} timed out before {goal}; log:\n{}",
                log_tail(log_path)
            )
        }),
    }
}

/// Everything in the log at `path`, or why it cannot be read.
pub fn read_log(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|error| format!("(could not read {}: {error})", path.display()))
}

/// The last lines of the log at `path`.
pub fn log_tail(path: &Path) -> String {
    let log = read_log(path);
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// Kills `what` with SIGKILL, as a crash would, and reaps it.
pub fn kill_and_reap(child: &mut Child, what: &str) -> Result<()> {
    child
        .kill()
        .with_context(|| format!("could not kill {what}"))?;
    child
        .wait()
        .with_context(|| format!("could not reap {what}"))?;
    Ok(())
}

/// Kills and reaps the child, ignoring one that already exited.
pub fn kill_quietly(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_that_exits_first_is_told_apart_from_a_ready_one() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let mut quick = spawn_logged(
            Command::new("sh").args(["-c", "echo said; exit 3"]),
            &log,
            "launch 1",
        )
        .unwrap();
        let start = wait_ready(
            &mut quick,
            Duration::from_secs(10),
            Duration::from_millis(5),
            || Ok(Observation::Waiting("never ready".into())),
        )
        .unwrap();
        assert!(matches!(start, Start::Exited(status) if status.code() == Some(3)));

        let mut long = spawn_logged(Command::new("sleep").arg("30"), &log, "launch 2").unwrap();
        let start = wait_ready(
            &mut long,
            Duration::from_secs(10),
            Duration::from_millis(5),
            || Ok(Observation::Done),
        )
        .unwrap();
        assert!(matches!(start, Start::Ready));
        kill_quietly(&mut long);
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(text, "==== launch 1 ====\nsaid\n==== launch 2 ====\n");
    }

    #[test]
    fn a_child_that_exits_before_its_goal_is_reported_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let child = spawn_logged(
            Command::new("sh").args(["-c", "echo no config; exit 2"]),
            &log,
            "launch",
        )
        .unwrap();
        let mut slot = Some(child);
        let error = wait_started(
            &mut slot,
            "the server",
            "it bound its port",
            &log,
            Duration::from_secs(10),
            Duration::from_millis(5),
            || Ok(Observation::Waiting("not bound".into())),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "the server exited (exit status: 2) before it bound its port; log:\n==== launch ====\nno config"
        );
        assert!(slot.is_none(), "the exited child is forgotten");
    }
}
