//! Leases: grant, keep-alive, revoke, expiry with events, and surviving a restart.

use std::time::Duration;

use flotilla_store::{
    EventKind, KeyRange, LeaseError, LeaseId, Op, Store, StoreError, Txn, WatchRequest,
};

use crate::{ManualClock, manual_options, next_event, open_with};

const SECOND: Duration = Duration::from_secs(1);

fn put_leased(store: &Store, key: &[u8], lease: LeaseId) -> u64 {
    store
        .txn(Txn {
            success: vec![Op::Put {
                key: key.to_vec(),
                value: b"v".to_vec(),
                lease: Some(lease),
            }],
            ..Txn::default()
        })
        .expect("put with lease")
        .revision
}

fn not_found(result: Result<impl std::fmt::Debug, StoreError>, id: LeaseId) {
    match result {
        Err(StoreError::Lease {
            source: LeaseError::NotFound(missing),
        }) => assert_eq!(missing, id),
        other => panic!("expected lease {id} not found, got {other:?}"),
    }
}

#[tokio::test]
async fn expiry_deletes_the_keys_under_one_revision_with_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::at(1_000_000);
    let store = open_with(dir.path(), manual_options(&clock));
    let lease = store.grant_lease(10 * SECOND).expect("grant");
    assert_eq!(lease.ttl, 10 * SECOND);
    put_leased(&store, b"a", lease.id);
    let attached = put_leased(&store, b"b", lease.id);
    crate::put(&store, b"unleased", b"v");
    let mut watcher = store
        .watch(WatchRequest::new(KeyRange::Prefix(Vec::new()), attached))
        .expect("watch");

    clock.advance(6 * SECOND);
    store.expire_leases().expect("expire");
    let status = store.lease_time_to_live(lease.id).expect("ttl");
    assert_eq!(status.remaining, 4 * SECOND);
    assert_eq!(status.keys, vec![b"a".to_vec(), b"b".to_vec()]);

    store.keep_alive(lease.id).expect("keep alive");
    clock.advance(9 * SECOND);
    store.expire_leases().expect("expire");
    assert!(store.get(b"a").expect("get").is_some());

    clock.advance(SECOND);
    store.expire_leases().expect("expire");
    assert_eq!(store.get(b"a").expect("get"), None);
    assert_eq!(store.get(b"b").expect("get"), None);
    assert!(store.get(b"unleased").expect("get").is_some());
    not_found(store.lease_time_to_live(lease.id), lease.id);
    not_found(store.keep_alive(lease.id), lease.id);

    assert_eq!(next_event(&mut watcher).await.kv.key, b"unleased");
    let first = next_event(&mut watcher).await;
    let second = next_event(&mut watcher).await;
    assert_eq!(
        (first.kind, second.kind),
        (EventKind::Delete, EventKind::Delete)
    );
    assert_eq!(first.revision(), second.revision());
    assert_eq!(first.revision(), store.revision());
}

#[test]
fn revoke_deletes_keys_and_a_put_needs_a_live_lease() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::at(0);
    let store = open_with(dir.path(), manual_options(&clock));
    let lease = store.grant_lease(SECOND).expect("grant");
    let other = store.grant_lease(SECOND).expect("grant");
    assert_ne!(lease.id, other.id);
    put_leased(&store, b"k", lease.id);
    // Moving the key to another lease detaches it from the first.
    let moved = put_leased(&store, b"moved", lease.id);
    put_leased(&store, b"moved", other.id);
    let revision = store.revoke_lease(lease.id).expect("revoke");
    assert_eq!(revision, moved + 2);
    assert_eq!(store.get(b"k").expect("get"), None);
    assert!(store.get(b"moved").expect("get").is_some());
    let empty = store.grant_lease(SECOND).expect("grant");
    assert_eq!(store.revoke_lease(empty.id).expect("revoke"), revision);
    not_found(store.revoke_lease(lease.id), lease.id);
    assert!(matches!(
        store.txn(Txn {
            success: vec![Op::Put {
                key: b"x".to_vec(),
                value: Vec::new(),
                lease: Some(lease.id),
            }],
            ..Txn::default()
        }),
        Err(StoreError::Txn { .. })
    ));
    assert!(matches!(
        store.grant_lease_with_id(other.id, SECOND),
        Err(StoreError::Lease {
            source: LeaseError::Exists(_)
        })
    ));
}

#[test]
fn leases_survive_a_restart_with_their_remaining_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::at(50_000);
    let (long, short) = {
        let store = open_with(dir.path(), manual_options(&clock));
        let long = store.grant_lease(60 * SECOND).expect("grant");
        let short = store.grant_lease(5 * SECOND).expect("grant");
        put_leased(&store, b"long", long.id);
        put_leased(&store, b"short", short.id);
        (long.id, short.id)
    };
    // Down for 20 seconds: the short lease ran out meanwhile, the long one has 40 s left.
    clock.advance(20 * SECOND);
    let store = open_with(dir.path(), manual_options(&clock));
    let status = store.lease_time_to_live(long).expect("ttl");
    assert_eq!(
        (status.granted_ttl, status.remaining),
        (60 * SECOND, 40 * SECOND)
    );
    assert_eq!(status.keys, vec![b"long".to_vec()]);
    store.expire_leases().expect("expire");
    assert_eq!(store.get(b"short").expect("get"), None);
    assert!(store.get(b"long").expect("get").is_some());
    not_found(store.lease_time_to_live(short), short);
    let fresh = store.grant_lease(SECOND).expect("grant");
    assert!(fresh.id.0 > short.0, "lease ids are not reused");
}

#[test]
fn the_expiry_driver_runs_on_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::at(0);
    let mut options = manual_options(&clock);
    options.lease_check_interval = Duration::from_millis(10);
    let store = Store::open_with(dir.path(), options).expect("open");
    let lease = store.grant_lease(SECOND).expect("grant");
    put_leased(&store, b"k", lease.id);
    clock.advance(2 * SECOND);
    let deadline = std::time::Instant::now() + crate::DEADLINE;
    while store.get(b"k").expect("get").is_some() {
        assert!(std::time::Instant::now() < deadline, "lease never expired");
        std::thread::sleep(Duration::from_millis(5));
    }
}
