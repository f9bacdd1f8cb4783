//! The transaction vocabulary: preconditions, operations and their results.
//!
//! It follows etcd's txn: a list of compares that are all evaluated against the state before
//! the transaction, then either the `success` or the `failure` operations, all under one new
//! revision. The single-key wrappers (`put`, `delete`) express their precondition as an
//! [`Expect`], which maps onto compares.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::kv::{KeyValue, RangeResult};
use crate::lease::LeaseId;
use crate::range::{KeyRange, RangeRequest};

/// A precondition on the key a single-key write targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    pub fn compares(&self, key: &[u8]) -> Vec<Compare> {
        match self {
            Expect::Any => Vec::new(),
            Expect::Absent => vec![Compare::absent(key)],
            Expect::ModRevision(revision) => vec![Compare::new(
                key,
                CompareOp::Equal,
                CompareTarget::ModRevision(*revision),
            )],
        }
    }
}

/// The outcome of a single-key write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    /// Preconditions, all evaluated against the state before the transaction.
    pub compares: Vec<Compare>,
    /// Operations applied in order when every compare holds.
    pub success: Vec<Op>,
    /// Operations applied in order when any compare fails.
    pub failure: Vec<Op>,
}

impl Txn {
    /// Bytes of keys and values the transaction carries, checked against the request limit.
    pub(crate) fn payload_len(&self) -> usize {
        let compares: usize = self.compares.iter().map(Compare::payload_len).sum();
        let ops: usize = self
            .success
            .iter()
            .chain(&self.failure)
            .map(Op::payload_len)
            .sum();
        compares + ops
    }
}

/// A check of one field of one key against a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compare {
    /// The key whose state is checked.
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    /// How the key's field must relate to the target (`field op target`).
    pub op: CompareOp,
    /// Which field, and the value it is compared with.
    pub target: CompareTarget,
}

/// The relation a compare checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareOp {
    Equal,
    NotEqual,
    Less,
    Greater,
}

/// The field a compare reads, with the value to compare it with. A missing key has create
/// revision, mod revision and version 0 and no lease; a value compare on a missing key is
/// always false, whatever the operator (etcd's rule: a missing value is not an empty one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareTarget {
    Value(#[serde(with = "serde_bytes")] Vec<u8>),
    Version(u64),
    CreateRevision(u64),
    ModRevision(u64),
    Lease(Option<LeaseId>),
}

impl Compare {
    /// `key`'s field `target` must relate to the target's value by `op`.
    pub fn new(key: &[u8], op: CompareOp, target: CompareTarget) -> Compare {
        Compare {
            key: key.to_vec(),
            op,
            target,
        }
    }

    /// The key must not exist (its create revision is 0).
    pub fn absent(key: &[u8]) -> Compare {
        Compare::new(key, CompareOp::Equal, CompareTarget::CreateRevision(0))
    }

    /// Whether the compare holds for `kv`, the key's state (`None` if absent).
    pub(crate) fn holds(&self, kv: Option<&KeyValue>) -> bool {
        let ordering = match (&self.target, kv) {
            (CompareTarget::Value(_), None) => return false,
            (CompareTarget::Value(want), Some(kv)) => kv.value.as_slice().cmp(want),
            (CompareTarget::Version(want), kv) => kv.map_or(0, |kv| kv.version).cmp(want),
            (CompareTarget::CreateRevision(want), kv) => {
                kv.map_or(0, |kv| kv.create_revision).cmp(want)
            }
            (CompareTarget::ModRevision(want), kv) => kv.map_or(0, |kv| kv.mod_revision).cmp(want),
            (CompareTarget::Lease(want), kv) => kv.and_then(|kv| kv.lease).cmp(want),
        };
        match self.op {
            CompareOp::Equal => ordering == Ordering::Equal,
            CompareOp::NotEqual => ordering != Ordering::Equal,
            CompareOp::Less => ordering == Ordering::Less,
            CompareOp::Greater => ordering == Ordering::Greater,
        }
    }

    fn payload_len(&self) -> usize {
        let target = match &self.target {
            CompareTarget::Value(value) => value.len(),
            _ => 8,
        };
        self.key.len() + target
    }
}

/// One operation of a transaction branch. Operations see the effects of earlier operations of
/// the same branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Create or overwrite `key`, attached to `lease` if given (which must exist).
    Put {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
        lease: Option<LeaseId>,
    },
    /// Delete every live key of `range`.
    Delete { range: KeyRange },
    /// Read keys as they are at this point of the transaction. Its `revision` must be 0:
    /// a transaction reads the current state only.
    Range(RangeRequest),
}

impl Op {
    /// Writes `value` at `key`, without a lease.
    pub fn put(key: &[u8], value: &[u8]) -> Op {
        Op::Put {
            key: key.to_vec(),
            value: value.to_vec(),
            lease: None,
        }
    }

    /// Deletes `key`.
    pub fn delete(key: &[u8]) -> Op {
        Op::Delete {
            range: KeyRange::Key(key.to_vec()),
        }
    }

    /// Reads `key`.
    pub fn get(key: &[u8]) -> Op {
        Op::Range(RangeRequest::key(key))
    }

    fn payload_len(&self) -> usize {
        match self {
            Op::Put { key, value, .. } => key.len() + value.len(),
            Op::Delete { range } => range.encoded_len(),
            Op::Range(request) => request.range.encoded_len(),
        }
    }
}

/// The result of one [`Op`], in the same position as the op in its branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResult {
    /// The key's state before the put.
    Put { prev: Option<KeyValue> },
    /// The keys the delete removed, in key order, as they were before.
    Delete { deleted: Vec<KeyValue> },
    /// What the read found.
    Range(RangeResult),
}

/// The outcome of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnResult {
    /// Whether every compare held (and so the `success` branch was applied).
    pub succeeded: bool,
    /// The new revision if the applied branch changed anything, else the unchanged current one.
    pub revision: u64,
    /// One result per op of the applied branch.
    pub results: Vec<OpResult>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> KeyValue {
        KeyValue {
            key: b"k".to_vec(),
            value: b"m".to_vec(),
            create_revision: 3,
            mod_revision: 5,
            version: 2,
            lease: Some(LeaseId(7)),
        }
    }

    #[test]
    fn every_operator_on_every_target() {
        use CompareOp::*;
        use CompareTarget::*;
        let kv = stored();
        let cases = [
            (Value(b"m".to_vec()), [true, false, false, false]),
            (Value(b"a".to_vec()), [false, true, false, true]),
            (Value(b"z".to_vec()), [false, true, true, false]),
            (Version(2), [true, false, false, false]),
            (Version(3), [false, true, true, false]),
            (CreateRevision(1), [false, true, false, true]),
            (ModRevision(5), [true, false, false, false]),
            (ModRevision(6), [false, true, true, false]),
            (Lease(Some(LeaseId(7))), [true, false, false, false]),
            (Lease(None), [false, true, false, true]),
        ];
        for (target, expected) in cases {
            for (op, want) in [Equal, NotEqual, Less, Greater].into_iter().zip(expected) {
                let compare = Compare::new(b"k", op, target.clone());
                assert_eq!(compare.holds(Some(&kv)), want, "{compare:?}");
            }
        }
    }

    #[test]
    fn a_missing_key_has_zero_fields_and_no_value() {
        use CompareOp::*;
        use CompareTarget::*;
        assert!(Compare::absent(b"k").holds(None));
        assert!(!Compare::absent(b"k").holds(Some(&stored())));
        assert!(Compare::new(b"k", Equal, Version(0)).holds(None));
        assert!(Compare::new(b"k", Less, ModRevision(1)).holds(None));
        assert!(Compare::new(b"k", Equal, Lease(None)).holds(None));
        for op in [Equal, NotEqual, Less, Greater] {
            assert!(!Compare::new(b"k", op, Value(Vec::new())).holds(None));
        }
    }

    #[test]
    fn expectations_become_compares() {
        assert!(Expect::Any.compares(b"k").is_empty());
        assert_eq!(Expect::Absent.compares(b"k"), vec![Compare::absent(b"k")]);
        let [compare] =
            <[Compare; 1]>::try_from(Expect::ModRevision(5).compares(b"k")).expect("one compare");
        assert!(compare.holds(Some(&stored())));
    }

    #[test]
    fn payload_counts_keys_and_values() {
        let txn = Txn {
            compares: vec![Compare::new(
                b"ab",
                CompareOp::Equal,
                CompareTarget::Value(b"xyz".to_vec()),
            )],
            success: vec![Op::put(b"k", b"value")],
            failure: vec![Op::delete(b"gone"), Op::get(b"r")],
        };
        assert_eq!(txn.payload_len(), 5 + 6 + 4 + 1);
    }
}
