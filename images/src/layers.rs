//! Layers unpacked once, as overlayfs lower directories: `layers/sha256/DIFF_ID` holds a
//! layer's files, with the image's whiteouts in overlayfs's own form, so that a container's
//! root is an overlay mount of its image's layer directories (topmost first) and nothing is
//! copied per container.
//!
//! A layer blob may be a plain, gzip or zstd tar; what is unpacked is checked against the
//! `diff_id` the image's config gives (the digest of the uncompressed tar), and appears under
//! its name only once whole (unpacked aside, then renamed). Whiteouts (`.wh.NAME` hides NAME of
//! the layers below; `.wh..wh..opq` hides everything below in its directory) become a 0/0
//! character device and the `trusted.overlay.opaque` attribute, which needs root: the node
//! agent runs as root.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use nix::sys::stat::{Mode, SFlag, makedev, mknod};

use crate::digest::{Digest, Hasher};
use crate::error::ImageError;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What a layer entry means for overlayfs.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A file, directory or link to unpack as is.
    Plain,
    /// `.wh.NAME`: NAME in the layers below is deleted.
    Whiteout { name: &'a str },
    /// `.wh..wh..opq`: the directory hides what the layers below hold in it.
    Opaque,
}

/// Classifies the entry at `path` of a layer.
pub fn classify(path: &Path) -> Entry<'_> {
    let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
        return Entry::Plain;
    };
    if name == OPAQUE_WHITEOUT {
        Entry::Opaque
    } else if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
        Entry::Whiteout { name: hidden }
    } else {
        Entry::Plain
    }
}

/// The unpacked layers of a store.
#[derive(Debug)]
pub struct Layers {
    root: PathBuf,
    staging: PathBuf,
}

impl Layers {
    /// The layer directories under `root`; what an interrupted unpack left is removed.
    pub fn open(root: &Path) -> Result<Layers, ImageError> {
        let layers = root.join("layers").join("sha256");
        let staging = root.join("layers").join("unpacking");
        fs::create_dir_all(&layers).map_err(ImageError::io(&layers))?;
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(ImageError::io(&staging))?;
        }
        fs::create_dir_all(&staging).map_err(ImageError::io(&staging))?;
        Ok(Layers {
            root: layers,
            staging,
        })
    }

    pub fn path(&self, diff_id: &Digest) -> PathBuf {
        self.root.join(diff_id.hex())
    }

    /// Unpacks the layer blob at `blob` unless the layer `diff_id` is unpacked already, and
    /// returns its directory.
    pub fn unpack(&self, blob: &Path, diff_id: &Digest) -> Result<PathBuf, ImageError> {
        let target = self.path(diff_id);
        if target.is_dir() {
            return Ok(target);
        }
        let staging = self.staging.join(diff_id.hex());
        let result = unpack_into(blob, diff_id, &staging)
            .and_then(|()| fs::rename(&staging, &target).map_err(ImageError::io(&target)));
        if result.is_err() {
            // Nothing half-unpacked stays; removing may fail only as the unpack did.
            let _ = fs::remove_dir_all(&staging);
        }
        result.map(|()| target)
    }

    /// Every unpacked layer.
    pub fn list(&self) -> Result<Vec<Digest>, ImageError> {
        let mut layers = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(ImageError::io(&self.root))? {
            let entry = entry.map_err(ImageError::io(&self.root))?;
            if let Some(digest) = entry.file_name().to_str().and_then(Digest::from_hex) {
                layers.push(digest);
            }
        }
        Ok(layers)
    }

    /// The disk space the unpacked layer `diff_id` takes (0 when it is not unpacked): the
    /// blocks of its files, counting once a file hard-linked under several names (busybox's
    /// applets are one binary).
    pub fn disk_usage(&self, diff_id: &Digest) -> Result<u64, ImageError> {
        let mut inodes = HashSet::new();
        let mut bytes = 0u64;
        let mut pending = vec![self.path(diff_id)];
        while let Some(path) = pending.pop() {
            let metadata = match fs::symlink_metadata(&path) {
                Ok(metadata) => metadata,
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => return Err(ImageError::Io { path, source }),
            };
            if !inodes.insert(metadata.ino()) {
                continue;
            }
            bytes = bytes.saturating_add(metadata.blocks().saturating_mul(512));
            if metadata.is_dir() {
                for entry in fs::read_dir(&path).map_err(ImageError::io(&path))? {
                    pending.push(entry.map_err(ImageError::io(&path))?.path());
                }
            }
        }
        Ok(bytes)
    }

    pub fn remove(&self, diff_id: &Digest) -> Result<(), ImageError> {
        let path = self.path(diff_id);
        match fs::remove_dir_all(&path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(ImageError::Io {
                path,
                source: error,
            }),
            _ => Ok(()),
        }
    }
}

/// Unpacks the (perhaps compressed) tar at `blob` into the new directory `dir`, checking the
/// uncompressed stream against `diff_id`.
fn unpack_into(blob: &Path, diff_id: &Digest, dir: &Path) -> Result<(), ImageError> {
    let what = format!("layer {diff_id}");
    fs::create_dir(dir).map_err(ImageError::io(dir))?;
    let mut hashing = HashingReader::new(decompressed(blob)?);
    {
        let mut archive = tar::Archive::new(&mut hashing);
        archive.set_preserve_permissions(true);
        archive.set_preserve_ownerships(true);
        archive.set_preserve_mtime(true);
        archive.set_overwrite(true);
        let bad = |e: io::Error| ImageError::Archive(format!("{what}: {}", chain(&e)));
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let path = entry.path().map_err(bad)?.into_owned();
            let parent = inside(dir, path.parent().unwrap_or(Path::new("")), &what)?;
            match classify(&path) {
                Entry::Plain => {
                    entry.unpack_in(dir).map_err(bad)?;
                }
                Entry::Opaque => {
                    fs::create_dir_all(&parent).map_err(ImageError::io(&parent))?;
                    rustix::fs::setxattr(
                        &parent,
                        OPAQUE_XATTR,
                        b"y",
                        rustix::fs::XattrFlags::empty(),
                    )
                    .map_err(|e| ImageError::Io {
                        path: parent.clone(),
                        source: e.into(),
                    })?;
                }
                Entry::Whiteout { name } => {
                    fs::create_dir_all(&parent).map_err(ImageError::io(&parent))?;
                    let hidden = inside(dir, &path.with_file_name(name), &what)?;
                    mknod(&hidden, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)).map_err(|e| {
                        ImageError::Io {
                            path: hidden.clone(),
                            source: e.into(),
                        }
                    })?;
                }
            }
        }
    }
    // A tar ends before its padding: read the rest so the digest covers every byte.
    io::copy(&mut hashing, &mut io::sink())
        .map_err(|e| ImageError::Archive(format!("{what}: {e}")))?;
    let (actual, _) = hashing.finish();
    if actual != *diff_id {
        return Err(ImageError::DigestMismatch {
            what,
            digest: diff_id.to_string(),
            actual: actual.hex().to_string(),
        });
    }
    Ok(())
}

/// An error with its causes (tar wraps the system's error in its own).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// `relative` under `dir`, refusing absolute paths and `..`.
fn inside(dir: &Path, relative: &Path, what: &str) -> Result<PathBuf, ImageError> {
    let mut path = dir.to_path_buf();
    for component in relative.components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            _ => {
                return Err(ImageError::Archive(format!(
                    "{what}: {} leads outside the layer",
                    relative.display()
                )));
            }
        }
    }
    Ok(path)
}

/// The blob's bytes, decompressed by what its first bytes say it is.
fn decompressed(blob: &Path) -> Result<Box<dyn Read>, ImageError> {
    let mut file = BufReader::new(File::open(blob).map_err(ImageError::io(blob))?);
    let head = io::BufRead::fill_buf(&mut file).map_err(ImageError::io(blob))?;
    Ok(match head {
        [0x1f, 0x8b, ..] => Box::new(flate2::bufread::GzDecoder::new(file)),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => {
            Box::new(zstd::Decoder::with_buffer(file).map_err(ImageError::io(blob))?)
        }
        _ => Box::new(file),
    })
}

/// Hashes what is read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Hasher<io::Sink>,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Hasher::new(io::sink()),
        }
    }

    fn finish(self) -> (Digest, u64) {
        let (digest, size, _) = self.hasher.finish();
        (digest, size)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        io::Write::write_all(&mut self.hasher, &buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
