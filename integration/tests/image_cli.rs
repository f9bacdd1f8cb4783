//! End to end: `flotilla image` on a node's image store, with the busybox test image written
//! by skopeo as an OCI archive and as a Docker archive. Import (from a file and from stdin),
//! ls, inspect, rm; a truncated archive and a file that is no archive are refused with their
//! reason and leave the store as it was.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use flotilla_images::ImageStore;
use flotilla_integration::{BUSYBOX_IMAGE, MARKER, busybox_archives, flotilla_binary};

fn image(data_dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(flotilla_binary().expect("the flotilla binary"))
        .arg("image")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("flotilla starts");
    let mut input = child.stdin.take().expect("a stdin pipe");
    if let Some(bytes) = stdin {
        // A command that stops reading early closes the pipe; its exit says why.
        let _ = input.write_all(bytes);
    }
    drop(input);
    child.wait_with_output().expect("flotilla ends")
}

fn ok(data_dir: &Path, args: &[&str]) -> String {
    let output = image(data_dir, args, None);
    assert!(
        output.status.success(),
        "flotilla image {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn blobs(data_dir: &Path) -> usize {
    fs::read_dir(data_dir.join("images/blobs/sha256"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

#[test]
fn archives_of_both_formats_are_imported_listed_inspected_and_removed() {
    let work = tempfile::tempdir().unwrap();
    let archives = busybox_archives(work.path()).unwrap();
    let data = work.path().join("node");

    let imported = ok(&data, &["import", &archives.oci.to_string_lossy()]);
    assert!(
        imported.starts_with(&format!("imported {BUSYBOX_IMAGE} (sha256:")),
        "{imported}"
    );
    let listed = ok(&data, &["ls"]);
    let row: Vec<&str> = listed.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..2], ["docker.io/library/busybox", "1.35"], "{listed}");

    let inspected: Value = serde_json::from_str(&ok(&data, &["inspect", "busybox:1.35"])).unwrap();
    assert_eq!(inspected["name"], BUSYBOX_IMAGE);
    assert_eq!(inspected["config"]["config"]["Cmd"][0], "sh");
    assert_eq!(inspected["manifest"]["layers"].as_array().unwrap().len(), 1);

    // Its layers unpack (gzip, checked against the config's diff_ids) into what a container's
    // root will be made of.
    {
        let store = ImageStore::open(&data.join("images")).unwrap();
        let layers = store.unpack(BUSYBOX_IMAGE).unwrap();
        assert_eq!(layers.len(), 1);
        assert_eq!(
            fs::read_to_string(layers[0].join("marker")).unwrap(),
            MARKER
        );
        assert!(layers[0].join("bin/busybox").is_file());
    }

    // The Docker archive, from stdin, takes the name over; the OCI image's blobs go.
    let docker = fs::read(&archives.docker).unwrap();
    let output = image(&data, &["import", "-"], Some(&docker));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(blobs(&data), 3, "manifest, config and one layer");

    let removed = ok(&data, &["rm", "busybox:1.35"]);
    assert_eq!(removed, format!("Deleted: {BUSYBOX_IMAGE}\n"));
    assert_eq!(ok(&data, &["ls"]).lines().count(), 1, "only the header");
    assert_eq!(blobs(&data), 0);
}

#[test]
fn bad_archives_are_refused_and_leave_the_store_as_it_was() {
    let work = tempfile::tempdir().unwrap();
    let archives = busybox_archives(work.path()).unwrap();
    let data = work.path().join("node");
    ok(&data, &["import", &archives.docker.to_string_lossy()]);
    let before = ok(&data, &["ls"]);
    let blobs_before = blobs(&data);

    let oci = fs::read(&archives.oci).unwrap();
    let truncated = image(&data, &["import", "-"], Some(&oci[..oci.len() / 2]));
    let stderr = String::from_utf8_lossy(&truncated.stderr);
    assert!(!truncated.status.success());
    assert!(
        stderr.starts_with("error: importing -: corrupt or truncated archive: "),
        "{stderr}"
    );

    let not_an_archive = work.path().join("notes.txt");
    fs::write(&not_an_archive, "hello").unwrap();
    let refused = image(&data, &["import", &not_an_archive.to_string_lossy()], None);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("notes.txt"), "{stderr}");

    let elsewhere = work.path().join("not-a-node");
    let nothing = image(&elsewhere, &["ls"], None);
    assert_eq!(
        String::from_utf8_lossy(&nothing.stderr),
        format!(
            "error: no image store at {}: not a node's data dir (--data-dir), or nothing \
             imported yet\n",
            elsewhere.join("images").display()
        )
    );
    assert!(!elsewhere.exists(), "ls creates nothing");

    let missing = image(&data, &["rm", "nginx"], None);
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr),
        "error: image \"nginx\" not found\n"
    );
    assert_eq!(ok(&data, &["ls"]), before);
    assert_eq!(blobs(&data), blobs_before);
}
