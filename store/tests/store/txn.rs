//! Transactions through the store: compares, both branches, atomicity under one revision.

use flotilla_store::{
    Compare, CompareOp, CompareTarget, KeyRange, Op, OpResult, RangeRequest, StoreError, Txn,
};

use crate::{open, put};

#[test]
fn compares_on_every_field_pick_the_branch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    put(&store, b"k", b"m");
    put(&store, b"k", b"n");
    let check = |compare: Compare| -> bool {
        store
            .txn(Txn {
                compares: vec![compare],
                ..Txn::default()
            })
            .expect("txn")
            .succeeded
    };
    use CompareOp::*;
    use CompareTarget::*;
    assert!(check(Compare::new(b"k", Equal, Value(b"n".to_vec()))));
    assert!(check(Compare::new(b"k", Greater, Value(b"m".to_vec()))));
    assert!(check(Compare::new(b"k", Equal, Version(2))));
    assert!(check(Compare::new(b"k", Less, Version(3))));
    assert!(check(Compare::new(b"k", Equal, CreateRevision(1))));
    assert!(check(Compare::new(b"k", NotEqual, ModRevision(1))));
    assert!(check(Compare::new(b"k", Greater, ModRevision(1))));
    assert!(!check(Compare::new(b"k", Less, ModRevision(2))));
    assert!(check(Compare::new(b"k", Equal, Lease(None))));
    assert!(check(Compare::absent(b"missing")));
    assert!(!check(Compare::new(
        b"missing",
        NotEqual,
        Value(Vec::new())
    )));
    assert_eq!(store.revision(), 2);
}

#[test]
fn a_branch_of_puts_deletes_and_reads_commits_under_one_revision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    put(&store, b"lock", b"free");
    for key in [b"ns/a/1".as_slice(), b"ns/a/2", b"ns/b"] {
        put(&store, key, b"v");
    }
    let txn = Txn {
        compares: vec![Compare::new(
            b"lock",
            CompareOp::Equal,
            CompareTarget::Value(b"free".to_vec()),
        )],
        success: vec![
            Op::put(b"lock", b"held"),
            Op::Delete {
                range: KeyRange::Prefix(b"ns/a/".to_vec()),
            },
            Op::Range(RangeRequest::prefix(b"ns/")),
        ],
        failure: vec![Op::get(b"lock")],
    };
    let first = store.txn(txn.clone()).expect("txn");
    assert!(first.succeeded);
    assert_eq!(first.revision, 5);
    match &first.results[..] {
        [
            OpResult::Put { prev: Some(prev) },
            OpResult::Delete { deleted },
            OpResult::Range(read),
        ] => {
            assert_eq!(prev.value, b"free");
            assert_eq!(deleted.len(), 2);
            assert_eq!(read.kvs.len(), 1);
            assert_eq!(read.revision, 5);
        }
        other => panic!("unexpected {other:?}"),
    }
    let lock = store.get(b"lock").expect("get").expect("lock");
    assert_eq!(lock.mod_revision, 5);

    let second = store.txn(txn).expect("txn");
    assert!(!second.succeeded);
    assert_eq!(second.revision, 5);
    match &second.results[..] {
        [OpResult::Range(read)] => assert_eq!(read.kvs, vec![lock]),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_failing_op_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let txn = Txn {
        success: vec![
            Op::put(b"a", b"1"),
            Op::Put {
                key: b"b".to_vec(),
                value: b"2".to_vec(),
                lease: Some(flotilla_store::LeaseId(42)),
            },
        ],
        ..Txn::default()
    };
    match store.txn(txn) {
        Err(StoreError::Txn { source, .. }) => {
            assert!(source.to_string().contains("lease 42"), "{source}");
        }
        other => panic!("expected a rejected txn, got {other:?}"),
    }
    assert_eq!(store.get(b"a").expect("get"), None);
    assert_eq!(store.revision(), 0);
}
