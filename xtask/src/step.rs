//! Runs one external command (cargo, apt-get, dpkg-query) and turns a spawn failure or a
//! non-zero exit into an error that names the command line, because "exit status 101" alone
//! does not tell the developer which of several steps broke.

use std::fmt;
use std::io;
use std::process::{Command, ExitStatus};

/// Why one external command did not succeed.
#[derive(Debug)]
pub enum StepError {
    /// The program could not be started at all (not installed, not executable).
    Spawn { command: String, source: io::Error },
    /// The program ran and exited unsuccessfully.
    Failed { command: String, status: ExitStatus },
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Spawn { command, .. } => write!(f, "could not start `{command}`"),
            Self::Failed { command, status } => write!(f, "`{command}` failed ({status})"),
        }
    }
}

impl std::error::Error for StepError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Spawn { source, .. } => Some(source),
            Self::Failed { .. } => None,
        }
    }
}

/// Runs `command` with inherited stdio and waits for it; succeeds only on exit status 0.
pub fn run(command: &mut Command) -> Result<(), StepError> {
    let line = describe(command);
    let status = command.status().map_err(|source| StepError::Spawn {
        command: line.clone(),
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(StepError::Failed {
            command: line,
            status,
        })
    }
}

/// The command line as a developer would type it, for messages.
pub fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_joins_program_and_arguments() {
        let mut command = Command::new("cargo");
        command.args(["build", "-p", "flotilla"]);
        assert_eq!(describe(&command), "cargo build -p flotilla");
    }

    #[test]
    fn run_reports_the_failing_command_line() {
        let error = run(Command::new("false").arg("--flag")).unwrap_err();
        assert!(matches!(error, StepError::Failed { .. }));
        assert!(error.to_string().starts_with("`false --flag` failed"));
    }

    #[test]
    fn run_reports_a_program_that_does_not_exist() {
        let error = run(&mut Command::new("/nonexistent/xtask-program")).unwrap_err();
        assert!(matches!(error, StepError::Spawn { .. }));
        assert_eq!(
            error.to_string(),
            "could not start `/nonexistent/xtask-program`"
        );
    }
}
