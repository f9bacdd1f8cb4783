//! Pulling an image from an OCI distribution registry (Docker Hub, a registry of the
//! operator's, `registry:2`), with [oci-client](oci_client) speaking the protocol: the registry's
//! `WWW-Authenticate` challenge decides between anonymous access, HTTP basic credentials and the
//! bearer-token flow; HTTPS is verified against the system's roots plus the CA certificates the
//! node is given, and plain HTTP is used only for the registries listed for it (containerd's
//! insecure registries).
//!
//! A pull has two steps, so that the network never waits on the store's lock nor the store on
//! the network:
//! - [`download`] (async, no lock) resolves the name to a manifest, picks the node's platform
//!   from an index, and downloads what the store lacks into a directory of its own
//!   (`pulls/PID.N/`); blobs the store has are skipped;
//! - [`ImageStore::record_pull`] (blocking, under the lock) moves the downloads in, each checked
//!   against its digest and size as an import's blobs are, checks the image is whole, and only
//!   then records its name: a failed pull leaves the store as it was. Then it collects garbage.
//!
//! [`pull`] does both from a tokio task, recording on the blocking pool. The node agent awaits
//! it; `download` writes files with `tokio::fs` and makes its directory with two small
//! `mkdir`s, so it may run on the runtime's thread.
//!
//! Errors name the image as asked for and carry the registry's reason (`unauthorized:
//! authentication required`, `manifest unknown`) or the connection's, for `ErrImagePull`.
//!
//! oci-client's rustls has no crypto provider of its own here: [`download`] installs ring as the
//! process's default provider when none is installed (flotilla's other TLS users pass theirs
//! explicitly).

mod reason;
pub(crate) mod staging;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use crate::blobs::BlobStore;
use crate::credentials::{Credential, RegistryCredentials};
use crate::digest::Digest;
use crate::error::ImageError;
use crate::reference::Reference;
use crate::store::{ImageStore, ImageSummary};
use reason::{chain, registry_reason};
use staging::Staging;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// What a manifest request accepts: OCI's and Docker's schema 2 (not Docker's schema 1).
const MANIFEST_TYPES: &[&str] = &[OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];
/// Manifests and indexes are small; a registry sending more is not sending one.
const MAX_DOCUMENT: usize = 4 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a response may send nothing (a stalled download fails; a slow one goes on).
const READ_TIMEOUT: Duration = Duration::from_secs(60);
const USER_AGENT: &str = concat!("flotilla/", env!("CARGO_PKG_VERSION"));

/// How the node pulls.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Credentials by registry (the pod's image pull secrets); the image's registry takes the
    /// one whose key matches best, or none (anonymous).
    pub credentials: RegistryCredentials,
    /// Registries (`host[:port]`, as image names write them) reached over plain HTTP instead of
    /// HTTPS: containerd's insecure registries. Every other one is HTTPS, verified.
    pub plain_http: Vec<String>,
    /// CA certificates trusted for registries beside the system's.
    pub ca_certificates: Vec<CaCertificates>,
    /// The platform to pick from a multi-platform image; the node's own by default.
    pub platform: Platform,
}

/// A bundle of PEM CA certificates (`-----BEGIN CERTIFICATE-----` blocks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaCertificates {
    /// A file holding the bundle, read at each pull.
    File(PathBuf),
    /// The bundle itself.
    Pem(Vec<u8>),
}

/// An image platform, as an index's entries name theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// Go's name: `amd64`, `arm64`.
    pub architecture: String,
    /// `v7` for `arm`, say; `None` matches any.
    pub variant: Option<String>,
}

impl Platform {
    /// Linux on this machine's architecture.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            os: "linux".to_string(),
            architecture: architecture.to_string(),
            variant: None,
        }
    }

    fn matches(&self, descriptor: &Descriptor) -> bool {
        descriptor.platform().as_ref().is_some_and(|platform| {
            platform.os().to_string() == self.os
                && platform.architecture().to_string() == self.architecture
                && match (&self.variant, platform.variant()) {
                    (Some(wanted), Some(variant)) => wanted == variant,
                    _ => true,
                }
        })
    }
}

impl Default for Platform {
    fn default() -> Platform {
        Platform::host()
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// An image downloaded and not yet in the store: give it to [`ImageStore::record_pull`].
/// Dropping it removes its downloads.
#[derive(Debug)]
pub struct PulledImage {
    /// The name to record.
    pub(crate) reference: Reference,
    /// The name as asked for, for errors.
    pub(crate) asked: String,
    /// The manifest or index the name points to.
    pub(crate) digest: Digest,
    pub(crate) is_index: bool,
    /// What was downloaded: the index, the manifest, and the blobs the store lacked.
    pub(crate) downloads: Vec<Download>,
    /// The blobs the store had when the pull looked, so not downloaded.
    pub(crate) present: Vec<Digest>,
    pub(crate) staging: Staging,
}

/// One downloaded file, named by its digest in the pull's directory.
#[derive(Debug)]
pub(crate) struct Download {
    pub what: String,
    pub digest: Digest,
    pub size: u64,
}

impl PulledImage {
    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    /// The digest of the manifest (or index) the name points to.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Bytes downloaded.
    pub fn downloaded(&self) -> u64 {
        self.downloads.iter().map(|download| download.size).sum()
    }
}

/// Pulls `reference` into the store at `root`: [`download`], then [`ImageStore::record_pull`]
/// on tokio's blocking pool (it opens the store, waiting for its lock). Must run within a
/// tokio runtime.
pub async fn pull(
    root: &Path,
    reference: &str,
    options: &PullOptions,
) -> Result<ImageSummary, ImageError> {
    let pulled = download(root, reference, options).await?;
    let root = root.to_path_buf();
    tokio::task::spawn_blocking(move || ImageStore::open(&root)?.record_pull(pulled))
        .await
        .map_err(|error| ImageError::Pull {
            reference: reference.to_string(),
            reason: format!("recording the image in the store failed: {error}"),
        })?
}

/// Downloads image `reference` for the store at `root`, without its lock: the manifest (of
/// the options' platform, from an index) and whichever of its config and layers the store
/// does not hold.
pub async fn download(
    root: &Path,
    reference: &str,
    options: &PullOptions,
) -> Result<PulledImage, ImageError> {
    let parsed = Reference::parse(reference)?;
    let credential = options.credentials.for_image(&parsed);
    let registry = Registry {
        client: client(options).await?,
        image: oci_reference(&parsed),
        asked: reference,
        credential,
    };
    registry
        .client
        .auth(
            &registry.image,
            &registry_auth(credential),
            RegistryOperation::Pull,
        )
        .await
        .map_err(|error| registry.failed(&error))?;
    let staging = Staging::create(root)?;
    let mut downloads = Vec::new();
    let (top, manifest) = registry
        .manifest(&staging, &options.platform, &mut downloads)
        .await?;
    let manifest: ImageManifest = parse(reference, &manifest)?;
    let present = registry
        .blobs(root, &staging, &manifest, &mut downloads)
        .await?;
    Ok(PulledImage {
        reference: parsed,
        asked: reference.to_string(),
        digest: Digest::of(&top),
        is_index: is_index(&top),
        downloads,
        present,
        staging,
    })
}

/// The registry an image is pulled from, with what its errors need.
struct Registry<'a> {
    client: Client,
    image: oci_client::Reference,
    asked: &'a str,
    credential: Option<&'a Credential>,
}

impl Registry<'_> {
    fn reason(&self, reason: String) -> ImageError {
        ImageError::Pull {
            reference: self.asked.to_string(),
            reason,
        }
    }

    fn failed(&self, error: &OciDistributionError) -> ImageError {
        self.reason(registry_reason(error, self.credential))
    }

    /// The document the name points to and the manifest to pull: the same, or the entry for
    /// `platform` of an index. Both are written to `staging`.
    async fn manifest(
        &self,
        staging: &Staging,
        platform: &Platform,
        downloads: &mut Vec<Download>,
    ) -> Result<(Vec<u8>, Vec<u8>), ImageError> {
        let top = self.document(&self.image, self.asked, None).await?;
        staging_write(staging, self.asked, &Digest::of(&top), &top, downloads).await?;
        if !is_index(&top) {
            return Ok((top.clone(), top));
        }
        let index: ImageIndex = parse(self.asked, &top)?;
        let chosen = choose_platform(&index, platform).ok_or_else(|| {
            self.reason(format!(
                "no manifest for platform {platform} in the image's index (it has {})",
                platforms(&index)
            ))
        })?;
        let digest = Digest::named_by(chosen)?;
        let what = format!("{} manifest for {platform}", self.asked);
        let image = self.image.clone_with_digest(digest.to_string());
        let manifest = self
            .document(&image, &what, Some((&digest, chosen.size())))
            .await?;
        if is_index(&manifest) {
            return Err(self.reason(format!("{what} is an index again: not supported")));
        }
        staging_write(staging, &what, &digest, &manifest, downloads).await?;
        Ok((top, manifest))
    }

    /// Downloads the config and layers of `manifest` that the store at `root` lacks; returns
    /// those it has.
    async fn blobs(
        &self,
        root: &Path,
        staging: &Staging,
        manifest: &ImageManifest,
        downloads: &mut Vec<Download>,
    ) -> Result<Vec<Digest>, ImageError> {
        let mut present = Vec::new();
        let mut seen = BTreeSet::new();
        let layers = manifest
            .layers()
            .iter()
            .enumerate()
            .map(|(n, layer)| (format!("layer {n}"), layer));
        for (what, descriptor) in
            std::iter::once(("config".to_string(), manifest.config())).chain(layers)
        {
            let digest = Digest::named_by(descriptor)?;
            if !seen.insert(digest.clone()) {
                continue;
            }
            if BlobStore::path_in(root, &digest).is_file() {
                present.push(digest);
                continue;
            }
            let what = format!("{what} of {}", self.asked);
            self.blob(&staging.path(&digest), &what, &digest, descriptor.size())
                .await?;
            downloads.push(Download {
                what,
                digest,
                size: descriptor.size(),
            });
        }
        Ok(present)
    }

    /// A manifest or index, checked against `expected` (digest and size) when given.
    async fn document(
        &self,
        image: &oci_client::Reference,
        what: &str,
        expected: Option<(&Digest, u64)>,
    ) -> Result<Vec<u8>, ImageError> {
        let (bytes, _) = self
            .client
            .pull_manifest_raw(image, &registry_auth(self.credential), MANIFEST_TYPES)
            .await
            .map_err(|error| self.failed(&error))?;
        if bytes.len() > MAX_DOCUMENT {
            return Err(self.reason(format!(
                "{what}: the registry sent {} bytes, more than a manifest may have ({MAX_DOCUMENT})",
                bytes.len()
            )));
        }
        let actual = Digest::of(&bytes);
        if let Some((digest, size)) = expected {
            if bytes.len() as u64 != size {
                return Err(ImageError::SizeMismatch {
                    what: what.to_string(),
                    expected: size,
                    actual: bytes.len() as u64,
                });
            }
            if actual != *digest {
                return Err(ImageError::DigestMismatch {
                    what: what.to_string(),
                    digest: digest.to_string(),
                    actual: actual.hex().to_string(),
                });
            }
        }
        Ok(bytes.to_vec())
    }

    /// Downloads blob `digest` to `path`, refusing more than `size` bytes. (The content is
    /// checked against the digest as it comes, and again as the store takes it.)
    async fn blob(
        &self,
        path: &Path,
        what: &str,
        digest: &Digest,
        size: u64,
    ) -> Result<(), ImageError> {
        let digest_text = digest.to_string();
        let mut stream = self
            .client
            .pull_blob_stream(&self.image, digest_text.as_str())
            .await
            .map_err(|error| self.failed(&error))?;
        let mut file = tokio::fs::File::create(path)
            .await
            .map_err(ImageError::io(path))?;
        let mut written = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| {
                self.reason(format!("downloading {what} ({digest}): {}", chain(&error)))
            })?;
            written += chunk.len() as u64;
            if written > size {
                return Err(self.reason(format!(
                    "{what} ({digest}) is larger than the {size} bytes its manifest gives"
                )));
            }
            file.write_all(&chunk).await.map_err(ImageError::io(path))?;
        }
        file.flush().await.map_err(ImageError::io(path))?;
        if written != size {
            return Err(ImageError::SizeMismatch {
                what: format!("{what} ({digest})"),
                expected: size,
                actual: written,
            });
        }
        Ok(())
    }
}

/// Writes a document already in memory as a download of the pull.
async fn staging_write(
    staging: &Staging,
    what: &str,
    digest: &Digest,
    bytes: &[u8],
    downloads: &mut Vec<Download>,
) -> Result<(), ImageError> {
    let path = staging.path(digest);
    tokio::fs::write(&path, bytes)
        .await
        .map_err(ImageError::io(&path))?;
    downloads.push(Download {
        what: what.to_string(),
        digest: digest.clone(),
        size: bytes.len() as u64,
    });
    Ok(())
}

/// A client for one pull: oci-client keeps the first credentials it is given per registry.
async fn client(options: &PullOptions) -> Result<Client, ImageError> {
    // Already installed (by an earlier pull, or by the program) is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut extra_roots = Vec::new();
    for bundle in &options.ca_certificates {
        for der in bundle.read().await? {
            extra_roots.push(Certificate {
                encoding: CertificateEncoding::Der,
                data: der.to_vec(),
            });
        }
    }
    let config = ClientConfig {
        protocol: ClientProtocol::HttpsExcept(options.plain_http.clone()),
        extra_root_certificates: extra_roots,
        platform_resolver: None,
        connect_timeout: Some(CONNECT_TIMEOUT),
        read_timeout: Some(READ_TIMEOUT),
        user_agent: USER_AGENT,
        ..ClientConfig::default()
    };
    Client::try_from(config).map_err(|error| ImageError::InvalidCaCertificates {
        what: "for registries".to_string(),
        reason: chain(&error),
    })
}

impl CaCertificates {
    /// The certificates of the bundle, DER-encoded.
    pub async fn read(&self) -> Result<Vec<CertificateDer<'static>>, ImageError> {
        let (what, pem) = match self {
            CaCertificates::File(path) => (
                path.display().to_string(),
                tokio::fs::read(path).await.map_err(ImageError::io(path))?,
            ),
            CaCertificates::Pem(bytes) => ("given as PEM".to_string(), bytes.clone()),
        };
        parse_pem_bundle(&what, &pem)
    }
}

/// The certificates of a PEM bundle: at least one, and nothing unreadable.
fn parse_pem_bundle(what: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, ImageError> {
    let invalid = |reason: String| ImageError::InvalidCaCertificates {
        what: what.to_string(),
        reason,
    };
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(format!("not a PEM bundle: {error}")))?;
    if certificates.is_empty() {
        return Err(invalid(
            "no -----BEGIN CERTIFICATE----- block in it".to_string(),
        ));
    }
    Ok(certificates)
}

fn oci_reference(reference: &Reference) -> oci_client::Reference {
    let (registry, repository) = (reference.registry.clone(), reference.repository.clone());
    match (&reference.tag, &reference.digest) {
        (Some(tag), Some(digest)) => oci_client::Reference::with_tag_and_digest(
            registry,
            repository,
            tag.clone(),
            digest.to_string(),
        ),
        (None, Some(digest)) => {
            oci_client::Reference::with_digest(registry, repository, digest.to_string())
        }
        (tag, None) => oci_client::Reference::with_tag(
            registry,
            repository,
            tag.clone()
                .unwrap_or_else(|| crate::reference::DEFAULT_TAG.to_string()),
        ),
    }
}

fn registry_auth(credential: Option<&Credential>) -> RegistryAuth {
    match credential {
        None => RegistryAuth::Anonymous,
        Some(Credential::Basic { username, password }) => {
            RegistryAuth::Basic(username.clone(), password.clone())
        }
        Some(Credential::Bearer(token)) => RegistryAuth::Bearer(token.clone()),
    }
}

/// The fields that tell a manifest from an index.
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    manifests: Option<serde::de::IgnoredAny>,
}

/// Whether a document is an index (OCI) or manifest list (Docker): by its media type, or, when
/// it has none, by its having `manifests`.
fn is_index(bytes: &[u8]) -> bool {
    match serde_json::from_slice::<Head>(bytes) {
        Ok(Head {
            media_type: Some(media_type),
            ..
        }) => media_type == OCI_INDEX || media_type == DOCKER_LIST,
        Ok(Head {
            media_type: None,
            manifests,
        }) => manifests.is_some(),
        Err(_) => false,
    }
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, ImageError> {
    serde_json::from_slice(bytes).map_err(|e| ImageError::InvalidDocument {
        what: what.to_string(),
        message: e.to_string(),
    })
}

/// The index's entry for `platform`: the first that matches.
fn choose_platform<'a>(index: &'a ImageIndex, platform: &Platform) -> Option<&'a Descriptor> {
    index
        .manifests()
        .iter()
        .find(|descriptor| platform.matches(descriptor))
}

/// The platforms an index offers, for an error.
fn platforms(index: &ImageIndex) -> String {
    let names: Vec<String> = index
        .manifests()
        .iter()
        .filter_map(|descriptor| descriptor.platform().as_ref())
        .map(|platform| format!("{}/{}", platform.os(), platform.architecture()))
        .collect();
    if names.is_empty() {
        "no platforms".to_string()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests;
