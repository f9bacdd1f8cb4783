//! The pure decision core of a supervisor: which children to restart after one exits, after
//! how long, or whether to give up and escalate to the parent.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Which children are restarted when one of them exits unexpectedly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Only the child that exited.
    OneForOne,
    /// Every child: for children that cannot work without each other.
    OneForAll,
    /// The child that exited and every child started after it (they depend on it).
    RestForOne,
}

/// Restart intensity: more than `max_restarts` within `within` means the fault is not
/// transient, and the supervisor escalates instead of restarting forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intensity {
    pub max_restarts: usize,
    pub within: Duration,
}

/// Exponential restart delay: `initial` for the first restart inside the intensity window,
/// doubling for each further one, never above `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    fn delay(&self, restarts_in_window: usize) -> Duration {
        let doublings = restarts_in_window.saturating_sub(1).min(31) as u32;
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }
}

/// What the supervisor must do after a child exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Stop the listed children that are still running, then start all of them again, in
    /// start order, after `after`.
    Restart {
        children: Vec<usize>,
        after: Duration,
    },
    /// Intensity exceeded: stop everything and fail, so the parent decides.
    Escalate { restarts: usize, within: Duration },
}

/// Remembers recent restarts of one supervisor and turns child exits into decisions.
#[derive(Debug, Clone)]
pub struct RestartTracker {
    strategy: Strategy,
    intensity: Intensity,
    backoff: Backoff,
    recent: VecDeque<Instant>,
}

impl RestartTracker {
    pub fn new(strategy: Strategy, intensity: Intensity, backoff: Backoff) -> Self {
        Self {
            strategy,
            intensity,
            backoff,
            recent: VecDeque::new(),
        }
    }

    /// Child `index` (in start order) of `count` children exited unexpectedly at `now`.
    pub fn child_exited(&mut self, index: usize, count: usize, now: Instant) -> Decision {
        while let Some(&first) = self.recent.front() {
            if now.saturating_duration_since(first) > self.intensity.within {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        if self.recent.len() >= self.intensity.max_restarts {
            return Decision::Escalate {
                restarts: self.recent.len(),
                within: self.intensity.within,
            };
        }
        self.recent.push_back(now);
        let children = match self.strategy {
            Strategy::OneForOne => vec![index],
            Strategy::OneForAll => (0..count).collect(),
            Strategy::RestForOne => (index..count).collect(),
        };
        Decision::Restart {
            children,
            after: self.backoff.delay(self.recent.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(strategy: Strategy) -> RestartTracker {
        RestartTracker::new(
            strategy,
            Intensity {
                max_restarts: 3,
                within: Duration::from_secs(10),
            },
            Backoff {
                initial: Duration::from_millis(100),
                max: Duration::from_millis(250),
            },
        )
    }

    fn restart(children: Vec<usize>, ms: u64) -> Decision {
        Decision::Restart {
            children,
            after: Duration::from_millis(ms),
        }
    }

    #[test]
    fn strategies_pick_the_affected_children() {
        let now = Instant::now();
        assert_eq!(
            tracker(Strategy::OneForOne).child_exited(1, 4, now),
            restart(vec![1], 100)
        );
        assert_eq!(
            tracker(Strategy::OneForAll).child_exited(1, 4, now),
            restart(vec![0, 1, 2, 3], 100)
        );
        assert_eq!(
            tracker(Strategy::RestForOne).child_exited(1, 4, now),
            restart(vec![1, 2, 3], 100)
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let mut t = tracker(Strategy::OneForOne);
        let now = Instant::now();
        assert_eq!(t.child_exited(0, 1, now), restart(vec![0], 100));
        assert_eq!(t.child_exited(0, 1, now), restart(vec![0], 200));
        assert_eq!(t.child_exited(0, 1, now), restart(vec![0], 250));
    }

    #[test]
    fn escalates_when_intensity_is_exceeded() {
        let mut t = tracker(Strategy::OneForOne);
        let now = Instant::now();
        for _ in 0..3 {
            assert!(matches!(
                t.child_exited(0, 1, now),
                Decision::Restart { .. }
            ));
        }
        assert_eq!(
            t.child_exited(0, 1, now + Duration::from_secs(1)),
            Decision::Escalate {
                restarts: 3,
                within: Duration::from_secs(10)
            }
        );
    }

    #[test]
    fn old_restarts_age_out_of_the_window_and_reset_backoff() {
        let mut t = tracker(Strategy::OneForOne);
        let start = Instant::now();
        for _ in 0..3 {
            t.child_exited(0, 1, start);
        }
        let later = start + Duration::from_secs(11);
        assert_eq!(t.child_exited(0, 1, later), restart(vec![0], 100));
    }
}
