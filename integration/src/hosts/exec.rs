//! Runs planned steps: the thin, impure edge of the harness.

use std::process::Command;
use std::time::Duration;

use anyhow::{Result, bail};

use super::plan::Step;
use crate::bounded_command::output_within;

/// How long one `ip` or `nft` command may take before it is killed and reported.
const STEP_LIMIT: Duration = Duration::from_secs(20);

/// Runs `step` and returns its stdout; fails with the command line and its stderr if it does
/// not succeed within the limit.
pub fn run(step: &Step) -> Result<String> {
    let output = output_within(Command::new(step.program).args(&step.args), STEP_LIMIT)?;
    if !output.status.success() {
        bail!(
            "`{step}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs `steps` in order, stopping at the first failure.
pub fn run_all(steps: &[Step]) -> Result<()> {
    for step in steps {
        run(step)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Step {
        Step {
            program: "sh",
            args: vec!["-c".to_owned(), script.to_owned()],
        }
    }

    #[test]
    fn returns_what_the_step_printed() {
        assert_eq!(run(&sh("echo flt1r0-h0")).unwrap(), "flt1r0-h0\n");
    }

    #[test]
    fn a_failing_step_names_the_command_and_quotes_its_stderr() {
        let error = run(&sh("echo 'Cannot find device \"h9\"' >&2; exit 1")).unwrap_err();
        let message = error.to_string();
        assert!(message.starts_with("`sh -c echo"), "{message}");
        assert!(
            message.ends_with("failed (exit status: 1): Cannot find device \"h9\""),
            "{message}"
        );
    }

    #[test]
    fn run_all_stops_at_the_first_failure() {
        let marker = tempfile::tempdir().unwrap();
        let after = marker.path().join("after");
        let steps = [sh("exit 2"), sh(&format!("touch {}", after.display()))];
        assert!(run_all(&steps).is_err());
        assert!(!after.exists());
    }
}
