//! Running a command inside a running container: what `flotilla exec`, exec probes and exec
//! lifecycle hooks ask of a runtime.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use std::process::Stdio;

use tokio::process::{Child, Command};

use super::{Runtime, RuntimeError};

/// A command to run in a running container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    pub command: Vec<String>,
    /// Keep standard input open for the caller to write (`-i`).
    pub stdin: bool,
    /// Run on a terminal of this size (`-t`): its controlling side comes back as
    /// [`ExecProcess::terminal`].
    pub tty: Option<TerminalSize>,
    /// The caller reads the output as it comes (a user's exec), not only once the command
    /// has ended (probes, hooks); a runtime that can do either then streams it.
    pub live: bool,
}

/// A terminal's size in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TerminalSize {
    pub cols: u16,
    pub rows: u16,
}

impl TerminalSize {
    fn winsize(self) -> rustix::termios::Winsize {
        rustix::termios::Winsize {
            ws_row: self.rows,
            ws_col: self.cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        }
    }
}

/// A command running in a container. `child` ends as the command does (its exit status is the
/// command's); without a terminal its standard streams are piped as asked, with one they are
/// all the terminal.
#[derive(Debug)]
pub struct ExecProcess {
    pub child: Child,
    pub terminal: Option<File>,
}

/// Sets the size of an exec's terminal, given its controlling side, as the caller's terminal
/// is resized.
pub fn resize_terminal(terminal: &File, size: TerminalSize) -> std::io::Result<()> {
    rustix::termios::tcsetwinsize(terminal, size.winsize()).map_err(Into::into)
}

/// A new terminal of `size`: its controlling side and the command's.
fn open_terminal(size: TerminalSize) -> io::Result<(File, OwnedFd)> {
    let pty = nix::pty::openpty(None, None)?;
    // Neither side may leak into other children the agent starts meanwhile.
    for side in [pty.master.as_fd(), pty.slave.as_fd()] {
        nix::fcntl::fcntl(
            side,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )?;
    }
    let master = File::from(pty.master);
    resize_terminal(&master, size)?;
    Ok((master, pty.slave))
}

/// Wires an exec's standard streams as `request` asks: a new terminal for all three (its
/// controlling side returned), or pipes for the output and, with `stdin`, the input.
pub fn exec_stdio(command: &mut Command, request: &ExecRequest) -> io::Result<Option<File>> {
    if let Some(size) = request.tty {
        // Made at the caller's size, so the command never sees a terminal without one.
        let (master, slave) = open_terminal(size)?;
        let follower = File::from(slave);
        command
            .stdin(follower.try_clone()?)
            .stdout(follower.try_clone()?)
            .stderr(follower);
        return Ok(Some(master));
    }
    command
        .stdin(if request.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Ok(None)
}

/// How a command run to completion ended, and what it wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// The exit status, or 128+N when signal N ended it.
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// How much of an exec's output is kept, as the kubelet keeps of a probe's.
const KEPT_OUTPUT: usize = 10 * 1024;

/// Runs `command` in container `id` to completion, killing it after `timeout`: what exec
/// probes and hooks do. The start, which forks, runs on the blocking pool.
pub async fn exec_sync(
    runtime: Arc<dyn Runtime>,
    id: &str,
    command: Vec<String>,
    timeout: Duration,
) -> Result<ExecOutput, RuntimeError> {
    let request = ExecRequest {
        command,
        stdin: false,
        tty: None,
        live: false,
    };
    let owned_id = id.to_string();
    let process = tokio::task::spawn_blocking(move || runtime.exec(&owned_id, &request))
        .await
        .map_err(|error| RuntimeError::Sandbox {
            id: id.to_string(),
            message: format!("the exec did not start: {error}"),
        })??;
    let mut child = process.child;
    let output = match tokio::time::timeout(timeout, wait_for_output(&mut child)).await {
        Ok(output) => output,
        Err(_) => {
            // The command dies with its helper (parent-death signal).
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(RuntimeError::ExecTimeout {
                id: id.to_string(),
                seconds: timeout.as_secs_f64(),
            });
        }
    };
    output.map_err(|source| RuntimeError::Sandbox {
        id: id.to_string(),
        message: format!("waiting for the exec: {source}"),
    })
}

async fn wait_for_output(child: &mut Child) -> std::io::Result<ExecOutput> {
    use tokio::io::AsyncReadExt;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let out = child.stdout.take();
    let err = child.stderr.take();
    let read_out = async {
        if let Some(mut out) = out {
            out.read_to_end(&mut stdout).await?;
        }
        Ok::<_, std::io::Error>(())
    };
    let read_err = async {
        if let Some(mut err) = err {
            err.read_to_end(&mut stderr).await?;
        }
        Ok::<_, std::io::Error>(())
    };
    let (status, read_out, read_err) = tokio::join!(child.wait(), read_out, read_err);
    read_out?;
    read_err?;
    let status = status?;
    stdout.truncate(KEPT_OUTPUT);
    stderr.truncate(KEPT_OUTPUT);
    Ok(ExecOutput {
        exit_code: exit_code(status),
        stdout,
        stderr,
    })
}

/// An exit status as a container's exit code: the code, or 128+N for signal N.
pub fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(-1)
}
