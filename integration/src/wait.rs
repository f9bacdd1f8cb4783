//! Waiting for a condition of a live cluster with a deadline.
//!
//! End-to-end tests observe a system that converges on its own schedule, so they poll: every
//! check either says it is done or describes what it saw, and a timeout reports what was awaited
//! and the last thing seen, which is usually enough to tell why it never converged.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// How often [`wait_until`] checks again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// The condition holds.
    Done,
    /// Not yet; carries what was seen, for the timeout message.
    Waiting(String),
}

impl From<bool> for Observation {
    fn from(done: bool) -> Self {
        if done {
            Self::Done
        } else {
            Self::Waiting("the condition did not hold".to_owned())
        }
    }
}

/// Checks every 100 ms until `check` is done; panics after `deadline` naming `what` and the
/// last observation (an `Err` from `check` counts as an observation, not a failure).
pub fn wait_until<O: Into<Observation>>(
    deadline: Duration,
    what: &str,
    check: impl FnMut() -> Result<O>,
) {
    if let Err(error) = poll_until(deadline, POLL_INTERVAL, check) {
        panic!("waiting for {what}: {error:#}");
    }
}

/// Checks every `interval` until `check` is done or `deadline` has passed; the error then
/// carries the last observation.
pub fn poll_until<O: Into<Observation>>(
    deadline: Duration,
    interval: Duration,
    mut check: impl FnMut() -> Result<O>,
) -> Result<()> {
    let started = Instant::now();
    loop {
        let last = match check() {
            Ok(observation) => match observation.into() {
                Observation::Done => return Ok(()),
                Observation::Waiting(seen) => seen,
            },
            Err(error) => format!("error: {error:#}"),
        };
        if started.elapsed() >= deadline {
            bail!("timed out after {deadline:?}; last observation: {last}");
        }
        thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::anyhow;

    #[test]
    fn returns_as_soon_as_the_check_is_done() {
        let mut calls = 0;
        poll_until(Duration::from_secs(10), Duration::from_millis(1), || {
            calls += 1;
            Ok(calls == 3)
        })
        .unwrap();
        assert_eq!(calls, 3);
    }

    #[test]
    fn errors_count_as_observations_until_the_check_passes() {
        let mut calls = 0;
        poll_until(Duration::from_secs(10), Duration::from_millis(1), || {
            calls += 1;
            if calls < 2 {
                Err(anyhow!("connection refused"))
            } else {
                Ok(Observation::Done)
            }
        })
        .unwrap();
    }

    #[test]
    fn timeout_reports_the_last_observation() {
        let mut calls = 0;
        let error = poll_until(Duration::ZERO, Duration::from_millis(1), || {
            calls += 1;
            Ok(Observation::Waiting(format!("{calls} of 3 pods Running")))
        })
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "timed out after 0ns; last observation: 1 of 3 pods Running"
        );
    }

    #[test]
    #[should_panic(expected = "waiting for 3 pods Running: timed out")]
    fn wait_until_panics_naming_what_was_awaited() {
        wait_until(Duration::ZERO, "3 pods Running", || Ok(false));
    }
}
