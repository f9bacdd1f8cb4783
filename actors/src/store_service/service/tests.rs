use std::time::{Duration, SystemTime};

use super::*;
use crate::compactor::{AutoCompaction, LastCompaction};
use crate::store_service::protocol::{FailureCode, decode_response, encode_request};
use flotilla_store::{Expect, KeyRange, Op, RangeRequest, Txn, WatchItem, WatchRequest};

fn admin() -> Identity {
    Identity::new("admin", "admin")
}

struct Fixture {
    dir: tempfile::TempDir,
    service: StoreService,
    store: Store,
    compaction: CompactionRecord,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let compaction = CompactionRecord::new(Duration::from_secs(3600));
    let service = StoreService::new(store.clone(), dir.path().to_path_buf(), compaction.clone());
    Fixture {
        dir,
        service,
        store,
        compaction,
    }
}

async fn call(service: &StoreService, caller: &Identity, request: &StoreRequest) -> Vec<Response> {
    let mut responses = service.call(caller, &encode_request(request).unwrap());
    let mut all = Vec::new();
    while let Some(response) = responses.next().await {
        all.push(response);
    }
    all
}

fn store_answer(response: &Response) -> StoreResponse {
    match response {
        Response::Store(bytes) => decode_response(bytes).unwrap(),
        other => panic!("not a store answer: {other:?}"),
    }
}

fn put(key: &[u8], value: &[u8]) -> StoreRequest {
    StoreRequest::Txn(Txn {
        compares: Vec::new(),
        success: vec![Op::put(key, value)],
        failure: Vec::new(),
    })
}

#[tokio::test]
async fn an_admin_writes_and_reads_back() {
    let f = fixture();
    let answers = call(&f.service, &admin(), &put(b"a", b"1")).await;
    let StoreResponse::Txn(result) = store_answer(&answers[0]) else {
        panic!("{answers:?}")
    };
    assert!(result.succeeded);
    assert_eq!(result.revision, f.store.revision());

    let read = StoreRequest::Range(RangeRequest::key(b"a"));
    let answers = call(&f.service, &admin(), &read).await;
    let StoreResponse::Range(range) = store_answer(&answers[0]) else {
        panic!("{answers:?}")
    };
    assert_eq!(range.kvs[0].value, b"1");
}

#[tokio::test]
async fn only_admins_touch_the_raw_store() {
    let f = fixture();
    for caller in [
        Identity::new("v", "viewer"),
        Identity::new("node:n1", "node"),
        Identity::new("flotilla-controller", "control-plane"),
        Identity::anonymous(),
    ] {
        let answers = call(&f.service, &caller, &put(b"a", b"1")).await;
        let [Response::Error(error)] = answers.as_slice() else {
            panic!("{caller}: {answers:?}")
        };
        assert_eq!(error.code, ErrorCode::Forbidden);
        assert!(error.message.contains(&caller.name), "{}", error.message);
    }
    assert_eq!(f.store.revision(), 0, "nothing was written");
}

#[tokio::test]
async fn garbage_is_a_bad_request() {
    let f = fixture();
    let mut responses = f.service.call(&admin(), &[0xff; 7]);
    let Some(Response::Error(error)) = responses.next().await else {
        panic!("expected an error")
    };
    assert_eq!(error.code, ErrorCode::BadRequest);
}

#[tokio::test]
async fn a_watch_streams_history_then_live_and_a_compacted_start_is_refused() {
    let f = fixture();
    f.store.put(b"w/1", b"x", Expect::Any).unwrap();
    let request = StoreRequest::Watch(WatchRequest::new(KeyRange::Prefix(b"w/".to_vec()), 0));
    let mut responses = f.service.call(&admin(), &encode_request(&request).unwrap());
    f.store.put(b"w/2", b"y", Expect::Any).unwrap();
    let mut keys = Vec::new();
    while keys.len() < 2 {
        let response = responses.next().await.unwrap();
        if let StoreResponse::Watch(WatchItem::Event(event)) = store_answer(&response) {
            keys.push(event.kv.key);
        }
    }
    assert_eq!(keys, vec![b"w/1".to_vec(), b"w/2".to_vec()]);
    drop(responses);

    f.store.put(b"w/3", b"z", Expect::Any).unwrap();
    f.store.compact(2).unwrap();
    let stale = WatchRequest::new(KeyRange::Prefix(b"w/".to_vec()), 1);
    let answers = call(&f.service, &admin(), &StoreRequest::Watch(stale)).await;
    let StoreResponse::Failed(failure) = store_answer(&answers[0]) else {
        panic!("{answers:?}")
    };
    assert_eq!(
        failure.code,
        FailureCode::Compacted {
            compact_revision: 2
        }
    );
}

#[tokio::test]
async fn a_streamed_snapshot_restores_to_the_same_store() {
    let f = fixture();
    for i in 0..50u8 {
        let value = vec![i; 100_000];
        let key = format!("k/{i}");
        f.store.put(key.as_bytes(), &value, Expect::Any).unwrap();
    }
    let answers = call(&f.service, &admin(), &StoreRequest::Snapshot).await;
    let mut bytes = Vec::new();
    let mut done = None;
    for answer in &answers {
        match store_answer(answer) {
            StoreResponse::SnapshotChunk(chunk) => bytes.extend(chunk),
            StoreResponse::SnapshotDone(info) => done = Some(info),
            other => panic!("{other:?}"),
        }
    }
    let info = done.expect("the snapshot finished");
    assert!(answers.len() > 2, "a 5 MB snapshot comes in several chunks");
    assert_eq!(info.bytes, u64::try_from(bytes.len()).unwrap());

    let target = tempfile::tempdir().unwrap();
    let file = target.path().join("snap");
    std::fs::write(&file, &bytes).unwrap();
    Store::restore(&file, &target.path().join("restored")).unwrap();
    let restored = Store::open(&target.path().join("restored")).unwrap();
    let prefix = RangeRequest::prefix(b"k/");
    assert_eq!(
        restored.range(&prefix).unwrap(),
        f.store.range(&prefix).unwrap()
    );
    let staged = std::fs::read_dir(f.dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().contains(".snapshot-"))
        .count();
    assert_eq!(staged, 0, "staging files are removed");
}

#[tokio::test]
async fn status_shows_the_retention_and_the_last_automatic_compaction() {
    let f = fixture();
    let ask = StoreRequest::AutoCompaction;
    let answers = call(&f.service, &admin(), &ask).await;
    let expected = AutoCompaction {
        retention: Duration::from_secs(3600),
        last: None,
    };
    assert_eq!(
        store_answer(&answers[0]),
        StoreResponse::AutoCompaction(expected)
    );
    let at = SystemTime::now();
    f.compaction.compacted(42, at);
    let answers = call(&f.service, &admin(), &ask).await;
    let StoreResponse::AutoCompaction(auto) = store_answer(&answers[0]) else {
        panic!("{answers:?}")
    };
    assert_eq!(auto.last, Some(LastCompaction { revision: 42, at }));
}

#[tokio::test]
async fn defragment_gives_the_space_of_deleted_keys_back_and_says_how_much() {
    let f = fixture();
    // Incompressible values, so they take their full size on disk.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..100 {
        let value: Vec<u8> = (0..32 * 1024)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let key = format!("big/{i}");
        f.store.put(key.as_bytes(), &value, Expect::Any).unwrap();
    }
    f.store.compact(f.store.revision()).unwrap();
    f.store
        .txn(Txn {
            compares: Vec::new(),
            success: vec![Op::Delete {
                range: KeyRange::Prefix(b"big/".to_vec()),
            }],
            failure: Vec::new(),
        })
        .unwrap();
    // The history is gone, but the deleted values still sit in the store's files.
    f.store.compact(f.store.revision()).unwrap();
    let answers = call(&f.service, &admin(), &StoreRequest::Defragment).await;
    let StoreResponse::Defragmented {
        before_bytes,
        after_bytes,
    } = store_answer(&answers[0])
    else {
        panic!("{answers:?}")
    };
    assert!(
        after_bytes + 2 * 1024 * 1024 < before_bytes,
        "{before_bytes} -> {after_bytes} bytes"
    );
}
