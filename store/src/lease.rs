//! Leases: the pure core that decides when a lease ends and which keys go with it.
//!
//! It holds no clock and does no I/O: every call is given `now` in milliseconds since the Unix
//! epoch, so tests step time instead of sleeping. Deadlines are absolute wall-clock times
//! because they are persisted: after a restart a lease keeps the time it had left (a store
//! that was down longer than a lease's TTL revokes it at once). The store's writer thread owns
//! the table, persists each change and turns a revocation into key deletions.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::event::{Event, EventKind};

/// The id of a lease. Ids start at 1 and are never reused by the same store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LeaseId(pub u64);

impl std::fmt::Display for LeaseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A granted lease, as returned by grant and keep-alive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub id: LeaseId,
    /// The TTL the lease was granted with; a keep-alive renews it to this.
    pub ttl: Duration,
}

/// What `time_to_live` reports about a lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseStatus {
    pub id: LeaseId,
    pub granted_ttl: Duration,
    /// Time left before the lease expires (zero if it is due and not yet revoked).
    pub remaining: Duration,
    /// Keys attached to the lease, in key order.
    pub keys: Vec<Vec<u8>>,
}

/// Why a lease operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// No lease has this id (never granted, revoked or expired).
    #[error("lease {0} not found")]
    NotFound(LeaseId),
    /// A grant asked for an id that is in use.
    #[error("lease {0} already exists")]
    Exists(LeaseId),
    /// A grant asked for a zero TTL.
    #[error("lease TTL must be at least one millisecond")]
    ZeroTtl,
}

/// The persisted part of a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeaseRecord {
    pub ttl_ms: u64,
    pub expires_at_ms: u64,
}

/// Every live lease, with the keys attached to it.
#[derive(Debug)]
pub(crate) struct Leases {
    leases: BTreeMap<LeaseId, (LeaseRecord, BTreeSet<Vec<u8>>)>,
    next_id: u64,
}

impl Default for Leases {
    fn default() -> Leases {
        Leases::new(BTreeMap::new(), 1)
    }
}

impl Leases {
    /// The table as persisted: the records and the next id to hand out. Keys are attached
    /// afterwards from the live key records.
    pub(crate) fn new(records: BTreeMap<LeaseId, LeaseRecord>, next_id: u64) -> Leases {
        let highest = records.keys().last().map_or(0, |id| id.0);
        Leases {
            leases: records
                .into_iter()
                .map(|(id, record)| (id, (record, BTreeSet::new())))
                .collect(),
            next_id: next_id.max(highest.saturating_add(1)).max(1),
        }
    }

    /// The id the next automatic grant will use; persisted so ids are never reused.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id
    }

    pub(crate) fn contains(&self, id: LeaseId) -> bool {
        self.leases.contains_key(&id)
    }

    /// Grants a lease of `ttl` from `now`, with `requested` as id or a fresh one.
    pub(crate) fn grant(
        &mut self,
        requested: Option<LeaseId>,
        ttl: Duration,
        now_ms: u64,
    ) -> Result<(LeaseId, LeaseRecord), LeaseError> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        if ttl_ms == 0 {
            return Err(LeaseError::ZeroTtl);
        }
        let id = match requested {
            Some(id) if self.leases.contains_key(&id) => return Err(LeaseError::Exists(id)),
            Some(id) => id,
            None => {
                let mut id = LeaseId(self.next_id);
                while self.leases.contains_key(&id) {
                    id = LeaseId(id.0.saturating_add(1));
                }
                id
            }
        };
        self.next_id = self.next_id.max(id.0.saturating_add(1));
        let record = LeaseRecord {
            ttl_ms,
            expires_at_ms: now_ms.saturating_add(ttl_ms),
        };
        self.leases.insert(id, (record, BTreeSet::new()));
        Ok((id, record))
    }

    /// Renews the lease to its full TTL from `now`.
    pub(crate) fn keep_alive(
        &mut self,
        id: LeaseId,
        now_ms: u64,
    ) -> Result<LeaseRecord, LeaseError> {
        let (record, _) = self.leases.get_mut(&id).ok_or(LeaseError::NotFound(id))?;
        record.expires_at_ms = now_ms.saturating_add(record.ttl_ms);
        Ok(*record)
    }

    /// The keys attached to `id`, which a revocation deletes.
    pub(crate) fn keys(&self, id: LeaseId) -> Result<Vec<Vec<u8>>, LeaseError> {
        let (_, keys) = self.leases.get(&id).ok_or(LeaseError::NotFound(id))?;
        Ok(keys.iter().cloned().collect())
    }

    /// Forgets `id`; its keys must already have been deleted.
    pub(crate) fn remove(&mut self, id: LeaseId) {
        self.leases.remove(&id);
    }

    pub(crate) fn status(&self, id: LeaseId, now_ms: u64) -> Result<LeaseStatus, LeaseError> {
        let (record, keys) = self.leases.get(&id).ok_or(LeaseError::NotFound(id))?;
        Ok(LeaseStatus {
            id,
            granted_ttl: Duration::from_millis(record.ttl_ms),
            remaining: Duration::from_millis(record.expires_at_ms.saturating_sub(now_ms)),
            keys: keys.iter().cloned().collect(),
        })
    }

    /// Leases whose deadline is at or before `now`, oldest deadline first.
    pub(crate) fn expired(&self, now_ms: u64) -> Vec<LeaseId> {
        let mut due: Vec<(u64, LeaseId)> = self
            .leases
            .iter()
            .filter(|(_, (record, _))| record.expires_at_ms <= now_ms)
            .map(|(id, (record, _))| (record.expires_at_ms, *id))
            .collect();
        due.sort();
        due.into_iter().map(|(_, id)| id).collect()
    }

    /// Attaches `key` to `id` (when loading the live keys at startup).
    pub(crate) fn attach(&mut self, id: LeaseId, key: &[u8]) -> Result<(), LeaseError> {
        let (_, keys) = self.leases.get_mut(&id).ok_or(LeaseError::NotFound(id))?;
        keys.insert(key.to_vec());
        Ok(())
    }

    /// Follows committed changes: a key leaves the lease of its previous state and joins the
    /// lease of its new one.
    pub(crate) fn apply(&mut self, events: &[Event]) {
        for event in events {
            let key = &event.kv.key;
            if let Some(old) = event.prev.as_ref().and_then(|prev| prev.lease)
                && let Some((_, keys)) = self.leases.get_mut(&old)
            {
                keys.remove(key);
            }
            if event.kind == EventKind::Put
                && let Some(new) = event.kv.lease
                && let Some((_, keys)) = self.leases.get_mut(&new)
            {
                keys.insert(key.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::KeyValue;

    const SECOND: Duration = Duration::from_secs(1);

    fn put(key: &[u8], lease: Option<LeaseId>, prev: Option<LeaseId>) -> Event {
        let kv = KeyValue {
            key: key.to_vec(),
            value: Vec::new(),
            create_revision: 1,
            mod_revision: 1,
            version: 1,
            lease,
        };
        Event {
            kind: EventKind::Put,
            prev: prev.map(|lease| KeyValue {
                lease: Some(lease),
                ..kv.clone()
            }),
            kv,
        }
    }

    #[test]
    fn grant_expire_and_keep_alive_follow_the_given_clock() {
        let mut leases = Leases::default();
        let (a, record) = leases.grant(None, 10 * SECOND, 1_000).expect("grant");
        assert_eq!(a, LeaseId(1));
        assert_eq!(record.expires_at_ms, 11_000);
        let (b, _) = leases.grant(None, 2 * SECOND, 1_000).expect("grant");
        assert_eq!(b, LeaseId(2));

        assert!(leases.expired(2_999).is_empty());
        assert_eq!(leases.expired(3_000), vec![b]);
        let status = leases.status(a, 4_000).expect("status");
        assert_eq!(
            (status.granted_ttl, status.remaining),
            (10 * SECOND, 7 * SECOND)
        );

        leases.keep_alive(a, 9_000).expect("keep alive");
        assert_eq!(leases.expired(18_999), vec![b]);
        assert_eq!(leases.expired(19_000), vec![b, a]);
        assert_eq!(
            leases.status(b, 99_000).expect("status").remaining,
            Duration::ZERO
        );
    }

    #[test]
    fn ids_are_not_reused_and_bad_grants_are_refused() {
        let mut leases = Leases::default();
        let (first, _) = leases.grant(None, SECOND, 0).expect("grant");
        leases.remove(first);
        let (second, _) = leases.grant(None, SECOND, 0).expect("grant");
        assert_ne!(first, second);
        assert_eq!(
            leases.grant(Some(second), SECOND, 0),
            Err(LeaseError::Exists(second))
        );
        let (chosen, _) = leases.grant(Some(LeaseId(50)), SECOND, 0).expect("grant");
        assert_eq!(chosen, LeaseId(50));
        assert_eq!(leases.next_id(), 51);
        assert_eq!(
            leases.grant(None, Duration::ZERO, 0),
            Err(LeaseError::ZeroTtl)
        );
        assert_eq!(
            leases.keep_alive(LeaseId(9), 0),
            Err(LeaseError::NotFound(LeaseId(9)))
        );
        let restored = Leases::new(
            BTreeMap::from([(
                LeaseId(70),
                LeaseRecord {
                    ttl_ms: 1,
                    expires_at_ms: 1,
                },
            )]),
            3,
        );
        assert_eq!(restored.next_id(), 71);
    }

    #[test]
    fn keys_move_between_leases_with_committed_changes() {
        let mut leases = Leases::default();
        let (a, _) = leases.grant(None, SECOND, 0).expect("grant");
        let (b, _) = leases.grant(None, SECOND, 0).expect("grant");
        leases.apply(&[put(b"x", Some(a), None), put(b"y", Some(a), None)]);
        assert_eq!(leases.keys(a), Ok(vec![b"x".to_vec(), b"y".to_vec()]));
        leases.apply(&[put(b"x", Some(b), Some(a)), put(b"y", None, Some(a))]);
        assert_eq!(leases.keys(a), Ok(vec![]));
        assert_eq!(leases.keys(b), Ok(vec![b"x".to_vec()]));
        let deleted = Event {
            kind: EventKind::Delete,
            ..put(b"x", None, Some(b))
        };
        leases.apply(&[deleted]);
        assert_eq!(leases.keys(b), Ok(vec![]));
        assert!(leases.attach(LeaseId(99), b"k").is_err());
    }
}
