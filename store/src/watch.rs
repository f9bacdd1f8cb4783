//! Live delivery of committed events to watchers.
//!
//! The store publishes each committed revision and registers new watchers while holding the
//! hub's lock, and the current revision only moves under that lock, so a new watcher's
//! history (read from the revision log up to the revision current at registration) and its
//! live feed (every later revision) meet without a gap or an overlap.
//!
//! Each watcher has its own bounded channel whose items are the events of one revision that
//! touch its range (or a progress notification), so the bound counts revisions and one large
//! transaction alone never cancels a watcher. A revision's events are shared by every watcher
//! it reaches; each copies out the events in its range on its own task, so publishing to many
//! watchers costs the writer no copies. Publishing never blocks the writer: a watcher
//! whose buffer is full is cancelled instead. It then receives what was already buffered
//! (whole revisions) and afterwards [`WatchError::Lagged`] with the last revision it got,
//! from which it can watch again.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::event::Event;
use crate::range::KeyRange;

/// What to watch and from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchRequest {
    /// The keys whose changes are delivered.
    pub range: KeyRange,
    /// Deliver changes with a revision after this one (0: every change still in history).
    pub after_revision: u64,
    /// Include each key's previous state in its events.
    pub prev_kv: bool,
    /// Tell the watcher the current revision periodically while it receives nothing.
    pub progress_notify: bool,
}

impl WatchRequest {
    /// Watches `range` after `after_revision`, with previous values and without periodic
    /// progress notifications.
    pub fn new(range: KeyRange, after_revision: u64) -> WatchRequest {
        WatchRequest {
            range,
            after_revision,
            prev_kv: true,
            progress_notify: false,
        }
    }
}

/// One thing a watcher receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WatchItem {
    /// A change to a watched key.
    Event(Event),
    /// Every matching change up to and including `revision` has been delivered.
    Progress { revision: u64 },
}

/// Why a watcher stopped delivering events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    /// The watcher did not keep up with commits: its buffer of `buffer` revisions filled up and
    /// it was cancelled. Every event up to and including revision `last_delivered` was
    /// delivered; watch again after it.
    #[error(
        "watcher fell behind (its buffer of {buffer} revisions was full) and was cancelled; resume after revision {last_delivered}"
    )]
    Lagged { last_delivered: u64, buffer: usize },
}

enum Item {
    /// A revision's events; some may be outside the watcher's range.
    Events(Arc<[Event]>),
    Progress(u64),
}

/// The live end of one watcher, kept by the hub.
struct Subscriber {
    range: KeyRange,
    progress_notify: bool,
    /// Nothing was sent since the last periodic progress tick.
    idle: bool,
    sender: mpsc::Sender<Item>,
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

    /// Registers a watcher that receives every published event after
    /// `request.after_revision`. The caller then hands it the history up to the revision
    /// current now with [`Watcher::prepend_history`].
    pub(crate) fn subscribe(&mut self, request: &WatchRequest) -> Watcher {
        let (sender, receiver) = mpsc::channel(self.buffer);
        let lagged = Arc::new(AtomicBool::new(false));
        self.subscribers.push(Subscriber {
            range: request.range.clone(),
            progress_notify: request.progress_notify,
            idle: true,
            sender,
            lagged: Arc::clone(&lagged),
        });
        Watcher {
            range: request.range.clone(),
            pending: VecDeque::new(),
            receiver,
            lagged,
            prev_kv: request.prev_kv,
            after_revision: request.after_revision,
            last_delivered: request.after_revision,
            buffer: self.buffer,
        }
    }

    /// Hands the events of one committed revision to every watcher whose range one of them
    /// touches, cancelling watchers whose buffer is full and forgetting dropped ones.
    pub(crate) fn publish(&mut self, events: &Arc<[Event]>) {
        self.subscribers.retain_mut(|subscriber| {
            if !events
                .iter()
                .any(|event| subscriber.range.contains(&event.kv.key))
            {
                return !subscriber.sender.is_closed();
            }
            subscriber.idle = false;
            match subscriber.sender.try_send(Item::Events(Arc::clone(events))) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    subscriber.lagged.store(true, Ordering::Release);
                    tracing::warn!(
                        range = ?subscriber.range,
                        "watcher fell behind and was cancelled"
                    );
                    false
                }
                Err(TrySendError::Closed(_)) => false,
            }
        });
    }

    /// Tells watchers that everything up to `revision` was delivered: all of them when a
    /// client asked, else (`periodic`) those that want progress and got nothing since the
    /// last tick. A full buffer skips the notification: that watcher is not idle.
    pub(crate) fn progress(&mut self, revision: u64, periodic: bool) {
        self.subscribers.retain_mut(|subscriber| {
            let wanted = !periodic || (subscriber.progress_notify && subscriber.idle);
            subscriber.idle = true;
            if !wanted {
                return !subscriber.sender.is_closed();
            }
            !matches!(
                subscriber.sender.try_send(Item::Progress(revision)),
                Err(TrySendError::Closed(_))
            )
        });
    }
}

/// Drops the previous state unless the watcher asked for it.
fn shape(mut event: Event, prev_kv: bool) -> Event {
    if !prev_kv {
        event.prev = None;
    }
    event
}

/// A watcher's own copy of a shared event, with the previous state only if it asked for it.
fn copy_shaped(event: &Event, prev_kv: bool) -> Event {
    Event {
        kind: event.kind,
        kv: event.kv.clone(),
        prev: event.prev.clone().filter(|_| prev_kv),
    }
}

/// A stream of the changes to a set of keys, in revision order, each exactly once.
pub struct Watcher {
    range: KeyRange,
    pending: VecDeque<WatchItem>,
    receiver: mpsc::Receiver<Item>,
    lagged: Arc<AtomicBool>,
    prev_kv: bool,
    after_revision: u64,
    last_delivered: u64,
    buffer: usize,
}

impl Watcher {
    /// Queues the history (events already committed when the watcher was registered, in
    /// revision order) before anything live.
    pub(crate) fn prepend_history(&mut self, history: Vec<Event>) {
        let prev_kv = self.prev_kv;
        for event in history.into_iter().rev() {
            self.pending
                .push_front(WatchItem::Event(shape(event, prev_kv)));
        }
    }

    /// The next event, skipping progress notifications; `Ok(None)` once the store is dropped
    /// and everything buffered was delivered; `Err(WatchError::Lagged)` if this watcher was
    /// cancelled for falling behind.
    pub async fn next(&mut self) -> Result<Option<Event>, WatchError> {
        loop {
            match self.next_item().await? {
                Some(WatchItem::Event(event)) => return Ok(Some(event)),
                Some(WatchItem::Progress { .. }) => continue,
                None => return Ok(None),
            }
        }
    }

    /// The next event or progress notification, with the same ending rules as [`next`].
    ///
    /// [`next`]: Watcher::next
    pub async fn next_item(&mut self) -> Result<Option<WatchItem>, WatchError> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                if let WatchItem::Event(event) = &item {
                    self.last_delivered = event.revision();
                }
                return Ok(Some(item));
            }
            match self.receiver.recv().await {
                Some(Item::Events(events)) => {
                    let (after, prev_kv) = (self.after_revision, self.prev_kv);
                    self.pending.extend(
                        events
                            .iter()
                            .filter(|e| e.revision() > after && self.range.contains(&e.kv.key))
                            .map(|e| WatchItem::Event(copy_shaped(e, prev_kv))),
                    );
                }
                Some(Item::Progress(revision)) => {
                    self.pending.push_back(WatchItem::Progress { revision });
                }
                None if self.lagged.load(Ordering::Acquire) => {
                    return Err(WatchError::Lagged {
                        last_delivered: self.last_delivered,
                        buffer: self.buffer,
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
        let kv = KeyValue {
            key: key.to_vec(),
            value: Vec::new(),
            create_revision: revision,
            mod_revision: revision,
            version: 1,
            lease: None,
        };
        Event {
            kind: EventKind::Put,
            prev: Some(kv.clone()),
            kv,
        }
    }

    fn watch(range: KeyRange, after: u64) -> WatchRequest {
        WatchRequest::new(range, after)
    }

    async fn next_key(watcher: &mut Watcher) -> Vec<u8> {
        watcher.next().await.expect("next").expect("event").kv.key
    }

    #[tokio::test]
    async fn history_comes_before_live_and_the_range_filters() {
        let mut hub = WatchHub::new(8);
        let mut watcher = hub.subscribe(&watch(KeyRange::Prefix(b"a/".to_vec()), 0));
        hub.publish(&Arc::from([put(b"b/1", 2)]));
        hub.publish(&Arc::from([put(b"a/2", 3), put(b"b/2", 3), put(b"a/3", 3)]));
        watcher.prepend_history(vec![put(b"a/1", 1)]);
        let mut keys = Vec::new();
        for _ in 0..3 {
            keys.push(next_key(&mut watcher).await);
        }
        assert_eq!(
            keys,
            vec![b"a/1".to_vec(), b"a/2".to_vec(), b"a/3".to_vec()]
        );
        drop(hub);
        assert_eq!(watcher.next().await, Ok(None));
    }

    #[tokio::test]
    async fn key_and_interval_watches_see_only_their_keys() {
        let mut hub = WatchHub::new(8);
        let mut one = hub.subscribe(&watch(KeyRange::Key(b"k".to_vec()), 0));
        let mut interval = hub.subscribe(&watch(
            KeyRange::Range {
                start: b"b".to_vec(),
                end: b"d".to_vec(),
            },
            0,
        ));
        for (revision, key) in [b"k1".as_slice(), b"k", b"a", b"c", b"d", b"b"]
            .into_iter()
            .enumerate()
        {
            hub.publish(&Arc::from([put(key, revision as u64 + 1)]));
        }
        drop(hub);
        assert_eq!(next_key(&mut one).await, b"k");
        assert_eq!(one.next().await, Ok(None));
        assert_eq!(next_key(&mut interval).await, b"c");
        assert_eq!(next_key(&mut interval).await, b"b");
        assert_eq!(interval.next().await, Ok(None));
    }

    #[tokio::test]
    async fn previous_values_only_when_asked() {
        let mut hub = WatchHub::new(8);
        let mut request = watch(KeyRange::Prefix(Vec::new()), 0);
        request.prev_kv = false;
        let mut bare = hub.subscribe(&request);
        let mut full = hub.subscribe(&watch(KeyRange::Prefix(Vec::new()), 0));
        bare.prepend_history(vec![put(b"h", 1)]);
        hub.publish(&Arc::from([put(b"l", 2)]));
        for _ in 0..2 {
            let event = bare.next().await.expect("next").expect("event");
            assert_eq!(event.prev, None);
        }
        let event = full.next().await.expect("next").expect("event");
        assert!(event.prev.is_some());
    }

    #[tokio::test]
    async fn events_up_to_after_revision_are_skipped() {
        let mut hub = WatchHub::new(8);
        let mut watcher = hub.subscribe(&watch(KeyRange::Prefix(Vec::new()), 5));
        for revision in 4..=6 {
            hub.publish(&Arc::from([put(b"k", revision)]));
        }
        drop(hub);
        let event = watcher.next().await.expect("next").expect("event");
        assert_eq!(event.revision(), 6);
        assert_eq!(watcher.next().await, Ok(None));
    }

    #[tokio::test]
    async fn progress_reaches_idle_watchers_in_order() {
        let mut hub = WatchHub::new(8);
        let mut request = watch(KeyRange::Prefix(b"a".to_vec()), 0);
        request.progress_notify = true;
        let mut notified = hub.subscribe(&request);
        let mut quiet = hub.subscribe(&watch(KeyRange::Prefix(b"a".to_vec()), 0));
        hub.publish(&Arc::from([put(b"a", 1)]));
        hub.progress(1, true); // not idle: it just got an event
        hub.progress(1, true);
        hub.publish(&Arc::from([put(b"b", 2)]));
        hub.progress(2, false); // asked for: everyone
        drop(hub);
        let mut items = Vec::new();
        while let Some(item) = notified.next_item().await.expect("item") {
            items.push(match item {
                WatchItem::Event(event) => format!("event {}", event.revision()),
                WatchItem::Progress { revision } => format!("progress {revision}"),
            });
        }
        assert_eq!(items, vec!["event 1", "progress 1", "progress 2"]);
        assert!(quiet.next_item().await.expect("item").is_some());
        assert_eq!(
            quiet.next_item().await,
            Ok(Some(WatchItem::Progress { revision: 2 }))
        );
        assert_eq!(quiet.next().await, Ok(None));
    }

    #[tokio::test]
    async fn full_buffer_cancels_after_delivering_what_was_buffered() {
        let mut hub = WatchHub::new(2);
        let mut watcher = hub.subscribe(&watch(KeyRange::Prefix(Vec::new()), 0));
        for revision in 1..=3 {
            hub.publish(&Arc::from([put(b"k", revision)]));
        }
        assert!(hub.subscribers.is_empty());
        for revision in 1..=2 {
            let event = watcher.next().await.expect("next").expect("event");
            assert_eq!(event.revision(), revision);
        }
        let lagged = Err(WatchError::Lagged {
            last_delivered: 2,
            buffer: 2,
        });
        assert_eq!(watcher.next().await, lagged);
        assert_eq!(watcher.next().await, lagged);
    }

    #[test]
    fn dropped_watchers_are_forgotten() {
        let mut hub = WatchHub::new(2);
        drop(hub.subscribe(&watch(KeyRange::Prefix(b"a".to_vec()), 0)));
        hub.publish(&Arc::from([put(b"b", 1)]));
        assert!(hub.subscribers.is_empty());
    }
}
