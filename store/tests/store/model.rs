//! Property test: the store against a naive in-memory model that keeps every revision's full
//! state, over random puts, deletes, compare-and-swaps, prefix deletes, compactions, reads at
//! past revisions and reopenings of the store.

use std::collections::BTreeMap;
use std::path::Path;

use flotilla_store::{
    Expect, KeyRange, KeyValue, Op, RangeRequest, Store, StoreError, Txn, WriteResult,
};
use proptest::prelude::*;

const KEYS: [&[u8]; 5] = [b"a", b"a/1", b"a/2", b"b", b"b/1"];
const PREFIXES: [&[u8]; 3] = [b"a", b"b/", b""];

#[derive(Debug, Clone)]
enum Step {
    Put { key: usize, value: u8 },
    Delete { key: usize },
    DeletePrefix { prefix: usize },
    CompareAndPut { key: usize, value: u8, stale: bool },
    Compact { back: u64 },
    ReadAt { back: u64, prefix: usize },
    Reopen,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..KEYS.len(), any::<u8>()).prop_map(|(key, value)| Step::Put { key, value }),
        2 => (0..KEYS.len()).prop_map(|key| Step::Delete { key }),
        1 => (0..PREFIXES.len()).prop_map(|prefix| Step::DeletePrefix { prefix }),
        2 => (0..KEYS.len(), any::<u8>(), any::<bool>())
            .prop_map(|(key, value, stale)| Step::CompareAndPut { key, value, stale }),
        1 => (0..6u64).prop_map(|back| Step::Compact { back }),
        3 => (0..8u64, 0..PREFIXES.len()).prop_map(|(back, prefix)| Step::ReadAt { back, prefix }),
        1 => Just(Step::Reopen),
    ]
}

type State = BTreeMap<Vec<u8>, KeyValue>;

/// Every revision's full state (index = revision) and the compact revision.
struct Model {
    states: Vec<State>,
    compact: u64,
}

impl Model {
    fn revision(&self) -> u64 {
        self.states.len() as u64 - 1
    }

    fn current(&self) -> &State {
        self.states.last().expect("revision 0 exists")
    }

    /// Applies a change (puts as `Some(value)`, deletes as `None`) as one new revision if it
    /// changes anything.
    fn commit(&mut self, changes: &[(Vec<u8>, Option<u8>)]) {
        let revision = self.revision() + 1;
        let mut next = self.current().clone();
        let mut changed = false;
        for (key, value) in changes {
            match value {
                Some(value) => {
                    let prev = next.get(key);
                    let kv = KeyValue {
                        key: key.clone(),
                        value: vec![*value],
                        create_revision: prev.map_or(revision, |p| p.create_revision),
                        mod_revision: revision,
                        version: prev.map_or(1, |p| p.version + 1),
                        lease: None,
                    };
                    next.insert(key.clone(), kv);
                    changed = true;
                }
                None => changed |= next.remove(key).is_some(),
            }
        }
        if changed {
            self.states.push(next);
        }
    }
}

fn run(dir: &Path, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let mut store = Some(Store::open(dir).expect("open"));
    let mut model = Model {
        states: vec![State::new()],
        compact: 0,
    };
    for step in steps {
        let live = store.as_ref().expect("open store");
        match step {
            Step::Put { key, value } => {
                live.put(KEYS[key], &[value], Expect::Any).expect("put");
                model.commit(&[(KEYS[key].to_vec(), Some(value))]);
            }
            Step::Delete { key } => {
                live.delete(KEYS[key], Expect::Any).expect("delete");
                model.commit(&[(KEYS[key].to_vec(), None)]);
            }
            Step::DeletePrefix { prefix } => {
                let range = KeyRange::Prefix(PREFIXES[prefix].to_vec());
                let doomed: Vec<(Vec<u8>, Option<u8>)> = model
                    .current()
                    .keys()
                    .filter(|key| range.contains(key))
                    .map(|key| (key.clone(), None))
                    .collect();
                live.txn(Txn {
                    success: vec![Op::Delete { range }],
                    ..Txn::default()
                })
                .expect("txn");
                model.commit(&doomed);
            }
            Step::CompareAndPut { key, value, stale } => {
                let current = model.current().get(KEYS[key]).cloned();
                let expected = current.as_ref().map_or(0, |kv| kv.mod_revision) + u64::from(stale);
                let result = live
                    .put(KEYS[key], &[value], Expect::ModRevision(expected))
                    .expect("cas");
                if stale {
                    prop_assert_eq!(result, WriteResult::Conflict { current });
                } else {
                    let committed = matches!(result, WriteResult::Committed { .. });
                    prop_assert!(committed, "stale-free compare-and-put conflicted");
                    model.commit(&[(KEYS[key].to_vec(), Some(value))]);
                }
            }
            Step::Compact { back } => {
                let target = model.revision().saturating_sub(back);
                live.compact(target).expect("compact");
                model.compact = model.compact.max(target);
            }
            Step::ReadAt { back, prefix } => {
                let revision = model.revision().saturating_sub(back).max(1);
                let range = KeyRange::Prefix(PREFIXES[prefix].to_vec());
                let mut request = RangeRequest::new(range.clone());
                request.revision = revision;
                let answer = live.range(&request);
                if revision > model.revision() {
                    let future = matches!(answer, Err(StoreError::FutureRevision { .. }));
                    prop_assert!(future, "read past the current revision answered");
                } else if revision < model.compact {
                    match answer {
                        Err(StoreError::Compacted {
                            requested,
                            compact_revision,
                        }) => {
                            prop_assert_eq!(requested, revision);
                            prop_assert_eq!(compact_revision, model.compact);
                        }
                        other => prop_assert!(false, "expected compacted, got {:?}", other),
                    }
                } else {
                    let expected: Vec<KeyValue> = model.states[revision as usize]
                        .values()
                        .filter(|kv| range.contains(&kv.key))
                        .cloned()
                        .collect();
                    let answer = answer.expect("range");
                    prop_assert_eq!(answer.kvs, expected, "at revision {}", revision);
                }
            }
            Step::Reopen => {
                drop(store.take());
                store = Some(Store::open(dir).expect("reopen"));
            }
        }
        let live = store.as_ref().expect("open store");
        prop_assert_eq!(live.revision(), model.revision());
        let now: Vec<KeyValue> = live.range_prefix(b"").expect("range").kvs;
        prop_assert_eq!(now, model.current().values().cloned().collect::<Vec<_>>());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_store_behaves_like_the_model(steps in prop::collection::vec(step(), 1..40)) {
        let dir = tempfile::tempdir().expect("tempdir");
        run(dir.path(), steps)?;
    }
}
