use super::*;
use crate::event::EventKind;

fn commit_put(engine: &Engine, revision: u64, key: &[u8], time_ms: u64) {
    let kv = KeyValue {
        key: key.to_vec(),
        value: b"v".to_vec(),
        create_revision: revision,
        mod_revision: revision,
        version: 1,
        lease: None,
    };
    let commit = Commit {
        revision,
        writes: BTreeMap::from([(key.to_vec(), Some(kv.clone()))]),
        events: vec![Event {
            kind: EventKind::Put,
            kv,
            prev: None,
        }],
    };
    let mut batch = WriteBatch::default();
    engine
        .stage_commit(&mut batch, &commit, time_ms)
        .expect("stage");
    engine.write(batch).expect("write");
}

/// Writes raw bytes into a column family of a closed store, as a disk fault would.
fn poke(dir: &Path, column_family: &str, key: &[u8], value: Option<&[u8]>) {
    let db = DB::open_cf(&Options::default(), dir, FAMILIES).expect("raw open");
    let cf = db.cf_handle(column_family).expect("cf");
    match value {
        Some(value) => db.put_cf(cf, key, value).expect("raw put"),
        None => db.delete_cf(cf, key).expect("raw delete"),
    }
}

fn open_error(dir: &Path) -> StoreError {
    match Engine::open(dir) {
        Err(error) => error,
        Ok(_) => panic!("damaged store opened"),
    }
}

#[test]
fn fresh_store_starts_at_revision_zero_and_reopens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, meta, _) = Engine::open(dir.path()).expect("open");
    assert_eq!(
        meta,
        Meta {
            revision: 0,
            compact_revision: 0,
            next_lease_id: 1,
            no_space: false,
        }
    );
    commit_put(&engine, 1, b"a", 5);
    drop(engine);
    let (engine, meta, _) = Engine::open(dir.path()).expect("reopen");
    assert_eq!(meta.revision, 1);
    assert_eq!(engine.commit_time(1).expect("time"), 5);
    assert_eq!(
        engine.get(b"a").expect("get").map(|kv| kv.value),
        Some(b"v".to_vec())
    );
    let all = KeyRange::Prefix(Vec::new());
    assert_eq!(
        engine
            .snapshot()
            .history(&all, 0, 1)
            .expect("history")
            .len(),
        1
    );
    assert!(
        engine
            .snapshot()
            .history(&all, 0, 0)
            .expect("history")
            .is_empty()
    );
}

#[test]
fn corrupt_key_record_fails_open_naming_path_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, _, _) = Engine::open(dir.path()).expect("open");
    commit_put(&engine, 1, b"pods/web", 0);
    drop(engine);
    poke(dir.path(), KV_CF, b"pods/web", Some(&[2, 0, 0]));
    let error = open_error(dir.path());
    match &error {
        StoreError::CorruptRecord {
            path,
            column_family,
            key,
            source: RecordError::Truncated { .. },
        } => {
            assert_eq!(path, dir.path());
            assert_eq!(*column_family, KV_CF);
            assert_eq!(key, "pods/web");
        }
        other => panic!("unexpected {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains("pods/web"), "{message}");
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
}

#[test]
fn corrupt_log_lease_and_meta_records_fail_open() {
    for (family, key) in [
        (LOG_CF, revision_key(1).to_vec()),
        (LEASE_CF, revision_key(1).to_vec()),
        (META_CF, REVISION_KEY.as_bytes().to_vec()),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (engine, _, _) = Engine::open(dir.path()).expect("open");
        commit_put(&engine, 1, b"a", 0);
        drop(engine);
        poke(dir.path(), family, &key, Some(&[2, 0xff]));
        match open_error(dir.path()) {
            StoreError::CorruptRecord { column_family, .. } => {
                assert_eq!(column_family, family);
            }
            other => panic!("{family}: unexpected {other:?}"),
        }
    }
}

#[test]
fn gaps_and_lost_counters_are_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, _, _) = Engine::open(dir.path()).expect("open");
    for revision in 1..=3 {
        commit_put(&engine, revision, format!("k{revision}").as_bytes(), 0);
    }
    drop(engine);
    poke(
        dir.path(),
        META_CF,
        REVISION_KEY.as_bytes(),
        Some(&encode_counter(2)),
    );
    assert!(matches!(
        open_error(dir.path()),
        StoreError::Inconsistent { .. }
    ));
    poke(
        dir.path(),
        META_CF,
        REVISION_KEY.as_bytes(),
        Some(&encode_counter(3)),
    );
    poke(dir.path(), LOG_CF, &revision_key(2), None);
    match open_error(dir.path()) {
        StoreError::Inconsistent { detail, .. } => {
            assert!(detail.contains("revision 2 was expected"), "{detail}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_key_of_a_missing_lease_is_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(Engine::open(dir.path()).expect("open"));
    let record = KeyRecord {
        value: vec![],
        create_revision: 0,
        mod_revision: 0,
        version: 1,
        lease: Some(LeaseId(4)),
    };
    poke(dir.path(), KV_CF, b"k", Some(&encode_key_record(&record)));
    match open_error(dir.path()) {
        StoreError::Inconsistent { detail, .. } => {
            assert!(detail.contains("lease 4"), "{detail}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn data_without_metadata_is_not_silently_reinitialised() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, _, _) = Engine::open(dir.path()).expect("open");
    commit_put(&engine, 1, b"a", 0);
    drop(engine);
    poke(dir.path(), META_CF, LAYOUT_VERSION_KEY.as_bytes(), None);
    assert!(matches!(
        open_error(dir.path()),
        StoreError::MissingMeta {
            field: LAYOUT_VERSION_KEY,
            ..
        }
    ));
    poke(
        dir.path(),
        META_CF,
        LAYOUT_VERSION_KEY.as_bytes(),
        Some(&encode_counter(1)),
    );
    assert!(matches!(
        open_error(dir.path()),
        StoreError::UnsupportedLayout { found: 1, .. }
    ));
}

#[test]
fn compaction_drops_the_log_up_to_its_revision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, _, _) = Engine::open(dir.path()).expect("open");
    for revision in 1..=4 {
        commit_put(&engine, revision, format!("k{revision}").as_bytes(), 0);
    }
    let mut batch = WriteBatch::default();
    engine.stage_compaction(&mut batch, 2).expect("stage");
    engine.write(batch).expect("write");
    engine.reclaim_log(2).expect("reclaim");
    let all = KeyRange::Prefix(Vec::new());
    let revisions: Vec<u64> = engine
        .snapshot()
        .history(&all, 0, 4)
        .expect("history")
        .iter()
        .map(Event::revision)
        .collect();
    assert_eq!(revisions, vec![3, 4]);
    drop(engine);
    let (_, meta, _) = Engine::open(dir.path()).expect("reopen");
    assert_eq!((meta.revision, meta.compact_revision), (4, 2));
}

#[test]
fn commit_times_are_bisected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, _, _) = Engine::open(dir.path()).expect("open");
    for (revision, time) in [(1, 10), (2, 10), (3, 20), (4, 30), (5, 30), (6, 40)] {
        commit_put(&engine, revision, b"k", time);
    }
    let found = |cutoff, after| {
        engine
            .newest_revision_before(cutoff, after, 6)
            .expect("bisect")
    };
    assert_eq!(found(5, 0), None);
    assert_eq!(found(10, 0), Some(2));
    assert_eq!(found(29, 0), Some(3));
    assert_eq!(found(30, 0), Some(5));
    assert_eq!(found(99, 0), Some(6));
    assert_eq!(found(20, 3), None);
    assert_eq!(found(30, 3), Some(5));
}
