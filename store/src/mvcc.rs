//! The pure MVCC core: evaluates a transaction against the current state of the keys it
//! touches and decides what to write, which events that produces and which revision it gets.
//!
//! It performs no I/O, so every rule of the store (etcd's revision, create/mod revision and
//! version bookkeeping, compare semantics, op ordering inside a txn) is tested here with plain
//! maps. The engine first asks [`read_set`] which keys and prefixes a transaction may read,
//! loads them into a [`View`], and then applies the [`Commit`] that [`plan_txn`] returns.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use crate::event::{Event, EventKind};
use crate::kv::KeyValue;
use crate::txn::{Compare, Op, OpResult, Txn};

/// The current state of every key a transaction may read: all keys of its [`ReadSet`] that
/// exist. A key missing from the view is treated as absent.
pub(crate) type View = BTreeMap<Vec<u8>, KeyValue>;

/// Why a transaction cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MvccError {
    /// The revision counter is at its maximum; no further write can get a revision.
    #[error("revision counter exhausted at {current}")]
    RevisionExhausted { current: u64 },
}

/// The keys and prefixes whose current state a transaction may depend on, in either branch.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ReadSet {
    pub keys: BTreeSet<Vec<u8>>,
    pub prefixes: BTreeSet<Vec<u8>>,
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
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Commit {
    pub revision: u64,
    pub writes: BTreeMap<Vec<u8>, Option<KeyValue>>,
    pub events: Vec<Event>,
}

/// Lists what [`plan_txn`] needs in its view to evaluate `txn` exactly.
pub(crate) fn read_set(txn: &Txn) -> ReadSet {
    let mut set = ReadSet::default();
    for compare in &txn.compares {
        set.keys.insert(compare.key().to_vec());
    }
    for op in txn.success.iter().chain(&txn.failure) {
        match op {
            Op::Put { key, .. } | Op::Delete { key } | Op::Get { key } => {
                set.keys.insert(key.clone());
            }
            Op::DeletePrefix { prefix } => {
                set.prefixes.insert(prefix.clone());
            }
        }
    }
    set
}

/// Evaluates `txn` at `current_revision` over `view` (which must hold the current state of
/// every key of [`read_set`]`(txn)`). Compares see the state before the transaction; ops see
/// the effects of earlier ops of the same branch. All changes share one new revision,
/// `current_revision + 1`; a branch that changes nothing yields no commit.
pub(crate) fn plan_txn(
    txn: &Txn,
    current_revision: u64,
    mut view: View,
) -> Result<TxnPlan, MvccError> {
    let succeeded = txn.compares.iter().all(|compare| holds(compare, &view));
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
            Op::Put { key, value } => OpResult::Put {
                prev: pending.put(&mut view, key, value)?,
            },
            Op::Delete { key } => OpResult::Delete {
                prev: pending.delete(&mut view, key)?,
            },
            Op::DeletePrefix { prefix } => {
                let keys: Vec<Vec<u8>> = view
                    .range::<[u8], _>((Bound::Included(prefix.as_slice()), Bound::Unbounded))
                    .map(|(key, _)| key)
                    .take_while(|key| key.starts_with(prefix))
                    .cloned()
                    .collect();
                let mut deleted = Vec::with_capacity(keys.len());
                for key in keys {
                    deleted.extend(pending.delete(&mut view, &key)?);
                }
                OpResult::DeletePrefix { deleted }
            }
            Op::Get { key } => OpResult::Get {
                kv: view.get(key).cloned(),
            },
        };
        results.push(result);
    }
    let commit = pending.into_commit()?;
    Ok(TxnPlan {
        succeeded,
        results,
        commit,
    })
}

/// Whether `compare` holds over `view`. A missing key has zero revisions and version.
fn holds(compare: &Compare, view: &View) -> bool {
    let kv = view.get(compare.key());
    match compare {
        Compare::ModRevision { equals, .. } => kv.map_or(0, |kv| kv.mod_revision) == *equals,
        Compare::CreateRevision { equals, .. } => kv.map_or(0, |kv| kv.create_revision) == *equals,
        Compare::Version { equals, .. } => kv.map_or(0, |kv| kv.version) == *equals,
        Compare::Value { equals, .. } => kv.is_some_and(|kv| kv.value == *equals),
        Compare::Absent { .. } => kv.is_none(),
    }
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

    fn put(key: &[u8], value: &[u8]) -> Op {
        Op::Put {
            key: key.to_vec(),
            value: value.to_vec(),
        }
    }

    fn only(ops: Vec<Op>) -> Txn {
        Txn {
            compares: vec![],
            success: ops,
            failure: vec![],
        }
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
        let plan = plan_txn(txn, *revision, state.clone()).expect("plan");
        if let Some(commit) = &plan.commit {
            apply(state, commit);
            *revision = commit.revision;
        }
        plan
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
        let plan = run(
            &mut state,
            &mut revision,
            &only(vec![Op::Delete { key: b"a".to_vec() }]),
        );
        let commit = plan.commit.expect("commit");
        assert_eq!(commit.revision, 2);
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
        assert!(recreated.commit.is_some());
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
                Op::Delete {
                    key: b"gone".to_vec(),
                },
                Op::DeletePrefix {
                    prefix: b"none/".to_vec(),
                },
                Op::Get { key: b"x".to_vec() },
            ]),
        );
        assert!(plan.succeeded);
        assert_eq!(plan.commit, None);
        assert_eq!(
            plan.results,
            vec![
                OpResult::Delete { prev: None },
                OpResult::DeletePrefix { deleted: vec![] },
                OpResult::Get { kv: None },
            ]
        );
        assert_eq!(revision, 4);
    }

    #[test]
    fn compares_choose_the_branch_and_missing_keys_compare_as_zero() {
        let mut state = View::new();
        let mut revision = 0;
        run(&mut state, &mut revision, &only(vec![put(b"k", b"v")]));
        let key = b"k".to_vec();
        let missing = b"missing".to_vec();
        let cases = [
            (
                Compare::ModRevision {
                    key: key.clone(),
                    equals: 1,
                },
                true,
            ),
            (
                Compare::ModRevision {
                    key: key.clone(),
                    equals: 2,
                },
                false,
            ),
            (
                Compare::CreateRevision {
                    key: key.clone(),
                    equals: 1,
                },
                true,
            ),
            (
                Compare::Version {
                    key: key.clone(),
                    equals: 1,
                },
                true,
            ),
            (
                Compare::Version {
                    key: key.clone(),
                    equals: 0,
                },
                false,
            ),
            (
                Compare::Value {
                    key: key.clone(),
                    equals: b"v".to_vec(),
                },
                true,
            ),
            (
                Compare::Value {
                    key: key.clone(),
                    equals: b"w".to_vec(),
                },
                false,
            ),
            (Compare::Absent { key: key.clone() }, false),
            (
                Compare::Absent {
                    key: missing.clone(),
                },
                true,
            ),
            (
                Compare::ModRevision {
                    key: missing.clone(),
                    equals: 0,
                },
                true,
            ),
            (
                Compare::Version {
                    key: missing.clone(),
                    equals: 0,
                },
                true,
            ),
            (
                Compare::Value {
                    key: missing.clone(),
                    equals: vec![],
                },
                false,
            ),
        ];
        for (compare, expected) in cases {
            let txn = Txn {
                compares: vec![compare.clone()],
                success: vec![Op::Get { key: key.clone() }],
                failure: vec![put(b"failed", b"")],
            };
            let plan = plan_txn(&txn, revision, state.clone()).expect("plan");
            assert_eq!(plan.succeeded, expected, "{compare:?}");
            assert_eq!(plan.commit.is_some(), !expected, "{compare:?}");
        }
    }

    #[test]
    fn all_compares_must_hold_and_see_state_before_the_txn() {
        let mut state = View::new();
        let mut revision = 0;
        let txn = Txn {
            compares: vec![
                Compare::Absent { key: b"a".to_vec() },
                Compare::Absent { key: b"b".to_vec() },
            ],
            success: vec![put(b"a", b"1"), put(b"b", b"1")],
            failure: vec![Op::Get { key: b"a".to_vec() }],
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
            second.results,
            vec![OpResult::Get {
                kv: state.get(b"a".as_slice()).cloned()
            }]
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
                Op::Get {
                    key: b"p/new".to_vec(),
                },
                Op::DeletePrefix {
                    prefix: b"p/".to_vec(),
                },
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
        match &plan.results[1] {
            OpResult::Get { kv: Some(kv) } => assert_eq!(kv.value, b"n"),
            other => panic!("unexpected {other:?}"),
        }
        match &plan.results[2] {
            OpResult::DeletePrefix { deleted } => assert_eq!(deleted.len(), 2),
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
    fn delete_prefix_stops_at_the_prefix_boundary() {
        let mut state = View::new();
        let mut revision = 0;
        run(
            &mut state,
            &mut revision,
            &only(vec![
                put(b"a", b""),
                put(b"ab", b""),
                put(b"abc", b""),
                put(b"b", b""),
            ]),
        );
        run(
            &mut state,
            &mut revision,
            &only(vec![Op::DeletePrefix {
                prefix: b"ab".to_vec(),
            }]),
        );
        let keys: Vec<&[u8]> = state.keys().map(Vec::as_slice).collect();
        assert_eq!(keys, vec![b"a".as_slice(), b"b".as_slice()]);
    }

    #[test]
    fn read_set_covers_both_branches_and_compares() {
        let txn = Txn {
            compares: vec![Compare::Absent { key: b"c".to_vec() }],
            success: vec![
                put(b"s", b""),
                Op::DeletePrefix {
                    prefix: b"p".to_vec(),
                },
            ],
            failure: vec![
                Op::Get { key: b"f".to_vec() },
                Op::Delete { key: b"d".to_vec() },
            ],
        };
        let set = read_set(&txn);
        let keys: Vec<&[u8]> = set.keys.iter().map(Vec::as_slice).collect();
        assert_eq!(keys, vec![b"c".as_slice(), b"d", b"f", b"s"]);
        assert_eq!(
            set.prefixes.into_iter().collect::<Vec<_>>(),
            vec![b"p".to_vec()]
        );
    }

    #[test]
    fn exhausted_revision_is_an_error_only_when_writing() {
        let txn = only(vec![put(b"a", b"")]);
        assert_eq!(
            plan_txn(&txn, u64::MAX, View::new()),
            Err(MvccError::RevisionExhausted { current: u64::MAX })
        );
        let read_only = only(vec![Op::Get { key: b"a".to_vec() }]);
        assert!(plan_txn(&read_only, u64::MAX, View::new()).is_ok());
    }

    /// A tiny deterministic generator so the model test needs no extra dependency.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// What the model remembers per key: value, creation revision, last write, write count.
    type Model = BTreeMap<Vec<u8>, (Vec<u8>, u64, u64, u64)>;

    fn random_op(rng: &mut Rng) -> Op {
        let keys: [&[u8]; 6] = [b"a", b"a/1", b"a/2", b"b", b"b/1", b"c"];
        let key = keys[rng.below(keys.len() as u64) as usize].to_vec();
        match rng.below(4) {
            0 => Op::Put {
                key,
                value: vec![rng.below(3) as u8],
            },
            1 => Op::Delete { key },
            2 => Op::DeletePrefix {
                prefix: key[..1].to_vec(),
            },
            _ => Op::Get { key },
        }
    }

    fn random_compare(rng: &mut Rng, model: &Model) -> Compare {
        let key = if rng.below(2) == 0 {
            b"a".to_vec()
        } else {
            b"b/1".to_vec()
        };
        let current = model.get(&key);
        match rng.below(3) {
            0 => Compare::Absent { key },
            1 => Compare::ModRevision {
                equals: current.map_or(0, |c| c.2) + rng.below(2),
                key,
            },
            _ => Compare::Value {
                key,
                equals: vec![rng.below(3) as u8],
            },
        }
    }

    /// Applies one op to the model the naive way, returning whether it changed anything.
    fn model_apply(model: &mut Model, op: &Op, revision: u64) -> bool {
        match op {
            Op::Put { key, value } => {
                let entry = model.get(key).cloned();
                let (create, version) = entry.map_or((revision, 1), |e| (e.1, e.3 + 1));
                model.insert(key.clone(), (value.clone(), create, revision, version));
                true
            }
            Op::Delete { key } => model.remove(key).is_some(),
            Op::DeletePrefix { prefix } => {
                let before = model.len();
                model.retain(|key, _| !key.starts_with(prefix));
                model.len() != before
            }
            Op::Get { .. } => false,
        }
    }

    fn model_holds(model: &Model, compare: &Compare) -> bool {
        let entry = model.get(compare.key());
        match compare {
            Compare::Absent { .. } => entry.is_none(),
            Compare::ModRevision { equals, .. } => entry.map_or(0, |e| e.2) == *equals,
            Compare::Value { equals, .. } => entry.is_some_and(|e| e.0 == *equals),
            Compare::CreateRevision { equals, .. } => entry.map_or(0, |e| e.1) == *equals,
            Compare::Version { equals, .. } => entry.map_or(0, |e| e.3) == *equals,
        }
    }

    #[test]
    fn core_matches_a_naive_model_over_random_histories() {
        for seed in 1..=200u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let mut model = Model::new();
            let mut state = View::new();
            let mut revision = 0;
            for _ in 0..40 {
                let compares = (0..rng.below(3))
                    .map(|_| random_compare(&mut rng, &model))
                    .collect();
                let success = (0..rng.below(4)).map(|_| random_op(&mut rng)).collect();
                let failure = (0..rng.below(3)).map(|_| random_op(&mut rng)).collect();
                let txn = Txn {
                    compares,
                    success,
                    failure,
                };

                let expected_success = txn.compares.iter().all(|c| model_holds(&model, c));
                let ops = if expected_success {
                    &txn.success
                } else {
                    &txn.failure
                };
                let mut changed = false;
                for op in ops {
                    changed |= model_apply(&mut model, op, revision + 1);
                }

                // The engine only loads the read set; do the same to check it is sufficient.
                let set = read_set(&txn);
                let view: View = state
                    .iter()
                    .filter(|(key, _)| {
                        set.keys.contains(*key) || set.prefixes.iter().any(|p| key.starts_with(p))
                    })
                    .map(|(key, kv)| (key.clone(), kv.clone()))
                    .collect();
                let plan = plan_txn(&txn, revision, view).expect("plan");
                assert_eq!(plan.succeeded, expected_success, "seed {seed}");
                assert_eq!(plan.results.len(), ops.len());
                assert_eq!(plan.commit.is_some(), changed, "seed {seed}");
                if let Some(commit) = &plan.commit {
                    assert_eq!(commit.revision, revision + 1);
                    assert!(
                        commit
                            .events
                            .iter()
                            .all(|e| e.revision() == commit.revision)
                    );
                    apply(&mut state, commit);
                    revision = commit.revision;
                }
                let as_model: Model = state
                    .iter()
                    .map(|(key, kv)| {
                        assert_eq!(&kv.key, key);
                        (
                            key.clone(),
                            (
                                kv.value.clone(),
                                kv.create_revision,
                                kv.mod_revision,
                                kv.version,
                            ),
                        )
                    })
                    .collect();
                assert_eq!(as_model, model, "seed {seed}");
            }
        }
    }
}
