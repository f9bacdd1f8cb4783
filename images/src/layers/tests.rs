use std::io::Write;
use std::os::unix::fs::FileTypeExt;

use super::*;
use crate::test_tar::tar_of;

#[test]
fn whiteouts_are_told_from_files() {
    assert_eq!(classify(Path::new("etc/passwd")), Entry::Plain);
    assert_eq!(
        classify(Path::new("etc/.wh.motd")),
        Entry::Whiteout { name: "motd" }
    );
    assert_eq!(classify(Path::new("var/cache/.wh..wh..opq")), Entry::Opaque);
    assert_eq!(classify(Path::new(".wh.")), Entry::Whiteout { name: "" });
}

fn layer(files: &[(&str, &[u8])]) -> Vec<u8> {
    tar_of(files)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn plain_gzip_and_zstd_layers_unpack_alike_and_only_once() {
    let dir = tempfile::tempdir().unwrap();
    let layers = Layers::open(dir.path()).unwrap();
    let tar = layer(&[("etc/hello", b"hi\n"), ("marker", b"x")]);
    let diff_id = Digest::of(&tar);
    for (name, blob) in [
        ("plain", tar.clone()),
        ("gzip", gzip(&tar)),
        ("zstd", zstd::encode_all(tar.as_slice(), 1).unwrap()),
    ] {
        let blob_path = dir.path().join(name);
        fs::write(&blob_path, blob).unwrap();
        let unpacked = layers.unpack(&blob_path, &diff_id).unwrap();
        assert_eq!(
            fs::read(unpacked.join("etc/hello")).unwrap(),
            b"hi\n",
            "{name}"
        );
        fs::remove_dir_all(&unpacked).unwrap();
    }
    let blob_path = dir.path().join("plain");
    let first = layers.unpack(&blob_path, &diff_id).unwrap();
    fs::write(first.join("added"), b"").unwrap();
    let again = layers.unpack(&blob_path, &diff_id).unwrap();
    assert!(
        again.join("added").exists(),
        "an unpacked layer is not unpacked again"
    );
    assert_eq!(layers.list().unwrap(), vec![diff_id]);
}

#[test]
fn a_layer_that_is_not_its_diff_id_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let layers = Layers::open(dir.path()).unwrap();
    let blob_path = dir.path().join("blob");
    fs::write(&blob_path, layer(&[("a", b"1")])).unwrap();
    let claimed = Digest::of(b"another layer");
    let error = layers.unpack(&blob_path, &claimed).unwrap_err();
    assert!(
        matches!(error, ImageError::DigestMismatch { .. }),
        "{error}"
    );
    assert!(layers.list().unwrap().is_empty());
    assert_eq!(
        fs::read_dir(dir.path().join("layers/unpacking"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn whiteouts_become_overlayfs_whiteouts() {
    if !flotilla_test_policy::root_or_skip("whiteouts_become_overlayfs_whiteouts") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let layers = Layers::open(dir.path()).unwrap();
    let tar = layer(&[
        ("etc/.wh.motd", b""),
        ("var/cache/.wh..wh..opq", b""),
        ("var/cache/kept", b"k"),
    ]);
    let blob_path = dir.path().join("blob");
    fs::write(&blob_path, &tar).unwrap();
    let unpacked = layers.unpack(&blob_path, &Digest::of(&tar)).unwrap();
    let motd = fs::symlink_metadata(unpacked.join("etc/motd")).unwrap();
    assert!(motd.file_type().is_char_device());
    assert!(!unpacked.join("etc/.wh.motd").exists());
    let opaque = rustix::fs::getxattr(unpacked.join("var/cache"), OPAQUE_XATTR, &mut [0u8; 4]);
    assert_eq!(opaque.unwrap(), 1);
    assert!(unpacked.join("var/cache/kept").exists());
}

#[test]
fn a_layers_disk_usage_counts_hard_links_once() {
    let dir = tempfile::tempdir().unwrap();
    let layers = Layers::open(dir.path()).unwrap();
    let diff_id = Digest::of(b"layer");
    assert_eq!(layers.disk_usage(&diff_id).unwrap(), 0, "not unpacked");
    let root = layers.path(&diff_id);
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::write(root.join("bin/busybox"), vec![7u8; 64 * 1024]).unwrap();
    for applet in ["sh", "ls", "cat"] {
        fs::hard_link(root.join("bin/busybox"), root.join("bin").join(applet)).unwrap();
    }
    let blocks = |path: &Path| fs::symlink_metadata(path).unwrap().blocks() * 512;
    let expected = blocks(&root) + blocks(&root.join("bin")) + blocks(&root.join("bin/busybox"));
    assert!(blocks(&root.join("bin/busybox")) >= 64 * 1024);
    assert_eq!(layers.disk_usage(&diff_id).unwrap(), expected);
}
