//! Which keys a read, delete or watch covers, and the pure logic of answering a range read.
//!
//! A read at a past revision is answered from the current state and the revision log: the
//! log keeps, for every change, the key's state before it, so undoing the changes after the
//! wanted revision, newest first, gives the state at that revision ([`rewind`]). Its cost
//! grows with the number of changes since that revision, which suits the common use (a
//! consistent, paginated list a little in the past) and keeps the write path a single key
//! record per key.

use std::collections::BTreeMap;
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::kv::{KeyValue, RangeResult};

/// A set of keys, by exact key, by prefix or by an interval of keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyRange {
    /// Exactly this key.
    Key(Vec<u8>),
    /// Every key starting with this prefix (the empty prefix covers every key).
    Prefix(Vec<u8>),
    /// Every key `k` with `start <= k < end`.
    Range { start: Vec<u8>, end: Vec<u8> },
    /// Every key at or after `start`.
    From { start: Vec<u8> },
}

impl KeyRange {
    /// Whether `key` belongs to the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        match self {
            KeyRange::Key(wanted) => key == wanted.as_slice(),
            KeyRange::Prefix(prefix) => key.starts_with(prefix),
            KeyRange::Range { start, end } => key >= start.as_slice() && key < end.as_slice(),
            KeyRange::From { start } => key >= start.as_slice(),
        }
    }

    /// The smallest key the range can contain.
    pub fn start(&self) -> &[u8] {
        match self {
            KeyRange::Key(key) | KeyRange::Prefix(key) => key,
            KeyRange::Range { start, .. } | KeyRange::From { start } => start,
        }
    }

    /// Total length of the keys that describe the range (for request size accounting).
    pub(crate) fn encoded_len(&self) -> usize {
        match self {
            KeyRange::Key(key) | KeyRange::Prefix(key) | KeyRange::From { start: key } => key.len(),
            KeyRange::Range { start, end } => start.len() + end.len(),
        }
    }

    /// The keys of `map` inside the range, in key order.
    pub(crate) fn select<'a, V>(
        &'a self,
        map: &'a BTreeMap<Vec<u8>, V>,
    ) -> impl Iterator<Item = (&'a Vec<u8>, &'a V)> + 'a {
        map.range::<[u8], _>((Bound::Included(self.start()), Bound::Unbounded))
            .take_while(move |(key, _)| self.is_before_end(key))
            .filter(move |(key, _)| self.contains(key))
    }

    /// Whether `key`, known to be at or after [`start`](Self::start), is still before the end
    /// of the range, so a forward scan can stop at the first key where this is false.
    pub(crate) fn is_before_end(&self, key: &[u8]) -> bool {
        match self {
            KeyRange::Key(wanted) => key <= wanted.as_slice(),
            KeyRange::Prefix(prefix) => key.starts_with(prefix),
            KeyRange::Range { end, .. } => key < end.as_slice(),
            KeyRange::From { .. } => true,
        }
    }
}

/// A range read: which keys, at which revision, and how much of them to return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeRequest {
    /// The keys to read.
    pub range: KeyRange,
    /// The revision to read at; 0 reads the current state.
    pub revision: u64,
    /// Return at most this many keys (the count still covers all); 0 means no limit.
    pub limit: u64,
    /// Return only the count, no keys.
    pub count_only: bool,
    /// Return keys and their bookkeeping but empty values.
    pub keys_only: bool,
}

impl RangeRequest {
    /// Reads every key of `range` at the current revision.
    pub fn new(range: KeyRange) -> RangeRequest {
        RangeRequest {
            range,
            revision: 0,
            limit: 0,
            count_only: false,
            keys_only: false,
        }
    }

    /// Reads one key at the current revision.
    pub fn key(key: &[u8]) -> RangeRequest {
        RangeRequest::new(KeyRange::Key(key.to_vec()))
    }

    /// Reads every key under `prefix` at the current revision.
    pub fn prefix(prefix: &[u8]) -> RangeRequest {
        RangeRequest::new(KeyRange::Prefix(prefix.to_vec()))
    }
}

/// Shapes the answer to `request` from the matching keys, given in key order.
pub(crate) fn respond(
    request: &RangeRequest,
    matching: impl IntoIterator<Item = KeyValue>,
    revision: u64,
) -> RangeResult {
    let limit = match request.limit {
        0 => u64::MAX,
        limit => limit,
    };
    let mut kvs = Vec::new();
    let mut count = 0u64;
    for mut kv in matching {
        count += 1;
        if request.count_only || count > limit {
            continue;
        }
        if request.keys_only {
            kv.value = Vec::new();
        }
        kvs.push(kv);
    }
    RangeResult {
        more: !request.count_only && count > kvs.len() as u64,
        kvs,
        count,
        revision,
    }
}

/// Turns `state` (the current keys of some range) into the state before `later_events`
/// (every event after the wanted revision, in revision order) by undoing them newest first.
/// Only events whose key is in `range` are applied, so `state` stays within it.
pub(crate) fn rewind(
    state: &mut BTreeMap<Vec<u8>, KeyValue>,
    later_events: &[Event],
    range: &KeyRange,
) {
    for event in later_events.iter().rev() {
        if !range.contains(&event.kv.key) {
            continue;
        }
        match &event.prev {
            Some(prev) => state.insert(prev.key.clone(), prev.clone()),
            None => state.remove(&event.kv.key),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;

    fn kv(key: &[u8], value: &[u8], revision: u64) -> KeyValue {
        KeyValue {
            key: key.to_vec(),
            value: value.to_vec(),
            create_revision: revision,
            mod_revision: revision,
            version: 1,
            lease: None,
        }
    }

    fn keys(result: &RangeResult) -> Vec<&[u8]> {
        result.kvs.iter().map(|kv| kv.key.as_slice()).collect()
    }

    #[test]
    fn ranges_contain_what_they_say() {
        let prefix = KeyRange::Prefix(b"ab".to_vec());
        assert!(prefix.contains(b"ab") && prefix.contains(b"abc") && !prefix.contains(b"b"));
        let interval = KeyRange::Range {
            start: b"b".to_vec(),
            end: b"d".to_vec(),
        };
        assert!(interval.contains(b"b") && interval.contains(b"cz"));
        assert!(!interval.contains(b"d") && !interval.contains(b"a"));
        let from = KeyRange::From {
            start: b"m".to_vec(),
        };
        assert!(from.contains(b"m") && from.contains(b"\xff") && !from.contains(b"l"));
        let key = KeyRange::Key(b"k".to_vec());
        assert!(key.contains(b"k") && !key.contains(b"k1"));
        let empty = KeyRange::Range {
            start: b"d".to_vec(),
            end: b"b".to_vec(),
        };
        assert!(!empty.contains(b"c") && !empty.contains(b"d"));
    }

    #[test]
    fn select_walks_only_the_range() {
        let map: BTreeMap<Vec<u8>, u8> = [b"a".as_slice(), b"ab", b"abc", b"b", b"c"]
            .into_iter()
            .enumerate()
            .map(|(i, k)| (k.to_vec(), i as u8))
            .collect();
        let picked = |range: KeyRange| -> Vec<u8> { range.select(&map).map(|(_, v)| *v).collect() };
        assert_eq!(picked(KeyRange::Prefix(b"ab".to_vec())), vec![1, 2]);
        assert_eq!(picked(KeyRange::Key(b"ab".to_vec())), vec![1]);
        assert_eq!(
            picked(KeyRange::Range {
                start: b"ab".to_vec(),
                end: b"c".to_vec()
            }),
            vec![1, 2, 3]
        );
        assert_eq!(
            picked(KeyRange::From {
                start: b"b".to_vec()
            }),
            vec![3, 4]
        );
        assert_eq!(picked(KeyRange::Prefix(Vec::new())).len(), 5);
    }

    #[test]
    fn respond_applies_limit_count_only_and_keys_only() {
        let all = vec![kv(b"a", b"1", 1), kv(b"b", b"2", 2), kv(b"c", b"3", 3)];
        let mut request = RangeRequest::prefix(b"");
        let full = respond(&request, all.clone(), 9);
        assert_eq!((full.count, full.more, full.revision), (3, false, 9));
        assert_eq!(keys(&full), vec![b"a".as_slice(), b"b", b"c"]);

        request.limit = 2;
        let limited = respond(&request, all.clone(), 9);
        assert_eq!((limited.count, limited.more), (3, true));
        assert_eq!(keys(&limited), vec![b"a".as_slice(), b"b"]);

        request.keys_only = true;
        let bare = respond(&request, all.clone(), 9);
        assert!(bare.kvs.iter().all(|kv| kv.value.is_empty()));
        assert_eq!(bare.kvs[1].mod_revision, 2);

        request.count_only = true;
        let counted = respond(&request, all, 9);
        assert_eq!(
            (counted.count, counted.more, counted.kvs.len()),
            (3, false, 0)
        );
    }

    #[test]
    fn rewind_undoes_later_events_newest_first() {
        // History: r1 put a=1, r2 put a=2 and put b=1, r3 delete a, r4 put c.
        let a1 = kv(b"a", b"1", 1);
        let mut a2 = kv(b"a", b"2", 2);
        a2.create_revision = 1;
        a2.version = 2;
        let b1 = kv(b"b", b"1", 2);
        let later = vec![
            Event {
                kind: EventKind::Put,
                kv: a2.clone(),
                prev: Some(a1.clone()),
            },
            Event {
                kind: EventKind::Put,
                kv: b1.clone(),
                prev: None,
            },
            Event {
                kind: EventKind::Delete,
                kv: KeyValue {
                    value: Vec::new(),
                    create_revision: 0,
                    version: 0,
                    ..kv(b"a", b"", 3)
                },
                prev: Some(a2),
            },
            Event {
                kind: EventKind::Put,
                kv: kv(b"c", b"x", 4),
                prev: None,
            },
        ];
        let current = || -> BTreeMap<Vec<u8>, KeyValue> {
            [b1.clone(), kv(b"c", b"x", 4)]
                .into_iter()
                .map(|kv| (kv.key.clone(), kv))
                .collect()
        };
        let everything = KeyRange::Prefix(Vec::new());

        let mut at_one = current();
        rewind(&mut at_one, &later, &everything);
        assert_eq!(at_one.into_values().collect::<Vec<_>>(), vec![a1]);

        let mut at_three = current();
        rewind(&mut at_three, &later[3..], &everything);
        assert_eq!(at_three.into_values().collect::<Vec<_>>(), vec![b1.clone()]);

        let mut only_c = current();
        only_c.remove(b"b".as_slice());
        rewind(&mut only_c, &later, &KeyRange::Key(b"c".to_vec()));
        assert!(only_c.is_empty());
    }
}
