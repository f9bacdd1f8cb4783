//! The load generators the benchmark runs (wrk, dnsperf): run to completion within a bound,
//! their output captured, and killed if the benchmark stops waiting for them — at the bound,
//! on an error or on a panic — so none outlives the run.

use std::fs::File;
use std::io::{Read, Seek};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How often a running tool is checked on.
const POLL: Duration = Duration::from_millis(20);

/// Runs `command` within `limit` and returns its standard output; fails, quoting its standard
/// error, if it exits unsuccessfully or has to be killed at the limit. Output goes to files,
/// not pipes, so that a chatty tool never blocks on a full pipe.
pub fn output_within(command: &mut Command, limit: Duration) -> Result<String> {
    let line = describe(command);
    let mut stdout = tempfile::tempfile().context("a file for a tool's output")?;
    let mut stderr = tempfile::tempfile().context("a file for a tool's errors")?;
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout.try_clone()?))
        .stderr(Stdio::from(stderr.try_clone()?))
        .spawn()
        .with_context(|| format!("could not start `{line}`"))?;
    let mut running = Running(child);
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = running.0.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            // Dropping `running` kills it.
            bail!("`{line}` did not finish within {limit:?} and was killed");
        }
        thread::sleep(POLL);
    };
    if !status.success() {
        let said = [read_back(&mut stderr)?, read_back(&mut stdout)?];
        let said: Vec<&str> = said
            .iter()
            .map(|text| text.trim())
            .filter(|text| !text.is_empty())
            .collect();
        bail!("`{line}` failed ({status}): {}", said.join(" | "));
    }
    read_back(&mut stdout)
}

/// A child that is killed and reaped when dropped unless it has exited.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // An error means it exited meanwhile; the wait reaps it either way.
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Everything written to `file` so far.
fn read_back(file: &mut File) -> Result<String> {
    file.rewind()?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .context("a tool's output is not UTF-8")?;
    Ok(text)
}

/// The command line, for messages.
fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_what_the_tool_printed() {
        let out = output_within(
            Command::new("sh").args(["-c", "echo done"]),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(out, "done\n");
    }

    #[test]
    fn a_failure_quotes_the_tool_and_its_errors() {
        let error = output_within(
            Command::new("sh").args(["-c", "echo no server >&2; exit 3"]),
            Duration::from_secs(10),
        )
        .unwrap_err()
        .to_string();
        assert!(error.starts_with("`sh -c echo no server"), "{error}");
        assert!(error.ends_with("exit status: 3): no server"), "{error}");
    }

    #[test]
    fn a_tool_past_its_bound_is_killed() {
        let error = output_within(Command::new("sleep").arg("30"), Duration::from_millis(100))
            .unwrap_err()
            .to_string();
        assert!(error.contains("did not finish within"), "{error}");
    }
}
