//! Image garbage collection, decided without touching the disk: as the kubelet's image GC
//! manager does, once the disk holding the store is used at or above the high threshold,
//! unused images go, least recently used first, until usage would be below the low threshold.
//! The store ([`ImageStore::collect_images`](crate::ImageStore::collect_images)) measures the
//! disk and the images, calls [`bytes_to_free`] and [`plan`], and removes what the plan says.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::digest::Digest;

/// When images are collected: disk usage thresholds in percent, as the kubelet's
/// `--image-gc-high-threshold` and `--image-gc-low-threshold`. A high threshold of 100 turns
/// collection off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageGcPolicy {
    high_percent: u8,
    low_percent: u8,
}

/// A threshold pair that [`ImageGcPolicy::new`] refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ImageGcPolicyError {
    #[error("the high threshold {0}% is not between 0 and 100")]
    HighOutOfRange(u32),
    #[error("the low threshold {0}% is not between 0 and 100")]
    LowOutOfRange(u32),
    #[error("the low threshold ({low}%) must be less than the high threshold ({high}%)")]
    LowNotBelowHigh { low: u8, high: u8 },
}

impl ImageGcPolicy {
    /// The kubelet's defaults: collect above 85%, down to 80%.
    pub const DEFAULT: ImageGcPolicy = ImageGcPolicy {
        high_percent: 85,
        low_percent: 80,
    };

    /// The policy with these thresholds, each 0..=100 and the low one below the high one.
    pub fn new(high_percent: u32, low_percent: u32) -> Result<ImageGcPolicy, ImageGcPolicyError> {
        let high = u8::try_from(high_percent)
            .ok()
            .filter(|&high| high <= 100)
            .ok_or(ImageGcPolicyError::HighOutOfRange(high_percent))?;
        let low = u8::try_from(low_percent)
            .ok()
            .filter(|&low| low <= 100)
            .ok_or(ImageGcPolicyError::LowOutOfRange(low_percent))?;
        if low >= high {
            return Err(ImageGcPolicyError::LowNotBelowHigh { low, high });
        }
        Ok(ImageGcPolicy {
            high_percent: high,
            low_percent: low,
        })
    }

    /// A high threshold of 100 turns collection off, as in Kubernetes.
    pub fn is_disabled(&self) -> bool {
        self.high_percent == 100
    }
}

impl Default for ImageGcPolicy {
    fn default() -> Self {
        ImageGcPolicy::DEFAULT
    }
}

/// The file system holding the store, in bytes, as statvfs reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsage {
    pub capacity: u64,
    /// What an unprivileged writer may still use (`f_bavail`), as the kubelet counts it.
    pub available: u64,
}

/// Something on disk an image keeps: a blob, or a layer unpacked from one. Typed apart because
/// an uncompressed layer's blob digest and unpacked diff_id are the same digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Piece {
    Blob(Digest),
    Layer(Digest),
}

/// A named image, as collection weighs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredImage {
    pub name: String,
    /// When a container last started from it, or it was pulled or imported; `None` for an
    /// image stored before the store kept these, which counts as the least recently used.
    pub last_used: Option<SystemTime>,
    /// A container on this node uses it: it is never collected.
    pub in_use: bool,
    /// What it keeps on disk, with the bytes each takes; other images may share them.
    pub pieces: BTreeMap<Piece, u64>,
}

/// What a collection removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcPlan {
    /// Bytes to free to bring usage below the low threshold.
    pub to_free: u64,
    /// Images to remove, least recently used first, each with the bytes its removal frees
    /// (a piece shared with an image removed later counts with that one).
    pub remove: Vec<(String, u64)>,
    /// Bytes the removals free, in all.
    pub freed: u64,
}

impl GcPlan {
    /// Whether removing every unused image still frees less than `to_free`.
    pub fn falls_short(&self) -> bool {
        self.freed < self.to_free
    }
}

/// The bytes to free, if the disk is used at or above the high threshold: enough to bring it
/// below the low one. `None` when nothing is to be done (or collection is off). The kubelet's
/// arithmetic, in integers.
pub fn bytes_to_free(policy: ImageGcPolicy, disk: DiskUsage) -> Option<u64> {
    if policy.is_disabled() || disk.capacity == 0 {
        return None;
    }
    let capacity = u128::from(disk.capacity);
    let available = u128::from(disk.available.min(disk.capacity));
    let used_percent = 100 - available * 100 / capacity;
    if used_percent < u128::from(policy.high_percent) {
        return None;
    }
    let wanted_available = capacity * u128::from(100 - policy.low_percent) / 100;
    // At most the capacity, so it fits.
    Some(u64::try_from(wanted_available.saturating_sub(available)).unwrap_or(u64::MAX))
}

/// The unused images to remove, least recently used first (never-recorded ones first, then by
/// name among equals), until their removal frees `to_free` bytes or none is left. A piece is
/// freed only by the removal that leaves no kept image holding it.
pub fn plan(to_free: u64, images: &[StoredImage]) -> GcPlan {
    let mut holders: BTreeMap<&Piece, usize> = BTreeMap::new();
    for image in images {
        for piece in image.pieces.keys() {
            *holders.entry(piece).or_default() += 1;
        }
    }
    let mut candidates: Vec<&StoredImage> = images.iter().filter(|image| !image.in_use).collect();
    candidates.sort_by(|a, b| (a.last_used, &a.name).cmp(&(b.last_used, &b.name)));
    let mut plan = GcPlan {
        to_free,
        remove: Vec::new(),
        freed: 0,
    };
    for image in candidates {
        if plan.freed >= to_free {
            break;
        }
        let mut bytes = 0u64;
        for (piece, size) in &image.pieces {
            if let Some(count) = holders.get_mut(piece) {
                *count -= 1;
                if *count == 0 {
                    bytes = bytes.saturating_add(*size);
                }
            }
        }
        plan.freed = plan.freed.saturating_add(bytes);
        plan.remove.push((image.name.clone(), bytes));
    }
    plan
}

#[cfg(test)]
mod tests;
