//! Running the tools the benchmark compares with a time limit and timing them, and sweeping up
//! what a failed run may leave behind: processes in cgroups and mounts under a temporary dir.

use std::env;
use std::fs::{self, File};
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Where the cgroup hierarchies are mounted.
const CGROUP_FS: &str = "/sys/fs/cgroup";
/// How long a cgroup that still holds dying processes is retried before it is left behind.
const RMDIR_PATIENCE: Duration = Duration::from_secs(5);

/// Runs `command` to completion and returns how long it took, from spawning it until it was
/// reaped; fails if it exits unsuccessfully (quoting its stderr) or runs longer than `limit`.
///
/// Stdin and stdout are closed and stderr goes to an anonymous file rather than a pipe: a
/// container that `runc run -d` starts without a terminal inherits runc's stdio, and would
/// hold a pipe open, and a reader waiting on it, for the hour it sleeps.
pub fn run_timed(command: &mut Command, limit: Duration) -> Result<Duration> {
    let line = describe(command);
    let mut stderr = tempfile::tempfile().context("could not create a file for stderr")?;
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(stderr.try_clone()?))
        .spawn()
        .with_context(|| format!("could not start `{line}`"))?;
    let pid = i32::try_from(child.id()).context("child pid does not fit a pid_t")?;
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || sender.send(child.wait()));
    let status = match receiver.recv_timeout(limit) {
        Ok(status) => status.with_context(|| format!("could not wait for `{line}`"))?,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            // The waiting thread has not reaped the child yet, so the pid is still ours.
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = receiver.recv();
            bail!("`{line}` did not finish within {limit:?} and was killed");
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            bail!("the thread waiting for `{line}` ended without an answer")
        }
    };
    let took = started.elapsed();
    if !status.success() {
        bail!("`{line}` failed ({status}): {}", read_back(&mut stderr));
    }
    Ok(took)
}

/// Those of `programs` found in no directory of `PATH`.
pub fn missing_programs<'a>(programs: &[&'a str]) -> Vec<&'a str> {
    let path = env::var_os("PATH").unwrap_or_default();
    programs
        .iter()
        .copied()
        .filter(|program| !env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        .collect()
}

/// Like [`run_timed`] for a cleanup step: a failure is printed, not returned.
pub fn run_quietly(command: &mut Command, limit: Duration) {
    if let Err(error) = run_timed(command, limit) {
        eprintln!("bench: cleanup: {error:#}");
    }
}

/// Kills every process left in cgroup `group` (a child of each hierarchy's root, v1 or v2)
/// and in the cgroups under it, then removes them all, deepest first.
pub fn remove_cgroup_group(group: &str) {
    let root = Path::new(CGROUP_FS);
    let mut tops = vec![root.join(group)];
    if let Ok(hierarchies) = fs::read_dir(root) {
        tops.extend(hierarchies.flatten().map(|entry| entry.path().join(group)));
    }
    for top in tops.iter().filter(|top| top.is_dir()) {
        let mut cgroups = Vec::new();
        collect_dirs(top, &mut cgroups);
        for cgroup in &cgroups {
            kill_members(cgroup);
        }
        // Children come after their parent in the walk: remove in reverse.
        for cgroup in cgroups.iter().rev() {
            remove_dir_patiently(cgroup);
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

fn read_back(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.rewind();
    let _ = file.read_to_string(&mut text);
    text.trim().to_owned()
}

/// `dir` and every directory under it, each parent before its children.
fn collect_dirs(dir: &Path, into: &mut Vec<PathBuf>) {
    into.push(dir.to_path_buf());
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                collect_dirs(&entry.path(), into);
            }
        }
    }
}

fn kill_members(cgroup: &Path) {
    let Ok(procs) = fs::read_to_string(cgroup.join("cgroup.procs")) else {
        return;
    };
    for pid in procs
        .lines()
        .filter_map(|line| line.trim().parse::<i32>().ok())
    {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// A cgroup can be removed only once its killed members have exited: retry for a while.
fn remove_dir_patiently(cgroup: &Path) {
    let deadline = Instant::now() + RMDIR_PATIENCE;
    loop {
        match fs::remove_dir(cgroup) {
            Ok(()) => return,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return,
            Err(error) if Instant::now() >= deadline => {
                eprintln!(
                    "bench: cleanup: could not remove {}: {error}",
                    cgroup.display()
                );
                return;
            }
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_missing_programs_on_path() {
        assert_eq!(
            missing_programs(&["sh", "no-such-program-pod-start"]),
            ["no-such-program-pod-start"]
        );
    }

    #[test]
    fn a_timed_command_fails_with_its_stderr() {
        let error = run_timed(
            Command::new("/bin/sh").args(["-c", "echo broken >&2; exit 3"]),
            Duration::from_secs(20),
        )
        .unwrap_err();
        assert!(error.to_string().ends_with("broken"), "{error}");
        let took = run_timed(&mut Command::new("/bin/true"), Duration::from_secs(20)).unwrap();
        assert!(took < Duration::from_secs(20));
    }

    #[test]
    fn a_hung_command_is_killed() {
        let error = run_timed(
            Command::new("/bin/sh").args(["-c", "exec sleep 30"]),
            Duration::from_millis(100),
        )
        .unwrap_err();
        assert!(error.to_string().contains("did not finish"), "{error}");
    }
}
