//! The pause processes of a test's pods that share a PID namespace (`flotilla pod-pause`).
//! They outlive a killed `flotilla up` by design, as the pods do; a test's cluster stops the
//! ones under its directory, found by the sandboxes' PID namespace mounts.

use std::fs;
use std::path::Path;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::mounts::mounts_under;

/// Kills the pause process of every sandbox under `dir` that holds a PID namespace.
pub fn stop_pauses_under(dir: &Path) {
    for point in mounts_under(dir) {
        if point.file_name().is_none_or(|name| name != "pid") {
            continue;
        }
        let Some(record) = point.parent().map(|sandbox| sandbox.join("pause")) else {
            continue;
        };
        let Some(pid) = fs::read_to_string(record)
            .ok()
            .and_then(|text| text.split_whitespace().next()?.parse::<i32>().ok())
        else {
            continue;
        };
        // Only a pause process: the pid may have been taken by another since.
        let is_pause = fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
            cmdline
                .split(|byte| *byte == 0)
                .any(|arg| arg == b"pod-pause")
        });
        if is_pause {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}
