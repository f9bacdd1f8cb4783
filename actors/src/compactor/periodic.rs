//! etcd's periodic compaction policy (`--auto-compaction-mode=periodic`, etcd 3.4 and later,
//! `server/etcdserver/api/v3compactor/periodic.go`) as a pure state machine: the driver feeds
//! it the time and the store's revision at each tick and performs the compactions it asks for.
//!
//! With a retention of `P`, the compaction interval is `C = min(P, 1h)` and the store's
//! revision is sampled every `C/10`; the last `P/(C/10) + 1` samples are kept, so the oldest
//! is the revision that was current about `P` ago. The first compaction waits a full `P` after
//! start (nothing older is known yet), later ones come every `C` after the last success, and a
//! failed one is retried at the next tick. Each compacts to the oldest sample.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// etcd compacts at least this often, however long the retention.
const MAX_COMPACT_INTERVAL: Duration = Duration::from_secs(3600);
/// Ticks (revision samples) per compaction interval: etcd's `retryDivisor`.
const TICKS_PER_INTERVAL: u32 = 10;
/// Ticks never come closer than this, so a tiny retention cannot busy the runtime thread.
const MIN_TICK: Duration = Duration::from_millis(1);

/// When to compact, and through which revision, to keep `retention` of history.
#[derive(Debug, Clone)]
pub struct Periodic {
    /// Time between compactions once the first is done (`C`).
    interval: Duration,
    /// Time between two ticks: samples and retries (`C/10`).
    tick: Duration,
    /// Samples kept; the oldest was taken about `retention` ago.
    capacity: usize,
    samples: VecDeque<u64>,
    last_success: Instant,
    /// How long after the last success the next compaction is due: `retention` until the
    /// first one, `interval` afterwards.
    wait: Duration,
}

impl Periodic {
    /// The policy for `retention`, started at `now` when the store's revision is `revision`;
    /// `None` when `retention` is zero, which turns automatic compaction off as in etcd.
    pub fn new(retention: Duration, now: Instant, revision: u64) -> Option<Periodic> {
        if retention.is_zero() {
            return None;
        }
        let interval = retention.min(MAX_COMPACT_INTERVAL);
        let tick = (interval / TICKS_PER_INTERVAL).max(MIN_TICK);
        let ticks_per_retention = retention.as_nanos() / tick.as_nanos();
        let capacity = usize::try_from(ticks_per_retention)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let mut samples = VecDeque::new();
        samples.push_back(revision);
        Some(Periodic {
            interval,
            tick,
            capacity,
            samples,
            last_success: now,
            wait: retention,
        })
    }

    /// How long the driver waits between two ticks.
    pub fn tick_interval(&self) -> Duration {
        self.tick
    }

    /// A tick, one `tick_interval` after the previous sample: the revision to compact through
    /// now, if a compaction is due. The driver reports how it went with
    /// [`Periodic::compacted`] (only on success), then takes the next sample.
    pub fn due(&mut self, now: Instant) -> Option<u64> {
        if now.saturating_duration_since(self.last_success) < self.wait {
            return None;
        }
        self.wait = self.interval;
        self.samples.front().copied()
    }

    /// The compaction [`Periodic::due`] asked for succeeded (or found the history already
    /// compacted) at `now`: the next one is due `interval` later.
    pub fn compacted(&mut self, now: Instant) {
        self.last_success = now;
    }

    /// Records the store's current revision; the oldest sample falls out once there are more
    /// than `retention` worth.
    pub fn sample(&mut self, revision: u64) {
        self.samples.push_back(revision);
        if self.samples.len() > self.capacity {
            self.samples.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives `policy` tick by tick from `start` as the actor does, the revision growing by one
    /// each tick and every compaction succeeding; returns `(tick number, revision)` of each
    /// compaction.
    fn run(policy: &mut Periodic, start: Instant, ticks: u32) -> Vec<(u32, u64)> {
        let mut compactions = Vec::new();
        for n in 1..=ticks {
            let now = start + policy.tick_interval() * n;
            if let Some(revision) = policy.due(now) {
                policy.compacted(now);
                compactions.push((n, revision));
            }
            policy.sample(u64::from(n));
        }
        compactions
    }

    #[test]
    fn zero_turns_automatic_compaction_off() {
        assert!(Periodic::new(Duration::ZERO, Instant::now(), 5).is_none());
    }

    #[test]
    fn an_hour_samples_every_six_minutes_and_compacts_hourly_after_the_first_hour() {
        let start = Instant::now();
        let mut policy = Periodic::new(Duration::from_secs(3600), start, 0).unwrap();
        assert_eq!(policy.tick_interval(), Duration::from_secs(360));
        let compactions = run(&mut policy, start, 40);
        // At tick 10 (one hour) the oldest sample is the one taken at start; afterwards every
        // tenth tick compacts to the revision sampled an hour and a tick before.
        assert_eq!(compactions, vec![(10, 0), (20, 9), (30, 19), (40, 29)]);
    }

    #[test]
    fn a_day_still_compacts_hourly_keeping_a_day_of_history() {
        let start = Instant::now();
        let mut policy = Periodic::new(Duration::from_secs(24 * 3600), start, 0).unwrap();
        assert_eq!(policy.tick_interval(), Duration::from_secs(360));
        let compactions = run(&mut policy, start, 260);
        // Nothing for the first day (240 ticks), then every hour the revision of a day ago.
        assert_eq!(compactions, vec![(240, 0), (250, 9), (260, 19)]);
    }

    #[test]
    fn short_retentions_scale_down_as_in_etcd() {
        let start = Instant::now();
        let mut policy = Periodic::new(Duration::from_secs(2), start, 0).unwrap();
        assert_eq!(policy.tick_interval(), Duration::from_millis(200));
        assert_eq!(
            run(&mut policy, start, 30),
            vec![(10, 0), (20, 9), (30, 19)]
        );
        let odd = Periodic::new(Duration::from_secs(59 * 60), start, 0).unwrap();
        assert_eq!(odd.tick_interval(), Duration::from_secs(354));
    }

    #[test]
    fn a_failed_compaction_is_retried_at_the_next_tick() {
        let start = Instant::now();
        let mut policy = Periodic::new(Duration::from_secs(10), start, 7).unwrap();
        let tick = policy.tick_interval();
        for n in 1..10 {
            assert_eq!(policy.due(start + tick * n), None, "tick {n}");
            policy.sample(7 + u64::from(n));
        }
        // Due at tick 10; it fails, so each later tick tries again, and once the window has
        // moved on, with the newer oldest sample.
        assert_eq!(policy.due(start + tick * 10), Some(7));
        policy.sample(17);
        assert_eq!(policy.due(start + tick * 11), Some(7));
        policy.sample(18);
        assert_eq!(policy.due(start + tick * 12), Some(8));
        policy.compacted(start + tick * 12);
        policy.sample(19);
        assert_eq!(policy.due(start + tick * 13), None);
    }

    #[test]
    fn a_late_tick_still_compacts_to_the_oldest_sample() {
        let start = Instant::now();
        let mut policy = Periodic::new(Duration::from_secs(1), start, 3).unwrap();
        // The driver was held up (a slow compaction, a busy machine): due all the same.
        assert_eq!(policy.due(start + Duration::from_secs(5)), Some(3));
    }
}
