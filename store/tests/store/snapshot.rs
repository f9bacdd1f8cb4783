//! Snapshots of a live store and restoring them.

use std::time::Duration;

use flotilla_store::{Expect, RangeRequest, Store, StoreError};

use crate::{chain, open, put};

/// Fills a store with puts, deletes, a lease and a compaction.
fn populate(store: &Store) {
    for i in 0..40u32 {
        let key = format!("k/{}", i % 9);
        if i % 7 == 3 {
            store.delete(key.as_bytes(), Expect::Any).expect("delete");
        } else {
            put(store, key.as_bytes(), &i.to_be_bytes());
        }
    }
    store.grant_lease(Duration::from_secs(600)).expect("grant");
    store.compact(10).expect("compact");
}

fn range_at(store: &Store, revision: u64) -> flotilla_store::RangeResult {
    let mut request = RangeRequest::prefix(b"");
    request.revision = revision;
    store.range(&request).expect("range")
}

#[test]
fn a_snapshot_of_a_live_store_restores_to_the_same_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("tempdir");
    let store = open(&dir.path().join("original"));
    populate(&store);
    let busy = store.clone();
    let writer = std::thread::spawn(move || {
        for i in 0..100u32 {
            put(
                &busy,
                format!("live/{}", i % 5).as_bytes(),
                &i.to_be_bytes(),
            );
        }
    });
    let file = files.path().join("store.snap");
    let info = store.snapshot(&file).expect("snapshot");
    writer.join().expect("writer");
    assert!(info.revision >= 39 && info.records > 0);
    assert_eq!(info.bytes, std::fs::metadata(&file).expect("file").len());

    let target = dir.path().join("restored");
    assert_eq!(Store::restore(&file, &target).expect("restore"), info);
    let restored = open(&target);
    assert_eq!(restored.revision(), info.revision);
    for revision in 10..=info.revision {
        assert_eq!(
            range_at(&restored, revision),
            range_at(&store, revision),
            "at revision {revision}"
        );
    }
    assert_eq!(restored.status().expect("status").compact_revision, 10);
    assert!(matches!(
        restored.watch_prefix(b"", 9),
        Err(StoreError::Compacted { .. })
    ));
}

#[test]
fn restore_refuses_a_non_empty_dir_and_damaged_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir.path().join("original"));
    populate(&store);
    let file = dir.path().join("store.snap");
    store.snapshot(&file).expect("snapshot");
    let bytes = std::fs::read(&file).expect("read");

    let occupied = dir.path().join("occupied");
    std::fs::create_dir(&occupied).expect("mkdir");
    std::fs::write(occupied.join("file"), b"x").expect("write");
    assert!(matches!(
        Store::restore(&file, &occupied),
        Err(StoreError::RestoreTargetNotEmpty { .. })
    ));

    let damaged = dir.path().join("damaged.snap");
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    std::fs::write(&damaged, &flipped).expect("write");
    let target = dir.path().join("target");
    match Store::restore(&damaged, &target) {
        Err(error @ StoreError::BadSnapshot { .. }) => {
            assert!(chain(&error).contains("damaged.snap"), "{error}");
        }
        other => panic!("expected a bad snapshot, got {other:?}"),
    }
    assert!(!target.exists(), "a failed restore left files behind");

    for len in [0, 5, 17, bytes.len() / 3, bytes.len() - 1] {
        std::fs::write(&damaged, &bytes[..len]).expect("write");
        assert!(
            matches!(
                Store::restore(&damaged, &target),
                Err(StoreError::BadSnapshot { .. })
            ),
            "truncated to {len} bytes"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    std::fs::write(&damaged, &longer).expect("write");
    assert!(matches!(
        Store::restore(&damaged, &target),
        Err(StoreError::BadSnapshot { .. })
    ));

    std::fs::create_dir(&target).expect("mkdir");
    Store::restore(&file, &target).expect("restore into an empty dir");
    assert_eq!(open(&target).revision(), store.revision());
}
