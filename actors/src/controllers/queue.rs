//! The work queue every controller is driven by: a set of object KEYS, not events, as
//! Kubernetes controllers keep. A key is queued at most once however many events name it, is
//! handed out to one reconcile at a time, can be parked until an instant (requeue after a
//! delay) and is retried with per-key exponential backoff after a failure. [`RetryBackoff`]
//! is also the scheduling queue's backoff.
//!
//! It is a pure data structure driven with explicit instants, so the driver actor only asks it
//! what is due and tests need no clock.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

/// Delay before retrying a key that failed: `initial` after the first failure, doubling for
/// each further consecutive failure, never above `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBackoff {
    pub initial: Duration,
    pub max: Duration,
}

impl RetryBackoff {
    /// The delay after `failures` consecutive failures (1 for the first).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }
}

impl Default for RetryBackoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(5),
            max: Duration::from_secs(30),
        }
    }
}

/// Deduplicated keys waiting to be reconciled, now or at a later instant.
#[derive(Debug)]
pub struct WorkQueue<K> {
    /// Keys due now, in the order they became due.
    ready: VecDeque<K>,
    /// The same keys as `ready`, for deduplication.
    queued: BTreeSet<K>,
    /// Keys parked until an instant, by key.
    parked: BTreeMap<K, Instant>,
    /// The same keys as `parked`, by instant, so the earliest is found at once.
    deadlines: BTreeSet<(Instant, K)>,
    /// Consecutive failures per key.
    failures: BTreeMap<K, u32>,
    backoff: RetryBackoff,
}

impl<K: Clone + Ord> WorkQueue<K> {
    pub fn new(backoff: RetryBackoff) -> Self {
        Self {
            ready: VecDeque::new(),
            queued: BTreeSet::new(),
            parked: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            failures: BTreeMap::new(),
            backoff,
        }
    }

    /// Queues `key` to be reconciled as soon as possible (a parked key is brought forward).
    pub fn add(&mut self, key: K) {
        if self.queued.contains(&key) {
            return;
        }
        self.unpark(&key);
        self.queued.insert(key.clone());
        self.ready.push_back(key);
    }

    /// Queues `key` to be reconciled at `at`, unless it is already due earlier.
    pub fn add_at(&mut self, key: K, at: Instant) {
        if self.queued.contains(&key) {
            return;
        }
        if let Some(&current) = self.parked.get(&key) {
            if current <= at {
                return;
            }
            self.unpark(&key);
        }
        self.deadlines.insert((at, key.clone()));
        self.parked.insert(key, at);
    }

    /// Records a failed reconcile of `key` and parks it for its backoff; returns the delay.
    pub fn retry(&mut self, key: K, now: Instant) -> Duration {
        let failures = self.failures.entry(key.clone()).or_insert(0);
        *failures = failures.saturating_add(1);
        let delay = self.backoff.delay(*failures);
        self.add_at(key, now + delay);
        delay
    }

    /// Records a successful reconcile of `key`: its next failure starts the backoff anew.
    pub fn forget(&mut self, key: &K) {
        self.failures.remove(key);
    }

    /// Takes the next key due at `now`, if any; it is no longer queued until added again.
    pub fn pop(&mut self, now: Instant) -> Option<K> {
        while let Some((at, key)) = self.deadlines.first().cloned() {
            if at > now {
                break;
            }
            self.unpark(&key);
            if self.queued.insert(key.clone()) {
                self.ready.push_back(key);
            }
        }
        let key = self.ready.pop_front()?;
        self.queued.remove(&key);
        Some(key)
    }

    /// Whether a key is due now.
    pub fn has_ready(&self, now: Instant) -> bool {
        !self.ready.is_empty() || self.deadlines.first().is_some_and(|(at, _)| *at <= now)
    }

    /// The earliest instant a parked key becomes due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    fn unpark(&mut self, key: &K) {
        if let Some(at) = self.parked.remove(key) {
            self.deadlines.remove(&(at, key.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> WorkQueue<&'static str> {
        WorkQueue::new(RetryBackoff::default())
    }

    #[test]
    fn keys_are_deduplicated_and_handed_out_in_order() {
        let now = Instant::now();
        let mut q = queue();
        q.add("a");
        q.add("b");
        q.add("a");
        assert_eq!(q.pop(now), Some("a"));
        q.add("a");
        assert_eq!(q.pop(now), Some("b"));
        assert_eq!(q.pop(now), Some("a"));
        assert_eq!(q.pop(now), None);
        assert!(!q.has_ready(now));
    }

    #[test]
    fn parked_keys_become_due_at_their_instant() {
        let now = Instant::now();
        let mut q = queue();
        q.add_at("a", now + Duration::from_secs(2));
        q.add_at("b", now + Duration::from_secs(1));
        assert!(!q.has_ready(now));
        assert_eq!(q.next_deadline(), Some(now + Duration::from_secs(1)));
        assert_eq!(q.pop(now), None);
        let later = now + Duration::from_secs(2);
        assert!(q.has_ready(later));
        assert_eq!(q.pop(later), Some("b"));
        assert_eq!(q.pop(later), Some("a"));
        assert_eq!(q.next_deadline(), None);
    }

    #[test]
    fn the_earlier_of_two_deadlines_wins_and_add_brings_a_key_forward() {
        let now = Instant::now();
        let mut q = queue();
        q.add_at("a", now + Duration::from_secs(5));
        q.add_at("a", now + Duration::from_secs(9));
        assert_eq!(q.next_deadline(), Some(now + Duration::from_secs(5)));
        q.add_at("a", now + Duration::from_secs(1));
        assert_eq!(q.next_deadline(), Some(now + Duration::from_secs(1)));
        q.add("a");
        assert_eq!(q.next_deadline(), None);
        assert_eq!(q.pop(now), Some("a"));
        assert_eq!(q.pop(now), None, "the key was queued once");
        q.add("b");
        q.add_at("b", now + Duration::from_secs(1));
        assert_eq!(q.next_deadline(), None, "a key due now is not parked again");
    }

    #[test]
    fn failures_back_off_exponentially_until_forgotten() {
        let now = Instant::now();
        let mut q = queue();
        assert_eq!(q.retry("a", now), Duration::from_millis(5));
        assert_eq!(q.pop(now + Duration::from_millis(5)), Some("a"));
        assert_eq!(q.retry("a", now), Duration::from_millis(10));
        assert_eq!(q.pop(now + Duration::from_millis(10)), Some("a"));
        assert_eq!(q.retry("a", now), Duration::from_millis(20));
        q.pop(now + Duration::from_millis(20));
        q.forget(&"a");
        assert_eq!(q.retry("a", now), Duration::from_millis(5));
    }

    #[test]
    fn backoff_is_capped() {
        let backoff = RetryBackoff::default();
        assert_eq!(backoff.delay(1), Duration::from_millis(5));
        assert_eq!(
            backoff.delay(13),
            Duration::from_secs(20) + Duration::from_millis(480)
        );
        assert_eq!(backoff.delay(14), Duration::from_secs(30));
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(30));
    }
}
