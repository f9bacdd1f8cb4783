//! Stopping a pod that is being deleted: SIGTERM to every container, SIGKILL to those still
//! running when the grace period is over, then the pod is done. Pure: the driver keeps when
//! the SIGTERM was sent and performs the steps.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send SIGTERM to these runtime ids (first step).
    Terminate(Vec<String>),
    /// Wait, then look again.
    Wait(Duration),
    /// The grace period is over: SIGKILL these.
    Kill(Vec<String>),
    /// Nothing runs any more: clean up and delete the pod object.
    Done,
}

/// How often a terminating pod is looked at while its containers stop.
const POLL: Duration = Duration::from_millis(200);

/// `running` are the ids still running; `term_sent` is when SIGTERM went out, if it did.
pub fn next_step(
    running: Vec<String>,
    term_sent: Option<Instant>,
    grace: Duration,
    now: Instant,
) -> Step {
    if running.is_empty() {
        return Step::Done;
    }
    match term_sent {
        None => Step::Terminate(running),
        Some(sent) if now.saturating_duration_since(sent) >= grace => Step::Kill(running),
        Some(sent) => Step::Wait(POLL.min(grace - now.saturating_duration_since(sent))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn term_then_wait_then_kill() {
        let start = Instant::now();
        let grace = Duration::from_secs(5);
        let ids = || vec!["a".to_string()];
        assert_eq!(next_step(ids(), None, grace, start), Step::Terminate(ids()));
        assert_eq!(
            next_step(ids(), Some(start), grace, start + Duration::from_secs(1)),
            Step::Wait(POLL)
        );
        assert_eq!(
            next_step(
                ids(),
                Some(start),
                grace,
                start + Duration::from_millis(4900)
            ),
            Step::Wait(Duration::from_millis(100))
        );
        assert_eq!(
            next_step(ids(), Some(start), grace, start + grace),
            Step::Kill(ids())
        );
        assert_eq!(next_step(vec![], Some(start), grace, start), Step::Done);
    }
}
