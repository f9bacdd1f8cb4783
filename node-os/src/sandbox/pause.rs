//! `flotilla pod-pause SANDBOX`: the first process of a pod's own PID namespace when its
//! containers share one (`shareProcessNamespace`), as Kubernetes' pause container is. A PID
//! namespace lives only as long as its first process, which also inherits every orphan in it:
//! this one reaps them and otherwise waits, until it is told to stop.
//!
//! The runtime starts it; it unshares a PID namespace and forks, the child becoming PID 1 there,
//! and says the child's pid (as the host sees it) on standard output before it exits itself.
//! The sandbox then holds the namespace's file, and the pid to stop it by.

use std::convert::Infallible;

use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

/// The subcommand that runs it.
pub const SUBCOMMAND: &str = "pod-pause";

/// Starts the namespace's first process; returns this process's exit code.
pub fn run() -> i32 {
    if let Err(errno) = unshare(CloneFlags::CLONE_NEWPID) {
        eprintln!("flotilla pod-pause: new PID namespace: {errno}");
        return 1;
    }
    // SAFETY: this process has a single thread (a fresh exec of the binary that has started
    // none), so the child may do anything after the fork.
    match unsafe { fork() } {
        Err(errno) => {
            eprintln!("flotilla pod-pause: fork: {errno}");
            1
        }
        Ok(ForkResult::Child) => match release_stdout().and_then(|()| pause()) {
            Ok(never) => match never {},
            Err(errno) => {
                eprintln!("flotilla pod-pause: {errno}");
                1
            }
        },
        Ok(ForkResult::Parent { child }) => {
            println!("{child}");
            0
        }
    }
}

/// Puts /dev/null where standard output was, so the runtime, reading the pid the parent says,
/// sees the output end when the parent exits.
fn release_stdout() -> Result<(), Errno> {
    let null = open(
        "/dev/null",
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: dup2 acts on descriptor numbers only; standard output is this process's own.
    if unsafe { nix::libc::dup2(null.as_raw_fd(), 1) } < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Reaps whatever ends in the namespace until SIGTERM or SIGINT.
fn pause() -> Result<Infallible, Errno> {
    let mut waited = SigSet::empty();
    for signal in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT] {
        waited.add(signal);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&waited), None)?;
    loop {
        match waited.wait()? {
            Signal::SIGCHLD => reap(),
            _ => std::process::exit(0),
        }
    }
}

fn reap() {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
