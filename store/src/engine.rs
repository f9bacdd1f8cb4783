//! The RocksDB layer: moves bytes between the store's column families and typed records.
//!
//! It holds no MVCC logic. Layout:
//! - `kv`: user key -> current [`KeyRecord`] of the live key;
//! - `log`: revision (8 bytes big-endian) -> commit time and the events of that revision, with
//!   prev values (the history watchers and past-revision reads are served from);
//! - `lease`: lease id (8 bytes big-endian) -> its TTL and absolute deadline;
//! - `meta`: `layout_version`, `revision`, `compact_revision`, `next_lease_id`, `no_space`.
//!
//! Writes are staged into a [`WriteBatch`] by the writer thread and written with
//! `sync = true`, so a revision is either fully on disk or not at all, and the current
//! revision lives in the same batch as the data it describes. Opening an existing store
//! verifies every live record, every lease and that the log holds exactly the revisions after
//! the compact revision, so corruption is reported at startup with the path, file or key
//! instead of surfacing later as a silently wrong or empty store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, Direction, IteratorMode, Options,
    ReadOptions, SnapshotWithThreadMode, WriteBatch, WriteOptions,
};

use crate::error::{StoreError, display_key};
use crate::event::Event;
use crate::kv::KeyValue;
use crate::lease::{LeaseId, LeaseRecord};
use crate::mvcc::{Commit, ReadSet, View};
use crate::range::KeyRange;
use crate::record::{
    KeyRecord, RecordError, decode_counter, decode_key_record, decode_log, decode_log_time,
    decode_revision_key, encode_counter, encode_key_record, encode_lease_record, encode_log,
    revision_key,
};

use verify::{describe_manifest, has_database};
pub(crate) use view::Snapshot;

pub(crate) const KV_CF: &str = "kv";
pub(crate) const LOG_CF: &str = "log";
pub(crate) const LEASE_CF: &str = "lease";
pub(crate) const META_CF: &str = "meta";
/// Every column family, in the order snapshots list them.
pub(crate) const FAMILIES: [&str; 4] = [KV_CF, LOG_CF, LEASE_CF, META_CF];

const LAYOUT_VERSION_KEY: &str = "layout_version";
const REVISION_KEY: &str = "revision";
const COMPACT_REVISION_KEY: &str = "compact_revision";
const NEXT_LEASE_ID_KEY: &str = "next_lease_id";
const NO_SPACE_KEY: &str = "no_space";

/// The on-disk layout (column families, records and meta keys) this build writes.
const LAYOUT_VERSION: u64 = 2;

/// The counters the store keeps in `meta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    pub revision: u64,
    pub compact_revision: u64,
    pub next_lease_id: u64,
    pub no_space: bool,
}

/// What opening a store found besides the counters: leases and the keys attached to them.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub leases: BTreeMap<LeaseId, LeaseRecord>,
    pub leased_keys: Vec<(LeaseId, Vec<u8>)>,
}

/// An open RocksDB database in the store's layout.
pub(crate) struct Engine {
    db: DB,
    path: PathBuf,
}

impl Engine {
    /// Opens the store in `dir`, creating it only if the directory holds no database yet.
    pub(crate) fn open(dir: &Path) -> Result<(Engine, Meta, Loaded), StoreError> {
        let exists = has_database(dir)?;
        let engine = Engine::open_raw(dir, !exists)?;
        let meta = engine.load_meta()?;
        let loaded = engine.verify(meta)?;
        Ok((engine, meta, loaded))
    }

    /// Opens (or creates, if `create`) the database without reading the store's metadata.
    pub(crate) fn open_raw(dir: &Path, create: bool) -> Result<Engine, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(create);
        options.create_missing_column_families(create);
        options.set_paranoid_checks(true);
        options.set_compression_type(DBCompressionType::Lz4);
        let families = FAMILIES.map(|name| {
            let mut cf_options = Options::default();
            cf_options.set_compression_type(DBCompressionType::Lz4);
            ColumnFamilyDescriptor::new(name, cf_options)
        });
        // Described before opening: a failed open may already have replaced the manifest.
        let files = describe_manifest(dir);
        let db = DB::open_cf_descriptors(&options, dir, families).map_err(|source| {
            StoreError::Open {
                path: dir.to_path_buf(),
                files,
                source,
            }
        })?;
        Ok(Engine {
            db,
            path: dir.to_path_buf(),
        })
    }

    /// The directory the store lives in.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// A consistent, read-only view of the whole database.
    pub(crate) fn snapshot(&self) -> Snapshot<'_> {
        Snapshot {
            engine: self,
            inner: self.db.snapshot(),
        }
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

    /// Loads the current state of everything a transaction may read.
    pub(crate) fn load_view(&self, set: &ReadSet) -> Result<View, StoreError> {
        let mut view = View::new();
        for key in &set.keys {
            if let Some(kv) = self.get(key)? {
                view.insert(key.clone(), kv);
            }
        }
        for range in &set.ranges {
            self.scan(range, None, |kv| {
                view.insert(kv.key.clone(), kv);
            })?;
        }
        Ok(view)
    }

    /// Stages the writes of one revision, committed at `time_ms`: key states, its log entry
    /// and the new current revision.
    pub(crate) fn stage_commit(
        &self,
        batch: &mut WriteBatch,
        commit: &Commit,
        time_ms: u64,
    ) -> Result<(), StoreError> {
        let kv_cf = self.cf(KV_CF)?;
        for (key, state) in &commit.writes {
            match state {
                Some(kv) => batch.put_cf(kv_cf, key, encode_key_record(&KeyRecord::from_kv(kv))),
                None => batch.delete_cf(kv_cf, key),
            }
        }
        batch.put_cf(
            self.cf(LOG_CF)?,
            revision_key(commit.revision),
            encode_log(time_ms, &commit.events),
        );
        self.stage_meta(batch, REVISION_KEY, commit.revision)
    }

    /// Stages a granted or renewed lease and the next lease id.
    pub(crate) fn stage_lease(
        &self,
        batch: &mut WriteBatch,
        id: LeaseId,
        record: &LeaseRecord,
        next_id: u64,
    ) -> Result<(), StoreError> {
        batch.put_cf(
            self.cf(LEASE_CF)?,
            revision_key(id.0),
            encode_lease_record(record),
        );
        self.stage_meta(batch, NEXT_LEASE_ID_KEY, next_id)
    }

    /// Stages the removal of a revoked or expired lease.
    pub(crate) fn stage_lease_removal(
        &self,
        batch: &mut WriteBatch,
        id: LeaseId,
    ) -> Result<(), StoreError> {
        batch.delete_cf(self.cf(LEASE_CF)?, revision_key(id.0));
        Ok(())
    }

    /// Stages removing the log entries up to and including `revision` and recording it as
    /// the compact revision.
    pub(crate) fn stage_compaction(
        &self,
        batch: &mut WriteBatch,
        revision: u64,
    ) -> Result<(), StoreError> {
        let log_cf = self.cf(LOG_CF)?;
        batch.delete_range_cf(log_cf, revision_key(0), revision_key(revision));
        batch.delete_cf(log_cf, revision_key(revision));
        self.stage_meta(batch, COMPACT_REVISION_KEY, revision)
    }

    /// Stages raising (`true`) or clearing the `no space` alarm.
    pub(crate) fn stage_no_space(
        &self,
        batch: &mut WriteBatch,
        raised: bool,
    ) -> Result<(), StoreError> {
        self.stage_meta(batch, NO_SPACE_KEY, u64::from(raised))
    }

    /// Writes a staged batch and waits until it is synced to disk.
    pub(crate) fn write(&self, batch: WriteBatch) -> Result<(), rocksdb::Error> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db.write_opt(batch, &options)
    }

    /// Returns the space of the log entries up to `revision` to the file system, so compaction
    /// really frees it. A running store holds its recent history in the write-ahead log, and
    /// RocksDB deletes a write-ahead log file only once every column family's data in it is in
    /// table files: so every family is flushed first, then the log's table files are rewritten
    /// without the compacted entries.
    pub(crate) fn reclaim_log(&self, revision: u64) -> Result<(), StoreError> {
        self.flush_all()?;
        let end = revision_key(revision.saturating_add(1));
        self.db
            .compact_range_cf(self.cf(LOG_CF)?, None::<&[u8]>, Some(end));
        Ok(())
    }

    /// Flushes every memtable and rewrites every column family, dropping deleted keys and
    /// compacted history for good (etcd's defragment). Costs a full rewrite of the data.
    pub(crate) fn defragment(&self) -> Result<(), StoreError> {
        self.flush_all()?;
        for name in FAMILIES {
            self.db
                .compact_range_cf(self.cf(name)?, None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }

    /// Writes every memtable to table files, waiting until done.
    fn flush_all(&self) -> Result<(), StoreError> {
        for name in FAMILIES {
            self.db
                .flush_cf(self.cf(name)?)
                .map_err(|source| StoreError::Write {
                    path: self.path.clone(),
                    what: format!("a flush of column family `{name}`"),
                    source,
                })?;
        }
        Ok(())
    }

    /// The newest revision after `after` and at most `up_to` committed at or before
    /// `cutoff_ms`, found by bisecting the log (commit times only grow, see the writer).
    pub(crate) fn newest_revision_before(
        &self,
        cutoff_ms: u64,
        after: u64,
        up_to: u64,
    ) -> Result<Option<u64>, StoreError> {
        let (mut low, mut high) = (after, up_to);
        while low < high {
            let middle = low + (high - low).div_ceil(2);
            if self.commit_time(middle)? <= cutoff_ms {
                low = middle;
            } else {
                high = middle - 1;
            }
        }
        Ok((low > after).then_some(low))
    }

    /// When `revision` was committed, from its log entry.
    pub(crate) fn commit_time(&self, revision: u64) -> Result<u64, StoreError> {
        let key = revision_key(revision);
        let bytes = self
            .db
            .get_cf(self.cf(LOG_CF)?, key)
            .map_err(|source| self.read_error(LOG_CF, source))?
            .ok_or_else(|| {
                self.inconsistent(format!("log entry of revision {revision} is missing"))
            })?;
        decode_log_time(&bytes).map_err(|source| self.corrupt(LOG_CF, &key, source))
    }

    /// Bytes the data directory takes on disk: data, write-ahead logs and manifests, not
    /// RocksDB's informational `LOG` files (they hold no data and only grow).
    pub(crate) fn disk_usage(&self) -> Result<u64, StoreError> {
        let io = |source| StoreError::Io {
            action: "measuring the size of",
            path: self.path.clone(),
            source,
        };
        let mut total = 0;
        for entry in std::fs::read_dir(&self.path).map_err(io)? {
            let entry = entry.map_err(io)?;
            if entry.file_name().to_string_lossy().starts_with("LOG") {
                continue;
            }
            // RocksDB deletes obsolete files (old WALs, manifests) while it runs: a file that
            // vanished since the listing takes no space.
            let metadata = match entry.metadata() {
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                metadata => metadata.map_err(io)?,
            };
            if metadata.is_file() {
                total += metadata.len();
            }
        }
        Ok(total)
    }

    /// Stores a raw record, as a restore does; the database is verified when reopened.
    pub(crate) fn stage_raw(
        &self,
        batch: &mut WriteBatch,
        family: &'static str,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), StoreError> {
        batch.put_cf(self.cf(family)?, key, value);
        Ok(())
    }

    /// Calls `visit` with every live key of `range`, in key order, read from `snapshot` or
    /// the latest state.
    fn scan(
        &self,
        range: &KeyRange,
        snapshot: Option<&SnapshotWithThreadMode<'_, DB>>,
        mut visit: impl FnMut(KeyValue),
    ) -> Result<(), StoreError> {
        let cf = self.cf(KV_CF)?;
        let mode = IteratorMode::From(range.start(), Direction::Forward);
        let iter = match snapshot {
            Some(snapshot) => snapshot.iterator_cf(cf, mode),
            None => self.db.iterator_cf(cf, mode),
        };
        for item in iter {
            let (key, value) = item.map_err(|source| self.read_error(KV_CF, source))?;
            if !range.is_before_end(&key) {
                break;
            }
            if range.contains(&key) {
                visit(self.decode_kv(key.to_vec(), &value)?);
            }
        }
        Ok(())
    }

    fn stage_meta(
        &self,
        batch: &mut WriteBatch,
        field: &'static str,
        value: u64,
    ) -> Result<(), StoreError> {
        batch.put_cf(self.cf(META_CF)?, field, encode_counter(value));
        Ok(())
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
            None => {
                for family in FAMILIES {
                    if !self.is_empty(family)? {
                        return Err(self.missing_meta(LAYOUT_VERSION_KEY));
                    }
                }
                return self.initialise();
            }
        }
        let field = |name| self.read_meta(name)?.ok_or_else(|| self.missing_meta(name));
        Ok(Meta {
            revision: field(REVISION_KEY)?,
            compact_revision: field(COMPACT_REVISION_KEY)?,
            next_lease_id: field(NEXT_LEASE_ID_KEY)?,
            no_space: field(NO_SPACE_KEY)? != 0,
        })
    }

    fn initialise(&self) -> Result<Meta, StoreError> {
        let mut batch = WriteBatch::default();
        for (field, value) in [
            (LAYOUT_VERSION_KEY, LAYOUT_VERSION),
            (REVISION_KEY, 0),
            (COMPACT_REVISION_KEY, 0),
            (NEXT_LEASE_ID_KEY, 1),
            (NO_SPACE_KEY, 0),
        ] {
            self.stage_meta(&mut batch, field, value)?;
        }
        self.write(batch).map_err(|source| StoreError::Write {
            path: self.path.clone(),
            what: "initial metadata".to_owned(),
            source,
        })?;
        Ok(Meta {
            revision: 0,
            compact_revision: 0,
            next_lease_id: 1,
            no_space: false,
        })
    }

    /// Iterates a whole column family without filling the block cache.
    fn full_scan(
        &self,
        name: &'static str,
    ) -> Result<rocksdb::DBIteratorWithThreadMode<'_, DB>, StoreError> {
        let mut options = ReadOptions::default();
        options.fill_cache(false);
        Ok(self
            .db
            .iterator_cf_opt(self.cf(name)?, options, IteratorMode::Start))
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
        let (_, events) = decode_log(bytes).map_err(|source| self.corrupt(LOG_CF, key, source))?;
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

mod verify;
mod view;

#[cfg(test)]
mod tests;
