//! The store against archives built here, in both formats, whole and damaged.

use std::fs;

use serde_json::{Value, json};

use super::*;
use crate::gc::ImageGcPolicy;
use crate::test_tar::tar_of;

fn json_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": Digest::of(bytes).to_string(), "size": bytes.len()})
}

/// An image: one layer holding `marker`, and a config with an entrypoint.
struct Image {
    layer: Vec<u8>,
    config: Vec<u8>,
    manifest: Vec<u8>,
}

fn image(marker: &str) -> Image {
    let layer = tar_of(&[(marker, b"here".to_vec())]);
    let config = json_bytes(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": ["/bin/sh"], "Cmd": ["-c", "echo hi"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [Digest::of(&layer).to_string()]},
    }));
    let manifest = json_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", &layer)],
    }));
    Image {
        layer,
        config,
        manifest,
    }
}

fn blob_path(bytes: &[u8]) -> String {
    format!("blobs/sha256/{}", Digest::of(bytes).hex())
}

/// An OCI layout archive of `images`, each with its `ref.name` annotation.
fn oci_archive(images: &[(&Image, &str)]) -> Vec<u8> {
    let manifests: Vec<Value> = images
        .iter()
        .map(|(image, name)| {
            let mut d = descriptor(
                "application/vnd.oci.image.manifest.v1+json",
                &image.manifest,
            );
            d["annotations"] = json!({"org.opencontainers.image.ref.name": name});
            d
        })
        .collect();
    let index = json_bytes(&json!({"schemaVersion": 2, "manifests": manifests}));
    let mut files = vec![
        (
            "oci-layout".to_string(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        ("index.json".to_string(), index),
    ];
    for (image, _) in images {
        for blob in [&image.layer, &image.config, &image.manifest] {
            files.push((blob_path(blob), blob.clone()));
        }
    }
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(p, b)| (p.as_str(), b.clone())).collect();
    tar_of(&files)
}

fn open() -> (tempfile::TempDir, ImageStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    (dir, store)
}

fn blob_count(dir: &tempfile::TempDir) -> usize {
    fs::read_dir(dir.path().join("blobs/sha256"))
        .unwrap()
        .count()
}

#[test]
fn an_oci_archive_is_imported_listed_inspected_and_removed() {
    let (dir, mut store) = open();
    let busybox = image("marker");
    let archive = oci_archive(&[(&busybox, "docker.io/library/busybox:1.36")]);
    let imported = store.import(&mut archive.as_slice(), None).unwrap();
    assert_eq!(imported.len(), 1);
    let expected_size =
        (busybox.layer.len() + busybox.config.len() + busybox.manifest.len()) as u64;
    let listed = store.list().unwrap();
    assert_eq!(listed, imported);
    assert_eq!(
        listed[0].reference.to_string(),
        "docker.io/library/busybox:1.36"
    );
    assert_eq!(listed[0].digest, Digest::of(&busybox.manifest));
    assert_eq!(listed[0].size, expected_size);

    let details = store.inspect("busybox:1.36").unwrap();
    let config = details.config.config().clone().unwrap();
    assert_eq!(config.entrypoint().clone().unwrap(), vec!["/bin/sh"]);
    assert_eq!(details.manifest.layers().len(), 1);

    // Reopened, the store still knows it.
    drop(store);
    let mut store = ImageStore::open(dir.path()).unwrap();
    assert_eq!(store.list().unwrap(), imported);
    store.remove("busybox:1.36").unwrap();
    assert!(store.list().unwrap().is_empty());
    assert_eq!(blob_count(&dir), 0);
    assert!(matches!(
        store.inspect("busybox:1.36"),
        Err(ImageError::NotFound(_))
    ));
}

#[test]
fn a_bare_tag_needs_a_base_name() {
    let (dir, mut store) = open();
    let archive = oci_archive(&[(&image("m"), "1.36")]);
    let error = store.import(&mut archive.as_slice(), None).unwrap_err();
    assert!(matches!(error, ImageError::TagOnly { .. }), "{error}");
    assert!(error.to_string().contains("base name"), "{error}");
    assert_eq!(blob_count(&dir), 0, "nothing half-imported");
    assert!(store.list().unwrap().is_empty());

    let imported = store
        .import(&mut archive.as_slice(), Some("busybox"))
        .unwrap();
    assert_eq!(
        imported[0].reference.to_string(),
        "docker.io/library/busybox:1.36"
    );
}

#[test]
fn a_blob_whose_content_does_not_match_its_name_fails_the_whole_import() {
    let (dir, mut store) = open();
    let good = image("good");
    store
        .import(&mut oci_archive(&[(&good, "good:1")]).as_slice(), None)
        .unwrap();
    let before = blob_count(&dir);

    let bad = image("bad");
    let mut files = vec![
        (
            "index.json".to_string(),
            json_bytes(&json!({"schemaVersion": 2, "manifests": [
                descriptor("application/vnd.oci.image.manifest.v1+json", &bad.manifest)
            ]})),
        ),
        (blob_path(&bad.config), bad.config.clone()),
        (blob_path(&bad.manifest), bad.manifest.clone()),
    ];
    files.push((blob_path(&bad.layer), b"not the layer".to_vec()));
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(p, b)| (p.as_str(), b.clone())).collect();
    let error = store
        .import(&mut tar_of(&files).as_slice(), Some("bad"))
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, ImageError::DigestMismatch { .. }),
        "{message}"
    );
    assert!(message.contains(&blob_path(&bad.layer)), "{message}");
    assert_eq!(
        blob_count(&dir),
        before,
        "the blobs of the failed import are gone"
    );
    assert_eq!(store.list().unwrap().len(), 1);
}

#[test]
fn a_truncated_archive_leaves_nothing() {
    let (dir, mut store) = open();
    let archive = oci_archive(&[(&image("m"), "app:1")]);
    let cut = &archive[..archive.len() / 2 + 100];
    let error = store.import(&mut &cut[..], None).unwrap_err();
    assert!(
        matches!(error, ImageError::Archive(_) | ImageError::UnknownArchive),
        "{error}"
    );
    assert_eq!(blob_count(&dir), 0);
    assert!(!dir.path().join("images.json").exists());
}

#[test]
fn a_manifest_naming_a_blob_the_archive_lacks_is_refused() {
    let (dir, mut store) = open();
    let img = image("m");
    let index = json_bytes(&json!({"schemaVersion": 2, "manifests": [
        descriptor("application/vnd.oci.image.manifest.v1+json", &img.manifest)
    ]}));
    let manifest_path = blob_path(&img.manifest);
    let config_path = blob_path(&img.config);
    let archive = tar_of(&[
        ("index.json", index),
        (manifest_path.as_str(), img.manifest.clone()),
        (config_path.as_str(), img.config.clone()),
    ]);
    let error = store
        .import(&mut archive.as_slice(), Some("app"))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "index.json manifests[0] layers[0] references blob {}, which the archive does not \
             hold",
            Digest::of(&img.layer)
        )
    );
    assert_eq!(blob_count(&dir), 0);
}

#[test]
fn a_docker_archive_gets_an_oci_manifest_for_each_tag() {
    let (dir, mut store) = open();
    let img = image("marker");
    let manifest = json_bytes(&json!([{
        "Config": "abc.json",
        "RepoTags": ["team/app:1", "team/app:latest"],
        "Layers": ["l1/layer.tar", "l2/layer.tar"],
    }]));
    // Two layers with the same content, as the config's two diff_ids say.
    let diff_id = Digest::of(&img.layer).to_string();
    let config = json_bytes(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id, diff_id]},
    }));
    let mut builder = tar::Builder::new(Vec::new());
    for (path, bytes) in [
        ("manifest.json", &manifest),
        ("abc.json", &config),
        ("l1/layer.tar", &img.layer),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        builder
            .append_data(&mut header, path, bytes.as_slice())
            .unwrap();
    }
    // docker save links a layer it has already written.
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    builder
        .append_link(&mut link, "l2/layer.tar", "../l1/layer.tar")
        .unwrap();
    let archive = builder.into_inner().unwrap();

    let imported = store.import(&mut archive.as_slice(), None).unwrap();
    let names: Vec<String> = imported.iter().map(|i| i.reference.to_string()).collect();
    assert_eq!(names, ["docker.io/team/app:1", "docker.io/team/app:latest"]);
    let details = store.inspect("team/app:1").unwrap();
    let layers = details.manifest.layers();
    assert_eq!(layers.len(), 2);
    assert_eq!(
        layers[0].digest().to_string(),
        Digest::of(&img.layer).to_string()
    );
    assert_eq!(layers[1].digest(), layers[0].digest());

    store.remove("team/app:1").unwrap();
    assert!(blob_count(&dir) > 0, "team/app:latest still uses the blobs");
    store.remove("team/app:latest").unwrap();
    assert_eq!(blob_count(&dir), 0);
}

#[test]
fn images_sharing_a_layer_keep_it_until_the_last_goes() {
    let (dir, mut store) = open();
    let one = image("shared");
    let mut two = image("shared");
    // Same layer, another config (another entrypoint), so another manifest.
    let config: Value = serde_json::from_slice(&two.config).unwrap();
    let mut config = config;
    config["config"]["Entrypoint"] = json!(["/bin/true"]);
    two.config = json_bytes(&config);
    let mut manifest: Value = serde_json::from_slice(&two.manifest).unwrap();
    manifest["config"] = descriptor("application/vnd.oci.image.config.v1+json", &two.config);
    two.manifest = json_bytes(&manifest);
    let archive = oci_archive(&[(&one, "one:1"), (&two, "two:1")]);
    store.import(&mut archive.as_slice(), None).unwrap();
    assert_eq!(blob_count(&dir), 5);
    store.remove("one:1").unwrap();
    assert_eq!(blob_count(&dir), 3);
    assert!(store.inspect("two:1").is_ok());
}

#[test]
fn what_is_not_an_image_archive_is_told_apart() {
    let (_dir, mut store) = open();
    let plain = tar_of(&[("hello.txt", b"hi".to_vec())]);
    let error = store.import(&mut plain.as_slice(), None).unwrap_err();
    assert!(matches!(error, ImageError::UnknownArchive), "{error}");
    // tar's builder refuses `..`, as a hostile archive would not.
    let mut header = tar::Header::new_old();
    let name = b"blobs/../../etc/x";
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_size(2);
    header.set_cksum();
    let mut escape = header.as_bytes().to_vec();
    escape.extend_from_slice(b"hi");
    escape.resize(escape.len() + 510 + 1024, 0);
    let error = store.import(&mut escape.as_slice(), None).unwrap_err();
    assert!(error.to_string().contains("outside the archive"), "{error}");
}

#[test]
fn a_second_opener_waits_for_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let first = ImageStore::open(dir.path()).unwrap();
    let path = dir.path().to_path_buf();
    let (opened, done) = std::sync::mpsc::channel();
    let second = std::thread::spawn(move || {
        let store = ImageStore::open(&path).unwrap();
        opened.send(()).unwrap();
        drop(store);
    });
    assert!(
        done.recv_timeout(std::time::Duration::from_millis(200))
            .is_err(),
        "the second open waits while the first holds the store"
    );
    drop(first);
    done.recv_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    second.join().unwrap();
}

#[test]
fn importing_a_name_again_moves_it_and_drops_the_old_images_blobs() {
    let (dir, mut store) = open();
    let old = image("old");
    let new = image("new");
    store
        .import(&mut oci_archive(&[(&old, "app:1")]).as_slice(), None)
        .unwrap();
    store
        .import(&mut oci_archive(&[(&new, "app:1")]).as_slice(), None)
        .unwrap();
    assert_eq!(store.list().unwrap()[0].digest, Digest::of(&new.manifest));
    assert_eq!(blob_count(&dir), 3, "only the new image's blobs are left");
}

#[test]
fn an_images_layers_are_unpacked_once_and_go_with_the_last_image_using_them() {
    let (dir, mut store) = open();
    let img = image("marker");
    store
        .import(
            &mut oci_archive(&[(&img, "app:1"), (&img, "app:2")]).as_slice(),
            None,
        )
        .unwrap();
    let layers = store.unpack("app:1").unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(fs::read(layers[0].join("marker")).unwrap(), b"here");
    assert_eq!(
        store.unpack("app:2").unwrap(),
        layers,
        "shared, not unpacked twice"
    );
    store.remove("app:1").unwrap();
    assert!(layers[0].is_dir(), "app:2 still uses it");
    store.remove("app:2").unwrap();
    assert!(!layers[0].exists());
    assert_eq!(
        fs::read_dir(dir.path().join("layers/sha256"))
            .unwrap()
            .count(),
        0
    );
}

/// `base` with another entrypoint: the same layer, another config and manifest.
fn sharing_the_layer_of(base: &Image) -> Image {
    let mut config: Value = serde_json::from_slice(&base.config).unwrap();
    config["config"]["Entrypoint"] = json!(["/bin/true"]);
    let config = json_bytes(&config);
    let mut manifest: Value = serde_json::from_slice(&base.manifest).unwrap();
    manifest["config"] = descriptor("application/vnd.oci.image.config.v1+json", &config);
    Image {
        layer: base.layer.clone(),
        config,
        manifest: json_bytes(&manifest),
    }
}

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(seconds)
}

fn names(store: &ImageStore) -> Vec<String> {
    let listed = store.list().unwrap();
    listed.iter().map(|i| i.reference.to_string()).collect()
}

/// A disk of `capacity` bytes that is full: collection frees 20% of it by default.
fn full_disk(capacity: u64) -> crate::gc::DiskUsage {
    crate::gc::DiskUsage {
        capacity,
        available: 0,
    }
}

#[test]
fn collection_frees_the_least_recently_used_images_files_but_not_what_kept_images_share() {
    let (dir, mut store) = open();
    let old = image("old");
    let busy = sharing_the_layer_of(&old);
    let new = image("new");
    let archive = oci_archive(&[
        (&old, "old:1"),
        (&busy, "busy:1"),
        (&busy, "busy:alias"),
        (&new, "new:1"),
    ]);
    store.import(&mut archive.as_slice(), None).unwrap();
    let layer_dir = |img: &Image| {
        dir.path()
            .join("layers/sha256")
            .join(Digest::of(&img.layer).hex())
    };
    assert!(layer_dir(&old).is_dir() && layer_dir(&new).is_dir());
    for (name, seconds) in [("old:1", 100), ("new:1", 200), ("busy:1", 50)] {
        store.mark_used(name, at(seconds)).unwrap();
    }
    store.mark_used("busy:alias", at(10)).unwrap();
    assert!(matches!(
        store.mark_used("absent:1", at(1)),
        Err(ImageError::NotFound(_))
    ));
    // The record outlives the process.
    drop(store);
    let mut store = ImageStore::open(dir.path()).unwrap();
    let in_use = BTreeSet::from(["docker.io/library/busy:1".to_string()]);
    let policy = ImageGcPolicy::DEFAULT;

    // Below the high threshold nothing goes.
    let roomy = crate::gc::DiskUsage {
        capacity: 1000,
        available: 500,
    };
    assert_eq!(store.collect_images(policy, roomy, &in_use).unwrap(), None);
    assert_eq!(names(&store).len(), 4);

    // 200 bytes to free: old:1 is the least recently used that no container uses (busy:alias
    // is older, but names busy:1's image).
    let plan = store
        .collect_images(policy, full_disk(1000), &in_use)
        .unwrap()
        .unwrap();
    let old_only = (old.config.len() + old.manifest.len()) as u64;
    assert_eq!(
        plan.remove,
        [("docker.io/library/old:1".to_string(), old_only)],
        "its layer is busy:1's too"
    );
    assert!(!plan.falls_short());
    assert_eq!(
        names(&store),
        [
            "docker.io/library/busy:1",
            "docker.io/library/busy:alias",
            "docker.io/library/new:1"
        ]
    );
    for blob in [&old.config, &old.manifest] {
        assert!(!dir.path().join(blob_path(blob)).exists());
    }
    assert!(dir.path().join(blob_path(&old.layer)).is_file());
    assert!(layer_dir(&old).is_dir(), "busy:1 still runs from it");

    // Far more to free than there is: everything unused goes, and the plan says it was short.
    let plan = store
        .collect_images(policy, full_disk(1 << 40), &in_use)
        .unwrap()
        .unwrap();
    assert_eq!(plan.remove.len(), 1);
    assert_eq!(plan.remove[0].0, "docker.io/library/new:1");
    assert!(plan.remove[0].1 > (new.layer.len() + new.config.len()) as u64);
    assert!(plan.falls_short());
    assert!(!layer_dir(&new).exists());
    assert!(!dir.path().join(blob_path(&new.layer)).exists());
    assert_eq!(blob_count(&dir), 3, "busy's manifest, config and layer");
    assert!(layer_dir(&old).is_dir());
    assert!(store.unpack("busy:1").is_ok());
}

#[test]
fn an_image_never_used_counts_from_its_import() {
    let (_dir, mut store) = open();
    store
        .import(
            &mut oci_archive(&[(&image("a"), "a:1"), (&image("b"), "b:1")]).as_slice(),
            None,
        )
        .unwrap();
    // a:1 was used long ago; b:1 never, but imported just now.
    store.mark_used("a:1", at(1)).unwrap();
    let plan = store
        .collect_images(ImageGcPolicy::DEFAULT, full_disk(1000), &BTreeSet::new())
        .unwrap()
        .unwrap();
    assert_eq!(plan.remove[0].0, "docker.io/library/a:1");
    assert_eq!(names(&store), ["docker.io/library/b:1"]);
}
