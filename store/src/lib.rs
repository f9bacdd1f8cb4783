//! flotilla-store: the control plane's MVCC key-value engine, flotilla's etcd.
//!
//! Keys and values are opaque bytes; the store knows nothing about object kinds. Every change
//! gets a cluster-wide revision, every key carries its create revision, mod revision and
//! version, transactions follow etcd's compare-then-branch semantics, and watchers receive
//! every change after a revision exactly once, in order, history first and then live.
//!
//! It is the control plane's only source of truth, so it must never lose an acknowledged write:
//! each transaction is one fsynced RocksDB write batch before it returns, and opening a damaged
//! store fails loudly instead of starting empty.
//!
//! Layout of the crate, from pure to I/O:
//! - `kv`, `event`, `txn`: the data types of the API;
//! - `record`: the explicit, versioned binary format of what is on disk;
//! - `mvcc`: the pure core deciding what a transaction writes (no I/O);
//! - `engine`: the RocksDB layer that only moves bytes;
//! - `watch`: delivery of committed events to watchers;
//! - `store`: [`Store`], which serializes writers and ties the rest together.

mod engine;
mod error;
mod event;
mod kv;
mod mvcc;
mod record;
mod store;
mod txn;
mod watch;

pub use error::StoreError;
pub use event::{Event, EventKind};
pub use kv::{KeyValue, RangeResult};
pub use mvcc::MvccError;
pub use record::RecordError;
pub use store::Store;
pub use txn::{Compare, Expect, Op, OpResult, Txn, TxnResult, WriteResult};
pub use watch::{WatchError, Watcher};
