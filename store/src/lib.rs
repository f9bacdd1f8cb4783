//! flotilla-store: the control plane's MVCC key-value engine, flotilla's etcd.
//!
//! Keys and values are opaque bytes; the store knows nothing about object kinds. Every change
//! gets a cluster-wide revision, every key carries its create revision, mod revision, version
//! and lease, reads work at past revisions until compacted, transactions follow etcd's
//! compare-then-branch semantics, leases delete their keys when they end, and watchers receive
//! every change after a revision exactly once, in order, history first and then live.
//!
//! It is the control plane's only source of truth, so it must never lose an acknowledged write:
//! a change is acknowledged only once its RocksDB write batch is synced, concurrent writers
//! share one sync (group commit), and opening a damaged store fails loudly instead of starting
//! empty.
//!
//! Layout of the crate, from pure to I/O:
//! - `kv`, `event`, `range`, `txn`, `lease` (types), `options`: the data types of the API,
//!   serde-friendly so a network service can carry them;
//! - `record`: the explicit, versioned binary format of what is on disk;
//! - `mvcc`, `range` (functions), `lease` (table): pure cores deciding what a transaction
//!   writes, what a read at a past revision returns and when a lease ends (no I/O, no clock);
//! - `engine`: the RocksDB layer that only moves bytes;
//! - `writer`: the single writer thread and its group commit;
//! - `watch`: delivery of committed events to watchers;
//! - `snapshot`: single-file snapshots and restore;
//! - `store`: [`Store`], which ties the rest together.

mod engine;
mod error;
mod event;
mod kv;
mod lease;
mod mvcc;
mod options;
mod range;
mod record;
mod snapshot;
mod store;
mod txn;
mod watch;
mod writer;

pub use error::StoreError;
pub use event::{Event, EventKind};
pub use kv::{KeyValue, RangeResult};
pub use lease::{Lease, LeaseError, LeaseId, LeaseStatus};
pub use mvcc::MvccError;
pub use options::{Clock, StoreOptions, SystemClock};
pub use range::{KeyRange, RangeRequest};
pub use record::RecordError;
pub use snapshot::SnapshotInfo;
pub use store::{Store, StoreStatus};
pub use txn::{
    Compare, CompareOp, CompareTarget, Expect, Op, OpResult, Txn, TxnResult, WriteResult,
};
pub use watch::{WatchError, WatchItem, WatchRequest, Watcher};
