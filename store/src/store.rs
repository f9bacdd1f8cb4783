//! [`Store`]: the public face of the engine, tying the pure MVCC core, RocksDB and watchers
//! together.
//!
//! One writer lock serializes everything that changes the store or must see it stand still:
//! planning and committing a transaction, publishing its events, compacting and registering a
//! watcher. Reads (`get`, `range_prefix`) take no lock; they read RocksDB directly, and a
//! prefix read uses one RocksDB snapshot so its revision matches its keys. All methods except
//! [`Watcher::next`](crate::Watcher::next) block on disk I/O (writes wait for fsync); async
//! callers should run them on a blocking thread.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::engine::Engine;
use crate::error::StoreError;
use crate::kv::{KeyValue, RangeResult};
use crate::mvcc::{plan_txn, read_set};
use crate::txn::{Expect, Op, OpResult, Txn, TxnResult, WriteResult};
use crate::watch::{DEFAULT_WATCH_BUFFER, WatchHub, Watcher};

/// The MVCC key-value store. Cheap to clone; all clones share one database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    /// Mirror of `Writer::revision` for lock-free reads of the current revision.
    revision: AtomicU64,
    writer: Mutex<Writer>,
}

/// State that only the lock holder may read or change.
struct Writer {
    revision: u64,
    compact_revision: u64,
    hub: WatchHub,
}

impl Store {
    /// Opens (creating if absent) the store in `dir`. Corrupt or unreadable files give an
    /// error naming the path (and the key, for a corrupt record), never an empty store.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with_watch_buffer(dir, DEFAULT_WATCH_BUFFER)
    }

    /// Like [`Store::open`], with each watcher buffering at most `watch_buffer` revisions.
    pub(crate) fn open_with_watch_buffer(
        dir: &Path,
        watch_buffer: usize,
    ) -> Result<Store, StoreError> {
        let (engine, meta) = Engine::open(dir)?;
        tracing::info!(
            path = %dir.display(),
            revision = meta.revision,
            compact_revision = meta.compact_revision,
            "store opened"
        );
        Ok(Store {
            inner: Arc::new(Inner {
                engine,
                revision: AtomicU64::new(meta.revision),
                writer: Mutex::new(Writer {
                    revision: meta.revision,
                    compact_revision: meta.compact_revision,
                    hub: WatchHub::new(watch_buffer),
                }),
            }),
        })
    }

    /// The current cluster revision: that of the last committed change, 0 for an empty store.
    pub fn revision(&self) -> u64 {
        self.inner.revision.load(Ordering::Acquire)
    }

    /// The current state of `key`, if it exists.
    pub fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        self.inner.engine.get(key)
    }

    /// All live keys starting with `prefix`, in key order, plus the revision the read was
    /// taken at.
    pub fn range_prefix(&self, prefix: &[u8]) -> Result<RangeResult, StoreError> {
        self.inner.engine.range_prefix(prefix)
    }

    /// Runs `txn` atomically under one new revision (etcd semantics): if every compare holds,
    /// applies `success`, else `failure`. A branch that changes nothing does not advance the
    /// revision. Returns once the change is durably on disk.
    pub fn txn(&self, txn: Txn) -> Result<TxnResult, StoreError> {
        let mut writer = self.lock_writer();
        let engine = &self.inner.engine;
        let view = engine.load_view(&read_set(&txn))?;
        let plan = plan_txn(&txn, writer.revision, view).map_err(|source| StoreError::Txn {
            path: engine.path().to_path_buf(),
            source,
        })?;
        if let Some(commit) = &plan.commit {
            engine.commit(commit)?;
            writer.revision = commit.revision;
            self.inner
                .revision
                .store(commit.revision, Ordering::Release);
            writer.hub.publish(&commit.events);
        }
        Ok(TxnResult {
            succeeded: plan.succeeded,
            revision: writer.revision,
            results: plan.results,
        })
    }

    /// Writes `value` at `key` if `expect` holds.
    pub fn put(&self, key: &[u8], value: &[u8], expect: Expect) -> Result<WriteResult, StoreError> {
        let op = Op::Put {
            key: key.to_vec(),
            value: value.to_vec(),
        };
        self.write_one(key, op, expect)
    }

    /// Deletes `key` if `expect` holds. Deleting an absent key commits without a new revision.
    pub fn delete(&self, key: &[u8], expect: Expect) -> Result<WriteResult, StoreError> {
        self.write_one(key, Op::Delete { key: key.to_vec() }, expect)
    }

    /// Events for keys starting with `prefix` with revision > `after_revision`: first the
    /// history from the revision log, then live ones, each exactly once, in revision order.
    /// Fails with [`StoreError::Compacted`] if part of the needed history was compacted.
    pub fn watch_prefix(&self, prefix: &[u8], after_revision: u64) -> Result<Watcher, StoreError> {
        let mut writer = self.lock_writer();
        if after_revision < writer.compact_revision {
            return Err(StoreError::Compacted {
                requested: after_revision,
                compact_revision: writer.compact_revision,
            });
        }
        let history = self.inner.engine.history(prefix, after_revision)?;
        Ok(writer.hub.subscribe(prefix, after_revision, history))
    }

    /// Drops the revision history up to and including `revision`; live values are kept.
    /// Compacting at or below an earlier compaction does nothing.
    pub fn compact(&self, revision: u64) -> Result<(), StoreError> {
        let mut writer = self.lock_writer();
        if revision > writer.revision {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: writer.revision,
            });
        }
        if revision <= writer.compact_revision {
            return Ok(());
        }
        self.inner.engine.compact(revision)?;
        writer.compact_revision = revision;
        Ok(())
    }

    fn write_one(&self, key: &[u8], op: Op, expect: Expect) -> Result<WriteResult, StoreError> {
        let result = self.txn(Txn {
            compares: expect.compares(key),
            success: vec![op],
            failure: vec![Op::Get { key: key.to_vec() }],
        })?;
        let state = result
            .results
            .into_iter()
            .find_map(|result| match result {
                OpResult::Put { prev } | OpResult::Delete { prev } => Some(prev),
                OpResult::Get { kv } => Some(kv),
                OpResult::DeletePrefix { .. } => None,
            })
            .flatten();
        Ok(if result.succeeded {
            WriteResult::Committed {
                revision: result.revision,
                prev: state,
            }
        } else {
            WriteResult::Conflict { current: state }
        })
    }

    /// Takes the writer lock. A panic of an earlier holder cannot leave `Writer` half-updated
    /// (its fields change only after a successful commit), so a poisoned lock is still usable.
    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        self.inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, EventKind};
    use crate::txn::Compare;
    use crate::watch::WatchError;
    use std::time::Duration;

    const DEADLINE: Duration = Duration::from_secs(20);

    fn open(dir: &tempfile::TempDir) -> Store {
        Store::open(dir.path()).expect("open")
    }

    fn committed_revision(result: WriteResult) -> u64 {
        match result {
            WriteResult::Committed { revision, .. } => revision,
            conflict => panic!("expected a commit, got {conflict:?}"),
        }
    }

    async fn next_event(watcher: &mut Watcher) -> Event {
        tokio::time::timeout(DEADLINE, watcher.next())
            .await
            .expect("event before deadline")
            .expect("watch ok")
            .expect("store alive")
    }

    #[test]
    fn store_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
        assert_send_sync::<Store>();
        fn assert_send<T: Send + 'static>() {}
        assert_send::<Watcher>();
    }

    #[test]
    fn crud_tracks_revisions_and_versions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir);
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
                version: 1
            }
        );
        store.put(b"b", b"x", Expect::Any).expect("put");
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
        assert_eq!(store.get(b"a").expect("get"), None);
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
    fn range_prefix_lists_live_keys_in_order_at_a_revision() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir);
        for key in [b"p/c".as_slice(), b"p/a", b"q/a", b"p/b", b"p"] {
            store.put(key, key, Expect::Any).expect("put");
        }
        store.delete(b"p/b", Expect::Any).expect("delete");
        let range = store.range_prefix(b"p/").expect("range");
        let keys: Vec<&[u8]> = range.kvs.iter().map(|kv| kv.key.as_slice()).collect();
        assert_eq!(keys, vec![b"p/a".as_slice(), b"p/c"]);
        assert_eq!(range.revision, 6);
        assert_eq!(store.range_prefix(b"").expect("range").kvs.len(), 4);
    }

    #[test]
    fn cas_conflicts_report_the_current_value_and_change_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir);
        let created = committed_revision(store.put(b"k", b"1", Expect::Absent).expect("create"));
        let current = store.get(b"k").expect("get");

        assert_eq!(
            store.put(b"k", b"again", Expect::Absent).expect("put"),
            WriteResult::Conflict {
                current: current.clone()
            }
        );
        assert_eq!(
            store
                .put(b"k", b"stale", Expect::ModRevision(created + 7))
                .expect("put"),
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

        let updated = committed_revision(
            store
                .put(b"k", b"2", Expect::ModRevision(created))
                .expect("put"),
        );
        assert_eq!(updated, created + 1);
        committed_revision(
            store
                .delete(b"k", Expect::ModRevision(updated))
                .expect("delete"),
        );
        assert_eq!(store.get(b"k").expect("get"), None);
    }

    #[test]
    fn txn_applies_exactly_one_branch_under_one_revision() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir);
        store.put(b"lock", b"free", Expect::Any).expect("put");
        let txn = Txn {
            compares: vec![Compare::Value {
                key: b"lock".to_vec(),
                equals: b"free".to_vec(),
            }],
            success: vec![
                Op::Put {
                    key: b"lock".to_vec(),
                    value: b"held".to_vec(),
                },
                Op::Put {
                    key: b"owner".to_vec(),
                    value: b"me".to_vec(),
                },
            ],
            failure: vec![Op::Get {
                key: b"owner".to_vec(),
            }],
        };
        let first = store.txn(txn.clone()).expect("txn");
        assert!(first.succeeded);
        assert_eq!(first.revision, 2);
        assert_eq!(first.results.len(), 2);
        let owner = store.get(b"owner").expect("get").expect("owner");
        assert_eq!(owner.mod_revision, 2);
        assert_eq!(
            store.get(b"lock").expect("get").expect("lock").mod_revision,
            2
        );

        let second = store.txn(txn).expect("txn");
        assert!(!second.succeeded);
        assert_eq!(second.revision, 2);
        assert_eq!(second.results, vec![OpResult::Get { kv: Some(owner) }]);
    }

    #[test]
    fn delete_prefix_removes_only_that_prefix_in_one_revision() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir);
        for key in [b"ns/a/1".as_slice(), b"ns/a/2", b"ns/ab", b"ns/b/1"] {
            store.put(key, b"v", Expect::Any).expect("put");
        }
        let result = store
            .txn(Txn {
                success: vec![Op::DeletePrefix {
                    prefix: b"ns/a/".to_vec(),
                }],
                ..Txn::default()
            })
            .expect("txn");
        assert_eq!(result.revision, 5);
        match &result.results[..] {
            [OpResult::DeletePrefix { deleted }] => assert_eq!(deleted.len(), 2),
            other => panic!("unexpected {other:?}"),
        }
        let keys: Vec<Vec<u8>> = store
            .range_prefix(b"ns/")
            .expect("range")
            .kvs
            .into_iter()
            .map(|kv| kv.key)
            .collect();
        assert_eq!(keys, vec![b"ns/ab".to_vec(), b"ns/b/1".to_vec()]);
    }

    #[tokio::test]
    async fn reopen_keeps_revision_values_and_history() {
        let dir = tempfile::tempdir().expect("tempdir");
        let before = {
            let store = open(&dir);
            store.put(b"a", b"1", Expect::Any).expect("put");
            store.put(b"a", b"2", Expect::Any).expect("put");
            store.put(b"b", b"3", Expect::Any).expect("put");
            store.delete(b"b", Expect::Any).expect("delete");
            store.compact(1).expect("compact");
            store.range_prefix(b"").expect("range")
        };
        let store = open(&dir);
        assert_eq!(store.revision(), 4);
        assert_eq!(store.range_prefix(b"").expect("range"), before);
        assert!(matches!(
            store.watch_prefix(b"", 0),
            Err(StoreError::Compacted {
                requested: 0,
                compact_revision: 1
            })
        ));
        let mut watcher = store.watch_prefix(b"", 1).expect("watch");
        let mut seen = Vec::new();
        for _ in 0..3 {
            let event = next_event(&mut watcher).await;
            seen.push((event.revision(), event.kind, event.kv.key));
        }
        assert_eq!(
            seen,
            vec![
                (2, EventKind::Put, b"a".to_vec()),
                (3, EventKind::Put, b"b".to_vec()),
                (4, EventKind::Delete, b"b".to_vec()),
            ]
        );
        assert_eq!(
            store.put(b"c", b"", Expect::Any).expect("put"),
            WriteResult::Committed {
                revision: 5,
                prev: None
            }
        );
    }

    #[tokio::test]
    async fn watch_delivers_history_then_live_without_gaps() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir);
        store.put(b"w/1", b"a", Expect::Any).expect("put");
        store.put(b"x/1", b"a", Expect::Any).expect("put");
        store.put(b"w/1", b"b", Expect::Any).expect("put");
        let mut watcher = store.watch_prefix(b"w/", 0).expect("watch");
        store.delete(b"w/1", Expect::Any).expect("delete");
        store.put(b"x/2", b"a", Expect::Any).expect("put");
        store.put(b"w/2", b"c", Expect::Any).expect("put");

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
    async fn watch_from_a_future_revision_skips_until_then() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir);
        let mut watcher = store.watch_prefix(b"", 2).expect("watch");
        for value in [b"1", b"2", b"3"] {
            store.put(b"k", value, Expect::Any).expect("put");
        }
        let event = next_event(&mut watcher).await;
        assert_eq!((event.revision(), event.kv.version), (3, 3));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn subscribing_during_concurrent_writes_misses_and_duplicates_nothing() {
        const WRITES: u64 = 150;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir);
        let writer_store = store.clone();
        let writer = std::thread::spawn(move || {
            for i in 0..WRITES {
                writer_store
                    .put(
                        format!("c/{}", i % 7).as_bytes(),
                        &i.to_be_bytes(),
                        Expect::Any,
                    )
                    .expect("put");
            }
        });
        let mut watchers = vec![(0, store.watch_prefix(b"c/", 0).expect("watch"))];
        let mut last_seen = 0;
        while !writer.is_finished() {
            let seen = store.revision();
            if seen != last_seen {
                last_seen = seen;
                // Some watchers start at the revision just read (racing the next commit),
                // others a little earlier (history from the log, then live).
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
    async fn compacted_history_is_an_error_and_later_history_remains() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir);
        for i in 0..5u8 {
            store.put(b"k", &[i], Expect::Any).expect("put");
        }
        assert!(matches!(
            store.compact(9),
            Err(StoreError::FutureRevision {
                requested: 9,
                current: 5
            })
        ));
        store.compact(3).expect("compact");
        store.compact(2).expect("earlier compaction is a no-op");
        assert!(matches!(
            store.watch_prefix(b"k", 2),
            Err(StoreError::Compacted {
                requested: 2,
                compact_revision: 3
            })
        ));
        assert_eq!(
            store.get(b"k").expect("get").map(|kv| kv.value),
            Some(vec![4])
        );
        let mut watcher = store.watch_prefix(b"k", 3).expect("watch");
        assert_eq!(next_event(&mut watcher).await.revision(), 4);
        assert_eq!(next_event(&mut watcher).await.revision(), 5);
        store.compact(5).expect("compact everything");
        drop(store);
        let store = open(&dir);
        assert_eq!(store.revision(), 5);
        assert!(store.watch_prefix(b"", 5).is_ok());
    }

    #[tokio::test]
    async fn lagging_watcher_is_cancelled_and_can_resume() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_with_watch_buffer(dir.path(), 4).expect("open");
        let mut slow = store.watch_prefix(b"", 0).expect("watch");
        for i in 0..10u8 {
            store.put(b"k", &[i], Expect::Any).expect("put");
        }
        for expected in 1..=4 {
            assert_eq!(next_event(&mut slow).await.revision(), expected);
        }
        let lagged = tokio::time::timeout(DEADLINE, slow.next())
            .await
            .expect("deadline");
        assert_eq!(lagged, Err(WatchError::Lagged { last_delivered: 4 }));

        let mut resumed = store.watch_prefix(b"", 4).expect("resume");
        for expected in 5..=10 {
            assert_eq!(next_event(&mut resumed).await.revision(), expected);
        }
    }

    #[tokio::test]
    async fn dropping_the_store_ends_watchers_after_buffered_events() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir);
        let mut watcher = store.watch_prefix(b"", 0).expect("watch");
        store.put(b"k", b"v", Expect::Any).expect("put");
        drop(store);
        assert_eq!(next_event(&mut watcher).await.revision(), 1);
        let end = tokio::time::timeout(DEADLINE, watcher.next())
            .await
            .expect("deadline");
        assert_eq!(end, Ok(None));
    }

    #[test]
    fn corrupt_store_is_an_error_not_an_empty_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = open(&dir);
            store.put(b"k", b"v", Expect::Any).expect("put");
        }
        let options = rocksdb::Options::default();
        {
            let db =
                rocksdb::DB::open_cf(&options, dir.path(), ["kv", "log", "meta"]).expect("raw");
            let cf = db.cf_handle("kv").expect("cf");
            db.put_cf(cf, b"k", [7u8, 1, 2]).expect("poke");
        }
        match Store::open(dir.path()) {
            Err(StoreError::CorruptRecord { key, .. }) => assert_eq!(key, "k"),
            Err(other) => panic!("unexpected {other:?}"),
            Ok(_) => panic!("corrupt store opened"),
        }
    }
}
