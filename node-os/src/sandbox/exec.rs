//! `flotilla container-exec SPEC`: a command run inside a running container, for `flotilla
//! exec` and exec probes. The runtime starts it in the container's cgroup, as it starts the
//! container init; it enters the namespaces of the container's command (for an image
//! container its mount namespace too, so its root), forks — a PID namespace applies to
//! children — and the child takes the container's user and restrictions and executes the
//! command. Failures before that are reported on descriptor 3, as the init reports them.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use nix::fcntl::{OFlag, open};
use nix::sched::{CloneFlags, setns};
use nix::sys::stat::Mode;
use nix::unistd::chdir;
use serde::{Deserialize, Serialize};

use super::init::{
    NOT_STARTED, block_forwarded_signals, fork_and_supervise, report, take_error_pipe,
};
use super::security::Security;
use super::setup;

/// The namespaces an exec enters, in the order it enters them: the mount namespace last, as
/// the others' files are opened through the host's /proc.
pub(crate) const ISOLATED_NAMESPACES: [&str; 5] = ["ipc", "uts", "net", "pid", "mnt"];
/// A host-image container has only these of its own.
pub(crate) const HOST_NAMESPACES: [&str; 2] = ["ipc", "uts"];

/// What to run and where; written by the runtime as the helper's argument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ExecConfig {
    /// The process whose namespaces to enter: the container's command.
    pub(crate) target: u32,
    pub(crate) namespaces: Vec<String>,
    pub(crate) argv: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) working_dir: PathBuf,
    /// Standard input is a terminal, to become the command's controlling terminal.
    pub(crate) tty: bool,
    /// The image's USER and the container's restrictions; `None` for a host-image container,
    /// whose commands run as root.
    pub(crate) isolated: Option<(Option<String>, Security)>,
}

/// Runs the exec described by the JSON `spec`; returns the exit code to end with, unless the
/// command was killed by a signal, which this process then dies of too.
pub fn run(spec: &str) -> i32 {
    let Some(errors) = take_error_pipe() else {
        return NOT_STARTED;
    };
    let config: ExecConfig = match serde_json::from_str(spec) {
        Ok(config) => config,
        Err(error) => return report(errors, &format!("invalid exec spec: {error}")),
    };
    let handled = match block_forwarded_signals() {
        Ok(handled) => handled,
        Err(message) => return report(errors, &message),
    };
    if let Err(message) = enter_namespaces(&config) {
        return report(errors, &message);
    }
    fork_and_supervise(errors, &handled, config.tty, || {
        chdir(&config.working_dir).map_err(|errno| {
            format!(
                "working directory {}: {}",
                config.working_dir.display(),
                errno.desc()
            )
        })?;
        match &config.isolated {
            Some((user, security)) => {
                setup::run_as(&config.argv, &config.env, user.as_deref(), security)
            }
            None => {
                let program = setup::program(&config.argv, &config.env)?;
                setup::execute(&program, &config.argv, &config.env)
            }
        }
    })
}

fn enter_namespaces(config: &ExecConfig) -> Result<(), String> {
    let files: Vec<(OwnedFd, CloneFlags, &str)> = config
        .namespaces
        .iter()
        .map(|kind| {
            let path = format!("/proc/{}/ns/{kind}", config.target);
            let file = open(
                path.as_str(),
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|errno| format!("opening {path}: {errno}"))?;
            Ok((file, clone_flag(kind)?, kind.as_str()))
        })
        .collect::<Result<_, String>>()?;
    for (file, flag, kind) in files {
        setns(file, flag)
            .map_err(|errno| format!("entering the container's {kind} namespace: {errno}"))?;
    }
    Ok(())
}

fn clone_flag(kind: &str) -> Result<CloneFlags, String> {
    Ok(match kind {
        "ipc" => CloneFlags::CLONE_NEWIPC,
        "uts" => CloneFlags::CLONE_NEWUTS,
        "net" => CloneFlags::CLONE_NEWNET,
        "pid" => CloneFlags::CLONE_NEWPID,
        "mnt" => CloneFlags::CLONE_NEWNS,
        other => return Err(format!("unknown namespace {other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_namespace_an_exec_enters_has_its_flag() {
        for kind in ISOLATED_NAMESPACES.iter().chain(&HOST_NAMESPACES) {
            assert!(clone_flag(kind).is_ok(), "{kind}");
        }
        assert!(clone_flag("time").is_err());
        assert_eq!(ISOLATED_NAMESPACES.last(), Some(&"mnt"));
    }
}
