//! End to end: `flotilla image import --all-nodes` streams the busybox archive through the API
//! to every node's image store (the `up` node's and a joined node's), where a pod under
//! `imagePullPolicy: Never` then runs; `--node` picks nodes, standard input goes to one. An
//! unknown node and a truncated archive are refused with their reasons, the store left as it
//! was; standard input for several nodes is refused before anything is sent.

use std::fs;
use std::time::Duration;

use flotilla_integration::{
    Cluster, ClusterOptions, JoinedNode, MARKER, Observation, busybox_archives, objects,
    running_as_root_or_skip, wait_until,
};

const PINNED: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: pinned
spec:
  nodeSelector:
    kubernetes.io/hostname: n2
  containers:
  - name: main
    image: busybox:1.35
    imagePullPolicy: Never
    command: [sh, -c, 'cat /marker; exec sleep 3600']
"#;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn images_are_imported_into_the_fleet_through_the_api() {
    if !running_as_root_or_skip("images_are_imported_into_the_fleet_through_the_api") {
        return;
    }
    let cluster = Cluster::start(ClusterOptions::default()).expect("cluster starts");
    let node = JoinedNode::join(&cluster, "n2", &[]).expect("n2 joins");
    wait_until(Duration::from_secs(60), "n2 Ready", || {
        let n2 = cluster.get_object("node", "n2", None)?;
        Ok(objects::node_is_ready(&n2))
    });
    let archives = busybox_archives(cluster.workdir()).expect("the busybox test image");
    let oci = archives.oci.to_string_lossy().into_owned();

    let imported = cluster.cli_ok(&["image", "import", &oci, "--all-nodes"]);
    for name in ["flotilla-test", "n2"] {
        assert!(
            imported.contains("busybox:1.35 (sha256:")
                && imported.contains(&format!("on node {name}\n")),
            "{imported}"
        );
    }
    for data_dir in [cluster.data_dir(), node.data_dir().to_path_buf()] {
        let listed = cluster.cli_ok(&["image", "ls", "--data-dir", &data_dir.to_string_lossy()]);
        assert!(listed.contains("docker.io/library/busybox"), "{listed}");
    }

    let applied = cluster.apply_manifest("pinned.yaml", PINNED);
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    wait_until(Duration::from_secs(60), "the pinned pod's report", || {
        let logs = cluster.cli(&["logs", "pinned"]);
        Ok(if text(&logs.stdout).starts_with(MARKER) {
            Observation::Done
        } else {
            Observation::Waiting(text(&logs.stderr))
        })
    });

    let unknown = cluster.cli(&["image", "import", &oci, "--node", "nope"]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains("node nope:") && text(&unknown.stderr).contains("not found"),
        "{}",
        text(&unknown.stderr)
    );

    let before = cluster.cli_ok(&[
        "image",
        "ls",
        "--data-dir",
        &node.data_dir().to_string_lossy(),
    ]);
    let whole = fs::read(&archives.docker).expect("the Docker archive");
    let truncated = cluster.workdir().join("truncated.tar");
    fs::write(&truncated, &whole[..whole.len() / 2]).expect("a truncated archive");
    let cut = cluster.cli(&[
        "image",
        "import",
        &truncated.to_string_lossy(),
        "--node",
        "n2",
    ]);
    assert!(!cut.status.success());
    assert!(
        text(&cut.stderr).contains("node n2:"),
        "{}",
        text(&cut.stderr)
    );
    let after = cluster.cli_ok(&[
        "image",
        "ls",
        "--data-dir",
        &node.data_dir().to_string_lossy(),
    ]);
    assert_eq!(before, after, "nothing half-imported");

    let several = cluster
        .client()
        .cli_with_input(&["image", "import", "-", "--all-nodes"], &whole);
    assert!(
        text(&several.stderr).contains("standard input can be sent to one node only"),
        "{}",
        text(&several.stderr)
    );
    let piped = cluster.client().cli_with_input(
        &[
            "image",
            "import",
            "-",
            "--node",
            "n2",
            "--base-name",
            "local/box",
        ],
        &whole,
    );
    assert!(piped.status.success(), "{}", text(&piped.stderr));
    assert!(
        text(&piped.stdout).contains("on node n2"),
        "{}",
        text(&piped.stdout)
    );
}
