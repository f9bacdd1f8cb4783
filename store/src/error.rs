//! Errors of store operations.
//!
//! Every variant names the store directory (and the key or revision involved) so an operator
//! reading a log line knows which file to look at; the underlying RocksDB or decode error is
//! kept as the source instead of being repeated in the message.

use std::path::PathBuf;

use crate::lease::LeaseError;
use crate::mvcc::MvccError;
use crate::record::RecordError;

/// An error from opening, reading, writing or watching the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB could not open the directory (unreadable, locked by another process, corrupt).
    /// `files` says which manifest the `CURRENT` file names, as RocksDB's own message does not
    /// always name the file it choked on.
    #[error("cannot open the store at {} ({files})", path.display())]
    Open {
        path: PathBuf,
        files: String,
        #[source]
        source: rocksdb::Error,
    },
    /// A column family the store needs is missing from an opened database.
    #[error("store at {} has no column family `{name}`", path.display())]
    MissingColumnFamily { path: PathBuf, name: &'static str },
    /// An existing database lacks a metadata entry every store has.
    #[error("store at {} has data but no `{field}` metadata", path.display())]
    MissingMeta { path: PathBuf, field: &'static str },
    /// The store was written with a layout this build does not understand.
    #[error("store at {} has layout version {found}, this build reads {expected}", path.display())]
    UnsupportedLayout {
        path: PathBuf,
        found: u64,
        expected: u64,
    },
    /// A stored record could not be decoded.
    #[error("corrupt record for key `{key}` in column family `{column_family}` of the store at {}", path.display())]
    CorruptRecord {
        path: PathBuf,
        column_family: &'static str,
        key: String,
        #[source]
        source: RecordError,
    },
    /// Stored data contradicts the metadata (e.g. a key written after the recorded revision).
    #[error("store at {} is inconsistent: {detail}", path.display())]
    Inconsistent { path: PathBuf, detail: String },
    /// A RocksDB read failed.
    #[error("reading column family `{column_family}` of the store at {}", path.display())]
    Read {
        path: PathBuf,
        column_family: &'static str,
        #[source]
        source: rocksdb::Error,
    },
    /// A RocksDB write failed; nothing of it was acknowledged.
    #[error("writing {what} to the store at {}", path.display())]
    Write {
        path: PathBuf,
        what: String,
        #[source]
        source: rocksdb::Error,
    },
    /// The transaction could not be planned.
    #[error("transaction on the store at {} rejected", path.display())]
    Txn {
        path: PathBuf,
        #[source]
        source: MvccError,
    },
    /// A watch needs history that compaction already removed.
    #[error("revision {requested} is compacted (history kept after revision {compact_revision})")]
    Compacted {
        requested: u64,
        compact_revision: u64,
    },
    /// A read or compaction named a revision that does not exist yet.
    #[error("revision {requested} is in the future: current revision is {current}")]
    FutureRevision { requested: u64, current: u64 },
    /// The request carries more key and value bytes than the store accepts in one request.
    #[error("request of {size} bytes exceeds the limit of {limit} bytes")]
    RequestTooLarge { size: usize, limit: usize },
    /// The store reached its size quota; the alarm stays raised until space is freed
    /// (delete keys, compact, defragment) and it is disarmed. Reads, deletes and compaction
    /// keep working.
    #[error("no space: the store at {} uses {used} bytes of its {quota} byte quota; free space, then disarm the alarm", path.display())]
    NoSpace {
        path: PathBuf,
        used: u64,
        quota: u64,
    },
    /// A lease request was refused.
    #[error("lease request refused")]
    Lease {
        #[source]
        source: LeaseError,
    },
    /// An earlier write failed, so what is on disk is unknown; the store refuses writes
    /// until it is reopened (which recovers exactly the acknowledged writes).
    #[error("the store at {} refuses writes after a failed write; reopen it", path.display())]
    Failed { path: PathBuf },
    /// The store's writer thread is gone (the store is shutting down).
    #[error("the store at {} is closed", path.display())]
    Closed { path: PathBuf },
    /// The data directory lacks a file RocksDB needs although it holds data files, so opening
    /// it would silently create an empty store.
    #[error("store at {} has data files but no `{file}`", path.display())]
    MissingFile { path: PathBuf, file: &'static str },
    /// Reading or writing a snapshot file, or the data directory, failed.
    #[error("{action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A snapshot file is damaged or not a snapshot.
    #[error("snapshot {} is unusable: {detail}", path.display())]
    BadSnapshot { path: PathBuf, detail: String },
    /// A restore target already holds files.
    #[error("cannot restore into {}: the directory is not empty", path.display())]
    RestoreTargetNotEmpty { path: PathBuf },
}

/// Renders a key for an error message: printable ASCII as is, other bytes escaped.
pub(crate) fn display_key(key: &[u8]) -> String {
    key.escape_ascii().to_string()
}
