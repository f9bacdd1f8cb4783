//! Compaction by revision and by retention period, and that it really frees space.

use std::time::{Duration, Instant};

use flotilla_store::{RangeRequest, Store, StoreError};

use crate::{DEADLINE, ManualClock, manual_options, open, open_with, put};

#[test]
fn compaction_by_revision_is_durable_and_refuses_the_future() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path());
        for i in 0..5u8 {
            put(&store, b"k", &[i]);
        }
        assert!(matches!(
            store.compact(9),
            Err(StoreError::FutureRevision {
                requested: 9,
                current: 5
            })
        ));
        store.compact(3).expect("compact");
        store.compact(2).expect("an earlier compaction is a no-op");
        assert_eq!(store.status().expect("status").compact_revision, 3);
    }
    let store = open(dir.path());
    let status = store.status().expect("status");
    assert_eq!((status.revision, status.compact_revision), (5, 3));
    assert_eq!(
        store.get(b"k").expect("get").map(|kv| kv.value),
        Some(vec![4])
    );
    store.compact(5).expect("compact everything");
    drop(store);
    let store = open(dir.path());
    assert!(store.watch_prefix(b"", 5).is_ok());
    assert_eq!(put(&store, b"k", b"new"), 6);
}

#[test]
fn retention_compaction_keeps_revisions_newer_than_the_period() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::at(1_000_000);
    let store = open_with(dir.path(), manual_options(&clock));
    for i in 0..3u8 {
        put(&store, b"old", &[i]);
    }
    clock.advance(Duration::from_secs(60));
    for i in 0..2u8 {
        put(&store, b"new", &[i]);
    }
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        store
            .compact_older_than(Duration::from_secs(120))
            .expect("compact"),
        None
    );
    assert_eq!(
        store
            .compact_older_than(Duration::from_secs(30))
            .expect("compact"),
        Some(3)
    );
    let mut request = RangeRequest::prefix(b"");
    request.revision = 2;
    assert!(matches!(
        store.range(&request),
        Err(StoreError::Compacted {
            compact_revision: 3,
            ..
        })
    ));
    request.revision = 3;
    assert_eq!(store.range(&request).expect("range").count, 1);
    clock.advance(Duration::from_secs(60));
    assert_eq!(
        store
            .compact_older_than(Duration::from_secs(30))
            .expect("compact"),
        Some(5)
    );
}

/// Writes 200 incompressible 32 KiB versions of one key, so the history really takes space.
fn write_big_history(store: &Store) {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..200 {
        let value: Vec<u8> = (0..32 * 1024)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        put(store, b"big", &value);
    }
}

#[test]
fn compaction_gives_the_history_space_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    write_big_history(&store);
    store.defragment().expect("flush");
    let before = store.status().expect("status").disk_bytes;
    store.compact(store.revision()).expect("compact");
    let after = store.status().expect("status").disk_bytes;
    assert!(
        after + 4 * 1024 * 1024 < before,
        "compaction freed too little: {before} -> {after} bytes"
    );
}

/// A running store holds its recent history in RocksDB's write-ahead log, not yet in table
/// files: compaction must free that too, not only after a defragment.
#[test]
fn compaction_gives_back_the_space_of_history_still_in_the_write_ahead_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    write_big_history(&store);
    let before = store.status().expect("status").disk_bytes;
    store.compact(store.revision()).expect("compact");
    // RocksDB may delete the obsolete log files just after the compaction returns.
    let started = Instant::now();
    loop {
        let after = store.status().expect("status").disk_bytes;
        if after + 4 * 1024 * 1024 < before {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "compaction freed too little: {before} -> {after} bytes"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        store.get(b"big").expect("get").map(|kv| kv.value.len()),
        Some(32 * 1024)
    );
}
