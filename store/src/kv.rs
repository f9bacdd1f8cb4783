//! The value of one key as the store reports it, with its MVCC bookkeeping.
//!
//! These are plain data: the store hands them out by value so callers never hold a borrow of
//! the engine, and the same shape travels in reads, transaction results and watch events.

/// One live key with its value and the revisions that describe its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key, as opaque bytes.
    pub key: Vec<u8>,
    /// The value, as opaque bytes.
    pub value: Vec<u8>,
    /// Revision at which the key was created (last created, if it was deleted in between).
    pub create_revision: u64,
    /// Revision of the last write to the key.
    pub mod_revision: u64,
    /// Number of writes since the key was created; 1 right after creation.
    pub version: u64,
}

/// The result of a prefix read: the keys in key order and the revision the read was taken at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeResult {
    /// Live keys under the prefix, in ascending key order.
    pub kvs: Vec<KeyValue>,
    /// Cluster revision of the consistent snapshot the keys were read from.
    pub revision: u64,
}
