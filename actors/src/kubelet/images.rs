//! Getting a container's image ready on this node, as its `imagePullPolicy` says: from the
//! node's store when it has the image and may use it (`IfNotPresent`, `Never`), else pulled
//! from its registry with the pod's image pull secrets (`Always`, or missing). What comes back
//! is the unpacked layers and the config the container's process is made from.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use flotilla_images::reference::Reference;
use flotilla_images::{
    CaCertificates, ImageError, ImageStore, PullOptions, RegistryCredentials, pull,
};
use flotilla_kernel::object::Container;
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

/// How this node reaches registries: those spoken to over plain HTTP (containerd's insecure
/// registries) and the CA certificates trusted beside the system's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registries {
    pub plain_http: Vec<String>,
    pub ca_files: Vec<PathBuf>,
}

/// What to do about an image, by pull policy and whether the node has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Store,
    Registry,
    Refused,
}

pub fn source(pull_policy: &str, present: bool) -> Source {
    match (pull_policy, present) {
        (Container::PULL_NEVER, true) | (Container::PULL_IF_NOT_PRESENT, true) => Source::Store,
        (Container::PULL_NEVER, false) => Source::Refused,
        _ => Source::Registry,
    }
}

/// `image` as a reference, or why it is not one (`InvalidImageName`), for any runtime.
pub fn parse_name(image: &str) -> Result<Reference, ImageFailure> {
    Reference::parse(image).map_err(|error| ImageFailure {
        reason: "InvalidImageName",
        message: format!("Failed to apply default image tag {image:?}: {error}"),
    })
}

/// An `image` the node lacks under pull policy Never, for any runtime.
pub fn never_pulled(image: &str) -> ImageFailure {
    ImageFailure {
        reason: "ErrImageNeverPull",
        message: format!("Container image {image:?} is not present with pull policy of Never"),
    }
}

/// Makes `image` ready in the store at `image_dir`, pulling it if the policy says so with
/// `credentials`. The store's work (its lock, unpacking) runs on the blocking pool.
pub async fn prepare(
    image_dir: &Path,
    image: &str,
    pull_policy: &str,
    registries: &Registries,
    credentials: RegistryCredentials,
) -> Result<ReadyImage, ImageFailure> {
    parse_name(image)?;
    let present = {
        let (dir, name) = (image_dir.to_path_buf(), image.to_string());
        on_store(move || Ok(ImageStore::open(&dir)?.inspect(&name).is_ok())).await?
    };
    match source(pull_policy, present) {
        Source::Refused => return Err(never_pulled(image)),
        Source::Store => {}
        Source::Registry => {
            let options = PullOptions {
                credentials,
                plain_http: registries.plain_http.clone(),
                ca_certificates: registries
                    .ca_files
                    .iter()
                    .cloned()
                    .map(CaCertificates::File)
                    .collect(),
                ..PullOptions::default()
            };
            pull(image_dir, image, &options)
                .await
                .map_err(|error| ImageFailure {
                    reason: "ErrImagePull",
                    message: error.to_string(),
                })?;
        }
    }
    let (dir, name) = (image_dir.to_path_buf(), image.to_string());
    on_store(move || {
        let mut store = ImageStore::open(&dir)?;
        let details = store.inspect(&name)?;
        let layers = store.unpack(&name)?;
        // For image garbage collection to keep recently used images longest. Not being able to
        // write it (a full disk, which collection is there to cure) does not stop the container.
        if let Err(error) = store.mark_used(&name, SystemTime::now()) {
            tracing::warn!(image = %name, %error, "could not record the image's use");
        }
        Ok(ReadyImage {
            layers,
            config: details.config,
        })
    })
    .await
}

/// Runs `work` on the store on the blocking pool; its errors are pull failures.
async fn on_store<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ImageError> + Send + 'static,
) -> Result<T, ImageFailure> {
    let failed = |message: String| ImageFailure {
        reason: "ErrImagePull",
        message,
    };
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| failed(format!("the image store's work did not finish: {error}")))?
        .map_err(|error| failed(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policies_decide_between_store_and_registry() {
        assert_eq!(source("IfNotPresent", true), Source::Store);
        assert_eq!(source("IfNotPresent", false), Source::Registry);
        assert_eq!(source("Always", true), Source::Registry);
        assert_eq!(source("Never", true), Source::Store);
        assert_eq!(source("Never", false), Source::Refused);
    }

    #[tokio::test]
    async fn bad_names_and_missing_images_have_kubernetes_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("images");
        let prepare = |image: &'static str, policy: &'static str| {
            let store = store.clone();
            async move {
                prepare(
                    &store,
                    image,
                    policy,
                    &Registries::default(),
                    RegistryCredentials::default(),
                )
                .await
                .unwrap_err()
            }
        };
        assert_eq!(
            prepare("UPPER/Case", "IfNotPresent").await.reason,
            "InvalidImageName"
        );
        let never = prepare("busybox:1.35", "Never").await;
        assert_eq!(never.reason, "ErrImageNeverPull");
        assert_eq!(
            never.message,
            "Container image \"busybox:1.35\" is not present with pull policy of Never"
        );
        // Nothing listens on port 9 of loopback: the pull fails with the reason.
        let pull = prepare("127.0.0.1:9/app:1", "IfNotPresent").await;
        assert_eq!(pull.reason, "ErrImagePull");
        assert!(
            pull.message.contains("127.0.0.1:9/app:1"),
            "{}",
            pull.message
        );
    }
}
