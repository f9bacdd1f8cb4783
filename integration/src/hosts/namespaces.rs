//! Lists, empties and removes network namespaces, for the harness's teardown and for the sweep
//! of leftovers.

use std::time::Duration;

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::exec;
use super::plan;
use crate::wait::{Observation, poll_until};

/// How long removal waits for killed processes to leave a namespace.
const EMPTY_PATIENCE: Duration = Duration::from_secs(10);
/// How often it looks meanwhile.
const EMPTY_POLL: Duration = Duration::from_millis(20);

/// The names in the output of `ip netns list` (`NAME` or `NAME (id: N)` per line).
pub fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The pids in the output of `ip netns pids`; anything that is not a pid is skipped.
pub fn parse_pids(text: &str) -> Vec<u32> {
    text.split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect()
}

/// The machine's named network namespaces.
pub fn list() -> Result<Vec<String>> {
    Ok(parse_list(&exec::run(&plan::list_namespaces())?))
}

/// The processes in `namespace` (zombies are not listed: their namespace is already released).
pub fn pids(namespace: &str) -> Result<Vec<u32>> {
    Ok(parse_pids(&exec::run(&plan::namespace_pids(namespace))?))
}

/// Sends `signal` to every process in `namespace`; returns the pids signalled.
pub fn signal_all(namespace: &str, signal: Signal) -> Result<Vec<u32>> {
    let pids = pids(namespace)?;
    for &pid in &pids {
        send(pid, signal);
    }
    Ok(pids)
}

/// Sends `signal` to `pid`; a process that has exited meanwhile is what the caller wanted or
/// is no longer its concern, so that is not an error.
pub fn send(pid: u32, signal: Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = kill(Pid::from_raw(pid), signal);
    }
}

/// Kills every process in `namespace` and waits, within a bound, until none is left.
pub fn kill_all(namespace: &str) -> Result<()> {
    poll_until(EMPTY_PATIENCE, EMPTY_POLL, || {
        let left = signal_all(namespace, Signal::SIGKILL)?;
        Ok(if left.is_empty() {
            Observation::Done
        } else {
            Observation::Waiting(format!("processes {left:?} still in namespace {namespace}"))
        })
    })
    .with_context(|| format!("could not empty network namespace {namespace}"))
}

/// Kills what runs in `namespace` and removes it. Succeeds if it is already gone, so that two
/// sweeps racing for the same leftover both succeed.
pub fn remove(namespace: &str) -> Result<()> {
    if !list()?.iter().any(|name| name == namespace) {
        return Ok(());
    }
    let removed = kill_all(namespace).and_then(|()| exec::run(&plan::delete_namespace(namespace)));
    match removed {
        Ok(_) => Ok(()),
        Err(error) => {
            if list()?.iter().any(|name| name == namespace) {
                Err(error)
                    .with_context(|| format!("could not remove network namespace {namespace}"))
            } else {
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_with_and_without_ids() {
        let text = "flt12r0-h1 (id: 2)\nflt12r0-sw (id: 0)\nplain\n\n";
        assert_eq!(parse_list(text), ["flt12r0-h1", "flt12r0-sw", "plain"]);
        assert!(parse_list("").is_empty());
    }

    #[test]
    fn reads_pids_one_a_line() {
        assert_eq!(parse_pids("7314\n7320\n"), [7314, 7320]);
        assert!(parse_pids("").is_empty());
        assert_eq!(parse_pids("12\nnot-a-pid\n"), [12]);
    }
}
