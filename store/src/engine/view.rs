//! Reads from one RocksDB snapshot, so everything they return belongs to one revision.

use std::collections::BTreeMap;

use rocksdb::{DB, Direction, IteratorMode, SnapshotWithThreadMode};

use super::{Engine, LOG_CF, META_CF, REVISION_KEY};
use crate::error::StoreError;
use crate::event::Event;
use crate::kv::RangeResult;
use crate::range::{KeyRange, RangeRequest, respond, rewind};
use crate::record::revision_key;

/// A consistent point-in-time view of the database: reads through it see one revision.
pub(crate) struct Snapshot<'a> {
    pub(super) engine: &'a Engine,
    pub(super) inner: SnapshotWithThreadMode<'a, DB>,
}

impl Snapshot<'_> {
    /// The current revision as of this snapshot.
    pub(crate) fn revision(&self) -> Result<u64, StoreError> {
        let engine = self.engine;
        match self
            .inner
            .get_cf(engine.cf(META_CF)?, REVISION_KEY)
            .map_err(|source| engine.read_error(META_CF, source))?
        {
            Some(bytes) => engine.decode_meta(REVISION_KEY, &bytes),
            None => Err(engine.missing_meta(REVISION_KEY)),
        }
    }

    /// Answers a range read. `compact_revision` is read after the snapshot was taken, so a
    /// compaction racing the read is either seen (and refused) or not yet on disk.
    pub(crate) fn range(
        &self,
        request: &RangeRequest,
        compact_revision: u64,
    ) -> Result<RangeResult, StoreError> {
        let current = self.revision()?;
        let mut state = BTreeMap::new();
        self.engine.scan(&request.range, Some(&self.inner), |kv| {
            state.insert(kv.key.clone(), kv);
        })?;
        let revision = match request.revision {
            0 => current,
            wanted if wanted > current => {
                return Err(StoreError::FutureRevision {
                    requested: wanted,
                    current,
                });
            }
            wanted if wanted < compact_revision => {
                return Err(StoreError::Compacted {
                    requested: wanted,
                    compact_revision,
                });
            }
            wanted => {
                let later = self.history(&request.range, wanted, current)?;
                rewind(&mut state, &later, &request.range);
                wanted
            }
        };
        Ok(respond(request, state.into_values(), revision))
    }

    /// Events of the revisions in `(after, up_to]` whose key is in `range`, in revision order.
    pub(crate) fn history(
        &self,
        range: &KeyRange,
        after: u64,
        up_to: u64,
    ) -> Result<Vec<Event>, StoreError> {
        let engine = self.engine;
        let mut events = Vec::new();
        let Some(start) = after.checked_add(1) else {
            return Ok(events);
        };
        let start = revision_key(start);
        let iter = self.inner.iterator_cf(
            engine.cf(LOG_CF)?,
            IteratorMode::From(&start, Direction::Forward),
        );
        for item in iter {
            let (key, value) = item.map_err(|source| engine.read_error(LOG_CF, source))?;
            if engine.decode_log_key(&key)? > up_to {
                break;
            }
            let decoded = engine.decode_log(&key, &value)?;
            events.extend(decoded.into_iter().filter(|e| range.contains(&e.kv.key)));
        }
        Ok(events)
    }

    /// Calls `visit` with every raw record of column family `family`, in key order.
    pub(crate) fn for_each_raw(
        &self,
        family: &'static str,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let engine = self.engine;
        let iter = self
            .inner
            .iterator_cf(engine.cf(family)?, IteratorMode::Start);
        for item in iter {
            let (key, value) = item.map_err(|source| engine.read_error(family, source))?;
            visit(&key, &value)?;
        }
        Ok(())
    }
}
