//! The value of one key as the store reports it, with its MVCC bookkeeping.
//!
//! These are plain data: the store hands them out by value so callers never hold a borrow of
//! the engine, and the same shape travels in reads, transaction results, watch events and
//! (through serde) over the network.

use serde::{Deserialize, Serialize};

use crate::lease::LeaseId;

/// One live key with its value and the revisions that describe its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    /// The key, as opaque bytes.
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    /// The value, as opaque bytes (empty when the read asked for keys only).
    #[serde(with = "serde_bytes")]
    pub value: Vec<u8>,
    /// Revision at which the key was created (last created, if it was deleted in between).
    pub create_revision: u64,
    /// Revision of the last write to the key.
    pub mod_revision: u64,
    /// Number of writes since the key was created; 1 right after creation.
    pub version: u64,
    /// The lease the key is attached to: the key is deleted when that lease ends.
    pub lease: Option<LeaseId>,
}

/// The result of a range read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeResult {
    /// Matching live keys in ascending key order, at most `limit` of them; empty for a
    /// count-only read.
    pub kvs: Vec<KeyValue>,
    /// How many keys match, regardless of the limit.
    pub count: u64,
    /// Whether more keys match than `kvs` holds (the limit cut the answer short).
    pub more: bool,
    /// The revision whose state the read reflects: the requested one for a read at a past
    /// revision, else the current revision of the snapshot the keys were read from.
    pub revision: u64,
}
