//! Runs a short-lived command (a CLI call) with a time limit, so that a CLI that hangs on an
//! unreachable server fails the test with a message instead of hanging the whole suite.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Runs `command` with stdin closed and stdout/stderr captured; kills it and fails if it has
/// not exited within `limit`.
pub fn output_within(command: &mut Command, limit: Duration) -> Result<Output> {
    output_with_input(command, None, limit)
}

/// [`output_within`], with `input` (if any) written to the command's standard input, which
/// is then closed.
pub fn output_with_input(
    command: &mut Command,
    input: Option<Vec<u8>>,
    limit: Duration,
) -> Result<Output> {
    let line = describe(command);
    let stdin = if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    let mut child = command
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start `{line}`"))?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        // A thread of its own: a child that does not read must not block the test.
        thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let pid = i32::try_from(child.id()).context("child pid does not fit a pid_t")?;
    let (sender, receiver) = mpsc::channel();
    // wait_with_output drains both pipes while waiting, so a chatty child cannot block.
    thread::spawn(move || sender.send(child.wait_with_output()));
    match receiver.recv_timeout(limit) {
        Ok(result) => result.with_context(|| format!("could not wait for `{line}`")),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            // The waiting thread has not reaped the child yet, so the pid is still ours.
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = receiver.recv();
            bail!("`{line}` did not finish within {limit:?} and was killed")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            bail!("the thread waiting for `{line}` ended without an answer")
        }
    }
}

/// The command line as it would be typed, for messages.
pub fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn captures_output_and_status() {
        let output = output_within(
            Command::new("/bin/sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(20),
        )
        .unwrap();
        assert_eq!(output.stdout, b"out\n");
        assert_eq!(output.stderr, b"err\n");
        assert_eq!(output.status.code(), Some(3));
    }

    #[test]
    fn kills_a_command_that_runs_too_long() {
        let started = Instant::now();
        let error = output_within(
            Command::new("/bin/sh").args(["-c", "exec sleep 30"]),
            Duration::from_millis(100),
        )
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(
            error.to_string().contains("did not finish within"),
            "{error}"
        );
    }
}
