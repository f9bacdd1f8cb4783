//! Reading an image archive into the blob store. Both formats are tar files:
//! - an OCI image layout: `oci-layout`, `index.json` and `blobs/sha256/HEX`; the index names its
//!   images with the `io.containerd.image.name` or `org.opencontainers.image.ref.name`
//!   annotation (the latter often a bare tag, which needs a base name);
//! - a Docker archive: `manifest.json` listing each image's config file, layer files and
//!   `RepoTags`; the files are stored as blobs under their digest and an OCI manifest is
//!   written for each image.
//!
//! Entries are streamed into the blob store as they come (verified against the digest in their
//! name when they have one); the archive's documents are checked once it has been read. The
//! caller removes the blobs this import added if it fails.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use serde::Deserialize;
use serde_json::json;

use crate::blobs::{BlobStore, Expected};
use crate::digest::Digest;
use crate::error::ImageError;
use crate::reference::Reference;

/// containerd's annotation for an image's full name.
const CONTAINERD_NAME: &str = "io.containerd.image.name";
const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The archive's own documents are small; anything larger is not one.
const MAX_DOCUMENT: u64 = 4 << 20;

/// What an archive held: its images, and the blobs the import added to the store.
#[derive(Debug, Default)]
pub struct Imported {
    pub images: Vec<(Reference, Digest)>,
    pub new_blobs: Vec<Digest>,
}

/// The entries of interest, as the archive is read.
#[derive(Default)]
struct Entries {
    index: Option<Vec<u8>>,
    docker_manifest: Option<Vec<u8>>,
    /// Every regular file stored as a blob, by its path in the archive.
    files: HashMap<PathBuf, (Digest, u64)>,
    /// Symbolic links between files (`docker save` links repeated layers).
    links: HashMap<PathBuf, PathBuf>,
}

/// Reads `archive` into `blobs`; `imported.new_blobs` grows as blobs are added, so that a caller
/// can remove them if this fails. `base_name` names images the archive tags without a
/// repository.
pub fn import(
    blobs: &BlobStore,
    archive: &mut dyn Read,
    base_name: Option<&str>,
    imported: &mut Imported,
) -> Result<(), ImageError> {
    let entries = read_entries(blobs, archive, &mut imported.new_blobs)?;
    imported.images = if let Some(index) = &entries.index {
        oci_images(blobs, index, base_name)?
    } else if let Some(manifest) = &entries.docker_manifest {
        docker_images(
            blobs,
            &entries,
            manifest,
            base_name,
            &mut imported.new_blobs,
        )?
    } else {
        return Err(ImageError::UnknownArchive);
    };
    if imported.images.is_empty() {
        return Err(ImageError::NoImages(
            "its index lists no manifests".to_string(),
        ));
    }
    Ok(())
}

fn read_entries(
    blobs: &BlobStore,
    archive: &mut dyn Read,
    new_blobs: &mut Vec<Digest>,
) -> Result<Entries, ImageError> {
    let corrupt = |e: std::io::Error| ImageError::Archive(e.to_string());
    let mut tar = tar::Archive::new(archive);
    let mut entries = Entries::default();
    for entry in tar.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let path = normalize(&entry.path().map_err(corrupt)?)?;
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            if let Some(target) = entry.link_name().map_err(corrupt)? {
                let base = if kind.is_symlink() {
                    path.parent().unwrap_or(Path::new("")).join(target)
                } else {
                    target.into_owned()
                };
                entries.links.insert(path, normalize(&base)?);
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let what = path.display().to_string();
        match what.as_str() {
            "index.json" => entries.index = Some(document(&what, &mut entry)?),
            "manifest.json" => entries.docker_manifest = Some(document(&what, &mut entry)?),
            "oci-layout" | "repositories" => {}
            _ => {
                let named = what
                    .strip_prefix("blobs/sha256/")
                    .map(|hex| {
                        Digest::from_hex(hex).ok_or_else(|| {
                            ImageError::Archive(format!("{what}: not named by a sha256 digest"))
                        })
                    })
                    .transpose()?;
                let expected = Expected {
                    digest: named.as_ref(),
                    size: Some(entry.size()),
                };
                let (digest, size, new) =
                    blobs
                        .write(&what, &mut entry, expected)
                        .map_err(|error| match error {
                            // The tar header announced more than the archive holds.
                            ImageError::SizeMismatch {
                                what,
                                expected,
                                actual,
                            } => ImageError::Archive(format!(
                                "{what} is cut short: {expected} bytes announced, {actual} read"
                            )),
                            other => other,
                        })?;
                if new {
                    new_blobs.push(digest.clone());
                }
                entries.files.insert(path, (digest, size));
            }
        }
    }
    Ok(entries)
}

/// A path inside the archive without `./`, refusing `..` and absolute paths.
fn normalize(path: &Path) -> Result<PathBuf, ImageError> {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => normal.push(part),
            Component::CurDir => {}
            Component::ParentDir if normal.pop() => {}
            _ => {
                return Err(ImageError::Archive(format!(
                    "{}: a path outside the archive",
                    path.display()
                )));
            }
        }
    }
    Ok(normal)
}

fn document(what: &str, entry: &mut dyn Read) -> Result<Vec<u8>, ImageError> {
    let mut bytes = Vec::new();
    entry
        .take(MAX_DOCUMENT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ImageError::Archive(format!("reading {what}: {e}")))?;
    if bytes.len() as u64 > MAX_DOCUMENT {
        return Err(ImageError::Archive(format!(
            "{what} is larger than {MAX_DOCUMENT} bytes"
        )));
    }
    Ok(bytes)
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, ImageError> {
    serde_json::from_slice(bytes).map_err(|e| ImageError::InvalidDocument {
        what: what.to_string(),
        message: e.to_string(),
    })
}

/// The images of an OCI layout's index, each checked to have every blob it needs.
fn oci_images(
    blobs: &BlobStore,
    index: &[u8],
    base_name: Option<&str>,
) -> Result<Vec<(Reference, Digest)>, ImageError> {
    let index: ImageIndex = parse("index.json", index)?;
    let mut images = Vec::new();
    for (n, descriptor) in index.manifests().iter().enumerate() {
        let what = format!("index.json manifests[{n}]");
        let digest = present(blobs, &what, descriptor)?;
        check_target(blobs, &what, descriptor, &digest)?;
        let reference = oci_name(&what, descriptor, base_name)?;
        images.push((reference, digest));
    }
    Ok(images)
}

fn oci_name(
    what: &str,
    descriptor: &Descriptor,
    base_name: Option<&str>,
) -> Result<Reference, ImageError> {
    let annotations = descriptor.annotations().clone().unwrap_or_default();
    if let Some(name) = annotations.get(CONTAINERD_NAME) {
        return Reference::parse(name);
    }
    let ref_name = annotations.get(oci_spec::image::ANNOTATION_REF_NAME);
    match (ref_name, base_name) {
        // A full reference, as podman and `skopeo copy oci-archive:FILE:NAME:TAG` write it.
        (Some(name), _) if name.contains('/') || name.contains(':') => Reference::parse(name),
        (Some(tag), Some(base)) => Reference::parse(&format!("{base}:{tag}")),
        (Some(tag), None) => Err(ImageError::TagOnly {
            what: what.to_string(),
            tag: tag.clone(),
        }),
        (None, Some(base)) => Reference::parse(base),
        (None, None) => Err(ImageError::NoImages(format!(
            "{what} has no {} annotation; import it with a base name",
            oci_spec::image::ANNOTATION_REF_NAME
        ))),
    }
}

/// The digest a descriptor names, once its blob is known to be stored with the size it says.
fn present(blobs: &BlobStore, what: &str, descriptor: &Descriptor) -> Result<Digest, ImageError> {
    let digest = Digest::named_by(descriptor)?;
    if !blobs.contains(&digest) {
        return Err(ImageError::MissingBlob {
            what: what.to_string(),
            digest: digest.to_string(),
        });
    }
    let size = blobs.size(&digest)?;
    if size != descriptor.size() {
        return Err(ImageError::SizeMismatch {
            what: format!("{what} ({digest})"),
            expected: descriptor.size(),
            actual: size,
        });
    }
    Ok(digest)
}

/// Checks what a manifest or index names is stored: every layer and the config of a
/// manifest; of a nested index (several platforms), the manifests the archive holds, at least
/// one.
fn check_target(
    blobs: &BlobStore,
    what: &str,
    descriptor: &Descriptor,
    digest: &Digest,
) -> Result<(), ImageError> {
    let is_index = match descriptor.media_type() {
        MediaType::ImageIndex => true,
        MediaType::Other(other) => other == DOCKER_MANIFEST_LIST,
        _ => false,
    };
    check_image(blobs, what, digest, is_index)
}

/// Checks the stored manifest or index (`is_index`) at `digest` has what it names stored, as
/// [`check_target`] does for an archive's images; a pull checks its image with it too.
pub fn check_image(
    blobs: &BlobStore,
    what: &str,
    digest: &Digest,
    is_index: bool,
) -> Result<(), ImageError> {
    let bytes = blobs.read(digest)?;
    if !is_index {
        return check_manifest(blobs, what, &bytes);
    }
    let index: ImageIndex = parse(what, &bytes)?;
    let mut held = 0;
    for (n, child) in index.manifests().iter().enumerate() {
        let what = format!("{what} manifests[{n}]");
        let Ok(child_digest) = present(blobs, &what, child) else {
            continue;
        };
        check_manifest(blobs, &what, &blobs.read(&child_digest)?)?;
        held += 1;
    }
    if held == 0 {
        return Err(ImageError::NoImages(format!(
            "{what} is an index of platforms the archive holds none of"
        )));
    }
    Ok(())
}

fn check_manifest(blobs: &BlobStore, what: &str, bytes: &[u8]) -> Result<(), ImageError> {
    let manifest: ImageManifest = parse(what, bytes)?;
    let config = present(blobs, &format!("{what} config"), manifest.config())?;
    parse::<ImageConfiguration>(&format!("{what} config"), &blobs.read(&config)?)?;
    for (n, layer) in manifest.layers().iter().enumerate() {
        present(blobs, &format!("{what} layers[{n}]"), layer)?;
    }
    Ok(())
}

/// One image of a Docker archive's `manifest.json`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerImage {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// The images of a Docker archive: an OCI manifest is written for each.
fn docker_images(
    blobs: &BlobStore,
    entries: &Entries,
    manifest: &[u8],
    base_name: Option<&str>,
    new_blobs: &mut Vec<Digest>,
) -> Result<Vec<(Reference, Digest)>, ImageError> {
    let images: Vec<DockerImage> = parse("manifest.json", manifest)?;
    let mut named = Vec::new();
    for (n, image) in images.iter().enumerate() {
        let what = format!("manifest.json[{n}]");
        let (config, config_size) = file(entries, &format!("{what} Config"), &image.config)?;
        parse::<ImageConfiguration>(&image.config, &blobs.read(config)?)?;
        let mut layers = Vec::new();
        for (l, path) in image.layers.iter().enumerate() {
            let (digest, size) = file(entries, &format!("{what} Layers[{l}]"), path)?;
            layers.push(json!({
                "mediaType": layer_media_type(blobs, digest)?,
                "digest": digest.to_string(),
                "size": size,
            }));
        }
        let oci = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config.to_string(),
                "size": config_size,
            },
            "layers": layers,
        });
        let bytes = serde_json::to_vec(&oci).map_err(|e| ImageError::InvalidDocument {
            what: what.clone(),
            message: e.to_string(),
        })?;
        let (digest, _, new) = blobs.write(&what, &mut bytes.as_slice(), Expected::NOTHING)?;
        if new {
            new_blobs.push(digest.clone());
        }
        let tags = image.repo_tags.clone().unwrap_or_default();
        if tags.is_empty() {
            let base = base_name.ok_or_else(|| {
                ImageError::NoImages(format!(
                    "{what} has no RepoTags; import it with a base name"
                ))
            })?;
            named.push((Reference::parse(base)?, digest.clone()));
        }
        for tag in tags {
            named.push((Reference::parse(&tag)?, digest.clone()));
        }
    }
    Ok(named)
}

/// The blob stored for a file of the archive, following links.
fn file<'a>(entries: &'a Entries, what: &str, path: &str) -> Result<&'a (Digest, u64), ImageError> {
    let mut path = normalize(Path::new(path))?;
    let mut seen = HashSet::new();
    while let Some(target) = entries.links.get(&path) {
        // A cycle of links ends where it started: the file is then missing.
        if !seen.insert(path.clone()) {
            break;
        }
        path = target.clone();
    }
    entries
        .files
        .get(&path)
        .ok_or_else(|| ImageError::MissingBlob {
            what: what.to_string(),
            digest: path.display().to_string(),
        })
}

/// A layer's media type from its first bytes: Docker archives hold plain tars, though some
/// tools write compressed ones.
fn layer_media_type(blobs: &BlobStore, digest: &Digest) -> Result<&'static str, ImageError> {
    let path = blobs.path(digest);
    let mut head = [0u8; 4];
    let mut file = std::fs::File::open(&path).map_err(ImageError::io(&path))?;
    let n = file.read(&mut head).map_err(ImageError::io(&path))?;
    Ok(match &head[..n] {
        [0x1f, 0x8b, ..] => "application/vnd.oci.image.layer.v1.tar+gzip",
        [0x28, 0xb5, 0x2f, 0xfd] => "application/vnd.oci.image.layer.v1.tar+zstd",
        _ => "application/vnd.oci.image.layer.v1.tar",
    })
}
