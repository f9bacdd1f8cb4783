//! Watches through the store: history then live, ranges, progress, compaction and lagging.

use std::time::Duration;

use flotilla_store::{
    EventKind, Expect, KeyRange, StoreError, StoreOptions, WatchError, WatchItem, WatchRequest,
};

use crate::{DEADLINE, next_event, open, open_with, put};

#[tokio::test]
async fn history_then_live_without_gaps_for_a_prefix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    put(&store, b"w/1", b"a");
    put(&store, b"x/1", b"a");
    put(&store, b"w/1", b"b");
    let mut watcher = store.watch_prefix(b"w/", 0).expect("watch");
    store.delete(b"w/1", Expect::Any).expect("delete");
    put(&store, b"x/2", b"a");
    put(&store, b"w/2", b"c");

    let first = next_event(&mut watcher).await;
    assert_eq!(
        (first.kind, first.revision(), first.prev),
        (EventKind::Put, 1, None)
    );
    let second = next_event(&mut watcher).await;
    assert_eq!(second.revision(), 3);
    assert_eq!(second.prev.map(|kv| kv.value), Some(b"a".to_vec()));
    let third = next_event(&mut watcher).await;
    assert_eq!((third.kind, third.revision()), (EventKind::Delete, 4));
    assert_eq!(third.prev.map(|kv| kv.value), Some(b"b".to_vec()));
    let fourth = next_event(&mut watcher).await;
    assert_eq!((fourth.revision(), fourth.kv.key), (6, b"w/2".to_vec()));
}

#[tokio::test]
async fn key_and_interval_watches_without_previous_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    put(&store, b"b", b"0");
    let mut key = store
        .watch(WatchRequest::new(KeyRange::Key(b"b".to_vec()), 0))
        .expect("watch");
    let mut request = WatchRequest::new(
        KeyRange::Range {
            start: b"b".to_vec(),
            end: b"d".to_vec(),
        },
        1,
    );
    request.prev_kv = false;
    let mut interval = store.watch(request).expect("watch");
    for k in [b"a".as_slice(), b"c", b"b", b"d", b"bb"] {
        put(&store, k, b"1");
    }
    assert_eq!(next_event(&mut key).await.revision(), 1);
    let again = next_event(&mut key).await;
    assert_eq!((again.revision(), again.prev.is_some()), (4, true));
    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = next_event(&mut interval).await;
        assert_eq!(event.prev, None);
        seen.push(event.kv.key);
    }
    assert_eq!(seen, vec![b"c".to_vec(), b"b".to_vec(), b"bb".to_vec()]);
}

#[tokio::test]
async fn progress_on_request_and_periodically_for_idle_watchers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions {
        progress_interval: Duration::from_millis(20),
        ..StoreOptions::default()
    };
    let store = open_with(dir.path(), options);
    put(&store, b"other", b"1");
    let mut asked = store.watch_prefix(b"mine/", 0).expect("watch");
    store.request_progress();
    let item = tokio::time::timeout(DEADLINE, asked.next_item())
        .await
        .expect("deadline")
        .expect("watch ok");
    assert_eq!(item, Some(WatchItem::Progress { revision: 1 }));

    let mut request = WatchRequest::new(KeyRange::Prefix(b"mine/".to_vec()), 1);
    request.progress_notify = true;
    let mut idle = store.watch(request).expect("watch");
    put(&store, b"other", b"2");
    // Periodic notifications arrive on their own; wait until one reports revision 2.
    loop {
        let item = tokio::time::timeout(DEADLINE, idle.next_item())
            .await
            .expect("progress before deadline")
            .expect("watch ok");
        match item {
            Some(WatchItem::Progress { revision: 2 }) => break,
            Some(WatchItem::Progress { revision: 1 }) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn watching_compacted_history_is_an_error_naming_the_compact_revision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    for i in 0..5u8 {
        put(&store, b"k", &[i]);
    }
    store.compact(3).expect("compact");
    match store.watch_prefix(b"k", 2) {
        Err(
            error @ StoreError::Compacted {
                requested: 2,
                compact_revision: 3,
            },
        ) => assert!(error.to_string().contains("compacted"), "{error}"),
        Err(other) => panic!("unexpected {other:?}"),
        Ok(_) => panic!("watch from a compacted revision started"),
    }
    let mut watcher = store.watch_prefix(b"k", 3).expect("watch");
    assert_eq!(next_event(&mut watcher).await.revision(), 4);
    assert_eq!(next_event(&mut watcher).await.revision(), 5);
}

#[tokio::test]
async fn watch_from_a_future_revision_skips_until_then() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut watcher = store.watch_prefix(b"", 2).expect("watch");
    for value in [b"1", b"2", b"3"] {
        put(&store, b"k", value);
    }
    let event = next_event(&mut watcher).await;
    assert_eq!((event.revision(), event.kv.version), (3, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_during_concurrent_writes_misses_and_duplicates_nothing() {
    const WRITES: u64 = 150;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let writer_store = store.clone();
    let writer = std::thread::spawn(move || {
        for i in 0..WRITES {
            put(
                &writer_store,
                format!("c/{}", i % 7).as_bytes(),
                &i.to_be_bytes(),
            );
        }
    });
    let mut watchers = vec![(0, store.watch_prefix(b"c/", 0).expect("watch"))];
    let mut last_seen = 0;
    while !writer.is_finished() {
        let seen = store.revision();
        if seen != last_seen {
            last_seen = seen;
            let after = seen - seen % 3;
            watchers.push((after, store.watch_prefix(b"c/", after).expect("watch")));
        }
        tokio::task::yield_now().await;
    }
    writer.join().expect("writer thread");
    assert!(watchers.len() > 1);
    for (after, mut watcher) in watchers {
        for expected in after + 1..=WRITES {
            let event = next_event(&mut watcher).await;
            assert_eq!(event.revision(), expected, "watcher after {after}");
        }
    }
}

#[tokio::test]
async fn a_lagging_watcher_is_cancelled_with_where_to_resume_and_writers_go_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions {
        watch_buffer: 4,
        ..StoreOptions::default()
    };
    let store = open_with(dir.path(), options);
    let mut slow = store.watch_prefix(b"", 0).expect("watch");
    for i in 0..10u8 {
        put(&store, b"k", &[i]);
    }
    for expected in 1..=4 {
        assert_eq!(next_event(&mut slow).await.revision(), expected);
    }
    let lagged = tokio::time::timeout(DEADLINE, slow.next())
        .await
        .expect("deadline");
    let error = lagged.expect_err("cancelled");
    assert_eq!(
        error,
        WatchError::Lagged {
            last_delivered: 4,
            buffer: 4
        }
    );
    assert!(
        error.to_string().contains("resume after revision 4"),
        "{error}"
    );
    let mut resumed = store.watch_prefix(b"", 4).expect("resume");
    for expected in 5..=10 {
        assert_eq!(next_event(&mut resumed).await.revision(), expected);
    }
}

#[tokio::test]
async fn dropping_the_store_ends_watchers_after_buffered_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut watcher = store.watch_prefix(b"", 0).expect("watch");
    put(&store, b"k", b"v");
    drop(store);
    assert_eq!(next_event(&mut watcher).await.revision(), 1);
    let end = tokio::time::timeout(DEADLINE, watcher.next())
        .await
        .expect("deadline");
    assert_eq!(end, Ok(None));
}
