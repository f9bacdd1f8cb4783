//! The writer thread: the only code that changes the store, and the group commit.
//!
//! Callers queue requests; the thread takes the first one, then every request already
//! waiting (up to `max_batch`), plans each against the state left by the previous ones,
//! stages all their writes into one RocksDB `WriteBatch` and writes it with `sync = true`.
//! Only then are the revisions published to watchers and the callers answered, so a write is
//! acknowledged only once it is in the synced WAL, concurrent writers share one fsync, and
//! revisions stay gap-free (they are assigned in queue order by this single thread).
//!
//! If a synced write fails, what reached the disk is unknown, so the thread refuses every
//! later write ([`StoreError::Failed`]); reopening the store recovers exactly what is on disk.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::Duration;

use rocksdb::WriteBatch;
use tokio::sync::oneshot;

use crate::engine::Meta;
use crate::error::StoreError;
use crate::event::Event;
use crate::kv::KeyValue;
use crate::lease::{Lease, LeaseError, LeaseId, LeaseStatus, Leases};
use crate::mvcc::{Commit, ReadSet, View, plan_txn, read_set};
use crate::store::Shared;
use crate::txn::{Op, Txn, TxnResult};

/// Where a request's answer goes: a caller blocked on a thread or a task awaiting it.
pub(crate) enum Reply<T> {
    Thread(SyncSender<Result<T, StoreError>>),
    Task(oneshot::Sender<Result<T, StoreError>>),
}

impl<T> Reply<T> {
    fn send(self, answer: Result<T, StoreError>) {
        // A caller that stopped waiting needs no answer.
        match self {
            Reply::Thread(sender) => {
                let _ = sender.send(answer);
            }
            Reply::Task(sender) => {
                let _ = sender.send(answer);
            }
        }
    }
}

/// A change (or a read that must be ordered with changes) for the writer thread.
pub(crate) enum Request {
    Txn(Txn, Reply<TxnResult>),
    Grant {
        id: Option<LeaseId>,
        ttl: Duration,
        reply: Reply<Lease>,
    },
    KeepAlive(LeaseId, Reply<Lease>),
    Revoke(LeaseId, Reply<u64>),
    TimeToLive(LeaseId, Reply<LeaseStatus>),
    /// Revoke every lease whose deadline passed; the driver sends it without a reply.
    ExpireLeases(Option<Reply<()>>),
    /// Compact through a revision; answers whether anything was compacted.
    Compact(u64, Reply<bool>),
    /// Compact away the revisions committed longer than this ago; answers the revision.
    CompactOlderThan(Duration, Reply<Option<u64>>),
    Disarm(Reply<()>),
}

/// Sends one request's answer once its batch is written; given the write's error if any.
type Answer = Box<dyn FnOnce(Option<&rocksdb::Error>) + Send>;

/// What one group commit accumulates before its single synced write.
struct Batch {
    write: WriteBatch,
    /// Key states written by earlier requests of this batch, not yet in RocksDB.
    overlay: BTreeMap<Vec<u8>, Option<KeyValue>>,
    /// Events of each revision staged, in revision order.
    revisions: Vec<Vec<Event>>,
    answers: Vec<Answer>,
    dirty: bool,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            write: WriteBatch::default(),
            overlay: BTreeMap::new(),
            revisions: Vec::new(),
            answers: Vec::new(),
            dirty: false,
        }
    }

    /// Queues `answer` for `reply`, sent once the batch is written. A successful answer
    /// becomes the write's error if the write fails.
    fn answer<T: Send + 'static>(
        &mut self,
        reply: Reply<T>,
        answer: Result<T, StoreError>,
        shared: &Arc<Shared>,
    ) {
        let path = shared.engine.path().to_path_buf();
        self.answers
            .push(Box::new(move |failure: Option<&rocksdb::Error>| {
                let answer = match (answer, failure) {
                    (Ok(_), Some(source)) => Err(StoreError::Write {
                        path,
                        what: "a group commit".to_owned(),
                        source: source.clone(),
                    }),
                    (answer, _) => answer,
                };
                reply.send(answer);
            }));
    }

    /// Applies the writes staged by earlier requests to a view loaded from RocksDB.
    fn overlay(&self, view: &mut View, set: &ReadSet) {
        for (key, state) in &self.overlay {
            if !set.covers(key) {
                continue;
            }
            match state {
                Some(kv) => view.insert(key.clone(), kv.clone()),
                None => view.remove(key),
            };
        }
    }
}

/// The writer thread's state: everything only it may change.
pub(crate) struct Writer {
    shared: Arc<Shared>,
    /// Revision of the last staged commit (ahead of the published one during a batch).
    revision: u64,
    /// Revision of the last commit known to be on disk.
    durable_revision: u64,
    compact_revision: u64,
    /// Commit time of the newest revision; commit times never go backwards, so retention
    /// compaction can bisect the log even if the wall clock steps back.
    last_commit_ms: u64,
    leases: Leases,
    no_space: bool,
    /// Bytes on disk at the last measurement, plus the bytes written since.
    used_bytes: u64,
    failed: bool,
}

impl Writer {
    pub(crate) fn new(
        shared: Arc<Shared>,
        meta: Meta,
        leases: Leases,
        last_commit_ms: u64,
    ) -> Result<Writer, StoreError> {
        let used_bytes = shared.engine.disk_usage()?;
        Ok(Writer {
            shared,
            revision: meta.revision,
            durable_revision: meta.revision,
            compact_revision: meta.compact_revision,
            last_commit_ms,
            leases,
            no_space: meta.no_space,
            used_bytes,
            failed: false,
        })
    }

    /// Serves requests until every sender is gone.
    pub(crate) fn run(mut self, requests: Receiver<Request>) {
        let max_batch = self.shared.options.max_batch.max(1);
        while let Ok(first) = requests.recv() {
            let mut batch = Batch::new();
            self.handle(first, &mut batch);
            let mut taken = 1;
            while taken < max_batch {
                let Ok(next) = requests.try_recv() else {
                    break;
                };
                self.handle(next, &mut batch);
                taken += 1;
            }
            self.finish(batch);
        }
    }

    fn handle(&mut self, request: Request, batch: &mut Batch) {
        let shared = Arc::clone(&self.shared);
        match request {
            Request::Txn(txn, reply) => {
                let answer = self.txn(&txn, batch);
                batch.answer(reply, answer, &shared);
            }
            Request::Grant { id, ttl, reply } => {
                let answer = self.grant(id, ttl, batch);
                batch.answer(reply, answer, &shared);
            }
            Request::KeepAlive(id, reply) => {
                let answer = self.keep_alive(id, batch);
                batch.answer(reply, answer, &shared);
            }
            Request::Revoke(id, reply) => {
                let answer = self.revoke(id, batch);
                batch.answer(reply, answer, &shared);
            }
            Request::TimeToLive(id, reply) => {
                let now = shared.options.clock.now_ms();
                let answer = self.leases.status(id, now).map_err(lease_error);
                batch.answer(reply, answer, &shared);
            }
            Request::ExpireLeases(reply) => {
                self.expire(batch);
                if let Some(reply) = reply {
                    batch.answer(reply, Ok(()), &shared);
                }
            }
            Request::Compact(revision, reply) => {
                let answer = self.compact(revision, batch);
                batch.answer(reply, answer, &shared);
            }
            Request::CompactOlderThan(retention, reply) => {
                let answer = self.compact_older_than(retention, batch);
                batch.answer(reply, answer, &shared);
            }
            Request::Disarm(reply) => {
                let answer = self.disarm(batch);
                batch.answer(reply, answer, &shared);
            }
        }
    }

    /// Writes the batch (if it changed anything), publishes its revisions and answers.
    fn finish(&mut self, batch: Batch) {
        let Batch {
            write,
            revisions,
            answers,
            dirty,
            ..
        } = batch;
        let mut failure = None;
        if dirty {
            let bytes = write.size_in_bytes() as u64;
            match self.shared.engine.write(write) {
                Ok(()) => {
                    self.shared.syncs.fetch_add(1, Ordering::Relaxed);
                    self.used_bytes = self.used_bytes.saturating_add(bytes);
                    self.durable_revision = self.revision;
                }
                Err(error) => {
                    tracing::error!(
                        path = %self.shared.engine.path().display(),
                        %error,
                        "synced write failed; the store refuses writes until reopened"
                    );
                    self.failed = true;
                    failure = Some(error);
                }
            }
        }
        if failure.is_none() && !revisions.is_empty() {
            self.shared.publish(revisions, self.revision);
        }
        for answer in answers {
            answer(failure.as_ref());
        }
    }

    fn writable(&self) -> Result<(), StoreError> {
        if self.failed {
            return Err(StoreError::Failed {
                path: self.shared.engine.path().to_path_buf(),
            });
        }
        Ok(())
    }

    fn txn(&mut self, txn: &Txn, batch: &mut Batch) -> Result<TxnResult, StoreError> {
        self.writable()?;
        let set = read_set(txn);
        let mut view = self.shared.engine.load_view(&set)?;
        batch.overlay(&mut view, &set);
        let leases = &self.leases;
        let plan =
            plan_txn(txn, self.revision, view, &|id| leases.contains(id)).map_err(|source| {
                StoreError::Txn {
                    path: self.shared.engine.path().to_path_buf(),
                    source,
                }
            })?;
        if let Some(commit) = plan.commit {
            if commit.puts() {
                self.ensure_space(batch, txn.payload_len() as u64)?;
            }
            self.stage(commit, batch)?;
        }
        Ok(TxnResult {
            succeeded: plan.succeeded,
            revision: self.revision,
            results: plan.results,
        })
    }

    fn stage(&mut self, commit: Commit, batch: &mut Batch) -> Result<(), StoreError> {
        self.last_commit_ms = self.last_commit_ms.max(self.shared.options.clock.now_ms());
        self.shared
            .engine
            .stage_commit(&mut batch.write, &commit, self.last_commit_ms)?;
        self.revision = commit.revision;
        self.leases.apply(&commit.events);
        batch.overlay.extend(commit.writes);
        batch.revisions.push(commit.events);
        batch.dirty = true;
        Ok(())
    }

    /// Refuses a write that needs space while the alarm is raised, and raises the alarm
    /// (durably, with this batch) when the store would outgrow its quota.
    fn ensure_space(&mut self, batch: &mut Batch, incoming: u64) -> Result<(), StoreError> {
        let quota = self.shared.options.quota_bytes;
        let staged = batch.write.size_in_bytes() as u64;
        if !self.no_space && self.used_bytes + staged + incoming > quota {
            // The running figure only grows; measure before refusing anything.
            self.used_bytes = self.shared.engine.disk_usage()?;
            if self.used_bytes + staged + incoming > quota {
                tracing::warn!(
                    path = %self.shared.engine.path().display(),
                    used = self.used_bytes,
                    quota,
                    "store reached its quota: no space alarm raised"
                );
                self.no_space = true;
                self.shared.no_space.store(true, Ordering::Release);
                self.shared.engine.stage_no_space(&mut batch.write, true)?;
                batch.dirty = true;
            }
        }
        if self.no_space {
            return Err(StoreError::NoSpace {
                path: self.shared.engine.path().to_path_buf(),
                used: self.used_bytes,
                quota,
            });
        }
        Ok(())
    }

    fn disarm(&mut self, batch: &mut Batch) -> Result<(), StoreError> {
        self.writable()?;
        if !self.no_space {
            return Ok(());
        }
        self.used_bytes = self.shared.engine.disk_usage()?;
        let quota = self.shared.options.quota_bytes;
        if self.used_bytes > quota {
            return Err(StoreError::NoSpace {
                path: self.shared.engine.path().to_path_buf(),
                used: self.used_bytes,
                quota,
            });
        }
        self.no_space = false;
        self.shared.no_space.store(false, Ordering::Release);
        self.shared.engine.stage_no_space(&mut batch.write, false)?;
        batch.dirty = true;
        Ok(())
    }

    fn grant(
        &mut self,
        id: Option<LeaseId>,
        ttl: Duration,
        batch: &mut Batch,
    ) -> Result<Lease, StoreError> {
        self.writable()?;
        self.ensure_space(batch, 0)?;
        let now = self.shared.options.clock.now_ms();
        let (id, record) = self.leases.grant(id, ttl, now).map_err(lease_error)?;
        self.shared
            .engine
            .stage_lease(&mut batch.write, id, &record, self.leases.next_id())?;
        batch.dirty = true;
        Ok(Lease { id, ttl })
    }

    fn keep_alive(&mut self, id: LeaseId, batch: &mut Batch) -> Result<Lease, StoreError> {
        self.writable()?;
        let now = self.shared.options.clock.now_ms();
        let record = self.leases.keep_alive(id, now).map_err(lease_error)?;
        self.shared
            .engine
            .stage_lease(&mut batch.write, id, &record, self.leases.next_id())?;
        batch.dirty = true;
        Ok(Lease {
            id,
            ttl: Duration::from_millis(record.ttl_ms),
        })
    }

    /// Deletes the lease's keys under one new revision (if it has any) and the lease itself.
    fn revoke(&mut self, id: LeaseId, batch: &mut Batch) -> Result<u64, StoreError> {
        self.writable()?;
        let keys = self.leases.keys(id).map_err(lease_error)?;
        let txn = Txn {
            success: keys.iter().map(|key| Op::delete(key)).collect(),
            ..Txn::default()
        };
        self.txn(&txn, batch)?;
        self.shared
            .engine
            .stage_lease_removal(&mut batch.write, id)?;
        self.leases.remove(id);
        batch.dirty = true;
        Ok(self.revision)
    }

    fn expire(&mut self, batch: &mut Batch) {
        let now = self.shared.options.clock.now_ms();
        for id in self.leases.expired(now) {
            match self.revoke(id, batch) {
                Ok(revision) => tracing::debug!(lease = %id, revision, "lease expired"),
                Err(error) => {
                    tracing::warn!(lease = %id, %error, "expired lease not revoked");
                    return;
                }
            }
        }
    }

    fn compact(&mut self, revision: u64, batch: &mut Batch) -> Result<bool, StoreError> {
        self.writable()?;
        if revision > self.revision {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: self.revision,
            });
        }
        if revision <= self.compact_revision {
            return Ok(false);
        }
        // Refuse new readers of the history first, then delete it (see `Shared`).
        self.shared.set_compact_revision(revision);
        self.compact_revision = revision;
        self.shared
            .engine
            .stage_compaction(&mut batch.write, revision)?;
        batch.dirty = true;
        Ok(true)
    }

    fn compact_older_than(
        &mut self,
        retention: Duration,
        batch: &mut Batch,
    ) -> Result<Option<u64>, StoreError> {
        self.writable()?;
        let retention_ms = u64::try_from(retention.as_millis()).unwrap_or(u64::MAX);
        let cutoff = self
            .shared
            .options
            .clock
            .now_ms()
            .saturating_sub(retention_ms);
        let found = self.shared.engine.newest_revision_before(
            cutoff,
            self.compact_revision,
            self.durable_revision,
        )?;
        if let Some(revision) = found {
            self.compact(revision, batch)?;
        }
        Ok(found)
    }
}

fn lease_error(source: LeaseError) -> StoreError {
    StoreError::Lease { source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    use crate::engine::Engine;
    use crate::options::StoreOptions;
    use crate::txn::{Compare, CompareOp, CompareTarget, Op};

    fn writer(dir: &std::path::Path) -> (Arc<Shared>, Writer) {
        let (engine, meta, _) = Engine::open(dir).expect("open");
        let shared = Arc::new(Shared::new(engine, StoreOptions::default(), meta));
        let writer = Writer::new(Arc::clone(&shared), meta, Leases::default(), 0).expect("writer");
        (shared, writer)
    }

    fn queue_txn(
        requests: &mpsc::Sender<Request>,
        txn: Txn,
    ) -> mpsc::Receiver<Result<TxnResult, StoreError>> {
        let (reply, answer) = mpsc::sync_channel(1);
        requests
            .send(Request::Txn(txn, Reply::Thread(reply)))
            .expect("queue");
        answer
    }

    #[test]
    fn queued_requests_share_one_synced_write_in_queue_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (shared, writer) = writer(dir.path());
        let (requests, queue) = mpsc::channel();
        let answers: Vec<_> = (0..10u8)
            .map(|i| {
                queue_txn(
                    &requests,
                    Txn {
                        success: vec![Op::put(&[i], &[i])],
                        ..Txn::default()
                    },
                )
            })
            .collect();
        drop(requests);
        writer.run(queue);
        let revisions: Vec<u64> = answers
            .iter()
            .map(|answer| answer.recv().expect("answer").expect("txn").revision)
            .collect();
        assert_eq!(revisions, (1..=10).collect::<Vec<u64>>());
        assert_eq!(shared.syncs.load(Ordering::Relaxed), 1);
        assert_eq!(shared.revision.load(Ordering::Acquire), 10);
    }

    #[test]
    fn a_request_sees_the_writes_of_earlier_requests_in_its_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (shared, writer) = writer(dir.path());
        let (requests, queue) = mpsc::channel();
        let first = queue_txn(
            &requests,
            Txn {
                success: vec![Op::put(b"k", b"1")],
                ..Txn::default()
            },
        );
        let cas = queue_txn(
            &requests,
            Txn {
                compares: vec![Compare::new(
                    b"k",
                    CompareOp::Equal,
                    CompareTarget::ModRevision(1),
                )],
                success: vec![Op::put(b"k", b"2")],
                failure: vec![],
            },
        );
        let read = queue_txn(
            &requests,
            Txn {
                success: vec![Op::get(b"k")],
                ..Txn::default()
            },
        );
        drop(requests);
        writer.run(queue);
        assert_eq!(first.recv().expect("answer").expect("txn").revision, 1);
        let cas = cas.recv().expect("answer").expect("txn");
        assert!(cas.succeeded);
        assert_eq!(cas.revision, 2);
        let read = read.recv().expect("answer").expect("txn");
        match &read.results[..] {
            [crate::txn::OpResult::Range(range)] => {
                assert_eq!(range.kvs[0].value, b"2");
                assert_eq!(range.kvs[0].version, 2);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(shared.syncs.load(Ordering::Relaxed), 1);
        assert_eq!(
            shared
                .engine
                .get(b"k")
                .expect("get")
                .map(|kv| kv.mod_revision),
            Some(2)
        );
    }
}
