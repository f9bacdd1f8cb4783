//! Tests of the store through its public API, as the apiserver and a network service use it.

mod compaction;
mod corruption;
mod group_commit;
mod leases;
mod limits;
mod model;
mod reads;
mod snapshot;
mod txn;
mod watch;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flotilla_store::{Clock, Event, Expect, Store, StoreOptions, Watcher, WriteResult};

/// How long a test waits for something asynchronous before failing.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A clock the test moves by hand.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn at(ms: u64) -> Arc<ManualClock> {
        Arc::new(ManualClock(AtomicU64::new(ms)))
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub fn open(dir: &Path) -> Store {
    Store::open(dir).expect("open")
}

pub fn open_with(dir: &Path, options: StoreOptions) -> Store {
    Store::open_with(dir, options).expect("open")
}

/// Options with a hand-moved clock and an expiry driver that never runs on its own.
pub fn manual_options(clock: &Arc<ManualClock>) -> StoreOptions {
    StoreOptions {
        clock: Arc::clone(clock) as Arc<dyn Clock>,
        lease_check_interval: Duration::from_secs(3600),
        ..StoreOptions::default()
    }
}

pub fn put(store: &Store, key: &[u8], value: &[u8]) -> u64 {
    committed(store.put(key, value, Expect::Any).expect("put"))
}

pub fn committed(result: WriteResult) -> u64 {
    match result {
        WriteResult::Committed { revision, .. } => revision,
        conflict => panic!("expected a commit, got {conflict:?}"),
    }
}

pub async fn next_event(watcher: &mut Watcher) -> Event {
    tokio::time::timeout(DEADLINE, watcher.next())
        .await
        .expect("event before deadline")
        .expect("watch ok")
        .expect("store alive")
}

/// An error and all its sources, as an operator would read them.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
