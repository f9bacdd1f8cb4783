//! Snapshot files: one consistent copy of a live store in a single file, and restoring it.
//!
//! Our own format rather than a tar of a RocksDB checkpoint: it is read from one RocksDB
//! snapshot while the store keeps serving (no hard-link directory to manage, no tar
//! dependency), it is independent of RocksDB's file layout, and it ends in a CRC-32 of all
//! its bytes, so a damaged or truncated file is refused before anything is written. A restore
//! writes the records into a fresh database and then opens it the normal way, which verifies
//! every record again.
//!
//! Layout: `FLOTSNAP`, format version (1 byte), revision (u64 big-endian), then records
//! `family (1 byte, 1-based index into the column families), key length (u64), key, value
//! length (u64), value`, then a 0 byte, then the CRC-32 (u32 big-endian) of everything before.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};

use crate::engine::{Engine, FAMILIES};
use crate::error::StoreError;

const MAGIC: &[u8; 8] = b"FLOTSNAP";
const FORMAT_VERSION: u8 = 1;
const END: u8 = 0;
/// A restore writes (and syncs) the records in batches of about this many bytes.
const RESTORE_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// What a snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// The store's revision when the snapshot was taken.
    pub revision: u64,
    /// Records (keys, log entries, leases, metadata) in the file.
    pub records: u64,
    /// Size of the file.
    pub bytes: u64,
}

/// Writes a snapshot of `engine` to `file`, through a temporary file renamed into place once
/// it is complete and synced, so `file` is never a partial snapshot.
pub(crate) fn write(engine: &Engine, file: &Path) -> Result<SnapshotInfo, StoreError> {
    let temporary = temporary_path(file);
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io {
            action,
            path: path.clone(),
            source,
        }
    };
    let created = File::create(&temporary).map_err(io("creating snapshot file", &temporary))?;
    let mut out = Checksummed::new(BufWriter::new(created));
    let snapshot = engine.snapshot();
    let revision = snapshot.revision()?;
    let write_err = io("writing snapshot file", &temporary);
    let mut header = MAGIC.to_vec();
    header.push(FORMAT_VERSION);
    header.extend_from_slice(&revision.to_be_bytes());
    out.write_all(&header).map_err(&write_err)?;
    let mut records = 0u64;
    for (index, family) in FAMILIES.into_iter().enumerate() {
        let tag = u8::try_from(index + 1).unwrap_or(u8::MAX);
        snapshot.for_each_raw(family, |key, value| {
            records += 1;
            let mut record = vec![tag];
            record.extend_from_slice(&(key.len() as u64).to_be_bytes());
            record.extend_from_slice(key);
            record.extend_from_slice(&(value.len() as u64).to_be_bytes());
            out.write_all(&record)
                .map_err(io("writing snapshot file", &temporary))?;
            out.write_all(value)
                .map_err(io("writing snapshot file", &temporary))
        })?;
    }
    out.write_all(&[END]).map_err(&write_err)?;
    let (writer, crc) = out.finish();
    let mut writer = writer;
    writer.write_all(&crc.to_be_bytes()).map_err(&write_err)?;
    let file_handle = writer
        .into_inner()
        .map_err(|error| write_err(error.into_error()))?;
    file_handle
        .sync_all()
        .map_err(io("syncing snapshot file", &temporary))?;
    let bytes = file_handle
        .metadata()
        .map_err(io("reading snapshot file", &temporary))?
        .len();
    std::fs::rename(&temporary, file).map_err(io("renaming snapshot into", file))?;
    Ok(SnapshotInfo {
        revision,
        records,
        bytes,
    })
}

/// Rebuilds a store in `dir` from the snapshot `file`. `dir` must be missing or empty; the
/// file is checked completely before anything is written, and a failed restore leaves no
/// database behind.
pub(crate) fn restore(file: &Path, dir: &Path) -> Result<SnapshotInfo, StoreError> {
    let existed = match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(StoreError::RestoreTargetNotEmpty {
                    path: dir.to_path_buf(),
                });
            }
            true
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => false,
        Err(source) => {
            return Err(StoreError::Io {
                action: "listing the restore target",
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let info = read(file, |_, _, _| Ok(()))?;
    let result = fill(file, dir).and_then(|()| Engine::open(dir).map(drop));
    if let Err(error) = result {
        let cleanup = if existed {
            std::fs::remove_dir_all(dir).and_then(|()| std::fs::create_dir(dir))
        } else {
            std::fs::remove_dir_all(dir)
        };
        if let Err(cleanup) = cleanup {
            tracing::warn!(path = %dir.display(), %cleanup, "could not remove a failed restore");
        }
        return Err(error);
    }
    Ok(info)
}

/// Writes every record of the (already checked) snapshot into a new database in `dir`.
fn fill(file: &Path, dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
        action: "creating the restore target",
        path: dir.to_path_buf(),
        source,
    })?;
    let engine = Engine::open_raw(dir, true)?;
    let mut batch = WriteBatch::default();
    let flush = |batch: WriteBatch| {
        engine.write(batch).map_err(|source| StoreError::Write {
            path: dir.to_path_buf(),
            what: "restored records".to_owned(),
            source,
        })
    };
    read(file, |family, key, value| {
        engine.stage_raw(&mut batch, family, key, value)?;
        if batch.size_in_bytes() >= RESTORE_BATCH_BYTES {
            flush(std::mem::take(&mut batch))?;
        }
        Ok(())
    })?;
    flush(batch)
}

/// Parses the snapshot `file`, calling `visit` with each record, and checks its checksum.
fn read(
    file: &Path,
    mut visit: impl FnMut(&'static str, &[u8], &[u8]) -> Result<(), StoreError>,
) -> Result<SnapshotInfo, StoreError> {
    let opened = File::open(file).map_err(|source| StoreError::Io {
        action: "opening snapshot file",
        path: file.to_path_buf(),
        source,
    })?;
    let bytes = opened
        .metadata()
        .map_err(|source| StoreError::Io {
            action: "reading snapshot file",
            path: file.to_path_buf(),
            source,
        })?
        .len();
    let mut input = Input {
        reader: BufReader::new(opened),
        hasher: crc32fast::Hasher::new(),
        remaining: bytes,
        path: file.to_path_buf(),
    };
    let magic = input.take(MAGIC.len() as u64, "magic")?;
    if magic != MAGIC {
        return Err(input.bad("not a flotilla store snapshot".to_owned()));
    }
    let [version] = input.array::<1>("format version")?;
    if version != FORMAT_VERSION {
        return Err(input.bad(format!(
            "format version {version} is not supported (expected {FORMAT_VERSION})"
        )));
    }
    let revision = u64::from_be_bytes(input.array("revision")?);
    let mut records = 0u64;
    loop {
        let [tag] = input.array::<1>("record family")?;
        if tag == END {
            break;
        }
        let family = FAMILIES
            .get(usize::from(tag) - 1)
            .copied()
            .ok_or_else(|| input.bad(format!("record {records} has unknown family {tag}")))?;
        let key_len = u64::from_be_bytes(input.array("key length")?);
        let key = input.take(key_len, "key")?;
        let value_len = u64::from_be_bytes(input.array("value length")?);
        let value = input.take(value_len, "value")?;
        records += 1;
        // Records are applied only in the second pass, after the checksum was verified.
        visit(family, &key, &value)?;
    }
    let computed = input.hasher.clone().finalize();
    let mut stored = [0u8; 4];
    input
        .reader
        .read_exact(&mut stored)
        .map_err(|_| input.bad("the checksum is missing (truncated file)".to_owned()))?;
    if input.remaining != 4 {
        return Err(input.bad(format!(
            "{} unexpected bytes after the checksum",
            input.remaining.saturating_sub(4)
        )));
    }
    let stored = u32::from_be_bytes(stored);
    if stored != computed {
        return Err(input.bad(format!(
            "checksum mismatch: file says {stored:08x}, content gives {computed:08x}"
        )));
    }
    Ok(SnapshotInfo {
        revision,
        records,
        bytes,
    })
}

/// A reader that checksums what it hands out and never reads past the file's length.
struct Input {
    reader: BufReader<File>,
    hasher: crc32fast::Hasher,
    remaining: u64,
    path: PathBuf,
}

impl Input {
    fn take(&mut self, len: u64, field: &str) -> Result<Vec<u8>, StoreError> {
        if len > self.remaining {
            return Err(self.bad(format!(
                "truncated in {field}: needs {len} bytes, {} left",
                self.remaining
            )));
        }
        let mut buffer = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
        self.reader
            .read_exact(&mut buffer)
            .map_err(|source| StoreError::Io {
                action: "reading snapshot file",
                path: self.path.clone(),
                source,
            })?;
        self.remaining -= len;
        self.hasher.update(&buffer);
        Ok(buffer)
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], StoreError> {
        let bytes = self.take(N as u64, field)?;
        <[u8; N]>::try_from(bytes).map_err(|_| self.bad(format!("short {field}")))
    }

    fn bad(&self, detail: String) -> StoreError {
        StoreError::BadSnapshot {
            path: self.path.clone(),
            detail,
        }
    }
}

/// A writer that checksums everything written through it.
struct Checksummed<W> {
    inner: W,
    hasher: crc32fast::Hasher,
}

impl<W: Write> Checksummed<W> {
    fn new(inner: W) -> Checksummed<W> {
        Checksummed {
            inner,
            hasher: crc32fast::Hasher::new(),
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hasher.update(bytes);
        self.inner.write_all(bytes)
    }

    fn finish(self) -> (W, u32) {
        (self.inner, self.hasher.finalize())
    }
}

fn temporary_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    file.with_file_name(name)
}
