//! What the new process does between fork and exec: join its cgroup, start its own session,
//! enter new UTS and IPC namespaces and set its hostname.
//!
//! Joining the cgroup here, before exec, means no instruction of the container runs outside
//! its limits and no fork it makes can escape. Code between fork and exec in a multi-threaded
//! program may only make async-signal-safe calls: another thread may have held the allocator's
//! lock at the fork. So every path and name is turned into a C string before the fork, and
//! the hook below only makes system calls on that prepared memory. Errors come back through
//! the standard library's exec-error pipe, so they surface from `spawn`.

use std::ffi::{CString, OsString};
use std::io;
use std::path::PathBuf;

use nix::fcntl::{OFlag, open};
use nix::sched::{CloneFlags, unshare};
use nix::sys::stat::Mode;
use nix::unistd::{sethostname, setsid, write};
use tokio::process::Command;

/// Everything the child needs, prepared in the parent.
#[derive(Debug)]
pub(crate) struct ChildSetup {
    procs_files: Vec<CString>,
    hostname: OsString,
}

/// A path handed to the child set-up contains a NUL byte.
#[derive(Debug, thiserror::Error)]
#[error("cgroup file path {path} contains a NUL byte")]
pub(crate) struct NulInPath {
    pub(crate) path: PathBuf,
}

impl ChildSetup {
    pub(crate) fn new(procs_files: &[PathBuf], hostname: &str) -> Result<Self, NulInPath> {
        let procs_files = procs_files
            .iter()
            .map(|path| {
                CString::new(path.as_os_str().as_encoded_bytes())
                    .map_err(|_| NulInPath { path: path.clone() })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            procs_files,
            hostname: OsString::from(hostname),
        })
    }

    /// Makes `command` run this set-up in the child, before exec.
    pub(crate) fn install(self, command: &mut Command) {
        // SAFETY: the hook runs in the forked child, where only async-signal-safe calls are
        // allowed. It only calls open, write, close, setsid, unshare and sethostname on the
        // C strings and bytes owned by `self`, which were allocated before the fork; it does
        // not allocate, lock, or touch any other state of the parent.
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
        setsid()?;
        unshare(CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC)?;
        sethostname(&self.hostname)?;
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
