//! Where the CLI's words go: results to standard output, problems to standard error as one
//! line each. API errors read as kubectl prints them (`Error from server (NotFound): ...`) so
//! an operator's scripts and habits carry over; everything else reads `error: ...`.

use std::fmt::Display;
use std::io::{self, Write};

use flotilla_kernel::api::ClientError;

/// Writing to the terminal failed.
#[derive(Debug, thiserror::Error)]
#[error("writing to standard output")]
pub struct StdoutError(#[source] io::Error);

/// Writes `text` to standard output as it is.
pub fn print(text: &str) -> Result<(), StdoutError> {
    print_bytes(text.as_bytes())
}

/// Writes raw bytes (a container's log) to standard output and flushes them at once, so a
/// followed log shows up as it is written.
pub fn print_bytes(bytes: &[u8]) -> Result<(), StdoutError> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(StdoutError)
}

/// Writes one line to standard output.
pub fn print_line(line: impl Display) -> Result<(), StdoutError> {
    print(&format!("{line}\n"))
}

/// Writes one informational line to standard error (e.g. "No resources found").
pub fn notice(line: impl Display) -> io::Result<()> {
    writeln!(io::stderr().lock(), "{line}")
}

/// Writes the error as one line to standard error.
pub fn print_error(error: &anyhow::Error) -> io::Result<()> {
    writeln!(io::stderr().lock(), "{}", error_line(error))
}

/// The line an error is reported as.
pub fn error_line(error: &anyhow::Error) -> String {
    match error.downcast_ref::<ClientError>() {
        Some(ClientError::Api(api)) => {
            format!("Error from server ({}): {}", api.code.as_str(), api.message)
        }
        _ => format!("error: {error:#}"),
    }
}

/// Whether the error is only that the reader of our output went away (`flotilla get po | head`),
/// which is no failure worth a message.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<StdoutError>()
        .is_some_and(|StdoutError(io)| io.kind() == io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::api::{ApiError, ErrorCode};

    use super::*;

    #[test]
    fn api_errors_read_like_kubectl() {
        let error = anyhow::Error::from(ClientError::Api(ApiError::new(
            ErrorCode::NotFound,
            "pods \"x\" not found",
        )));
        assert_eq!(
            error_line(&error),
            "Error from server (NotFound): pods \"x\" not found"
        );
    }

    #[test]
    fn other_errors_show_their_causes_on_one_line() {
        let error = anyhow::Error::from(StdoutError(io::Error::other("disk on fire")));
        assert_eq!(
            error_line(&error),
            "error: writing to standard output: disk on fire"
        );
        assert!(!is_broken_pipe(&error));
    }

    #[test]
    fn a_closed_pipe_is_recognised() {
        let error = anyhow::Error::from(StdoutError(io::Error::from(io::ErrorKind::BrokenPipe)));
        assert!(is_broken_pipe(&error));
    }
}
