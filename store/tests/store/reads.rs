//! Single-key writes and range reads, now and at past revisions.

use flotilla_store::{Expect, KeyRange, KeyValue, RangeRequest, StoreError, WriteResult};

use crate::{open, put};

fn keys(result: &flotilla_store::RangeResult) -> Vec<&[u8]> {
    result.kvs.iter().map(|kv| kv.key.as_slice()).collect()
}

#[test]
fn crud_tracks_revisions_versions_and_previous_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    assert_eq!(store.revision(), 0);
    assert_eq!(store.get(b"a").expect("get"), None);
    assert_eq!(
        store.put(b"a", b"1", Expect::Any).expect("put"),
        WriteResult::Committed {
            revision: 1,
            prev: None
        }
    );
    let first = store.get(b"a").expect("get").expect("present");
    assert_eq!(
        first,
        KeyValue {
            key: b"a".to_vec(),
            value: b"1".to_vec(),
            create_revision: 1,
            mod_revision: 1,
            version: 1,
            lease: None,
        }
    );
    put(&store, b"b", b"x");
    assert_eq!(
        store.put(b"a", b"2", Expect::Any).expect("put"),
        WriteResult::Committed {
            revision: 3,
            prev: Some(first)
        }
    );
    let second = store.get(b"a").expect("get").expect("present");
    assert_eq!(
        (second.create_revision, second.mod_revision, second.version),
        (1, 3, 2)
    );
    assert_eq!(
        store.delete(b"a", Expect::Any).expect("delete"),
        WriteResult::Committed {
            revision: 4,
            prev: Some(second)
        }
    );
    assert_eq!(
        store.delete(b"a", Expect::Any).expect("delete"),
        WriteResult::Committed {
            revision: 4,
            prev: None
        }
    );
    assert_eq!(store.revision(), 4);
}

#[test]
fn cas_conflicts_report_the_current_value_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let created = crate::committed(store.put(b"k", b"1", Expect::Absent).expect("create"));
    let current = store.get(b"k").expect("get");
    assert_eq!(
        store.put(b"k", b"again", Expect::Absent).expect("put"),
        WriteResult::Conflict {
            current: current.clone()
        }
    );
    assert_eq!(
        store
            .delete(b"k", Expect::ModRevision(created + 7))
            .expect("delete"),
        WriteResult::Conflict { current }
    );
    assert_eq!(
        store
            .put(b"other", b"", Expect::ModRevision(3))
            .expect("put"),
        WriteResult::Conflict { current: None }
    );
    assert_eq!(store.revision(), created);
    let updated = crate::committed(
        store
            .put(b"k", b"2", Expect::ModRevision(created))
            .expect("put"),
    );
    assert_eq!(updated, created + 1);
}

#[test]
fn ranges_by_key_prefix_interval_and_start_with_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    for key in [b"p/c".as_slice(), b"p/a", b"q/a", b"p/b", b"p", b"r"] {
        put(&store, key, key);
    }
    store.delete(b"p/b", Expect::Any).expect("delete");
    let prefix = store.range_prefix(b"p/").expect("range");
    assert_eq!(keys(&prefix), vec![b"p/a".as_slice(), b"p/c"]);
    assert_eq!((prefix.count, prefix.more, prefix.revision), (2, false, 7));

    let interval = store
        .range(&RangeRequest::new(KeyRange::Range {
            start: b"p/b".to_vec(),
            end: b"r".to_vec(),
        }))
        .expect("range");
    assert_eq!(keys(&interval), vec![b"p/c".as_slice(), b"q/a"]);

    let mut request = RangeRequest::new(KeyRange::From {
        start: b"p".to_vec(),
    });
    request.limit = 2;
    let limited = store.range(&request).expect("range");
    assert_eq!(keys(&limited), vec![b"p".as_slice(), b"p/a"]);
    assert_eq!((limited.count, limited.more), (5, true));

    request.keys_only = true;
    request.limit = 0;
    let bare = store.range(&request).expect("range");
    assert_eq!(bare.kvs.len(), 5);
    assert!(
        bare.kvs
            .iter()
            .all(|kv| kv.value.is_empty() && kv.version == 1)
    );

    request.count_only = true;
    let counted = store.range(&request).expect("range");
    assert_eq!((counted.count, counted.kvs.len()), (5, 0));

    let one = store.range(&RangeRequest::key(b"q/a")).expect("range");
    assert_eq!(keys(&one), vec![b"q/a".as_slice()]);
}

#[test]
fn reads_at_past_revisions_until_compacted_also_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut seen = Vec::new();
    {
        let store = open(dir.path());
        for step in 0..12u8 {
            let key = [b'k', b'0' + step % 4];
            if step % 5 == 4 {
                store.delete(&key, Expect::Any).expect("delete");
            } else {
                put(&store, &key, &[step]);
            }
            seen.push((store.revision(), store.range_prefix(b"k").expect("range")));
        }
    }
    let store = open(dir.path());
    for (revision, then) in &seen {
        let mut request = RangeRequest::prefix(b"k");
        request.revision = *revision;
        let past = store.range(&request).expect("past range");
        assert_eq!(past.kvs, then.kvs, "at revision {revision}");
        assert_eq!(past.revision, *revision);
    }
    let mut request = RangeRequest::prefix(b"k");
    request.revision = store.revision() + 1;
    assert!(matches!(
        store.range(&request),
        Err(StoreError::FutureRevision { .. })
    ));
    store.compact(4).expect("compact");
    request.revision = 3;
    match store.range(&request) {
        Err(StoreError::Compacted {
            requested: 3,
            compact_revision: 4,
        }) => {}
        other => panic!("expected compacted, got {other:?}"),
    }
    request.revision = 4;
    let at_compaction = store.range(&request).expect("range at compact revision");
    let (_, then) = seen
        .iter()
        .rev()
        .find(|(revision, _)| *revision <= 4)
        .expect("recorded");
    assert_eq!(at_compaction.kvs, then.kvs);
}
