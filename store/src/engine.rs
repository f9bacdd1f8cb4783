//! The RocksDB layer: moves bytes between the store's column families and typed records.
//!
//! It holds no MVCC logic. Layout:
//! - `kv`: user key -> current [`KeyRecord`] of the live key;
//! - `log`: revision (8 bytes big-endian) -> the events of that revision, with prev values;
//! - `meta`: `layout_version`, `revision` (current) and `compact_revision`.
//!
//! Every commit is one `WriteBatch` written with `sync = true`, so an acknowledged write
//! survives a crash or power loss and a revision is either fully on disk or not at all. The
//! current revision lives in the same batch as the data, so readers taking a RocksDB snapshot
//! see a revision that matches the keys they read. Opening an existing store verifies every
//! live record and the newest log entry, so corruption is reported at startup with the path
//! and key instead of surfacing later as a silently wrong or empty store.

use std::path::{Path, PathBuf};

use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, Direction, IteratorMode, Options,
    WriteBatch, WriteOptions,
};

use crate::error::{StoreError, display_key};
use crate::event::Event;
use crate::kv::{KeyValue, RangeResult};
use crate::mvcc::{Commit, ReadSet, View};
use crate::record::{
    KeyRecord, RecordError, decode_counter, decode_events, decode_key_record, decode_revision_key,
    encode_counter, encode_events, encode_key_record, revision_key,
};

pub(crate) const KV_CF: &str = "kv";
pub(crate) const LOG_CF: &str = "log";
pub(crate) const META_CF: &str = "meta";

const LAYOUT_VERSION_KEY: &str = "layout_version";
const REVISION_KEY: &str = "revision";
const COMPACT_REVISION_KEY: &str = "compact_revision";

/// The on-disk layout (column families and meta keys) this build writes.
const LAYOUT_VERSION: u64 = 1;

/// The counters the store keeps in `meta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    pub revision: u64,
    pub compact_revision: u64,
}

/// An open RocksDB database in the store's layout.
pub(crate) struct Engine {
    db: DB,
    path: PathBuf,
}

impl Engine {
    /// Opens the store in `dir`, creating it only if the directory holds no database yet.
    pub(crate) fn open(dir: &Path) -> Result<(Engine, Meta), StoreError> {
        let exists = dir.join("CURRENT").exists();
        let mut options = Options::default();
        options.create_if_missing(!exists);
        options.create_missing_column_families(!exists);
        options.set_paranoid_checks(true);
        options.set_compression_type(DBCompressionType::Lz4);
        let families = [KV_CF, LOG_CF, META_CF].map(|name| {
            let mut cf_options = Options::default();
            cf_options.set_compression_type(DBCompressionType::Lz4);
            ColumnFamilyDescriptor::new(name, cf_options)
        });
        let db = DB::open_cf_descriptors(&options, dir, families).map_err(|source| {
            StoreError::Open {
                path: dir.to_path_buf(),
                source,
            }
        })?;
        let engine = Engine {
            db,
            path: dir.to_path_buf(),
        };
        let meta = engine.load_meta()?;
        engine.verify(meta)?;
        Ok((engine, meta))
    }

    /// The directory the store lives in.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The current state of `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        let raw = self
            .db
            .get_cf(self.cf(KV_CF)?, key)
            .map_err(|source| self.read_error(KV_CF, source))?;
        raw.map(|bytes| self.decode_kv(key.to_vec(), &bytes))
            .transpose()
    }

    /// Live keys under `prefix` and the revision they belong to, from one snapshot.
    pub(crate) fn range_prefix(&self, prefix: &[u8]) -> Result<RangeResult, StoreError> {
        let snapshot = self.db.snapshot();
        let revision = match snapshot
            .get_cf(self.cf(META_CF)?, REVISION_KEY)
            .map_err(|source| self.read_error(META_CF, source))?
        {
            Some(bytes) => self.decode_meta(REVISION_KEY, &bytes)?,
            None => return Err(self.missing_meta(REVISION_KEY)),
        };
        let mut kvs = Vec::new();
        let iter = snapshot.iterator_cf(
            self.cf(KV_CF)?,
            IteratorMode::From(prefix, Direction::Forward),
        );
        for item in iter {
            let (key, value) = item.map_err(|source| self.read_error(KV_CF, source))?;
            if !key.starts_with(prefix) {
                break;
            }
            kvs.push(self.decode_kv(key.to_vec(), &value)?);
        }
        Ok(RangeResult { kvs, revision })
    }

    /// Loads the current state of everything a transaction may read.
    pub(crate) fn load_view(&self, set: &ReadSet) -> Result<View, StoreError> {
        let mut view = View::new();
        for key in &set.keys {
            if let Some(kv) = self.get(key)? {
                view.insert(key.clone(), kv);
            }
        }
        for prefix in &set.prefixes {
            for kv in self.range_prefix(prefix)?.kvs {
                view.insert(kv.key.clone(), kv);
            }
        }
        Ok(view)
    }

    /// Events of every revision after `after_revision`, in revision order, keeping those whose
    /// key starts with `prefix`.
    pub(crate) fn history(
        &self,
        prefix: &[u8],
        after_revision: u64,
    ) -> Result<Vec<Event>, StoreError> {
        let mut events = Vec::new();
        let Some(start) = after_revision.checked_add(1) else {
            return Ok(events);
        };
        let start = revision_key(start);
        let iter = self.db.iterator_cf(
            self.cf(LOG_CF)?,
            IteratorMode::From(&start, Direction::Forward),
        );
        for item in iter {
            let (key, value) = item.map_err(|source| self.read_error(LOG_CF, source))?;
            let decoded = self.decode_log(&key, &value)?;
            events.extend(decoded.into_iter().filter(|e| e.kv.key.starts_with(prefix)));
        }
        Ok(events)
    }

    /// Durably writes one revision: key states, its log entry and the new current revision.
    pub(crate) fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
        let kv_cf = self.cf(KV_CF)?;
        let mut batch = WriteBatch::default();
        for (key, state) in &commit.writes {
            match state {
                Some(kv) => batch.put_cf(kv_cf, key, encode_key_record(&KeyRecord::from_kv(kv))),
                None => batch.delete_cf(kv_cf, key),
            }
        }
        batch.put_cf(
            self.cf(LOG_CF)?,
            revision_key(commit.revision),
            encode_events(&commit.events),
        );
        batch.put_cf(
            self.cf(META_CF)?,
            REVISION_KEY,
            encode_counter(commit.revision),
        );
        self.write(batch, || format!("revision {}", commit.revision))
    }

    /// Durably removes log entries up to and including `revision` and records it as the
    /// compact revision.
    pub(crate) fn compact(&self, revision: u64) -> Result<(), StoreError> {
        let log_cf = self.cf(LOG_CF)?;
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(log_cf, revision_key(0), revision_key(revision));
        batch.delete_cf(log_cf, revision_key(revision));
        batch.put_cf(
            self.cf(META_CF)?,
            COMPACT_REVISION_KEY,
            encode_counter(revision),
        );
        self.write(batch, || format!("compaction at revision {revision}"))
    }

    fn write(&self, batch: WriteBatch, what: impl FnOnce() -> String) -> Result<(), StoreError> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db
            .write_opt(batch, &options)
            .map_err(|source| StoreError::Write {
                path: self.path.clone(),
                what: what(),
                source,
            })
    }

    /// Reads the meta counters, initialising them for a store that has never been written.
    fn load_meta(&self) -> Result<Meta, StoreError> {
        match self.read_meta(LAYOUT_VERSION_KEY)? {
            Some(LAYOUT_VERSION) => {}
            Some(found) => {
                return Err(StoreError::UnsupportedLayout {
                    path: self.path.clone(),
                    found,
                    expected: LAYOUT_VERSION,
                });
            }
            None if self.is_empty(KV_CF)? && self.is_empty(LOG_CF)? => {
                return self.initialise();
            }
            None => return Err(self.missing_meta(LAYOUT_VERSION_KEY)),
        }
        let revision = self
            .read_meta(REVISION_KEY)?
            .ok_or_else(|| self.missing_meta(REVISION_KEY))?;
        let compact_revision = self
            .read_meta(COMPACT_REVISION_KEY)?
            .ok_or_else(|| self.missing_meta(COMPACT_REVISION_KEY))?;
        Ok(Meta {
            revision,
            compact_revision,
        })
    }

    fn initialise(&self) -> Result<Meta, StoreError> {
        let meta_cf = self.cf(META_CF)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(meta_cf, LAYOUT_VERSION_KEY, encode_counter(LAYOUT_VERSION));
        batch.put_cf(meta_cf, REVISION_KEY, encode_counter(0));
        batch.put_cf(meta_cf, COMPACT_REVISION_KEY, encode_counter(0));
        self.write(batch, || "initial metadata".to_owned())?;
        Ok(Meta {
            revision: 0,
            compact_revision: 0,
        })
    }

    /// Decodes every live record and the newest log entry and checks them against `meta`.
    fn verify(&self, meta: Meta) -> Result<(), StoreError> {
        if meta.compact_revision > meta.revision {
            return Err(self.inconsistent(format!(
                "compact revision {} is after current revision {}",
                meta.compact_revision, meta.revision
            )));
        }
        for item in self.db.iterator_cf(self.cf(KV_CF)?, IteratorMode::Start) {
            let (key, value) = item.map_err(|source| self.read_error(KV_CF, source))?;
            let kv = self.decode_kv(key.to_vec(), &value)?;
            if kv.mod_revision > meta.revision || kv.create_revision > kv.mod_revision {
                return Err(self.inconsistent(format!(
                    "key `{}` has create revision {} and mod revision {} but the store is at revision {}",
                    display_key(&kv.key),
                    kv.create_revision,
                    kv.mod_revision,
                    meta.revision
                )));
            }
        }
        let newest = self
            .db
            .iterator_cf(self.cf(LOG_CF)?, IteratorMode::End)
            .next()
            .transpose()
            .map_err(|source| self.read_error(LOG_CF, source))?;
        let newest_revision = match newest {
            Some((key, value)) => {
                self.decode_log(&key, &value)?;
                Some(self.decode_log_key(&key)?)
            }
            None => None,
        };
        let expected = (meta.revision > meta.compact_revision).then_some(meta.revision);
        if newest_revision != expected {
            return Err(self.inconsistent(format!(
                "newest log entry is {newest_revision:?} but the current revision is {} (compacted through {})",
                meta.revision, meta.compact_revision
            )));
        }
        Ok(())
    }

    fn read_meta(&self, field: &'static str) -> Result<Option<u64>, StoreError> {
        self.db
            .get_cf(self.cf(META_CF)?, field)
            .map_err(|source| self.read_error(META_CF, source))?
            .map(|bytes| self.decode_meta(field, &bytes))
            .transpose()
    }

    fn is_empty(&self, name: &'static str) -> Result<bool, StoreError> {
        let first = self
            .db
            .iterator_cf(self.cf(name)?, IteratorMode::Start)
            .next();
        match first {
            None => Ok(true),
            Some(Ok(_)) => Ok(false),
            Some(Err(source)) => Err(self.read_error(name, source)),
        }
    }

    fn cf(&self, name: &'static str) -> Result<&ColumnFamily, StoreError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StoreError::MissingColumnFamily {
                path: self.path.clone(),
                name,
            })
    }

    fn decode_kv(&self, key: Vec<u8>, bytes: &[u8]) -> Result<KeyValue, StoreError> {
        match decode_key_record(bytes) {
            Ok(record) => Ok(record.into_kv(key)),
            Err(source) => Err(self.corrupt(KV_CF, &key, source)),
        }
    }

    fn decode_log(&self, key: &[u8], bytes: &[u8]) -> Result<Vec<Event>, StoreError> {
        let revision = self.decode_log_key(key)?;
        let events = decode_events(bytes).map_err(|source| self.corrupt(LOG_CF, key, source))?;
        if events.is_empty() || events.iter().any(|e| e.revision() != revision) {
            return Err(self.inconsistent(format!(
                "log entry of revision {revision} holds events of other revisions or none"
            )));
        }
        Ok(events)
    }

    fn decode_log_key(&self, key: &[u8]) -> Result<u64, StoreError> {
        decode_revision_key(key).map_err(|source| self.corrupt(LOG_CF, key, source))
    }

    fn decode_meta(&self, field: &'static str, bytes: &[u8]) -> Result<u64, StoreError> {
        decode_counter(bytes).map_err(|source| self.corrupt(META_CF, field.as_bytes(), source))
    }

    fn corrupt(&self, column_family: &'static str, key: &[u8], source: RecordError) -> StoreError {
        StoreError::CorruptRecord {
            path: self.path.clone(),
            column_family,
            key: display_key(key),
            source,
        }
    }

    fn read_error(&self, column_family: &'static str, source: rocksdb::Error) -> StoreError {
        StoreError::Read {
            path: self.path.clone(),
            column_family,
            source,
        }
    }

    fn missing_meta(&self, field: &'static str) -> StoreError {
        StoreError::MissingMeta {
            path: self.path.clone(),
            field,
        }
    }

    fn inconsistent(&self, detail: String) -> StoreError {
        StoreError::Inconsistent {
            path: self.path.clone(),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use std::collections::BTreeMap;

    fn commit_put(engine: &Engine, revision: u64, key: &[u8], value: &[u8]) {
        let kv = KeyValue {
            key: key.to_vec(),
            value: value.to_vec(),
            create_revision: revision,
            mod_revision: revision,
            version: 1,
        };
        let commit = Commit {
            revision,
            writes: BTreeMap::from([(key.to_vec(), Some(kv.clone()))]),
            events: vec![Event {
                kind: EventKind::Put,
                kv,
                prev: None,
            }],
        };
        engine.commit(&commit).expect("commit");
    }

    /// Writes raw bytes into a column family of a closed store, as a disk fault would.
    fn poke(dir: &Path, column_family: &str, key: &[u8], value: &[u8]) {
        let options = Options::default();
        let db = DB::open_cf(&options, dir, [KV_CF, LOG_CF, META_CF]).expect("raw open");
        let cf = db.cf_handle(column_family).expect("cf");
        db.put_cf(cf, key, value).expect("raw put");
    }

    #[test]
    fn fresh_store_starts_at_revision_zero_and_reopens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (engine, meta) = Engine::open(dir.path()).expect("open");
        assert_eq!(
            meta,
            Meta {
                revision: 0,
                compact_revision: 0
            }
        );
        commit_put(&engine, 1, b"a", b"1");
        drop(engine);
        let (engine, meta) = Engine::open(dir.path()).expect("reopen");
        assert_eq!(meta.revision, 1);
        assert_eq!(
            engine.get(b"a").expect("get").map(|kv| kv.value),
            Some(b"1".to_vec())
        );
        assert_eq!(engine.history(b"", 0).expect("history").len(), 1);
    }

    #[test]
    fn corrupt_key_record_fails_open_naming_path_and_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (engine, _) = Engine::open(dir.path()).expect("open");
        commit_put(&engine, 1, b"pods/web", b"1");
        drop(engine);
        poke(dir.path(), KV_CF, b"pods/web", &[1, 0, 0]);
        let Err(error) = Engine::open(dir.path()) else {
            panic!("corrupt store opened");
        };
        match &error {
            StoreError::CorruptRecord {
                path,
                column_family,
                key,
                source: RecordError::Truncated { .. },
            } => {
                assert_eq!(path, dir.path());
                assert_eq!(*column_family, KV_CF);
                assert_eq!(key, "pods/web");
            }
            other => panic!("unexpected {other:?}"),
        }
        let message = error.to_string();
        assert!(message.contains("pods/web"), "{message}");
        assert!(
            message.contains(&dir.path().display().to_string()),
            "{message}"
        );
    }

    #[test]
    fn corrupt_log_and_meta_fail_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (engine, _) = Engine::open(dir.path()).expect("open");
        commit_put(&engine, 1, b"a", b"1");
        drop(engine);
        poke(dir.path(), LOG_CF, &revision_key(1), &[1, 0xff]);
        assert!(matches!(
            Engine::open(dir.path()),
            Err(StoreError::CorruptRecord {
                column_family: LOG_CF,
                ..
            })
        ));

        let dir = tempfile::tempdir().expect("tempdir");
        drop(Engine::open(dir.path()).expect("open"));
        poke(dir.path(), META_CF, REVISION_KEY.as_bytes(), &[2]);
        assert!(matches!(
            Engine::open(dir.path()),
            Err(StoreError::CorruptRecord {
                column_family: META_CF,
                ..
            })
        ));
    }

    #[test]
    fn lost_revision_counter_is_detected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (engine, _) = Engine::open(dir.path()).expect("open");
        commit_put(&engine, 1, b"a", b"1");
        commit_put(&engine, 2, b"b", b"2");
        drop(engine);
        poke(
            dir.path(),
            META_CF,
            REVISION_KEY.as_bytes(),
            &encode_counter(1),
        );
        assert!(matches!(
            Engine::open(dir.path()),
            Err(StoreError::Inconsistent { .. })
        ));
    }

    #[test]
    fn damaged_rocksdb_files_fail_open_with_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (engine, _) = Engine::open(dir.path()).expect("open");
        commit_put(&engine, 1, b"a", b"1");
        drop(engine);
        std::fs::write(dir.path().join("CURRENT"), b"garbage").expect("damage");
        match Engine::open(dir.path()) {
            Err(StoreError::Open { path, .. }) => assert_eq!(path, dir.path()),
            Err(other) => panic!("unexpected {other:?}"),
            Ok(_) => panic!("damaged store opened"),
        }
    }

    #[test]
    fn data_without_metadata_is_not_silently_reinitialised() {
        let dir = tempfile::tempdir().expect("tempdir");
        drop(Engine::open(dir.path()).expect("open"));
        poke(
            dir.path(),
            KV_CF,
            b"orphan",
            &encode_key_record(&KeyRecord {
                value: vec![],
                create_revision: 1,
                mod_revision: 1,
                version: 1,
            }),
        );
        let options = Options::default();
        {
            let db = DB::open_cf(&options, dir.path(), [KV_CF, LOG_CF, META_CF]).expect("raw");
            let cf = db.cf_handle(META_CF).expect("cf");
            db.delete_cf(cf, LAYOUT_VERSION_KEY).expect("delete");
        }
        assert!(matches!(
            Engine::open(dir.path()),
            Err(StoreError::MissingMeta {
                field: LAYOUT_VERSION_KEY,
                ..
            })
        ));
    }

    #[test]
    fn compaction_drops_log_up_to_revision() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (engine, _) = Engine::open(dir.path()).expect("open");
        for revision in 1..=4 {
            commit_put(&engine, revision, format!("k{revision}").as_bytes(), b"v");
        }
        engine.compact(2).expect("compact");
        let revisions: Vec<u64> = engine
            .history(b"", 0)
            .expect("history")
            .iter()
            .map(Event::revision)
            .collect();
        assert_eq!(revisions, vec![3, 4]);
        drop(engine);
        let (_, meta) = Engine::open(dir.path()).expect("reopen");
        assert_eq!(
            meta,
            Meta {
                revision: 4,
                compact_revision: 2
            }
        );
    }
}
