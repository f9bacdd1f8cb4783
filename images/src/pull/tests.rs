//! The pure parts of a pull (platform choice, error reasons, CA bundles), and recording
//! downloads made here by hand, whole and damaged. The registry itself is exercised by
//! `tests/registry_pull.rs`.

use std::fs;

use serde_json::{Value, json};

use super::reason::{MAX_QUOTED, quote};
use super::*;
use crate::test_tar::tar_of;
use oci_client::errors::OciEnvelope;

fn json_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": Digest::of(bytes).to_string(), "size": bytes.len()})
}

/// An image of one layer: (layer, config, manifest).
fn image(marker: &str) -> [Vec<u8>; 3] {
    let layer = tar_of(&[(marker, b"here".to_vec())]);
    let config = json_bytes(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [Digest::of(&layer).to_string()]},
    }));
    let manifest = json_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", &layer)],
    }));
    [layer, config, manifest]
}

fn index(entries: &[(&[u8], &str, &str)]) -> Vec<u8> {
    let manifests: Vec<Value> = entries
        .iter()
        .map(|(manifest, os, architecture)| {
            let mut entry = descriptor(OCI_MANIFEST, manifest);
            entry["platform"] = json!({"os": os, "architecture": architecture});
            entry
        })
        .collect();
    json_bytes(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}))
}

/// What `download` would have made of `downloads` (each written to the pull's directory) and
/// `present`, for the store at `root`.
fn pulled(
    root: &Path,
    name: &str,
    top: &[u8],
    downloads: &[&[u8]],
    present: &[&[u8]],
) -> PulledImage {
    let staging = Staging::create(root).unwrap();
    let downloads = downloads
        .iter()
        .enumerate()
        .map(|(n, bytes)| {
            let digest = Digest::of(bytes);
            fs::write(staging.path(&digest), bytes).unwrap();
            Download {
                what: format!("download {n}"),
                digest,
                size: bytes.len() as u64,
            }
        })
        .collect();
    PulledImage {
        reference: Reference::parse(name).unwrap(),
        asked: name.to_string(),
        digest: Digest::of(top),
        is_index: is_index(top),
        downloads,
        present: present.iter().map(|bytes| Digest::of(bytes)).collect(),
        staging,
    }
}

fn open() -> (tempfile::TempDir, ImageStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    (dir, store)
}

#[test]
fn a_recorded_pull_is_an_image_like_an_imported_one() {
    let (dir, mut store) = open();
    let [layer, config, manifest] = image("marker");
    let pull = pulled(
        dir.path(),
        "127.0.0.1:5000/app:1",
        &manifest,
        &[&manifest, &config, &layer],
        &[],
    );
    let staged = pull.staging.path(&Digest::of(&layer));
    let summary = store.record_pull(pull).unwrap();
    assert_eq!(summary.reference.to_string(), "127.0.0.1:5000/app:1");
    assert_eq!(summary.digest, Digest::of(&manifest));
    assert_eq!(
        summary.size,
        (layer.len() + config.len() + manifest.len()) as u64
    );
    assert_eq!(store.list().unwrap(), vec![summary]);
    let details = store.inspect("127.0.0.1:5000/app:1").unwrap();
    assert_eq!(details.manifest.layers().len(), 1);
    // The downloads moved in; the pull's directory went with it.
    assert!(!staged.exists());
    assert_eq!(fs::read_dir(dir.path().join("pulls")).unwrap().count(), 0);
}

#[test]
fn a_pull_reuses_stored_blobs_and_keeps_the_platform_it_chose() {
    let (dir, mut store) = open();
    let [layer, config, manifest] = image("marker");
    store
        .record_pull(pulled(
            dir.path(),
            "registry.example/base:1",
            &manifest,
            &[&manifest, &config, &layer],
            &[],
        ))
        .unwrap();
    // A multi-platform name for the same amd64 image: only the index is downloaded.
    let [_, _, arm] = image("arm");
    let top = index(&[(&arm, "linux", "arm64"), (&manifest, "linux", "amd64")]);
    let summary = store
        .record_pull(pulled(
            dir.path(),
            "registry.example/multi:1",
            &top,
            &[&top],
            &[&manifest, &config, &layer],
        ))
        .unwrap();
    assert_eq!(summary.digest, Digest::of(&top));
    let details = store.inspect("registry.example/multi:1").unwrap();
    assert_eq!(
        Digest::named_by(details.manifest.config()).unwrap(),
        Digest::of(&config)
    );
}

#[test]
fn a_failed_record_leaves_the_store_as_it_was() {
    let (dir, mut store) = open();
    let [layer, config, manifest] = image("marker");
    let mut pull = pulled(
        dir.path(),
        "registry.example/app:1",
        &manifest,
        &[&manifest, &config, &layer],
        &[],
    );
    // The layer on disk is not what was asked for.
    fs::write(pull.staging.path(&Digest::of(&layer)), b"tampered").unwrap();
    pull.downloads[2].size = b"tampered".len() as u64;
    let error = store.record_pull(pull).unwrap_err();
    assert!(
        matches!(&error, ImageError::DigestMismatch { what, .. } if what == "download 2"),
        "{error}"
    );
    assert!(store.list().unwrap().is_empty());
    assert!(
        fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .next()
            .is_none()
    );
    assert!(!dir.path().join("images.json").exists());
}

#[test]
fn a_blob_that_left_the_store_during_the_pull_fails_it() {
    let (dir, mut store) = open();
    let [layer, config, manifest] = image("marker");
    let pull = pulled(
        dir.path(),
        "registry.example/app:1",
        &manifest,
        &[&manifest, &config],
        &[&layer],
    );
    let error = store.record_pull(pull).unwrap_err().to_string();
    assert!(
        error.starts_with("failed to pull \"registry.example/app:1\": blob sha256:")
            && error.ends_with("pull again"),
        "{error}"
    );
    assert!(store.list().unwrap().is_empty());
    assert!(
        fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .next()
            .is_none()
    );
}

#[test]
fn the_nodes_platform_is_chosen_from_an_index() {
    let [_, _, amd] = image("amd");
    let [_, _, arm] = image("arm");
    let top = index(&[(&arm, "linux", "arm64"), (&amd, "linux", "amd64")]);
    assert!(is_index(&top) && !is_index(&amd));
    // A Docker manifest list, and an index that does not say its media type.
    assert!(is_index(
        br#"{"mediaType": "application/vnd.docker.distribution.manifest.list.v2+json"}"#
    ));
    assert!(is_index(br#"{"schemaVersion": 2, "manifests": []}"#));
    let index: ImageIndex = serde_json::from_slice(&top).unwrap();
    let amd64 = Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: None,
    };
    let chosen = choose_platform(&index, &amd64).unwrap();
    assert_eq!(Digest::named_by(chosen).unwrap(), Digest::of(&amd));
    let riscv = Platform {
        architecture: "riscv64".into(),
        ..amd64
    };
    assert!(choose_platform(&index, &riscv).is_none());
    assert_eq!(platforms(&index), "linux/arm64, linux/amd64");
    if cfg!(target_arch = "x86_64") {
        assert_eq!(Platform::host().to_string(), "linux/amd64");
    }
}

fn envelope(json: &str) -> OciEnvelope {
    serde_json::from_str(json).unwrap()
}

#[test]
fn errors_carry_the_registrys_reason() {
    let unknown = OciDistributionError::RegistryError {
        envelope: envelope(
            r#"{"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}"#,
        ),
        url: "http://r/v2/app/manifests/1".into(),
    };
    assert_eq!(registry_reason(&unknown, None), "manifest unknown");
    let name = OciDistributionError::RegistryError {
        envelope: envelope(
            r#"{"errors": [{"code": "NAME_UNKNOWN",
                "message": "repository name not known to registry", "detail": {"name": "x"}}]}"#,
        ),
        url: "u".into(),
    };
    assert_eq!(
        registry_reason(&name, None),
        "name unknown: repository name not known to registry"
    );
    let unauthorized = OciDistributionError::UnauthorizedError { url: "u".into() };
    assert_eq!(
        registry_reason(&unauthorized, None),
        "unauthorized: authentication required (no credentials match the registry)"
    );
    let alice = Credential::Basic {
        username: "alice".into(),
        password: "wrong".into(),
    };
    assert_eq!(
        registry_reason(&unauthorized, Some(&alice)),
        "unauthorized: authentication required (the registry refused user \"alice\")"
    );
    let token = OciDistributionError::AuthenticationFailure(
        r#"{"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}"#.into(),
    );
    assert_eq!(
        registry_reason(&token, Some(&alice)),
        "unauthorized: the token service refused: unauthorized: authentication required"
    );
    let proxy = OciDistributionError::ServerError {
        code: 502,
        url: "u".into(),
        message: "<html>\n  upstream down\n</html>\n".into(),
    };
    assert_eq!(
        registry_reason(&proxy, None),
        "HTTP 502 Bad Gateway: <html> upstream down </html>"
    );
    let long = quote(&"x".repeat(1000));
    assert_eq!(long.len(), MAX_QUOTED + 3);
}

#[test]
fn a_pem_bundle_gives_its_certificates_and_anything_else_is_refused() {
    let pem = |name: &str| {
        let key = rcgen::KeyPair::generate().unwrap();
        rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .pem()
    };
    let bundle = format!("{}\n{}", pem("a.example"), pem("b.example"));
    assert_eq!(
        parse_pem_bundle("bundle", bundle.as_bytes()).unwrap().len(),
        2
    );
    let error = parse_pem_bundle("ca.pem", b"not a certificate")
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "CA certificates ca.pem: no -----BEGIN CERTIFICATE----- block in it"
    );
    let broken = "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n";
    let error = parse_pem_bundle("ca.pem", broken.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("CA certificates ca.pem: not a PEM bundle"),
        "{error}"
    );
}

#[test]
fn references_keep_their_registry_tag_and_digest() {
    let busybox = oci_reference(&Reference::parse("busybox").unwrap());
    assert_eq!(busybox.resolve_registry(), "index.docker.io");
    assert_eq!(busybox.repository(), "library/busybox");
    assert_eq!(busybox.tag(), Some("latest"));
    let digest = Digest::of(b"m");
    let pinned =
        oci_reference(&Reference::parse(&format!("localhost:5000/app:1@{digest}")).unwrap());
    assert_eq!(pinned.resolve_registry(), "localhost:5000");
    assert_eq!(pinned.digest(), Some(digest.to_string().as_str()));
}

#[test]
fn a_pull_can_be_spawned_on_a_multi_threaded_runtime() {
    fn send<T: Send>(_: &T) {}
    let options = PullOptions::default();
    let pulling = pull(Path::new("/nonexistent"), "busybox", &options);
    send(&pulling);
    let downloading = download(Path::new("/nonexistent"), "busybox", &options);
    send(&downloading);
}
