//! [`Store`]: the public face of the engine, tying the writer thread, RocksDB and watchers
//! together.
//!
//! Every change goes through the writer thread (see `writer`), which group-commits them.
//! Reads (`get`, `range`) take no lock and do not queue behind writes: they read a RocksDB
//! snapshot, so a range's revision matches its keys. All methods except the watcher's block
//! on disk I/O (writes wait for fsync); async callers should run them on a blocking thread.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::engine::{Engine, Meta};
use crate::error::StoreError;
use crate::event::Event;
use crate::kv::{KeyValue, RangeResult};
use crate::lease::{Lease, LeaseId, LeaseStatus, Leases};
use crate::options::StoreOptions;
use crate::range::{KeyRange, RangeRequest};
use crate::snapshot::{self, SnapshotInfo};
use crate::txn::{Expect, Op, OpResult, Txn, TxnResult, WriteResult};
use crate::watch::{WatchHub, WatchRequest, Watcher};
use crate::writer::{Reply, Request, Writer};

/// The MVCC key-value store. Cheap to clone; all clones share one database. Dropping the last
/// clone stops its threads and closes the database; watchers then end after their buffer.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// How the store is doing, for operators and tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStatus {
    pub revision: u64,
    pub compact_revision: u64,
    /// Synced writes so far in this process: each carries one or more requests.
    pub syncs: u64,
    /// Whether the `no space` alarm is raised.
    pub no_space: bool,
    /// Bytes the data directory takes on disk.
    pub disk_bytes: u64,
}

/// State shared by callers, the writer thread and the expiry driver.
pub(crate) struct Shared {
    pub engine: Engine,
    pub options: StoreOptions,
    /// The published revision: every change up to it is durable and was handed to watchers.
    /// Only changes under the `hub` lock.
    pub revision: AtomicU64,
    /// History up to here is gone or going. Raised (under the `hub` lock) before the log is
    /// deleted, and readers load it after taking their RocksDB snapshot, so a reader either
    /// sees the history intact or refuses.
    pub compact_revision: AtomicU64,
    pub no_space: AtomicBool,
    pub syncs: AtomicU64,
    hub: Mutex<WatchHub>,
}

impl Shared {
    pub(crate) fn new(engine: Engine, options: StoreOptions, meta: Meta) -> Shared {
        Shared {
            revision: AtomicU64::new(meta.revision),
            compact_revision: AtomicU64::new(meta.compact_revision),
            no_space: AtomicBool::new(meta.no_space),
            syncs: AtomicU64::new(0),
            hub: Mutex::new(WatchHub::new(options.watch_buffer)),
            engine,
            options,
        }
    }

    /// Hands committed revisions to watchers and makes `revision` the current one.
    pub(crate) fn publish(&self, revisions: Vec<Vec<Event>>, revision: u64) {
        let mut hub = self.hub();
        for events in revisions {
            hub.publish(&Arc::from(events));
        }
        self.revision.store(revision, Ordering::Release);
    }

    pub(crate) fn set_compact_revision(&self, revision: u64) {
        let _hub = self.hub();
        self.compact_revision.store(revision, Ordering::Release);
    }

    fn progress(&self, periodic: bool) {
        let mut hub = self.hub();
        hub.progress(self.revision.load(Ordering::Acquire), periodic);
    }

    /// Takes the hub lock. Its holders never leave the hub half-updated on a panic (one
    /// subscriber at a time is added or served), so a poisoned lock is still usable.
    fn hub(&self) -> MutexGuard<'_, WatchHub> {
        self.hub.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Inner {
    shared: Arc<Shared>,
    requests: Option<Sender<Request>>,
    writer: Option<JoinHandle<()>>,
    stop_driver: Option<Sender<()>>,
    driver: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The driver holds a request sender: stop it first so the writer sees its queue end.
        drop(self.stop_driver.take());
        if let Some(driver) = self.driver.take() {
            let _ = driver.join();
        }
        drop(self.requests.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Store {
    /// Opens (creating if absent) the store in `dir` with default options. Corrupt or
    /// unreadable files give an error naming the path (and the file or key), never an empty
    /// store.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(dir, StoreOptions::default())
    }

    /// Opens the store in `dir` with `options`.
    pub fn open_with(dir: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        let (engine, meta, loaded) = Engine::open(dir)?;
        let last_commit_ms = if meta.revision > meta.compact_revision {
            engine.commit_time(meta.revision)?
        } else {
            0
        };
        let mut leases = Leases::new(loaded.leases, meta.next_lease_id);
        for (id, key) in &loaded.leased_keys {
            leases
                .attach(*id, key)
                .map_err(|source| StoreError::Lease { source })?;
        }
        tracing::info!(
            path = %dir.display(),
            revision = meta.revision,
            compact_revision = meta.compact_revision,
            "store opened"
        );
        let shared = Arc::new(Shared::new(engine, options, meta));
        let writer = Writer::new(Arc::clone(&shared), meta, leases, last_commit_ms)?;
        let (requests, queue) = mpsc::channel();
        let writer = spawn("store-writer", dir, move || writer.run(queue))?;
        let (stop_driver, stopped) = mpsc::channel();
        let driver = {
            let shared = Arc::clone(&shared);
            let requests = requests.clone();
            spawn("store-driver", dir, move || {
                drive(&shared, &requests, &stopped)
            })?
        };
        Ok(Store {
            inner: Arc::new(Inner {
                shared,
                requests: Some(requests),
                writer: Some(writer),
                stop_driver: Some(stop_driver),
                driver: Some(driver),
            }),
        })
    }

    /// The current cluster revision: that of the last committed change, 0 for an empty store.
    pub fn revision(&self) -> u64 {
        self.inner.shared.revision.load(Ordering::Acquire)
    }

    /// The current state of `key`, if it exists.
    pub fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        self.inner.shared.engine.get(key)
    }

    /// All live keys starting with `prefix`, in key order, at the current revision.
    pub fn range_prefix(&self, prefix: &[u8]) -> Result<RangeResult, StoreError> {
        self.range(&RangeRequest::prefix(prefix))
    }

    /// Reads a key, prefix or key range, now or at a past revision that is not compacted
    /// ([`StoreError::Compacted`] otherwise), with limit, count-only and keys-only.
    pub fn range(&self, request: &RangeRequest) -> Result<RangeResult, StoreError> {
        let shared = &self.inner.shared;
        let snapshot = shared.engine.snapshot();
        let compact_revision = shared.compact_revision.load(Ordering::Acquire);
        snapshot.range(request, compact_revision)
    }

    /// Runs `txn` atomically under one new revision (etcd semantics): if every compare holds,
    /// applies `success`, else `failure`. A branch that changes nothing does not advance the
    /// revision. Returns once the change is durably on disk.
    pub fn txn(&self, txn: Txn) -> Result<TxnResult, StoreError> {
        self.check_size(&txn)?;
        self.call(|reply| Request::Txn(txn, reply))
    }

    /// [`Store::txn`] for async callers: awaits the group commit instead of blocking a thread,
    /// so thousands of concurrent writers cost no thread each.
    pub async fn txn_async(&self, txn: Txn) -> Result<TxnResult, StoreError> {
        self.check_size(&txn)?;
        self.call_async(|reply| Request::Txn(txn, reply)).await
    }

    /// Writes `value` at `key` if `expect` holds.
    pub fn put(&self, key: &[u8], value: &[u8], expect: Expect) -> Result<WriteResult, StoreError> {
        let result = self.txn(write_one(key, Op::put(key, value), expect))?;
        Ok(write_result(result))
    }

    /// [`Store::put`] for async callers: awaits the group commit instead of blocking a thread.
    pub async fn put_async(
        &self,
        key: &[u8],
        value: &[u8],
        expect: Expect,
    ) -> Result<WriteResult, StoreError> {
        let result = self
            .txn_async(write_one(key, Op::put(key, value), expect))
            .await?;
        Ok(write_result(result))
    }

    /// Deletes `key` if `expect` holds. Deleting an absent key commits without a new revision.
    pub fn delete(&self, key: &[u8], expect: Expect) -> Result<WriteResult, StoreError> {
        let result = self.txn(write_one(key, Op::delete(key), expect))?;
        Ok(write_result(result))
    }

    /// [`Store::delete`] for async callers: awaits the group commit instead of blocking a thread.
    pub async fn delete_async(
        &self,
        key: &[u8],
        expect: Expect,
    ) -> Result<WriteResult, StoreError> {
        let result = self
            .txn_async(write_one(key, Op::delete(key), expect))
            .await?;
        Ok(write_result(result))
    }

    /// Events for keys starting with `prefix` with revision > `after_revision`, with
    /// previous values: see [`Store::watch`].
    pub fn watch_prefix(&self, prefix: &[u8], after_revision: u64) -> Result<Watcher, StoreError> {
        self.watch(WatchRequest::new(
            KeyRange::Prefix(prefix.to_vec()),
            after_revision,
        ))
    }

    /// Every change to the watched keys after `request.after_revision`: first the history
    /// from the revision log, then live ones, each exactly once, in revision order. Fails
    /// with [`StoreError::Compacted`] if part of the needed history was compacted.
    pub fn watch(&self, request: WatchRequest) -> Result<Watcher, StoreError> {
        let shared = &self.inner.shared;
        let mut hub = shared.hub();
        let compact_revision = shared.compact_revision.load(Ordering::Acquire);
        if request.after_revision < compact_revision {
            return Err(StoreError::Compacted {
                requested: request.after_revision,
                compact_revision,
            });
        }
        let published = shared.revision.load(Ordering::Acquire);
        let snapshot = shared.engine.snapshot();
        let mut watcher = hub.subscribe(&request);
        drop(hub);
        let history = snapshot.history(&request.range, request.after_revision, published)?;
        watcher.prepend_history(history);
        Ok(watcher)
    }

    /// Tells every watcher the current revision now (after the events it has yet to get).
    pub fn request_progress(&self) {
        self.inner.shared.progress(false);
    }

    /// Drops the revision history up to and including `revision` and gives its space back to
    /// the file system; live values are kept. Compacting at or below an earlier compaction
    /// does nothing.
    pub fn compact(&self, revision: u64) -> Result<(), StoreError> {
        if self.call(|reply| Request::Compact(revision, reply))? {
            self.inner.shared.engine.reclaim_log(revision)?;
        }
        Ok(())
    }

    /// Compacts away every revision committed more than `retention` ago (by the store's
    /// clock), returning the new compact revision if there was anything to compact.
    pub fn compact_older_than(&self, retention: Duration) -> Result<Option<u64>, StoreError> {
        let compacted = self.call(|reply| Request::CompactOlderThan(retention, reply))?;
        if let Some(revision) = compacted {
            self.inner.shared.engine.reclaim_log(revision)?;
        }
        Ok(compacted)
    }

    /// Rewrites the whole database so deleted keys and compacted history stop taking space,
    /// like etcd's defragment. Slow on a large store; usually followed by
    /// [`Store::disarm_no_space`].
    pub fn defragment(&self) -> Result<(), StoreError> {
        self.inner.shared.engine.defragment()
    }

    /// Clears the `no space` alarm if the store is below its quota again; fails with
    /// [`StoreError::NoSpace`] otherwise.
    pub fn disarm_no_space(&self) -> Result<(), StoreError> {
        self.call(Request::Disarm)
    }

    /// Grants a lease of `ttl`; keys put with it are deleted when it expires or is revoked.
    pub fn grant_lease(&self, ttl: Duration) -> Result<Lease, StoreError> {
        self.call(|reply| Request::Grant {
            id: None,
            ttl,
            reply,
        })
    }

    /// Grants a lease with a chosen id (fails if the id is in use).
    pub fn grant_lease_with_id(&self, id: LeaseId, ttl: Duration) -> Result<Lease, StoreError> {
        self.call(|reply| Request::Grant {
            id: Some(id),
            ttl,
            reply,
        })
    }

    /// Renews a lease to its full TTL from now.
    pub fn keep_alive(&self, id: LeaseId) -> Result<Lease, StoreError> {
        self.call(|reply| Request::KeepAlive(id, reply))
    }

    /// Ends a lease now, deleting its keys under one new revision; returns the revision
    /// current afterwards.
    pub fn revoke_lease(&self, id: LeaseId) -> Result<u64, StoreError> {
        self.call(|reply| Request::Revoke(id, reply))
    }

    /// A lease's granted TTL, remaining time and keys.
    pub fn lease_time_to_live(&self, id: LeaseId) -> Result<LeaseStatus, StoreError> {
        self.call(|reply| Request::TimeToLive(id, reply))
    }

    /// Revokes every lease whose deadline passed, now rather than at the driver's next tick;
    /// returns once that is done.
    pub fn expire_leases(&self) -> Result<(), StoreError> {
        self.call(|reply| Request::ExpireLeases(Some(reply)))
    }

    /// Writes a consistent snapshot of the whole store to `file` (see `snapshot`).
    pub fn snapshot(&self, file: &Path) -> Result<SnapshotInfo, StoreError> {
        snapshot::write(&self.inner.shared.engine, file)
    }

    /// Rebuilds a store in `dir` (missing or empty) from a snapshot file, checking it first.
    pub fn restore(file: &Path, dir: &Path) -> Result<SnapshotInfo, StoreError> {
        snapshot::restore(file, dir)
    }

    /// Counters an operator or a test may want.
    pub fn status(&self) -> Result<StoreStatus, StoreError> {
        let shared = &self.inner.shared;
        Ok(StoreStatus {
            revision: shared.revision.load(Ordering::Acquire),
            compact_revision: shared.compact_revision.load(Ordering::Acquire),
            syncs: shared.syncs.load(Ordering::Relaxed),
            no_space: shared.no_space.load(Ordering::Acquire),
            disk_bytes: shared.engine.disk_usage()?,
        })
    }

    fn call<T>(&self, request: impl FnOnce(Reply<T>) -> Request) -> Result<T, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.queue(request(Reply::Thread(reply)))?;
        answer.recv().map_err(|_| self.closed())?
    }

    async fn call_async<T>(
        &self,
        request: impl FnOnce(Reply<T>) -> Request,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue(request(Reply::Task(reply)))?;
        answer.await.map_err(|_| self.closed())?
    }

    fn check_size(&self, txn: &Txn) -> Result<(), StoreError> {
        let size = txn.payload_len();
        let limit = self.inner.shared.options.max_request_bytes;
        if size > limit {
            return Err(StoreError::RequestTooLarge { size, limit });
        }
        Ok(())
    }

    fn queue(&self, request: Request) -> Result<(), StoreError> {
        let requests = self.inner.requests.as_ref().ok_or_else(|| self.closed())?;
        requests.send(request).map_err(|_| self.closed())
    }

    fn closed(&self) -> StoreError {
        StoreError::Closed {
            path: self.inner.shared.engine.path().to_path_buf(),
        }
    }
}

/// The transaction of a single-key write: `op` if `expect` holds, else read the key so the
/// caller learns what is there instead.
fn write_one(key: &[u8], op: Op, expect: Expect) -> Txn {
    Txn {
        compares: expect.compares(key),
        success: vec![op],
        failure: vec![Op::get(key)],
    }
}

/// What a [`write_one`] transaction did, with the key's previous or current state.
fn write_result(result: TxnResult) -> WriteResult {
    let state = result
        .results
        .into_iter()
        .next()
        .and_then(|result| match result {
            OpResult::Put { prev } => prev,
            OpResult::Delete { deleted } => deleted.into_iter().next(),
            OpResult::Range(range) => range.kvs.into_iter().next(),
        });
    if result.succeeded {
        WriteResult::Committed {
            revision: result.revision,
            prev: state,
        }
    } else {
        WriteResult::Conflict { current: state }
    }
}

fn spawn(
    name: &str,
    dir: &Path,
    body: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>, StoreError> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(body)
        .map_err(|source| StoreError::Io {
            action: "starting a thread for the store at",
            path: dir.to_path_buf(),
            source,
        })
}

/// The expiry driver: asks the writer to expire leases and sends periodic progress
/// notifications, until the store is dropped.
fn drive(shared: &Shared, requests: &Sender<Request>, stop: &mpsc::Receiver<()>) {
    let lease_every = shared.options.lease_check_interval;
    let progress_every = shared.options.progress_interval;
    let tick = lease_every
        .min(progress_every)
        .max(Duration::from_millis(1));
    let mut next_lease = Instant::now() + lease_every;
    let mut next_progress = Instant::now() + progress_every;
    loop {
        match stop.recv_timeout(tick) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        if now >= next_lease {
            if requests.send(Request::ExpireLeases(None)).is_err() {
                return;
            }
            next_lease = now + lease_every;
        }
        if now >= next_progress {
            shared.progress(true);
            next_progress = now + progress_every;
        }
    }
}
