//! flotilla-images: the node's content-addressed image store.
//!
//! Images arrive as archives — an OCI image layout (what `skopeo copy ... oci-archive:`,
//! `buildah push` and `podman save --format oci-archive` write) or a Docker archive (`docker
//! save`, `podman save`) — and are kept as blobs named by their SHA-256 digest
//! ([`blobs`]), with a table of image names pointing at manifests ([`refs`]). Every blob is
//! verified against its digest as it is written, and an import either records all its images
//! or leaves the store as it was. Images also come from registries ([`mod@pull`]): downloaded
//! without the store's lock, then recorded under it with the same checks and the same
//! all-or-nothing rule, with credentials from image pull secrets ([`credentials`]).
//! [`ImageStore::unpack`] gives an image's layers as overlayfs lower directories, and
//! [`image_process`] what a container of it runs. When the disk fills up, the node agent
//! removes the least recently used images no container uses ([`gc`]).
//!
//! Layout of the store's directory:
//! - `blobs/sha256/HEX`: manifests, configs and layers, as their digest names them;
//! - `ingest/`: blobs being written (a crash leaves only files here, removed at next open);
//! - `pulls/PID.N/`: what a pull of process PID downloaded and the store has not taken yet;
//! - `images.json`: image name -> manifest digest, replaced whole on each change;
//! - `last-used.json`: image name -> when a container last started from it (or it was pulled
//!   or imported), replaced whole as `images.json` is;
//! - `lock`: held (flock) by the process that has the store open.

mod archive;
pub mod blobs;
pub mod credentials;
mod digest;
mod error;
pub mod gc;
mod json_file;
mod last_used;
mod layers;
mod process;
pub mod pull;
pub mod reference;
pub mod refs;
mod store;
#[cfg(test)]
mod test_tar;

pub use credentials::{Credential, RegistryCredentials};
pub use digest::Digest;
pub use error::ImageError;
pub use gc::{GcPlan, ImageGcPolicy, ImageGcPolicyError};
pub use process::{ContainerProcess, ImageProcess, image_process};
pub use pull::{CaCertificates, Platform, PullOptions, PulledImage, download, pull};
pub use store::{ImageDetails, ImageStore, ImageSummary};
