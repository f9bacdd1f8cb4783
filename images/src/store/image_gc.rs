//! The store's side of image garbage collection ([`crate::gc`]): it measures the disk holding
//! the store and what each image keeps on it, and removes what the plan says, under the
//! store's lock like any other change.

use std::collections::{BTreeMap, BTreeSet};

use super::ImageStore;
use crate::digest::Digest;
use crate::error::ImageError;
use crate::gc::{self, DiskUsage, GcPlan, ImageGcPolicy, Piece, StoredImage};

impl ImageStore {
    /// The file system holding the store, as statvfs reports it.
    pub fn disk_usage(&self) -> Result<DiskUsage, ImageError> {
        let stat = rustix::fs::statvfs(&self.root).map_err(|errno| ImageError::Io {
            path: self.root.clone(),
            source: errno.into(),
        })?;
        Ok(DiskUsage {
            capacity: stat.f_blocks.saturating_mul(stat.f_frsize),
            available: stat.f_bavail.saturating_mul(stat.f_frsize),
        })
    }

    /// Removes unused images, least recently used first, if `disk` (the store's, from
    /// [`Self::disk_usage`]) is used at or above `policy`'s high threshold, until it would be
    /// below the low one; their blobs and unpacked layers go unless a kept image shares them.
    /// `in_use` names (as `Reference` writes them) the images containers on this node use;
    /// other names of those images are kept too. Returns what was done, `None` when nothing
    /// was to be done.
    pub fn collect_images(
        &mut self,
        policy: ImageGcPolicy,
        disk: DiskUsage,
        in_use: &BTreeSet<String>,
    ) -> Result<Option<GcPlan>, ImageError> {
        let Some(to_free) = gc::bytes_to_free(policy, disk) else {
            return Ok(None);
        };
        let plan = gc::plan(to_free, &self.stored_images(in_use)?);
        if !plan.remove.is_empty() {
            let names: Vec<String> = plan.remove.iter().map(|(name, _)| name.clone()).collect();
            self.forget(&names)?;
        }
        Ok(Some(plan))
    }

    /// Every named image with what it keeps on disk and when it was last used.
    fn stored_images(&self, in_use: &BTreeSet<String>) -> Result<Vec<StoredImage>, ImageError> {
        let used: BTreeSet<&Digest> = self
            .refs
            .iter()
            .filter(|(name, _)| in_use.contains(*name))
            .map(|(_, digest)| digest)
            .collect();
        // Shared pieces are measured once: walking a layer's files is the costly part.
        let mut sizes: BTreeMap<Piece, u64> = BTreeMap::new();
        let mut images = Vec::new();
        for (name, digest) in self.refs.iter() {
            let mut pieces = BTreeMap::new();
            for piece in self.footprint(digest)? {
                let size = match sizes.get(&piece) {
                    Some(&size) => size,
                    None => {
                        let size = self.size_on_disk(&piece)?;
                        sizes.insert(piece.clone(), size);
                        size
                    }
                };
                pieces.insert(piece, size);
            }
            images.push(StoredImage {
                name: name.to_string(),
                last_used: self.last_used.get(name),
                in_use: used.contains(digest),
                pieces,
            });
        }
        Ok(images)
    }

    fn size_on_disk(&self, piece: &Piece) -> Result<u64, ImageError> {
        match piece {
            Piece::Blob(digest) => self.blobs.size(digest),
            Piece::Layer(diff_id) => self.layers.disk_usage(diff_id),
        }
    }
}
