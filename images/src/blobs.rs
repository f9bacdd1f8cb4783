//! Blobs named by their digest. A blob is written under `ingest/`, synced, checked against the
//! digest and size it is expected to have, and only then renamed to `blobs/sha256/HEX`: a
//! name under `blobs/` always holds exactly the bytes its digest says.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::digest::{Digest, Hasher};
use crate::error::ImageError;

/// What a blob is expected to be, when the writer knows.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub digest: Option<&'a Digest>,
    pub size: Option<u64>,
}

impl Expected<'_> {
    pub const NOTHING: Expected<'static> = Expected {
        digest: None,
        size: None,
    };
}

/// The blobs under one directory.
#[derive(Debug)]
pub struct BlobStore {
    blobs: PathBuf,
    ingest: PathBuf,
    next_ingest: AtomicU64,
}

impl BlobStore {
    /// Opens (creating) the blob directories under `root` and removes what an interrupted
    /// write left in `ingest/`.
    pub fn open(root: &Path) -> Result<BlobStore, ImageError> {
        let blobs = root.join("blobs").join("sha256");
        let ingest = root.join("ingest");
        fs::create_dir_all(&blobs).map_err(ImageError::io(&blobs))?;
        if ingest.exists() {
            fs::remove_dir_all(&ingest).map_err(ImageError::io(&ingest))?;
        }
        fs::create_dir_all(&ingest).map_err(ImageError::io(&ingest))?;
        Ok(BlobStore {
            blobs,
            ingest,
            next_ingest: AtomicU64::new(0),
        })
    }

    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    /// Where the store in `root` keeps the blob `digest`, for a reader that does not hold the
    /// store (a pull looking for what it need not download).
    pub fn path_in(root: &Path, digest: &Digest) -> PathBuf {
        root.join("blobs").join("sha256").join(digest.hex())
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// The size of a stored blob.
    pub fn size(&self, digest: &Digest) -> Result<u64, ImageError> {
        let path = self.path(digest);
        Ok(fs::metadata(&path).map_err(ImageError::io(&path))?.len())
    }

    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, ImageError> {
        let path = self.path(digest);
        fs::read(&path).map_err(ImageError::io(&path))
    }

    /// Writes `content` as a blob named by its digest, after checking it is what `expected`
    /// says; `what` names it in errors. Returns its digest and size, and whether it is new
    /// (a blob already stored is left as it was).
    pub fn write(
        &self,
        what: &str,
        content: &mut dyn Read,
        expected: Expected<'_>,
    ) -> Result<(Digest, u64, bool), ImageError> {
        let n = self.next_ingest.fetch_add(1, Ordering::Relaxed);
        let staging = self.ingest.join(format!("{}-{n}", std::process::id()));
        let result = self.write_staged(what, content, expected, &staging);
        if staging.exists() {
            // Nothing useful is left in a staging file once the write is decided.
            let _ = fs::remove_file(&staging);
        }
        result
    }

    fn write_staged(
        &self,
        what: &str,
        content: &mut dyn Read,
        expected: Expected<'_>,
        staging: &Path,
    ) -> Result<(Digest, u64, bool), ImageError> {
        let file = File::create(staging).map_err(ImageError::io(staging))?;
        let mut hasher = Hasher::new(file);
        io::copy(content, &mut hasher).map_err(|source| read_error(what, source))?;
        hasher.flush().map_err(ImageError::io(staging))?;
        let (digest, size, file) = hasher.finish();
        self.settle(what, staging, &file, (digest, size), expected)
    }

    /// Moves the file at `staged` (on the store's file system: a pull's download) into the
    /// store as a blob, after checking its content is what `expected` says, as [`Self::write`]
    /// does. Returns the same; a blob already stored is left as it was, and so is `staged`.
    pub fn adopt(
        &self,
        what: &str,
        staged: &Path,
        expected: Expected<'_>,
    ) -> Result<(Digest, u64, bool), ImageError> {
        let mut file = File::open(staged).map_err(ImageError::io(staged))?;
        let mut hasher = Hasher::new(io::sink());
        io::copy(&mut file, &mut hasher).map_err(ImageError::io(staged))?;
        let (digest, size, _) = hasher.finish();
        self.settle(what, staged, &file, (digest, size), expected)
    }

    /// Checks the content at `staged` (open as `file`, with this digest and size) against
    /// `expected` and renames it to its name, once synced, unless that is stored already.
    fn settle(
        &self,
        what: &str,
        staged: &Path,
        file: &File,
        (digest, size): (Digest, u64),
        expected: Expected<'_>,
    ) -> Result<(Digest, u64, bool), ImageError> {
        if let Some(wanted) = expected.size.filter(|&wanted| wanted != size) {
            return Err(ImageError::SizeMismatch {
                what: what.to_string(),
                expected: wanted,
                actual: size,
            });
        }
        if let Some(wanted) = expected.digest.filter(|&wanted| *wanted != digest) {
            return Err(ImageError::DigestMismatch {
                what: what.to_string(),
                digest: wanted.to_string(),
                actual: digest.hex().to_string(),
            });
        }
        let target = self.path(&digest);
        if target.is_file() {
            return Ok((digest, size, false));
        }
        file.sync_all().map_err(ImageError::io(staged))?;
        fs::rename(staged, &target).map_err(ImageError::io(&target))?;
        Ok((digest, size, true))
    }

    /// Removes a blob; one already gone is not an error.
    pub fn remove(&self, digest: &Digest) -> Result<(), ImageError> {
        let path = self.path(digest);
        match fs::remove_file(&path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(ImageError::Io {
                path,
                source: error,
            }),
            _ => Ok(()),
        }
    }

    /// Every stored blob.
    pub fn list(&self) -> Result<Vec<Digest>, ImageError> {
        let entries = fs::read_dir(&self.blobs).map_err(ImageError::io(&self.blobs))?;
        let mut digests = Vec::new();
        for entry in entries {
            let entry = entry.map_err(ImageError::io(&self.blobs))?;
            if let Some(digest) = entry.file_name().to_str().and_then(Digest::from_hex) {
                digests.push(digest);
            }
        }
        digests.sort();
        Ok(digests)
    }
}

/// A read from an archive that failed: the archive is cut short or unreadable.
fn read_error(what: &str, source: io::Error) -> ImageError {
    ImageError::Archive(format!("reading {what}: {source}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_is_stored_under_its_digest_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let (digest, size, new) = store
            .write("greeting", &mut &b"hello"[..], Expected::NOTHING)
            .unwrap();
        assert_eq!((digest.clone(), size, new), (Digest::of(b"hello"), 5, true));
        assert_eq!(store.read(&digest).unwrap(), b"hello");
        let (_, _, again) = store
            .write("greeting", &mut &b"hello"[..], Expected::NOTHING)
            .unwrap();
        assert!(!again);
        assert_eq!(store.list().unwrap(), vec![digest]);
    }

    #[test]
    fn content_that_is_not_what_was_expected_is_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let other = Digest::of(b"other");
        let wrong_digest = Expected {
            digest: Some(&other),
            size: None,
        };
        let error = store
            .write("layer 1", &mut &b"hello"[..], wrong_digest)
            .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with(&format!("layer 1: {other} does not match")),
            "{error}"
        );
        let wrong_size = Expected {
            digest: None,
            size: Some(6),
        };
        let error = store
            .write("layer 1", &mut &b"hello"[..], wrong_size)
            .unwrap_err();
        assert_eq!(error.to_string(), "layer 1: expected 6 bytes, got 5");
        assert!(store.list().unwrap().is_empty());
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
    }

    #[test]
    fn an_adopted_file_is_checked_then_moved_in() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let staged = dir.path().join("download");
        fs::write(&staged, b"layer").unwrap();
        let other = Digest::of(b"other");
        let wrong = Expected {
            digest: Some(&other),
            size: Some(5),
        };
        assert!(matches!(
            store.adopt("layer 0", &staged, wrong),
            Err(ImageError::DigestMismatch { .. })
        ));
        assert!(staged.is_file() && store.list().unwrap().is_empty());
        let digest = Digest::of(b"layer");
        let right = Expected {
            digest: Some(&digest),
            size: Some(5),
        };
        let adopted = store.adopt("layer 0", &staged, right).unwrap();
        assert_eq!(adopted, (digest.clone(), 5, true));
        assert!(!staged.exists());
        assert_eq!(store.read(&digest).unwrap(), b"layer");
    }

    #[test]
    fn opening_clears_what_an_interrupted_write_left() {
        let dir = tempfile::tempdir().unwrap();
        BlobStore::open(dir.path()).unwrap();
        fs::write(dir.path().join("ingest").join("123-0"), b"half").unwrap();
        BlobStore::open(dir.path()).unwrap();
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
    }
}
