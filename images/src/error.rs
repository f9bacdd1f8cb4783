//! What can go wrong with images, each naming the image, blob or archive entry at fault.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("corrupt or truncated archive: {0}")]
    Archive(String),
    #[error("not an image archive: it has neither an OCI index.json nor a Docker manifest.json")]
    UnknownArchive,
    #[error("{what}: {digest} does not match its content (sha256:{actual})")]
    DigestMismatch {
        what: String,
        digest: String,
        actual: String,
    },
    #[error("{what}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    #[error("invalid digest {0:?}: want sha256:<64 lowercase hex digits>")]
    InvalidDigest(String),
    #[error("{what} references blob {digest}, which the archive does not hold")]
    MissingBlob { what: String, digest: String },
    #[error("{what} is not valid JSON of its kind: {message}")]
    InvalidDocument { what: String, message: String },
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error(
        "{what} names its image only by the tag {tag:?}; import it with a base name \
         (REPOSITORY) so it can be called REPOSITORY:{tag}"
    )]
    TagOnly { what: String, tag: String },
    #[error("the archive names no image: {0}")]
    NoImages(String),
    #[error("image {0:?} not found")]
    NotFound(String),
    #[error("image {0:?} has neither ENTRYPOINT nor CMD, and the container sets no command")]
    NoCommand(String),
    /// A pull that the registry, the network or TLS refused: `reason` is theirs, as
    /// `unauthorized: authentication required` or `manifest unknown`.
    #[error("failed to pull {reference:?}: {reason}")]
    Pull { reference: String, reason: String },
    /// An entry of a Docker config (an image pull secret) that cannot be used.
    #[error("registry credentials for {registry:?}: {reason}")]
    InvalidCredentials { registry: String, reason: String },
    /// CA certificates to trust for registries that are not PEM certificates.
    #[error("CA certificates {what}: {reason}")]
    InvalidCaCertificates { what: String, reason: String },
}

impl ImageError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> ImageError {
        let path = path.into();
        move |source| ImageError::Io { path, source }
    }
}
