//! The pause processes of a test's pods that share a PID namespace (`flotilla pod-pause`).
//! They outlive a killed `flotilla up` by design, as the pods do; a test's cluster stops the
//! ones under its directory, found by the sandboxes' PID namespace mounts; a test asks whether
//! a pod's runs.

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
        if pause_of(&format!("/proc/{pid}")).is_some() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// Whether the pause process of pod sandbox `sandbox` (the pod's uid) runs.
pub fn pause_running(sandbox: &str) -> bool {
    fs::read_dir("/proc").is_ok_and(|entries| {
        entries.flatten().any(|entry| {
            pause_of(&entry.path().to_string_lossy()).as_deref() == Some(sandbox.as_bytes())
        })
    })
}

/// The sandbox the process at `proc_dir` (`/proc/PID`) pauses for, if it is a pause process
/// (`flotilla pod-pause SANDBOX`).
fn pause_of(proc_dir: &str) -> Option<Vec<u8>> {
    let cmdline = fs::read(format!("{proc_dir}/cmdline")).ok()?;
    let mut args = cmdline.split(|byte| *byte == 0).skip(1);
    (args.next()? == b"pod-pause").then(|| args.next().unwrap_or_default().to_vec())
}
