//! Group commit: concurrent writers get gap-free revisions and share synced writes.

use std::collections::BTreeSet;

use crate::{open, put};

#[test]
fn concurrent_writers_get_every_revision_once_and_share_syncs() {
    const THREADS: usize = 8;
    const WRITES: usize = 40;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let before = store.status().expect("status").syncs;
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let store = store.clone();
            std::thread::spawn(move || {
                (0..WRITES)
                    .map(|i| put(&store, format!("t{thread}/{i}").as_bytes(), b"v"))
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut revisions = BTreeSet::new();
    for thread in threads {
        for revision in thread.join().expect("writer") {
            assert!(
                revisions.insert(revision),
                "revision {revision} given twice"
            );
        }
    }
    let total = (THREADS * WRITES) as u64;
    assert_eq!(revisions, (1..=total).collect::<BTreeSet<u64>>());
    let syncs = store.status().expect("status").syncs - before;
    assert!(syncs < total, "{syncs} syncs for {total} concurrent writes");
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.revision(), total);
    assert_eq!(store.range_prefix(b"t").expect("range").count, total);
}
