//! Live delivery of committed events to watchers.
//!
//! The store calls [`WatchHub::publish`] and [`WatchHub::subscribe`] only while holding its
//! writer lock, so a new watcher's history (read from the revision log up to the current
//! revision) and its live feed (every later commit) meet without a gap or an overlap.
//!
//! Each watcher has its own bounded channel whose items are the matching events of one
//! revision, so the bound counts revisions and one large transaction alone never cancels a
//! watcher. Publishing never blocks the writer: a watcher whose buffer is full is cancelled
//! instead. It then receives what was already buffered (whole revisions) and afterwards
//! [`WatchError::Lagged`] with the last revision it got, from which it can watch again.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::event::Event;

/// How many not yet received revisions a watcher may have buffered before it is cancelled.
pub(crate) const DEFAULT_WATCH_BUFFER: usize = 4096;

/// Why a watcher stopped delivering events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    /// The watcher did not keep up with commits and was cancelled. Every event up to and
    /// including revision `last_delivered` was delivered; watch again from there.
    #[error("watcher fell behind and was cancelled after revision {last_delivered}")]
    Lagged { last_delivered: u64 },
}

/// The live end of one watcher, kept by the hub.
struct Subscriber {
    prefix: Vec<u8>,
    sender: mpsc::Sender<Vec<Event>>,
    lagged: Arc<AtomicBool>,
}

/// The set of live watchers of a store.
pub(crate) struct WatchHub {
    subscribers: Vec<Subscriber>,
    buffer: usize,
}

impl WatchHub {
    /// A hub whose watchers each buffer at most `buffer` revisions (at least one).
    pub(crate) fn new(buffer: usize) -> WatchHub {
        WatchHub {
            subscribers: Vec::new(),
            buffer: buffer.max(1),
        }
    }

    /// Registers a watcher for keys under `prefix` that first yields `history` (the matching
    /// events after `after_revision` up to the current revision) and then every published
    /// event after `after_revision`.
    pub(crate) fn subscribe(
        &mut self,
        prefix: &[u8],
        after_revision: u64,
        history: Vec<Event>,
    ) -> Watcher {
        let (sender, receiver) = mpsc::channel(self.buffer);
        let lagged = Arc::new(AtomicBool::new(false));
        self.subscribers.push(Subscriber {
            prefix: prefix.to_vec(),
            sender,
            lagged: Arc::clone(&lagged),
        });
        Watcher {
            pending: history.into(),
            receiver,
            lagged,
            after_revision,
            last_delivered: after_revision,
        }
    }

    /// Hands the events of one committed revision to every watcher whose prefix matches,
    /// cancelling watchers whose buffer is full and forgetting dropped ones.
    pub(crate) fn publish(&mut self, events: &[Event]) {
        self.subscribers.retain(|subscriber| {
            let matching: Vec<Event> = events
                .iter()
                .filter(|event| event.kv.key.starts_with(&subscriber.prefix))
                .cloned()
                .collect();
            if matching.is_empty() {
                return !subscriber.sender.is_closed();
            }
            match subscriber.sender.try_send(matching) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    subscriber.lagged.store(true, Ordering::Release);
                    tracing::warn!(
                        prefix = %subscriber.prefix.escape_ascii(),
                        "watcher fell behind and was cancelled"
                    );
                    false
                }
                Err(TrySendError::Closed(_)) => false,
            }
        });
    }
}

/// A stream of the events under one prefix, in revision order, each exactly once.
pub struct Watcher {
    pending: VecDeque<Event>,
    receiver: mpsc::Receiver<Vec<Event>>,
    lagged: Arc<AtomicBool>,
    after_revision: u64,
    last_delivered: u64,
}

impl Watcher {
    /// The next event; `Ok(None)` once the store is dropped and everything buffered was
    /// delivered; `Err(WatchError::Lagged)` if this watcher was cancelled for falling behind.
    pub async fn next(&mut self) -> Result<Option<Event>, WatchError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.last_delivered = event.revision();
                return Ok(Some(event));
            }
            match self.receiver.recv().await {
                Some(events) => {
                    let after = self.after_revision;
                    self.pending
                        .extend(events.into_iter().filter(|e| e.revision() > after));
                }
                None if self.lagged.load(Ordering::Acquire) => {
                    return Err(WatchError::Lagged {
                        last_delivered: self.last_delivered,
                    });
                }
                None => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use crate::kv::KeyValue;

    fn put(key: &[u8], revision: u64) -> Event {
        Event {
            kind: EventKind::Put,
            kv: KeyValue {
                key: key.to_vec(),
                value: Vec::new(),
                create_revision: revision,
                mod_revision: revision,
                version: 1,
            },
            prev: None,
        }
    }

    #[tokio::test]
    async fn history_comes_before_live_and_prefix_filters() {
        let mut hub = WatchHub::new(8);
        let mut watcher = hub.subscribe(b"a/", 0, vec![put(b"a/1", 1)]);
        hub.publish(&[put(b"b/1", 2)]);
        hub.publish(&[put(b"a/2", 3), put(b"b/2", 3), put(b"a/3", 3)]);
        let mut keys = Vec::new();
        for _ in 0..3 {
            let event = watcher.next().await.expect("next").expect("event");
            keys.push(event.kv.key);
        }
        assert_eq!(
            keys,
            vec![b"a/1".to_vec(), b"a/2".to_vec(), b"a/3".to_vec()]
        );
        drop(hub);
        assert_eq!(watcher.next().await, Ok(None));
    }

    #[tokio::test]
    async fn events_up_to_after_revision_are_skipped() {
        let mut hub = WatchHub::new(8);
        let mut watcher = hub.subscribe(b"", 5, Vec::new());
        for revision in 4..=6 {
            hub.publish(&[put(b"k", revision)]);
        }
        drop(hub);
        let event = watcher.next().await.expect("next").expect("event");
        assert_eq!(event.revision(), 6);
        assert_eq!(watcher.next().await, Ok(None));
    }

    #[tokio::test]
    async fn full_buffer_cancels_after_delivering_what_was_buffered() {
        let mut hub = WatchHub::new(2);
        let mut watcher = hub.subscribe(b"", 0, Vec::new());
        for revision in 1..=3 {
            hub.publish(&[put(b"k", revision)]);
        }
        assert!(hub.subscribers.is_empty());
        for revision in 1..=2 {
            let event = watcher.next().await.expect("next").expect("event");
            assert_eq!(event.revision(), revision);
        }
        let lagged = Err(WatchError::Lagged { last_delivered: 2 });
        assert_eq!(watcher.next().await, lagged);
        assert_eq!(watcher.next().await, lagged);
    }

    #[test]
    fn dropped_watchers_are_forgotten() {
        let mut hub = WatchHub::new(2);
        drop(hub.subscribe(b"a", 0, Vec::new()));
        hub.publish(&[put(b"b", 1)]);
        assert!(hub.subscribers.is_empty());
    }
}
