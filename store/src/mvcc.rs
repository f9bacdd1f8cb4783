//! The pure MVCC core: evaluates a transaction against the current state of the keys it
//! touches and decides what to write, which events that produces and which revision it gets.
//!
//! It performs no I/O, so every rule of the store (etcd's revision, create/mod revision and
//! version bookkeeping, compare semantics, op ordering inside a txn) is tested here with plain
//! maps. The engine first asks [`read_set`] which keys and prefixes a transaction may read,
//! loads them into a [`View`], and then applies the [`Commit`] that [`plan_txn`] returns.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::display_key;
use crate::event::{Event, EventKind};
use crate::kv::KeyValue;
use crate::lease::LeaseId;
use crate::range::{KeyRange, respond};
use crate::txn::{Op, OpResult, Txn};

/// The current state of every key a transaction may read: all keys of its [`ReadSet`] that
/// exist. A key missing from the view is treated as absent.
pub(crate) type View = BTreeMap<Vec<u8>, KeyValue>;

/// Why a transaction cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MvccError {
    /// The revision counter is at its maximum; no further write can get a revision.
    #[error("revision counter exhausted at {current}")]
    RevisionExhausted { current: u64 },
    /// A put names a lease that does not exist (never granted, expired or revoked).
    #[error("put of `{key}` names lease {lease}, which does not exist")]
    LeaseNotFound { key: String, lease: LeaseId },
    /// A read inside a transaction asked for a past revision.
    #[error("a read inside a transaction must be at the current revision, not {revision}")]
    PastReadInTxn { revision: u64 },
}

/// The keys and ranges whose current state a transaction may depend on, in either branch.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ReadSet {
    pub keys: BTreeSet<Vec<u8>>,
    pub ranges: Vec<KeyRange>,
}

impl ReadSet {
    /// Whether the state of `key` belongs in the view.
    pub(crate) fn covers(&self, key: &[u8]) -> bool {
        self.keys.contains(key) || self.ranges.iter().any(|range| range.contains(key))
    }
}

/// What a transaction decided: its branch, per-op results, and the writes if it changed anything.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TxnPlan {
    pub succeeded: bool,
    pub results: Vec<OpResult>,
    pub commit: Option<Commit>,
}

/// Everything one revision writes: the final state of each changed key (`None` = deleted) and
/// the events in op order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Commit {
    pub revision: u64,
    pub writes: BTreeMap<Vec<u8>, Option<KeyValue>>,
    pub events: Vec<Event>,
}

impl Commit {
    /// Whether the commit creates or overwrites a key (and so may need more space).
    pub(crate) fn puts(&self) -> bool {
        self.events.iter().any(|event| event.kind == EventKind::Put)
    }
}

/// Lists what [`plan_txn`] needs in its view to evaluate `txn` exactly.
pub(crate) fn read_set(txn: &Txn) -> ReadSet {
    let mut set = ReadSet::default();
    for compare in &txn.compares {
        set.keys.insert(compare.key.clone());
    }
    for op in txn.success.iter().chain(&txn.failure) {
        match op {
            Op::Put { key, .. } => {
                set.keys.insert(key.clone());
            }
            Op::Delete {
                range: KeyRange::Key(key),
            } => {
                set.keys.insert(key.clone());
            }
            Op::Delete { range } => set.ranges.push(range.clone()),
            Op::Range(request) => match &request.range {
                KeyRange::Key(key) => {
                    set.keys.insert(key.clone());
                }
                range => set.ranges.push(range.clone()),
            },
        }
    }
    set
}

/// Evaluates `txn` at `current_revision` over `view` (which must hold the current state of
/// every key of [`read_set`]`(txn)`). Compares see the state before the transaction; ops see
/// the effects of earlier ops of the same branch. All changes share one new revision,
/// `current_revision + 1`; a branch that changes nothing yields no commit. `lease_exists`
/// says whether a lease a put names is live.
pub(crate) fn plan_txn(
    txn: &Txn,
    current_revision: u64,
    mut view: View,
    lease_exists: &dyn Fn(LeaseId) -> bool,
) -> Result<TxnPlan, MvccError> {
    let succeeded = txn
        .compares
        .iter()
        .all(|compare| compare.holds(view.get(&compare.key)));
    let ops = if succeeded {
        &txn.success
    } else {
        &txn.failure
    };
    let mut pending = Pending {
        current_revision,
        writes: BTreeMap::new(),
        events: Vec::new(),
    };
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        let result = match op {
            Op::Put { key, value, lease } => {
                if let Some(lease) = *lease
                    && !lease_exists(lease)
                {
                    return Err(MvccError::LeaseNotFound {
                        key: display_key(key),
                        lease,
                    });
                }
                OpResult::Put {
                    prev: pending.put(&mut view, key, value, *lease)?,
                }
            }
            Op::Delete { range } => {
                let keys: Vec<Vec<u8>> = range.select(&view).map(|(key, _)| key.clone()).collect();
                let mut deleted = Vec::with_capacity(keys.len());
                for key in keys {
                    deleted.extend(pending.delete(&mut view, &key)?);
                }
                OpResult::Delete { deleted }
            }
            Op::Range(request) => {
                if request.revision != 0 {
                    return Err(MvccError::PastReadInTxn {
                        revision: request.revision,
                    });
                }
                let matching = request.range.select(&view).map(|(_, kv)| kv.clone());
                OpResult::Range(respond(request, matching, current_revision))
            }
        };
        results.push(result);
    }
    let commit = pending.into_commit()?;
    if let Some(commit) = &commit {
        for result in &mut results {
            if let OpResult::Range(range) = result {
                range.revision = commit.revision;
            }
        }
    }
    Ok(TxnPlan {
        succeeded,
        results,
        commit,
    })
}

/// The changes accumulated while applying one branch.
struct Pending {
    current_revision: u64,
    writes: BTreeMap<Vec<u8>, Option<KeyValue>>,
    events: Vec<Event>,
}

impl Pending {
    fn next_revision(&self) -> Result<u64, MvccError> {
        self.current_revision
            .checked_add(1)
            .ok_or(MvccError::RevisionExhausted {
                current: self.current_revision,
            })
    }

    fn put(
        &mut self,
        view: &mut View,
        key: &[u8],
        value: &[u8],
        lease: Option<LeaseId>,
    ) -> Result<Option<KeyValue>, MvccError> {
        let revision = self.next_revision()?;
        let prev = view.get(key).cloned();
        let kv = KeyValue {
            key: key.to_vec(),
            value: value.to_vec(),
            create_revision: prev.as_ref().map_or(revision, |prev| prev.create_revision),
            mod_revision: revision,
            version: prev
                .as_ref()
                .map_or(1, |prev| prev.version.saturating_add(1)),
            lease,
        };
        view.insert(key.to_vec(), kv.clone());
        self.writes.insert(key.to_vec(), Some(kv.clone()));
        self.events.push(Event {
            kind: EventKind::Put,
            kv,
            prev: prev.clone(),
        });
        Ok(prev)
    }

    fn delete(&mut self, view: &mut View, key: &[u8]) -> Result<Option<KeyValue>, MvccError> {
        let Some(prev) = view.remove(key) else {
            return Ok(None);
        };
        let revision = self.next_revision()?;
        self.writes.insert(key.to_vec(), None);
        self.events.push(Event {
            kind: EventKind::Delete,
            kv: KeyValue {
                key: key.to_vec(),
                value: Vec::new(),
                create_revision: 0,
                mod_revision: revision,
                version: 0,
                lease: None,
            },
            prev: Some(prev.clone()),
        });
        Ok(Some(prev))
    }

    fn into_commit(self) -> Result<Option<Commit>, MvccError> {
        if self.events.is_empty() {
            return Ok(None);
        }
        Ok(Some(Commit {
            revision: self.next_revision()?,
            writes: self.writes,
            events: self.events,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::range::RangeRequest;
    use crate::txn::{Compare, CompareOp, CompareTarget};

    fn put(key: &[u8], value: &[u8]) -> Op {
        Op::put(key, value)
    }

    fn delete_prefix(prefix: &[u8]) -> Op {
        Op::Delete {
            range: KeyRange::Prefix(prefix.to_vec()),
        }
    }

    fn only(ops: Vec<Op>) -> Txn {
        Txn {
            compares: vec![],
            success: ops,
            failure: vec![],
        }
    }

    fn no_leases(_: LeaseId) -> bool {
        false
    }

    /// Applies a planned commit to a full-state map, as the engine would.
    fn apply(state: &mut View, commit: &Commit) {
        for (key, kv) in &commit.writes {
            match kv {
                Some(kv) => state.insert(key.clone(), kv.clone()),
                None => state.remove(key),
            };
        }
    }

    fn run(state: &mut View, revision: &mut u64, txn: &Txn) -> TxnPlan {
        let plan = plan_txn(txn, *revision, state.clone(), &no_leases).expect("plan");
        if let Some(commit) = &plan.commit {
            apply(state, commit);
            *revision = commit.revision;
        }
        plan
    }

    fn read_kvs(result: &OpResult) -> Vec<KeyValue> {
        match result {
            OpResult::Range(range) => range.kvs.clone(),
            other => panic!("expected a read, got {other:?}"),
        }
    }

    #[test]
    fn put_creates_then_overwrite_bumps_version_and_keeps_create_revision() {
        let mut state = View::new();
        let mut revision = 0;
        let first = run(&mut state, &mut revision, &only(vec![put(b"a", b"1")]));
        assert_eq!(first.results, vec![OpResult::Put { prev: None }]);
        let created = state[b"a".as_slice()].clone();
        assert_eq!(
            (
                created.create_revision,
                created.mod_revision,
                created.version
            ),
            (1, 1, 1)
        );

        run(&mut state, &mut revision, &only(vec![put(b"b", b"x")]));
        let second = run(&mut state, &mut revision, &only(vec![put(b"a", b"2")]));
        assert_eq!(
            second.results,
            vec![OpResult::Put {
                prev: Some(created.clone())
            }]
        );
        let updated = &state[b"a".as_slice()];
        assert_eq!(
            (
                updated.create_revision,
                updated.mod_revision,
                updated.version
            ),
            (1, 3, 2)
        );
        let commit = second.commit.expect("commit");
        assert_eq!(commit.revision, 3);
        assert_eq!(
            commit.events,
            vec![Event {
                kind: EventKind::Put,
                kv: updated.clone(),
                prev: Some(created),
            }]
        );
    }

    #[test]
    fn delete_event_has_empty_value_and_deletion_revision() {
        let mut state = View::new();
        let mut revision = 0;
        run(&mut state, &mut revision, &only(vec![put(b"a", b"1")]));
        let plan = run(&mut state, &mut revision, &only(vec![Op::delete(b"a")]));
        let commit = plan.commit.expect("commit");
        assert_eq!(commit.revision, 2);
        assert!(!commit.puts());
        let event = &commit.events[0];
        assert_eq!(event.kind, EventKind::Delete);
        assert_eq!(event.kv.key, b"a");
        assert!(event.kv.value.is_empty());
        assert_eq!(event.revision(), 2);
        assert_eq!(
            event.prev.as_ref().map(|p| p.value.clone()),
            Some(b"1".to_vec())
        );
        assert!(state.is_empty());

        let recreated = run(&mut state, &mut revision, &only(vec![put(b"a", b"new")]));
        assert!(recreated.commit.expect("commit").puts());
        let kv = &state[b"a".as_slice()];
        assert_eq!((kv.create_revision, kv.version), (3, 1));
    }

    #[test]
    fn branch_without_changes_does_not_advance_revision() {
        let mut state = View::new();
        let mut revision = 4;
        let plan = run(
            &mut state,
            &mut revision,
            &only(vec![
                Op::delete(b"gone"),
                delete_prefix(b"none/"),
                Op::get(b"x"),
            ]),
        );
        assert!(plan.succeeded);
        assert_eq!(plan.commit, None);
        assert_eq!(plan.results[0], OpResult::Delete { deleted: vec![] });
        assert_eq!(plan.results[1], OpResult::Delete { deleted: vec![] });
        match &plan.results[2] {
            OpResult::Range(range) => {
                assert_eq!((range.count, range.revision), (0, 4));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(revision, 4);
    }

    #[test]
    fn compares_choose_the_branch() {
        let mut state = View::new();
        let mut revision = 0;
        run(&mut state, &mut revision, &only(vec![put(b"k", b"v")]));
        let cases = [
            (
                Compare::new(b"k", CompareOp::Equal, CompareTarget::ModRevision(1)),
                true,
            ),
            (
                Compare::new(b"k", CompareOp::Greater, CompareTarget::ModRevision(1)),
                false,
            ),
            (
                Compare::new(b"k", CompareOp::Less, CompareTarget::Version(2)),
                true,
            ),
            (
                Compare::new(
                    b"k",
                    CompareOp::NotEqual,
                    CompareTarget::Value(b"v".to_vec()),
                ),
                false,
            ),
            (Compare::absent(b"k"), false),
            (Compare::absent(b"missing"), true),
        ];
        for (compare, expected) in cases {
            let txn = Txn {
                compares: vec![compare.clone()],
                success: vec![Op::get(b"k")],
                failure: vec![put(b"failed", b"")],
            };
            let plan = plan_txn(&txn, revision, state.clone(), &no_leases).expect("plan");
            assert_eq!(plan.succeeded, expected, "{compare:?}");
            assert_eq!(plan.commit.is_some(), !expected, "{compare:?}");
        }
    }

    #[test]
    fn all_compares_must_hold_and_see_state_before_the_txn() {
        let mut state = View::new();
        let mut revision = 0;
        let txn = Txn {
            compares: vec![Compare::absent(b"a"), Compare::absent(b"b")],
            success: vec![put(b"a", b"1"), put(b"b", b"1")],
            failure: vec![Op::get(b"a")],
        };
        let first = run(&mut state, &mut revision, &txn);
        assert!(first.succeeded);
        let commit = first.commit.expect("commit");
        assert_eq!(commit.revision, 1);
        assert_eq!(commit.events.len(), 2);
        assert!(commit.events.iter().all(|e| e.revision() == 1));

        let second = run(&mut state, &mut revision, &txn);
        assert!(!second.succeeded);
        assert_eq!(
            read_kvs(&second.results[0]),
            vec![state[b"a".as_slice()].clone()]
        );
        assert_eq!(revision, 1);
    }

    #[test]
    fn ops_see_earlier_ops_of_the_same_txn() {
        let mut state = View::new();
        let mut revision = 0;
        run(&mut state, &mut revision, &only(vec![put(b"p/old", b"o")]));
        let plan = run(
            &mut state,
            &mut revision,
            &only(vec![
                put(b"p/new", b"n"),
                Op::Range(RangeRequest::prefix(b"p/")),
                delete_prefix(b"p/"),
                put(b"p/new", b"again"),
            ]),
        );
        let commit = plan.commit.expect("commit");
        assert_eq!(commit.revision, 2);
        let kinds: Vec<(EventKind, Vec<u8>)> = commit
            .events
            .iter()
            .map(|e| (e.kind, e.kv.key.clone()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (EventKind::Put, b"p/new".to_vec()),
                (EventKind::Delete, b"p/new".to_vec()),
                (EventKind::Delete, b"p/old".to_vec()),
                (EventKind::Put, b"p/new".to_vec()),
            ]
        );
        let read = read_kvs(&plan.results[1]);
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].value, b"n");
        match &plan.results[1] {
            OpResult::Range(range) => assert_eq!(range.revision, 2),
            other => panic!("unexpected {other:?}"),
        }
        match &plan.results[2] {
            OpResult::Delete { deleted } => assert_eq!(deleted.len(), 2),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(state.len(), 1);
        let kv = &state[b"p/new".as_slice()];
        assert_eq!(
            (kv.value.as_slice(), kv.create_revision, kv.version),
            (b"again".as_slice(), 2, 1)
        );
    }

    #[test]
    fn range_delete_stops_at_the_range_boundary() {
        let mut state = View::new();
        let mut revision = 0;
        let keys: [&[u8]; 5] = [b"a", b"ab", b"abc", b"b", b"c"];
        run(
            &mut state,
            &mut revision,
            &only(keys.iter().map(|k| put(k, b"")).collect()),
        );
        run(&mut state, &mut revision, &only(vec![delete_prefix(b"ab")]));
        run(
            &mut state,
            &mut revision,
            &only(vec![Op::Delete {
                range: KeyRange::Range {
                    start: b"b".to_vec(),
                    end: b"c".to_vec(),
                },
            }]),
        );
        let left: Vec<&[u8]> = state.keys().map(Vec::as_slice).collect();
        assert_eq!(left, vec![b"a".as_slice(), b"c"]);
    }

    #[test]
    fn puts_need_a_live_lease_and_reads_the_current_revision() {
        let lease = LeaseId(3);
        let txn = only(vec![Op::Put {
            key: b"k".to_vec(),
            value: Vec::new(),
            lease: Some(lease),
        }]);
        assert_eq!(
            plan_txn(&txn, 0, View::new(), &no_leases),
            Err(MvccError::LeaseNotFound {
                key: "k".to_owned(),
                lease
            })
        );
        let plan = plan_txn(&txn, 0, View::new(), &|id| id == lease).expect("plan");
        let commit = plan.commit.expect("commit");
        assert_eq!(commit.events[0].kv.lease, Some(lease));

        let mut past = RangeRequest::key(b"k");
        past.revision = 1;
        assert_eq!(
            plan_txn(&only(vec![Op::Range(past)]), 5, View::new(), &no_leases),
            Err(MvccError::PastReadInTxn { revision: 1 })
        );
    }

    #[test]
    fn read_set_covers_both_branches_and_compares() {
        let txn = Txn {
            compares: vec![Compare::absent(b"c")],
            success: vec![put(b"s", b""), delete_prefix(b"p")],
            failure: vec![Op::get(b"f"), Op::delete(b"d")],
        };
        let set = read_set(&txn);
        let keys: Vec<&[u8]> = set.keys.iter().map(Vec::as_slice).collect();
        assert_eq!(keys, vec![b"c".as_slice(), b"d", b"f", b"s"]);
        assert_eq!(set.ranges, vec![KeyRange::Prefix(b"p".to_vec())]);
        assert!(set.covers(b"p/1") && set.covers(b"d") && !set.covers(b"x"));
    }

    #[test]
    fn exhausted_revision_is_an_error_only_when_writing() {
        let txn = only(vec![put(b"a", b"")]);
        assert_eq!(
            plan_txn(&txn, u64::MAX, View::new(), &no_leases),
            Err(MvccError::RevisionExhausted { current: u64::MAX })
        );
        let read_only = only(vec![Op::get(b"a")]);
        assert!(plan_txn(&read_only, u64::MAX, View::new(), &no_leases).is_ok());
    }
}
