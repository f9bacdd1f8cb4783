//! Checks run when a store is opened, so a damaged data directory fails loudly (naming the
//! path, file or key) instead of serving a silently wrong or empty store.

use std::path::Path;

use super::{Engine, KV_CF, LEASE_CF, LOG_CF, Loaded, Meta};
use crate::error::{StoreError, display_key};
use crate::lease::LeaseId;
use crate::record::{decode_lease_record, decode_revision_key};

impl Engine {
    /// Decodes every live record, every lease and every log key, checking them against `meta`.
    pub(super) fn verify(&self, meta: Meta) -> Result<Loaded, StoreError> {
        if meta.compact_revision > meta.revision {
            return Err(self.inconsistent(format!(
                "compact revision {} is after current revision {}",
                meta.compact_revision, meta.revision
            )));
        }
        let mut loaded = Loaded::default();
        for item in self.full_scan(LEASE_CF)? {
            let (key, value) = item.map_err(|source| self.read_error(LEASE_CF, source))?;
            let id =
                decode_revision_key(&key).map_err(|source| self.corrupt(LEASE_CF, &key, source))?;
            let record = decode_lease_record(&value)
                .map_err(|source| self.corrupt(LEASE_CF, &key, source))?;
            loaded.leases.insert(LeaseId(id), record);
        }
        for item in self.full_scan(KV_CF)? {
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
            if let Some(lease) = kv.lease {
                if !loaded.leases.contains_key(&lease) {
                    return Err(self.inconsistent(format!(
                        "key `{}` is attached to lease {lease}, which does not exist",
                        display_key(&kv.key)
                    )));
                }
                loaded.leased_keys.push((lease, kv.key));
            }
        }
        self.verify_log(meta)?;
        Ok(loaded)
    }

    /// The log must hold exactly the revisions after the compact revision, each decodable.
    fn verify_log(&self, meta: Meta) -> Result<(), StoreError> {
        let mut expected = meta.compact_revision + 1;
        for item in self.full_scan(LOG_CF)? {
            let (key, value) = item.map_err(|source| self.read_error(LOG_CF, source))?;
            let revision = self.decode_log_key(&key)?;
            if revision != expected {
                return Err(self.inconsistent(format!(
                    "log holds revision {revision} where revision {expected} was expected (compacted through {}, current {})",
                    meta.compact_revision, meta.revision
                )));
            }
            if revision == meta.revision {
                self.decode_log(&key, &value)?;
            }
            expected += 1;
        }
        if expected != meta.revision + 1 {
            return Err(self.inconsistent(format!(
                "log ends at revision {} but the current revision is {} (compacted through {})",
                expected - 1,
                meta.revision,
                meta.compact_revision
            )));
        }
        Ok(())
    }
}

/// Which manifest the `CURRENT` file of `dir` names, and whether it is there, for an error
/// message about a database that would not open.
pub(super) fn describe_manifest(dir: &Path) -> String {
    let current = match std::fs::read(dir.join("CURRENT")) {
        Ok(current) => current,
        Err(error) => return format!("its CURRENT file is unreadable: {error}"),
    };
    let named = String::from_utf8_lossy(&current).trim().to_owned();
    if named.is_empty() || named.contains('/') || !named.starts_with("MANIFEST-") {
        return format!(
            "its CURRENT file names `{}`, not a manifest",
            named.escape_debug()
        );
    }
    match std::fs::metadata(dir.join(&named)) {
        Ok(metadata) => format!("CURRENT names {named}, {} bytes", metadata.len()),
        Err(error) => format!("CURRENT names {named}, which is unreadable: {error}"),
    }
}

/// Whether `dir` holds a database. A directory with RocksDB data files but no `CURRENT` file
/// is damaged: opening it with `create_if_missing` would start an empty store over it.
pub(super) fn has_database(dir: &Path) -> Result<bool, StoreError> {
    if dir.join("CURRENT").exists() {
        return Ok(true);
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(StoreError::Io {
                action: "listing the data directory",
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    for entry in entries {
        let entry = entry.map_err(|source| StoreError::Io {
            action: "listing the data directory",
            path: dir.to_path_buf(),
            source,
        })?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("MANIFEST-") || name.ends_with(".sst") || name.ends_with(".log") {
            return Err(StoreError::MissingFile {
                path: dir.to_path_buf(),
                file: "CURRENT",
            });
        }
    }
    Ok(false)
}
