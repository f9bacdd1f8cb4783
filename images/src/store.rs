//! The image store: blobs, the table of names, and the operations `flotilla image` offers.

mod image_gc;

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use nix::fcntl::{Flock, FlockArg};

use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};

use crate::archive::{self, Imported};
use crate::blobs::{BlobStore, Expected};
use crate::digest::Digest;
use crate::error::ImageError;
use crate::gc::Piece;
use crate::last_used::LastUsed;
use crate::layers::Layers;
use crate::pull::{PulledImage, staging};
use crate::reference::Reference;
use crate::refs::Refs;

/// One named image, as `image ls` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    pub reference: Reference,
    /// The manifest's (or platform index's) digest.
    pub digest: Digest,
    /// Bytes of every blob the image uses (manifests, config, layers as stored).
    pub size: u64,
}

/// What `image inspect` shows.
#[derive(Debug, Clone)]
pub struct ImageDetails {
    pub summary: ImageSummary,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
}

/// An open image store. It holds the store's lock while open: another process (a second
/// `flotilla image import`, the node agent) opening it waits until this one is dropped.
pub struct ImageStore {
    root: PathBuf,
    blobs: BlobStore,
    layers: Layers,
    refs: Refs,
    last_used: LastUsed,
    _lock: Flock<File>,
}

impl std::fmt::Debug for ImageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageStore")
            .field("root", &self.root)
            .finish()
    }
}

impl ImageStore {
    /// Opens (creating) the store in `root`, waiting for its lock.
    pub fn open(root: &Path) -> Result<ImageStore, ImageError> {
        fs::create_dir_all(root).map_err(ImageError::io(root))?;
        let lock_path = root.join("lock");
        let file = File::create(&lock_path).map_err(ImageError::io(&lock_path))?;
        let lock =
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| ImageError::Io {
                path: lock_path.clone(),
                source: errno.into(),
            })?;
        // Only the lock holder clears the blobs an interrupted write left, and the downloads
        // of pulls whose process died.
        let blobs = BlobStore::open(root)?;
        staging::clear_stale(root)?;
        let layers = Layers::open(root)?;
        let refs = Refs::load(root)?;
        let last_used = LastUsed::load(root)?;
        Ok(ImageStore {
            root: root.to_path_buf(),
            blobs,
            layers,
            refs,
            last_used,
            _lock: lock,
        })
    }

    /// Imports every image of an OCI or Docker archive, and unpacks their layers so that the
    /// first container of each starts at once (as containerd unpacks at import); a name
    /// already in the store moves to the archive's image. On any error the store is left as it was: the blobs this import
    /// added are removed and no name is recorded.
    pub fn import(
        &mut self,
        archive: &mut dyn Read,
        base_name: Option<&str>,
    ) -> Result<Vec<ImageSummary>, ImageError> {
        let mut imported = Imported::default();
        let recorded = archive::import(&self.blobs, archive, base_name, &mut imported)
            .and_then(|()| self.record(&imported.images));
        if let Err(error) = recorded {
            for digest in &imported.new_blobs {
                // A blob that cannot be removed is unreferenced and goes at the next import.
                let _ = self.blobs.remove(digest);
            }
            return Err(error);
        }
        // What no image uses now: the files an archive carries beside its images (`docker
        // save`'s per-layer json), and an image's blobs whose name this import took over.
        self.collect_garbage()?;
        for (reference, _) in &imported.images {
            self.unpack(&reference.to_string())?;
        }
        imported
            .images
            .iter()
            .map(|(reference, digest)| self.summary(reference.clone(), digest.clone()))
            .collect()
    }

    /// Records an image [`download`](crate::pull::download)ed: its downloads move into the
    /// store, each checked against its digest and size as an import's blobs are; the image is
    /// checked whole (the blobs the download found stored must still be); only then is its
    /// name recorded, moving from the image it named if any. On any error the store is left as
    /// it was. Then the blobs no image uses are removed.
    pub fn record_pull(&mut self, pulled: PulledImage) -> Result<ImageSummary, ImageError> {
        let mut new_blobs = Vec::new();
        let image = (pulled.reference.clone(), pulled.digest.clone());
        let recorded = self
            .take_downloads(&pulled, &mut new_blobs)
            .and_then(|()| self.record(std::slice::from_ref(&image)));
        if let Err(error) = recorded {
            for digest in &new_blobs {
                // A blob that cannot be removed is unreferenced and goes at the next change.
                let _ = self.blobs.remove(digest);
            }
            return Err(error);
        }
        self.collect_garbage()?;
        let (reference, digest) = image;
        self.unpack(&reference.to_string())?;
        self.summary(reference, digest)
    }

    fn take_downloads(
        &self,
        pulled: &PulledImage,
        new_blobs: &mut Vec<Digest>,
    ) -> Result<(), ImageError> {
        for download in &pulled.downloads {
            let expected = Expected {
                digest: Some(&download.digest),
                size: Some(download.size),
            };
            let staged = pulled.staging.path(&download.digest);
            let (digest, _, new) = self.blobs.adopt(&download.what, &staged, expected)?;
            if new {
                new_blobs.push(digest);
            }
        }
        if let Some(gone) = pulled.present.iter().find(|d| !self.blobs.contains(d)) {
            return Err(ImageError::Pull {
                reference: pulled.asked.clone(),
                reason: format!(
                    "blob {gone} was in the store when the pull began and was removed (with \
                     another image) before it ended; pull again"
                ),
            });
        }
        archive::check_image(&self.blobs, &pulled.asked, &pulled.digest, pulled.is_index)
    }

    /// Names `images`, each used now as far as garbage collection goes (the kubelet's
    /// first-detected time). The times are saved first: a crash between the two saves leaves
    /// a time for a name not recorded, which the next save drops.
    fn record(&mut self, images: &[(Reference, Digest)]) -> Result<(), ImageError> {
        let now = SystemTime::now();
        let mut refs = self.refs.clone();
        let mut last_used = self.last_used.clone();
        for (reference, digest) in images {
            let name = reference.to_string();
            last_used.set(&name, now);
            refs.insert(name, digest.clone());
        }
        last_used.save(&self.root, &refs.iter().map(|(name, _)| name).collect())?;
        refs.save(&self.root)?;
        self.refs = refs;
        self.last_used = last_used;
        Ok(())
    }

    /// Records that a container starts from image `name` at `at`, for garbage collection to
    /// keep the recently used images longest.
    pub fn mark_used(&mut self, name: &str, at: SystemTime) -> Result<(), ImageError> {
        let key = Reference::parse(name)?.to_string();
        if self.refs.get(&key).is_none() {
            return Err(ImageError::NotFound(name.to_string()));
        }
        let mut last_used = self.last_used.clone();
        last_used.set(&key, at);
        last_used.save(
            &self.root,
            &self.refs.iter().map(|(name, _)| name).collect(),
        )?;
        self.last_used = last_used;
        Ok(())
    }

    /// Every named image, by name.
    pub fn list(&self) -> Result<Vec<ImageSummary>, ImageError> {
        self.refs
            .iter()
            .map(|(name, digest)| self.summary(Reference::parse(name)?, digest.clone()))
            .collect()
    }

    /// The image `name` (in any form `Reference` reads: `busybox` is
    /// `docker.io/library/busybox:latest`).
    pub fn inspect(&self, name: &str) -> Result<ImageDetails, ImageError> {
        let reference = Reference::parse(name)?;
        let digest = self
            .refs
            .get(&reference.to_string())
            .ok_or_else(|| ImageError::NotFound(name.to_string()))?
            .clone();
        let manifest_digest = self.platform_manifest(&digest)?;
        let manifest: ImageManifest = self.document(&manifest_digest)?;
        let config_digest = Digest::named_by(manifest.config())?;
        let config: ImageConfiguration = self.document(&config_digest)?;
        Ok(ImageDetails {
            summary: self.summary(reference, digest)?,
            manifest,
            config,
        })
    }

    /// The unpacked layer directories of image `name`, lowest first (overlayfs wants them
    /// topmost first), unpacking those not unpacked yet.
    pub fn unpack(&self, name: &str) -> Result<Vec<PathBuf>, ImageError> {
        let details = self.inspect(name)?;
        let diff_ids = diff_ids(&details.config)?;
        let layers = details.manifest.layers();
        if diff_ids.len() != layers.len() {
            return Err(ImageError::InvalidDocument {
                what: format!("image {name:?}"),
                message: format!(
                    "its manifest has {} layers, its config's rootfs.diff_ids {}",
                    layers.len(),
                    diff_ids.len()
                ),
            });
        }
        layers
            .iter()
            .zip(&diff_ids)
            .map(|(layer, diff_id)| {
                let blob = self.blobs.path(&Digest::named_by(layer)?);
                self.layers.unpack(&blob, diff_id)
            })
            .collect()
    }

    /// Removes the name `name`, and the blobs no remaining image uses.
    pub fn remove(&mut self, name: &str) -> Result<ImageSummary, ImageError> {
        let reference = Reference::parse(name)?;
        let key = reference.to_string();
        let digest = self
            .refs
            .get(&key)
            .ok_or_else(|| ImageError::NotFound(name.to_string()))?
            .clone();
        let summary = self.summary(reference, digest)?;
        self.forget(&[key])?;
        Ok(summary)
    }

    /// Removes the names `names` (as `Reference` writes them), then the blobs and unpacked
    /// layers no remaining image uses.
    fn forget(&mut self, names: &[String]) -> Result<(), ImageError> {
        let mut refs = self.refs.clone();
        for name in names {
            refs.remove(name);
        }
        refs.save(&self.root)?;
        self.refs = refs;
        self.collect_garbage()
    }

    /// Removes every blob and unpacked layer no named image uses.
    fn collect_garbage(&self) -> Result<(), ImageError> {
        let mut used = BTreeSet::new();
        for (_, digest) in self.refs.iter() {
            used.extend(self.footprint(digest)?);
        }
        for blob in self.blobs.list()? {
            if !used.contains(&Piece::Blob(blob.clone())) {
                self.blobs.remove(&blob)?;
            }
        }
        for layer in self.layers.list()? {
            if !used.contains(&Piece::Layer(layer.clone())) {
                self.layers.remove(&layer)?;
            }
        }
        Ok(())
    }

    fn summary(&self, reference: Reference, digest: Digest) -> Result<ImageSummary, ImageError> {
        let mut size = 0;
        for piece in self.footprint(&digest)? {
            if let Piece::Blob(blob) = piece {
                size += self.blobs.size(&blob)?;
            }
        }
        Ok(ImageSummary {
            reference,
            digest,
            size,
        })
    }

    /// What the image at `digest` keeps on disk: its manifest or index and the stored blobs
    /// they name, and the layers its configs list (unpacked or to be).
    fn footprint(&self, digest: &Digest) -> Result<BTreeSet<Piece>, ImageError> {
        let mut pieces = BTreeSet::from([Piece::Blob(digest.clone())]);
        for (manifest_digest, manifest) in self.parsed_manifests(digest)? {
            pieces.insert(Piece::Blob(manifest_digest));
            pieces.extend(named_blobs(&manifest)?.into_iter().map(Piece::Blob));
            let config = self.document(&Digest::named_by(manifest.config())?)?;
            pieces.extend(diff_ids(&config)?.into_iter().map(Piece::Layer));
        }
        Ok(pieces)
    }

    /// The stored manifests under `digest`, read.
    fn parsed_manifests(
        &self,
        digest: &Digest,
    ) -> Result<Vec<(Digest, ImageManifest)>, ImageError> {
        self.manifests(digest)?
            .into_iter()
            .map(|manifest| Ok((manifest.clone(), self.document(&manifest)?)))
            .collect()
    }

    /// The stored manifests under `digest`: itself, or an index's that are stored.
    fn manifests(&self, digest: &Digest) -> Result<Vec<Digest>, ImageError> {
        let bytes = self.blobs.read(digest)?;
        let Ok(index) = serde_json::from_slice::<ImageIndex>(&bytes) else {
            return Ok(vec![digest.clone()]);
        };
        let mut held = Vec::new();
        for child in index.manifests() {
            let child = Digest::named_by(child)?;
            if self.blobs.contains(&child) {
                held.push(child);
            }
        }
        Ok(held)
    }

    /// The manifest to run from the image at `digest`: itself, or the first an index holds.
    fn platform_manifest(&self, digest: &Digest) -> Result<Digest, ImageError> {
        self.manifests(digest)?
            .into_iter()
            .next()
            .ok_or_else(|| ImageError::MissingBlob {
                what: format!("index {digest}"),
                digest: "any platform's manifest".to_string(),
            })
    }

    fn document<T: serde::de::DeserializeOwned>(&self, digest: &Digest) -> Result<T, ImageError> {
        serde_json::from_slice(&self.blobs.read(digest)?).map_err(|e| ImageError::InvalidDocument {
            what: digest.to_string(),
            message: e.to_string(),
        })
    }
}

/// The config and layers a manifest names.
fn named_blobs(manifest: &ImageManifest) -> Result<Vec<Digest>, ImageError> {
    std::iter::once(manifest.config())
        .chain(manifest.layers())
        .map(Digest::named_by)
        .collect()
}

/// The digests of an image's uncompressed layers, lowest first.
fn diff_ids(config: &ImageConfiguration) -> Result<Vec<Digest>, ImageError> {
    config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|diff_id| Digest::parse(diff_id))
        .collect()
}

#[cfg(test)]
mod tests;
