//! `flotilla container-init CONFIG`: the first process of an isolated container, started by
//! the native runtime in the container's cgroup and session.
//!
//! It joins the pod sandbox's namespaces, unshares a PID namespace (or joins the pod's) and
//! forks: the child is PID 1 of the new namespace (or one more process in the pod's), sets up
//! its root (see `setup`) and executes the container's
//! command. The init stays outside as its parent — like containerd's shim — passing stop
//! signals on and ending with the container's status, so the runtime waits on its own child as
//! for any container and a restarted agent re-adopts it by session, as before.
//!
//! Until the command is executing, the child reports failures as text on descriptor 3, a pipe
//! the runtime reads until it closes: a message there is why the container did not start.

use std::convert::Infallible;
use std::io::Write;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl, open};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::resource::{Resource, setrlimit};
use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, kill, raise, signal, sigprocmask};
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, setsid};

use super::config::InitConfig;
use super::pod::Namespace;
use super::setup;

/// The descriptor of the error pipe in the init and its child.
pub(crate) const ERROR_FD: i32 = 3;

/// The exit code of an init whose container never ran.
pub(crate) const NOT_STARTED: i32 = 127;

/// The signals passed on to the container: requests to stop, reload or report, and window size.
const FORWARDED: [Signal; 7] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// Runs the container described by the file `config`; returns the exit code to end with,
/// unless the container was killed by a signal, which the init then dies of too.
pub fn run(config: &Path) -> i32 {
    let Some(errors) = take_error_pipe() else {
        return NOT_STARTED;
    };
    let config = match InitConfig::load(config) {
        Ok(config) => config,
        Err(message) => return report(errors, &message),
    };
    let handled = match block_forwarded_signals() {
        Ok(handled) => handled,
        Err(message) => return report(errors, &message),
    };
    if let Err(message) = join_sandbox(&config) {
        return report(errors, &message);
    }
    fork_and_supervise(errors, &handled, false, || setup::enter(&config))
}

/// The runtime's error pipe, as descriptor 3, made to close when the command executes.
pub(crate) fn take_error_pipe() -> Option<OwnedFd> {
    // The runtime hands the pipe's write end over open across exec; it must close when the
    // container's command starts.
    if fcntl(borrowed_error_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).is_err() {
        eprintln!("flotilla: descriptor {ERROR_FD} is not the runtime's error pipe");
        return None;
    }
    // SAFETY: descriptor 3 is open (checked above) and nothing else in this fresh process
    // owns it.
    Some(unsafe { OwnedFd::from_raw_fd(ERROR_FD) })
}

/// Blocks the signals this process passes on (and SIGCHLD), to wait for them.
pub(crate) fn block_forwarded_signals() -> Result<SigSet, String> {
    let mut handled = SigSet::empty();
    handled.add(Signal::SIGCHLD);
    FORWARDED.iter().for_each(|&signal| handled.add(signal));
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&handled), None)
        .map_err(|errno| format!("blocking signals: {errno}"))?;
    Ok(handled)
}

/// Forks the process that becomes the container's command through `become_command`, in a
/// session of its own (with its standard input as controlling terminal when `tty`); this
/// process passes signals on and ends as the command does. Call with [`FORWARDED`] blocked.
pub(crate) fn fork_and_supervise(
    errors: OwnedFd,
    handled: &SigSet,
    tty: bool,
    become_command: impl FnOnce() -> Result<Infallible, String>,
) -> i32 {
    // SAFETY: this process has a single thread (it is a fresh exec of the binary that has
    // not started any), so the child may do anything after the fork.
    match unsafe { fork() } {
        Err(errno) => report(errors, &format!("fork: {errno}")),
        Ok(ForkResult::Child) => {
            let message = match command_child(tty) {
                Err(message) => message,
                Ok(()) => become_command().err().unwrap_or_default(),
            };
            std::process::exit(report(errors, &message));
        }
        Ok(ForkResult::Parent { child }) => {
            drop(errors);
            supervise(child, handled)
        }
    }
}

fn borrowed_error_fd() -> BorrowedFd<'static> {
    // SAFETY: only used for fcntl, which fails cleanly on a descriptor that is not open.
    unsafe { BorrowedFd::borrow_raw(ERROR_FD) }
}

/// Enters the sandbox's namespaces and makes the next child the first of a PID namespace of its
/// own, or a member of the pod's when its containers share one.
fn join_sandbox(config: &InitConfig) -> Result<(), String> {
    for (namespace, path) in &config.join {
        let file = open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|errno| format!("opening the sandbox's {}: {errno}", path.display()))?;
        setns(file, namespace.clone_flag()).map_err(|errno| {
            format!(
                "joining the sandbox's {} namespace: {errno}",
                namespace.file_name()
            )
        })?;
    }
    if config
        .join
        .iter()
        .any(|(namespace, _)| *namespace == Namespace::Pid)
    {
        return Ok(());
    }
    unshare(CloneFlags::CLONE_NEWPID).map_err(|errno| format!("new PID namespace: {errno}"))
}

/// The child's own session (and terminal), its death with its parent, and the signal mask it
/// began with.
fn command_child(tty: bool) -> Result<(), String> {
    setsid().map_err(|errno| format!("setsid: {errno}"))?;
    if tty {
        // SAFETY: TIOCSCTTY takes an integer argument and touches no memory of ours.
        if unsafe { nix::libc::ioctl(0, nix::libc::TIOCSCTTY, 0) } < 0 {
            return Err(format!(
                "making the terminal controlling: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(|errno| format!("setting the parent-death signal: {errno}"))?;
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(|errno| format!("unblocking signals: {errno}"))
}

/// Writes why the container did not start to the runtime; the exit code to end with.
pub(crate) fn report(errors: OwnedFd, message: &str) -> i32 {
    let mut pipe = std::fs::File::from(errors);
    // The runtime is gone if this fails; the exit code still tells.
    let _ = pipe.write_all(message.as_bytes());
    NOT_STARTED
}

/// Passes signals on to the container until it exits, and ends as it did.
fn supervise(child: Pid, handled: &SigSet) -> i32 {
    loop {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, signal, _)) => return die_of(signal),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return NOT_STARTED,
        }
        match handled.wait() {
            Ok(Signal::SIGCHLD) | Err(_) => {}
            Ok(signal) => {
                let _ = kill(child, signal);
            }
        }
    }
}

/// Ends this process by `signal`, so the runtime sees what the container saw; without a core
/// dump of the init itself.
fn die_of(signal_number: Signal) -> i32 {
    let _ = setrlimit(Resource::RLIMIT_CORE, 0, 0);
    // SAFETY: restoring the default disposition installs no handler.
    let _ = unsafe { signal(signal_number, SigHandler::SigDfl) };
    let mut only = SigSet::empty();
    only.add(signal_number);
    let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&only), None);
    let _ = raise(signal_number);
    128 + signal_number as i32
}
