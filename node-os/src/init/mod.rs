//! PID 1 duties. The kernel hands every orphaned process to PID 1, which must reap it or it
//! stays a zombie for good, and PID 1 receives only the signals it has handlers for. So when
//! `flotilla node` is PID 1 (a container's entry point, or a machine's init) it becomes a small
//! init first: it runs the agent as its only child, passes stop signals on to it, reaps every
//! process that exits, and ends with the agent's exit status.
//!
//! The agent then is an ordinary process that reaps only its own children (through tokio), and
//! the init reaps everything else, so neither takes the other's exit statuses: reaping any
//! child from the agent's own process would steal the statuses its runtime waits for.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// The signals an init passes on to its child: requests to stop, reload or report.
const FORWARDED: [Signal; 6] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// Why the init could not run its child.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("blocking signals before starting the agent")]
    Mask(#[source] Errno),
    #[error("starting the agent as the init's child")]
    Spawn(#[source] io::Error),
    #[error("waiting for processes to exit")]
    Wait(#[source] Errno),
}

/// Whether this process is PID 1 of its PID namespace.
pub fn is_pid1() -> bool {
    nix::unistd::getpid() == Pid::from_raw(1)
}

/// Runs `child` and reaps every process that exits until it does, forwarding [`FORWARDED`]
/// signals to it; returns its exit code (128 + N when signal N killed it). Call it before any
/// other thread exists: it blocks signals for the whole process.
pub fn run_as_init(child: &mut Command) -> Result<i32, InitError> {
    let mut handled = SigSet::empty();
    handled.add(Signal::SIGCHLD);
    FORWARDED.iter().for_each(|&signal| handled.add(signal));
    let mut before = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&handled), Some(&mut before))
        .map_err(InitError::Mask)?;
    // SAFETY: runs in the forked child before exec, where only async-signal-safe calls are
    // allowed; sigprocmask is one, and the closure allocates nothing.
    unsafe {
        child.pre_exec(move || {
            sigprocmask(SigmaskHow::SIG_SETMASK, Some(&before), None).map_err(io::Error::from)
        });
    }
    let agent = child.spawn().map_err(InitError::Spawn)?;
    let agent = Pid::from_raw(i32::try_from(agent.id()).unwrap_or(i32::MAX));
    loop {
        if let Some(code) = reap(agent)? {
            return Ok(code);
        }
        match handled.wait() {
            Ok(Signal::SIGCHLD) | Err(_) => {}
            Ok(signal) => {
                // The agent may be exiting already; its exit is reaped above.
                let _ = kill(agent, signal);
            }
        }
    }
}

/// Reaps every process that has exited; the agent's exit code once it is among them.
fn reap(agent: Pid) -> Result<Option<i32>, InitError> {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == agent => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == agent => {
                return Ok(Some(128 + signal as i32));
            }
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(errno) => return Err(InitError::Wait(errno)),
        }
    }
}
