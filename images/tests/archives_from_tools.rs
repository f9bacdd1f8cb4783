//! Archives written by the tools operators use: an image is built offline from Debian's
//! busybox-static with umoci, then written by skopeo as an OCI archive and as a Docker archive,
//! and each is imported. (`cargo xtask test` installs skopeo and umoci.)

use std::path::Path;
use std::process::Command;
use std::{fs, io};

use flotilla_images::{Digest, ImageStore};

const BUSYBOX: &str = "/bin/busybox";
const NAME: &str = "docker.io/library/busybox:1.35";

fn run(dir: &Path, program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} could not run ({e}); run `cargo xtask deps`"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// An OCI layout `layout` holding busybox and a marker file, tagged 1.35.
fn build_layout(dir: &Path) {
    run(dir, "umoci", &["init", "--layout", "layout"]);
    run(dir, "umoci", &["new", "--image", "layout:1.35"]);
    run(
        dir,
        "umoci",
        &["unpack", "--rootless", "--image", "layout:1.35", "bundle"],
    );
    let rootfs = dir.join("bundle/rootfs");
    fs::create_dir_all(rootfs.join("bin")).expect("the rootfs takes a bin directory");
    fs::copy(BUSYBOX, rootfs.join("bin/busybox")).expect("busybox-static is installed");
    fs::write(rootfs.join("marker"), "from the image\n").expect("the marker is written");
    run(
        dir,
        "umoci",
        &["repack", "--image", "layout:1.35", "bundle"],
    );
    run(
        dir,
        "umoci",
        &[
            "config",
            "--image",
            "layout:1.35",
            "--config.entrypoint",
            "/bin/busybox",
            "--config.cmd",
            "sh",
            "--config.env",
            "PATH=/bin",
        ],
    );
}

fn import(archive: &Path) -> (tempfile::TempDir, ImageStore) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut store = ImageStore::open(dir.path()).expect("a fresh store");
    let mut file = io::BufReader::new(fs::File::open(archive).expect("skopeo wrote the archive"));
    let imported = store
        .import(&mut file, None)
        .unwrap_or_else(|e| panic!("{} imports: {e}", archive.display()));
    assert_eq!(imported.len(), 1);
    assert_eq!(imported[0].reference.to_string(), NAME);
    (dir, store)
}

#[test]
fn skopeos_oci_and_docker_archives_import_alike() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    build_layout(dir);
    run(
        dir,
        "skopeo",
        &[
            "copy",
            "oci:layout:1.35",
            &format!("oci-archive:oci.tar:{NAME}"),
        ],
    );
    run(
        dir,
        "skopeo",
        &[
            "copy",
            "oci:layout:1.35",
            &format!("docker-archive:docker.tar:{NAME}"),
        ],
    );

    let (oci_dir, oci) = import(&dir.join("oci.tar"));
    let (docker_dir, docker) = import(&dir.join("docker.tar"));
    for store in [&oci, &docker] {
        let details = store.inspect("busybox:1.35").unwrap();
        let config = details.config.config().clone().unwrap();
        assert_eq!(config.entrypoint().clone().unwrap(), ["/bin/busybox"]);
        assert_eq!(config.cmd().clone().unwrap(), ["sh"]);
        assert_eq!(details.manifest.layers().len(), 1);
        assert!(
            details.summary.size > 1_000_000,
            "busybox is in: {details:?}"
        );
    }
    // The same config either way (the Docker archive's layer is the uncompressed tar).
    let config_of = |store: &ImageStore| {
        Digest::named_by(store.inspect("busybox:1.35").unwrap().manifest.config()).unwrap()
    };
    assert_eq!(config_of(&oci), config_of(&docker));
    // Only what the image uses is kept: manifest, config and one layer.
    for dir in [&oci_dir, &docker_dir] {
        assert_eq!(
            fs::read_dir(dir.path().join("blobs/sha256"))
                .unwrap()
                .count(),
            3
        );
    }
}
