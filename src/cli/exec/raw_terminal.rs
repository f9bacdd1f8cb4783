//! The caller's terminal during `flotilla exec -t`: in raw mode, so every key (Ctrl-C too)
//! goes to the command's terminal instead of acting here, and put back as it was when the
//! exec ends, however it ends.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use flotilla_kernel::api::TerminalSize;
use rustix::termios::{OptionalActions, Termios, isatty, tcgetattr, tcgetwinsize, tcsetattr};

/// Standard input in raw mode until dropped.
pub struct RawTerminal {
    saved: Termios,
}

impl RawTerminal {
    /// Puts standard input in raw mode; `None` when it is not a terminal.
    pub fn enter() -> io::Result<Option<RawTerminal>> {
        let stdin = io::stdin();
        let fd = stdin.as_fd();
        if !isatty(fd) {
            return Ok(None);
        }
        let saved = tcgetattr(fd)?;
        let mut raw = saved.clone();
        raw.make_raw();
        tcsetattr(fd, OptionalActions::Now, &raw)?;
        Ok(Some(RawTerminal { saved }))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        // Nothing more can be done if the terminal went away.
        let _ = tcsetattr(io::stdin().as_fd(), OptionalActions::Now, &self.saved);
    }
}

/// Whether standard input is a terminal.
pub fn stdin_is_terminal() -> bool {
    isatty(io::stdin().as_fd())
}

/// The size of the terminal on standard input, if it is one.
pub fn size() -> Option<TerminalSize> {
    let stdin = io::stdin();
    let fd: BorrowedFd<'_> = stdin.as_fd();
    let size = tcgetwinsize(fd).ok()?;
    Some(TerminalSize {
        cols: size.ws_col,
        rows: size.ws_row,
    })
}
