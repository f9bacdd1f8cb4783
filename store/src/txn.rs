//! The transaction vocabulary: preconditions, operations and their results.
//!
//! It follows etcd's txn: a list of compares that are all evaluated against the state before
//! the transaction, then either the `success` or the `failure` operations, all under one new
//! revision. The single-key wrappers (`put`, `delete`) express their precondition as an
//! [`Expect`], which maps onto one compare.

use crate::kv::KeyValue;

/// A precondition on the key a single-key write targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// No precondition.
    Any,
    /// The key must not exist.
    Absent,
    /// The key's `mod_revision` must equal this value (0 means the key must not exist).
    ModRevision(u64),
}

impl Expect {
    /// The transaction compares that express this precondition on `key`.
    pub(crate) fn compares(&self, key: &[u8]) -> Vec<Compare> {
        match self {
            Expect::Any => Vec::new(),
            Expect::Absent => vec![Compare::Absent { key: key.to_vec() }],
            Expect::ModRevision(revision) => vec![Compare::ModRevision {
                key: key.to_vec(),
                equals: *revision,
            }],
        }
    }
}

/// The outcome of a single-key write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteResult {
    /// The precondition held. `revision` is the revision the write was committed at (the
    /// unchanged current revision when the write changed nothing, e.g. deleting an absent key);
    /// `prev` is the key's state before the write.
    Committed {
        revision: u64,
        prev: Option<KeyValue>,
    },
    /// The precondition failed; `current` is the key's state at that moment.
    Conflict { current: Option<KeyValue> },
}

/// An atomic transaction: if every compare holds, apply `success`, else apply `failure`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    /// Preconditions, all evaluated against the state before the transaction.
    pub compares: Vec<Compare>,
    /// Operations applied in order when every compare holds.
    pub success: Vec<Op>,
    /// Operations applied in order when any compare fails.
    pub failure: Vec<Op>,
}

/// An equality check on one key. A missing key has create revision, mod revision and version 0
/// and matches no value, as in etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compare {
    /// The key's last-write revision equals `equals`.
    ModRevision { key: Vec<u8>, equals: u64 },
    /// The key's creation revision equals `equals`.
    CreateRevision { key: Vec<u8>, equals: u64 },
    /// The key's version (writes since creation) equals `equals`.
    Version { key: Vec<u8>, equals: u64 },
    /// The key exists and its value equals `equals`.
    Value { key: Vec<u8>, equals: Vec<u8> },
    /// The key does not exist.
    Absent { key: Vec<u8> },
}

impl Compare {
    /// The key this compare reads.
    pub fn key(&self) -> &[u8] {
        match self {
            Compare::ModRevision { key, .. }
            | Compare::CreateRevision { key, .. }
            | Compare::Version { key, .. }
            | Compare::Value { key, .. }
            | Compare::Absent { key } => key,
        }
    }
}

/// One operation of a transaction branch. Operations see the effects of earlier operations of
/// the same branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Create or overwrite `key`.
    Put { key: Vec<u8>, value: Vec<u8> },
    /// Delete `key` if it exists.
    Delete { key: Vec<u8> },
    /// Delete every live key starting with `prefix`.
    DeletePrefix { prefix: Vec<u8> },
    /// Read `key`.
    Get { key: Vec<u8> },
}

/// The result of one [`Op`], in the same position as the op in its branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// The key's state before the put.
    Put { prev: Option<KeyValue> },
    /// The key's state before the delete; `None` if it did not exist.
    Delete { prev: Option<KeyValue> },
    /// The keys the prefix delete removed, in key order, as they were before.
    DeletePrefix { deleted: Vec<KeyValue> },
    /// The key's state at this point of the transaction.
    Get { kv: Option<KeyValue> },
}

/// The outcome of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnResult {
    /// Whether every compare held (and so the `success` branch was applied).
    pub succeeded: bool,
    /// The new revision if the applied branch changed anything, else the unchanged current one.
    pub revision: u64,
    /// One result per op of the applied branch.
    pub results: Vec<OpResult>,
}
