//! What the new process does between fork and exec: join its cgroup, start its own session,
//! and either enter new UTS and IPC namespaces and set its hostname (a host-image container)
//! or take the error pipe of the container init that isolates it further (an OCI runtime
//! only gets its session: it joins the cgroup itself).
//!
//! Joining the cgroup here, before exec, means no instruction of the container runs outside
//! its limits and no fork it makes can escape. Code between fork and exec in a multi-threaded
//! program may only make async-signal-safe calls: another thread may have held the allocator's
//! lock at the fork. So every path and name is turned into a C string before the fork, and
//! the hook below only makes system calls on that prepared memory. Errors come back through
//! the standard library's exec-error pipe, so they surface from `spawn`.

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use nix::fcntl::{OFlag, open};
use nix::libc;
use nix::sched::{CloneFlags, unshare};
use nix::sys::stat::Mode;
use nix::unistd::{Pid, sethostname, setpgid, setsid, write};
use tokio::process::Command;

use crate::sandbox::init::ERROR_FD;

/// Everything the child needs, prepared in the parent.
#[derive(Debug)]
pub(crate) struct ChildSetup {
    procs_files: Vec<CString>,
    then: Then,
}

/// What the child does after joining its cgroup and session.
#[derive(Debug)]
enum Then {
    /// New UTS and IPC namespaces, named `hostname`.
    OwnNamespaces { hostname: OsString },
    /// Execs the container init, which reports on this pipe as descriptor 3.
    ContainerInit { errors: OwnedFd },
    /// Execs a command into a running container: like the init, but without a session of its
    /// own, so it is never taken for the container's main process.
    ContainerExec { errors: OwnedFd },
    /// Execs an OCI runtime, which puts the container into the cgroup itself.
    OciRuntime,
}

/// A path handed to the child set-up contains a NUL byte.
#[derive(Debug, thiserror::Error)]
#[error("cgroup file path {path} contains a NUL byte")]
pub(crate) struct NulInPath {
    pub(crate) path: PathBuf,
}

impl ChildSetup {
    /// A host-image container with its own UTS and IPC namespaces.
    pub(crate) fn new(procs_files: &[PathBuf], hostname: &str) -> Result<Self, NulInPath> {
        Self::with(
            procs_files,
            Then::OwnNamespaces {
                hostname: OsString::from(hostname),
            },
        )
    }

    /// The container init of an isolated container, reporting on `errors`.
    pub(crate) fn container_init(
        procs_files: &[PathBuf],
        errors: OwnedFd,
    ) -> Result<Self, NulInPath> {
        Self::with(procs_files, Then::ContainerInit { errors })
    }

    /// The helper of an exec into a running container, reporting on `errors`.
    pub(crate) fn container_exec(
        procs_files: &[PathBuf],
        errors: OwnedFd,
    ) -> Result<Self, NulInPath> {
        Self::with(procs_files, Then::ContainerExec { errors })
    }

    /// An OCI runtime's process: a session of its own, outside the container's cgroup (the
    /// runtime expects to find the cgroup empty).
    pub(crate) fn oci_runtime() -> Self {
        Self {
            procs_files: Vec::new(),
            then: Then::OciRuntime,
        }
    }

    fn with(procs_files: &[PathBuf], then: Then) -> Result<Self, NulInPath> {
        let procs_files = procs_files
            .iter()
            .map(|path| {
                CString::new(path.as_os_str().as_encoded_bytes())
                    .map_err(|_| NulInPath { path: path.clone() })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { procs_files, then })
    }

    /// Makes `command` run this set-up in the child, before exec.
    pub(crate) fn install(self, command: &mut Command) {
        // SAFETY: the hook runs in the forked child, where only async-signal-safe calls are
        // allowed. It only calls open, write, setsid, setpgid, unshare, sethostname, dup2 and
        // fcntl on the C strings, bytes and descriptor owned by `self`, which were made before
        // the fork; it does not allocate, lock, or touch any other state of the parent.
        unsafe {
            command.pre_exec(move || self.run_in_child());
        }
    }

    fn run_in_child(&self) -> io::Result<()> {
        for file in &self.procs_files {
            let procs = open(
                file.as_c_str(),
                OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            // "0" moves the writing process itself.
            write(&procs, b"0")?;
        }
        match &self.then {
            Then::OciRuntime => {
                setsid()?;
            }
            Then::OwnNamespaces { hostname } => {
                setsid()?;
                unshare(CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC)?;
                sethostname(hostname)?;
            }
            Then::ContainerInit { errors } | Then::ContainerExec { errors } => {
                if matches!(self.then, Then::ContainerInit { .. }) {
                    setsid()?;
                } else {
                    // A group of its own, out of the agent's, but no session: only the
                    // container's main process leads one.
                    setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
                }
                // The copy on descriptor 3 is open across exec: the init inherits it. (dup2
                // onto itself would keep close-on-exec, so that case clears it.)
                let fd = errors.as_raw_fd();
                // SAFETY: dup2 and fcntl act on descriptor numbers only; nothing in the
                // child owns descriptor 3 (the standard library set up 0-2 only).
                let done = unsafe {
                    if fd == ERROR_FD {
                        libc::fcntl(fd, libc::F_SETFD, 0)
                    } else {
                        libc::dup2(fd, ERROR_FD)
                    }
                };
                if done < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_nul_bytes_are_refused_before_the_fork() {
        let bad = PathBuf::from("/sys/fs/cgroup/a\0b/cgroup.procs");
        let error = ChildSetup::new(std::slice::from_ref(&bad), "host").unwrap_err();
        assert_eq!(error.path, bad);
        assert!(ChildSetup::new(&[PathBuf::from("/x/cgroup.procs")], "host").is_ok());
    }
}
