//! The scheduling queue, after Kubernetes' (`pkg/scheduler/internal/queue`): which pending pod
//! to try next, and when to try a pod again.
//!
//! - The active queue holds the pods to try now, highest `spec.priority` first, then the
//!   earliest added (or last failed).
//! - A pod whose attempt failed for an error waits in the backoff queue: 1 s after its first
//!   attempt, doubling with each attempt up to 10 s.
//! - A pod that fits no node is parked as unschedulable until a cluster event that could make
//!   it fit (one of the events its rejecting plug-ins named), or for at most five minutes; it
//!   then goes through the backoff queue if its backoff has not run out yet. Nothing else
//!   retries it, so thousands of pods that cannot fit cost nothing while nothing changes.
//! - A pod being tried is in flight; the events seen meanwhile are kept, and if one of them
//!   could have made it fit, the pod goes to the backoff queue instead of being parked, so an
//!   event that arrives during an attempt is not lost.
//!
//! It is a pure state machine: every call takes `now`, and the actor asks it for the next
//! deadline to arm one timer.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::time::{Duration, Instant};

use super::events::ClusterEvents;
use crate::controllers::queue::RetryBackoff;

/// The queue's clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// Kubernetes' podInitialBackoffDuration and podMaxBackoffDuration.
    pub backoff: RetryBackoff,
    /// Kubernetes' podMaxInUnschedulablePodsDuration: the longest a pod stays parked.
    pub max_unschedulable: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            backoff: RetryBackoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(10),
            },
            max_unschedulable: Duration::from_secs(5 * 60),
        }
    }
}

/// Where a queued pod is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Active,
    Backoff {
        until: Instant,
    },
    Unschedulable {
        wake_on: ClusterEvents,
    },
    /// Being tried; `seen` collects the events that happened meanwhile.
    InFlight {
        seen: ClusterEvents,
    },
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    priority: i32,
    /// When the pod was added, or when its last attempt failed (orders the active queue).
    timestamp: Instant,
    /// Breaks ties between pods of the same timestamp: the one queued first goes first.
    seq: u64,
    attempts: u32,
    place: Place,
}

/// How many pods are where, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueCounts {
    pub active: usize,
    pub backoff: usize,
    pub unschedulable: usize,
    pub in_flight: usize,
}

/// The pending pods, by key.
#[derive(Debug)]
pub struct SchedulingQueue<K> {
    entries: HashMap<K, Entry>,
    active: BTreeSet<(Reverse<i32>, Instant, u64, K)>,
    backoff: BTreeSet<(Instant, u64, K)>,
    /// Parked pods by the instant they were parked.
    unschedulable: BTreeSet<(Instant, u64, K)>,
    in_flight: BTreeSet<K>,
    next_seq: u64,
    settings: QueueSettings,
}

impl<K: Clone + Ord + Hash> SchedulingQueue<K> {
    pub fn new(settings: QueueSettings) -> Self {
        Self {
            entries: HashMap::new(),
            active: BTreeSet::new(),
            backoff: BTreeSet::new(),
            unschedulable: BTreeSet::new(),
            in_flight: BTreeSet::new(),
            next_seq: 0,
            settings,
        }
    }

    /// Queues a new pending pod to be tried now; a pod already queued is left where it is.
    pub fn add(&mut self, key: K, priority: i32, now: Instant) {
        if self.entries.contains_key(&key) {
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = Entry {
            priority,
            timestamp: now,
            seq,
            attempts: 0,
            place: Place::Active,
        };
        self.entries.insert(key.clone(), entry);
        self.file(key, entry);
    }

    /// A queued pod changed in a way that may change where it fits (or its priority): a
    /// parked pod is moved on at once, as by an event of its own.
    pub fn update(&mut self, key: K, priority: i32, now: Instant) {
        let Some(mut entry) = self.entries.get(&key).copied() else {
            self.add(key, priority, now);
            return;
        };
        self.unfile(&key, &entry);
        entry.priority = priority;
        entry.place = match entry.place {
            Place::Unschedulable { .. } => self.moved_place(&entry, now),
            Place::InFlight { .. } => Place::InFlight {
                seen: ClusterEvents::ALL,
            },
            other => other,
        };
        self.entries.insert(key.clone(), entry);
        self.file(key, entry);
    }

    /// Forgets a pod: it was bound, deleted or is no longer pending.
    pub fn remove(&mut self, key: &K) {
        if let Some(entry) = self.entries.remove(key) {
            self.unfile(key, &entry);
        }
    }

    /// The pod to try now, if any; it is in flight until [`Self::remove`],
    /// [`Self::unschedulable`] or [`Self::retry`] says how the attempt went.
    pub fn pop(&mut self, now: Instant) -> Option<K> {
        self.flush(now);
        let (_, _, _, key) = self.active.pop_first()?;
        if let Some(entry) = self.entries.get_mut(&key) {
            entry.attempts = entry.attempts.saturating_add(1);
            entry.place = Place::InFlight {
                seen: ClusterEvents::NONE,
            };
        }
        self.in_flight.insert(key.clone());
        Some(key)
    }

    /// The pod in flight fits no node; only `wake_on` could change that (empty: anything).
    pub fn unschedulable(&mut self, key: &K, wake_on: ClusterEvents, now: Instant) {
        let wake_on = if wake_on.is_empty() {
            ClusterEvents::ALL
        } else {
            wake_on
        };
        self.after_attempt(key, now, |entry, queue| match entry.place {
            Place::InFlight { seen } if seen.intersects(wake_on) => Place::Backoff {
                until: queue.backoff_end(entry),
            },
            _ => Place::Unschedulable { wake_on },
        });
    }

    /// The attempt of the pod in flight failed for an error: try again after its backoff.
    pub fn retry(&mut self, key: &K, now: Instant) {
        self.after_attempt(key, now, |entry, queue| Place::Backoff {
            until: queue.backoff_end(entry),
        });
    }

    /// Moves on every parked pod that `events` could make fit: to the backoff queue while its
    /// backoff runs, else to the active queue. Pods in flight note the events. Returns how
    /// many pods were moved.
    pub fn move_on(&mut self, events: ClusterEvents, now: Instant) -> usize {
        if events.is_empty() {
            return 0;
        }
        for key in &self.in_flight {
            if let Some(Entry {
                place: Place::InFlight { seen },
                ..
            }) = self.entries.get_mut(key)
            {
                *seen = *seen | events;
            }
        }
        let woken: Vec<K> = self
            .unschedulable
            .iter()
            .filter(|(_, _, key)| {
                matches!(
                    self.entries.get(key).map(|e| e.place),
                    Some(Place::Unschedulable { wake_on }) if wake_on.intersects(events)
                )
            })
            .map(|(_, _, key)| key.clone())
            .collect();
        for key in &woken {
            self.wake(key, now);
        }
        woken.len()
    }

    /// Moves the pods whose backoff ended to the active queue, and the pods parked for longer
    /// than `max_unschedulable` on.
    pub fn flush(&mut self, now: Instant) {
        while let Some((until, _, key)) = self.backoff.first().cloned() {
            if until > now {
                break;
            }
            self.set_place(&key, Place::Active);
        }
        while let Some((parked, _, key)) = self.unschedulable.first().cloned() {
            if parked + self.settings.max_unschedulable > now {
                break;
            }
            self.wake(&key, now);
        }
    }

    /// Whether a pod is due at `now`.
    pub fn has_due(&self, now: Instant) -> bool {
        !self.active.is_empty() || self.next_deadline().is_some_and(|at| at <= now)
    }

    /// The next instant a waiting pod becomes due, for the actor's one timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        let backoff = self.backoff.first().map(|(until, _, _)| *until);
        let parked = self
            .unschedulable
            .first()
            .map(|(at, _, _)| *at + self.settings.max_unschedulable);
        backoff.into_iter().chain(parked).min()
    }

    pub fn counts(&self) -> QueueCounts {
        QueueCounts {
            active: self.active.len(),
            backoff: self.backoff.len(),
            unschedulable: self.unschedulable.len(),
            in_flight: self.in_flight.len(),
        }
    }

    /// Files the pod in flight according to `place` after its attempt.
    fn after_attempt(&mut self, key: &K, now: Instant, place: impl FnOnce(&Entry, &Self) -> Place) {
        let Some(mut entry) = self.entries.get(key).copied() else {
            return;
        };
        if !matches!(entry.place, Place::InFlight { .. }) {
            return;
        }
        self.unfile(key, &entry);
        entry.timestamp = now;
        entry.place = place(&entry, self);
        self.entries.insert(key.clone(), entry);
        self.file(key.clone(), entry);
    }

    /// Moves a parked pod on (see [`Self::move_on`]).
    fn wake(&mut self, key: &K, now: Instant) {
        if let Some(entry) = self.entries.get(key).copied() {
            let place = self.moved_place(&entry, now);
            self.set_place(key, place);
        }
    }

    fn moved_place(&self, entry: &Entry, now: Instant) -> Place {
        let until = self.backoff_end(entry);
        if until > now {
            Place::Backoff { until }
        } else {
            Place::Active
        }
    }

    /// When the pod's backoff ends: its backoff for the attempts so far after its last failure.
    fn backoff_end(&self, entry: &Entry) -> Instant {
        entry.timestamp + self.settings.backoff.delay(entry.attempts.max(1))
    }

    fn set_place(&mut self, key: &K, place: Place) {
        let Some(mut entry) = self.entries.get(key).copied() else {
            return;
        };
        self.unfile(key, &entry);
        entry.place = place;
        self.entries.insert(key.clone(), entry);
        self.file(key.clone(), entry);
    }

    fn file(&mut self, key: K, entry: Entry) {
        let seq = entry.seq;
        match entry.place {
            Place::Active => {
                self.active
                    .insert((Reverse(entry.priority), entry.timestamp, seq, key));
            }
            Place::Backoff { until } => {
                self.backoff.insert((until, seq, key));
            }
            Place::Unschedulable { .. } => {
                self.unschedulable.insert((entry.timestamp, seq, key));
            }
            Place::InFlight { .. } => {
                self.in_flight.insert(key);
            }
        }
    }

    fn unfile(&mut self, key: &K, entry: &Entry) {
        let seq = entry.seq;
        match entry.place {
            Place::Active => {
                self.active
                    .remove(&(Reverse(entry.priority), entry.timestamp, seq, key.clone()));
            }
            Place::Backoff { until } => {
                self.backoff.remove(&(until, seq, key.clone()));
            }
            Place::Unschedulable { .. } => {
                self.unschedulable
                    .remove(&(entry.timestamp, seq, key.clone()));
            }
            Place::InFlight { .. } => {
                self.in_flight.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests;
