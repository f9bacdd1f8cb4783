//! Getting a container's image ready on this node: the node's image store serves it, as its
//! `imagePullPolicy` allows, as the unpacked layers and the config its process comes from.

use std::path::{Path, PathBuf};

use flotilla_images::reference::Reference;
use flotilla_images::{ImageError, ImageStore};
use oci_spec::image::ImageConfiguration;

/// An image ready to run from.
#[derive(Debug, Clone)]
pub struct ReadyImage {
    /// Unpacked layers, lowest first.
    pub layers: Vec<PathBuf>,
    pub config: ImageConfiguration,
}

/// Why the image could not be had, as the container's waiting reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFailure {
    pub reason: &'static str,
    pub message: String,
}

/// Makes `image` ready from the store in `image_dir`. Blocking: it takes the store's lock and
/// may unpack layers.
pub fn prepare(
    image_dir: &Path,
    image: &str,
    pull_policy: &str,
) -> Result<ReadyImage, ImageFailure> {
    if let Err(error) = Reference::parse(image) {
        return Err(ImageFailure {
            reason: "InvalidImageName",
            message: format!("Failed to apply default image tag {image:?}: {error}"),
        });
    }
    let pull_failed = |error: ImageError| ImageFailure {
        reason: "ErrImagePull",
        message: format!("failed to get image {image:?}: {error}"),
    };
    let store = ImageStore::open(image_dir).map_err(pull_failed)?;
    let details = match store.inspect(image) {
        Ok(details) => details,
        Err(ImageError::NotFound(_)) => return Err(missing(image, pull_policy)),
        Err(error) => return Err(pull_failed(error)),
    };
    let layers = store.unpack(image).map_err(pull_failed)?;
    Ok(ReadyImage {
        layers,
        config: details.config,
    })
}

/// The failure for an image absent from the store, by pull policy.
fn missing(image: &str, pull_policy: &str) -> ImageFailure {
    if pull_policy == "Never" {
        ImageFailure {
            reason: "ErrImageNeverPull",
            message: format!("Container image {image:?} is not present with pull policy of Never"),
        }
    } else {
        ImageFailure {
            reason: "ErrImagePull",
            message: format!(
                "image {image:?} is not in this node's image store and this node pulls from no \
                 registry; load it with `flotilla image import`"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_and_missing_images_have_kubernetes_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("images");
        let bad = prepare(&store, "UPPER/Case", "IfNotPresent").unwrap_err();
        assert_eq!(bad.reason, "InvalidImageName");
        let never = prepare(&store, "busybox:1.35", "Never").unwrap_err();
        assert_eq!(never.reason, "ErrImageNeverPull");
        assert_eq!(
            never.message,
            "Container image \"busybox:1.35\" is not present with pull policy of Never"
        );
        let pull = prepare(&store, "busybox:1.35", "IfNotPresent").unwrap_err();
        assert_eq!(pull.reason, "ErrImagePull");
        assert!(
            pull.message.contains("flotilla image import"),
            "{}",
            pull.message
        );
    }
}
