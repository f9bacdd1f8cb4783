//! Request size limit and the size quota with its `no space` alarm.

use flotilla_store::{Expect, StoreError, StoreOptions};

use crate::{chain, open, open_with, put};

#[test]
fn requests_over_the_size_limit_are_refused_with_both_sizes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let big = vec![0u8; 1536 * 1024 + 1];
    match store.put(b"k", &big, Expect::Any) {
        Err(error @ StoreError::RequestTooLarge { size, limit }) => {
            assert_eq!(limit, 1536 * 1024);
            assert!(size > limit);
            let text = error.to_string();
            assert!(
                text.contains(&size.to_string()) && text.contains("1572864"),
                "{text}"
            );
        }
        other => panic!("expected too large, got {other:?}"),
    }
    drop(store);

    let options = StoreOptions {
        max_request_bytes: 1024,
        ..StoreOptions::default()
    };
    let store = open_with(dir.path(), options);
    assert!(matches!(
        store.put(b"k", &[0; 1024], Expect::Any),
        Err(StoreError::RequestTooLarge { limit: 1024, .. })
    ));
    put(&store, b"k", &[0; 512]);
    assert_eq!(store.revision(), 1);
}

#[test]
fn the_quota_raises_an_alarm_that_stays_until_space_is_freed_and_it_is_disarmed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let baseline = open(dir.path()).status().expect("status").disk_bytes;
    let quota = baseline + 1024 * 1024;
    let options = || StoreOptions {
        quota_bytes: quota,
        ..StoreOptions::default()
    };
    let store = open_with(dir.path(), options());
    let mut written = 0;
    let error = loop {
        let value = incompressible(written);
        match store.put(format!("k{written}").as_bytes(), &value, Expect::Any) {
            Ok(_) => written += 1,
            Err(error) => break error,
        }
        assert!(written < 100, "quota never reached");
    };
    assert!(matches!(error, StoreError::NoSpace { .. }), "{error:?}");
    assert!(chain(&error).contains("no space"), "{error}");
    assert!(written > 0);
    assert!(store.status().expect("status").no_space);

    // Writes needing space are refused, reads, deletes and compaction still work.
    assert!(matches!(
        store.put(b"tiny", b"1", Expect::Any),
        Err(StoreError::NoSpace { .. })
    ));
    assert!(store.get(b"k0").expect("read").is_some());
    assert_eq!(store.range_prefix(b"k").expect("range").count, written);
    drop(store);

    // The alarm is persisted.
    let store = open_with(dir.path(), options());
    assert!(store.status().expect("status").no_space);
    assert!(matches!(
        store.disarm_no_space(),
        Err(StoreError::NoSpace { .. })
    ));
    for i in 0..written {
        store
            .delete(format!("k{i}").as_bytes(), Expect::Any)
            .expect("delete under the alarm");
    }
    assert!(matches!(
        store.put(b"tiny", b"1", Expect::Any),
        Err(StoreError::NoSpace { .. })
    ));
    store
        .compact(store.revision())
        .expect("compact under the alarm");
    store.defragment().expect("defragment");
    store.disarm_no_space().expect("disarm after freeing space");
    assert!(!store.status().expect("status").no_space);
    put(&store, b"tiny", b"1");
}

/// 64 KiB that compression cannot shrink, so the quota counts them in full.
fn incompressible(seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..64 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}
