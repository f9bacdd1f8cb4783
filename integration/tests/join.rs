//! End to end: a second machine joins with a bootstrap token and the CA pin, runs a pod whose
//! log the API fetches from it, and can only do what a node may; a spent token or a wrong pin
//! is refused; an operator config for a viewer reads but cannot write, and is revoked like a
//! node's; revoking or deleting the node makes its certificate fail the handshake.

use std::time::Duration;

use flotilla_integration::{
    Client, Cluster, ClusterOptions, JoinedNode, Observation, flotilla_binary, objects,
    running_as_root_or_skip, wait_until,
};

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `flotilla token create` → (token, CA pin), as an operator copies them from its output.
fn create_token(cluster: &Cluster) -> (String, String) {
    let out = cluster.cli_ok(&["token", "create", "--ttl", "10m"]);
    let token = out.lines().next().expect("a token line").trim().to_string();
    let pin = out
        .split_whitespace()
        .find(|word| word.starts_with("sha256:"))
        .expect("the CA pin in the join command")
        .to_string();
    (token, pin)
}

fn node_ready(cluster: &Cluster, name: &str) {
    wait_until(
        Duration::from_secs(60),
        &format!("node {name} Ready"),
        || {
            let node = cluster.get_object("node", name, None);
            Ok(match node {
                Ok(node) if objects::node_is_ready(&node) => Observation::Done,
                other => Observation::Waiting(format!("{other:?}")),
            })
        },
    );
}

#[test]
fn a_node_joins_runs_pods_and_is_cut_off_when_revoked() {
    if !running_as_root_or_skip("a_node_joins_runs_pods_and_is_cut_off_when_revoked") {
        return;
    }
    let cluster = Cluster::start(ClusterOptions::default()).expect("cluster starts");
    let (token, pin) = create_token(&cluster);
    let node = JoinedNode::start(&cluster, "n2", &token, &pin, &[]).expect("node starts");
    node_ready(&cluster, "n2");

    let tokens = cluster.cli_ok(&["token", "list"]);
    assert!(tokens.contains("n2"), "the token is marked used:\n{tokens}");

    let pod = r#"apiVersion: v1
kind: Pod
metadata:
  name: on-n2
spec:
  nodeSelector:
    kubernetes.io/hostname: n2
  containers:
  - name: main
    image: host
    command: ["/bin/sh", "-c", "echo hello from n2; sleep 300"]
"#;
    let applied = cluster.apply_manifest("pod.yaml", pod);
    assert!(applied.status.success(), "{}", stderr(&applied));
    wait_until(Duration::from_secs(60), "the pod to run on n2", || {
        let pod = cluster.get_object("pod", "on-n2", Some("default"))?;
        Ok(match objects::phase(&pod) {
            "Running" => Observation::Done,
            phase => Observation::Waiting(format!("phase {phase:?}: {}", pod["status"])),
        })
    });

    // The node's own certificate: it sees its node, not every pod nor any secret.
    let binary = flotilla_binary().expect("binary");
    let as_node = Client::new(&binary, &node.config(), cluster.workdir());
    assert!(as_node.cli(&["get", "node", "n2"]).status.success());
    let denied = as_node.cli(&["get", "pods", "-A"]);
    assert!(!denied.status.success());
    assert!(
        stderr(&denied).contains("node:n2 (role node) may not list pods"),
        "{}",
        stderr(&denied)
    );

    // A spent token and a wrong pin are refused with clear messages.
    let reuse = cluster.cli(&[
        "node",
        "--server",
        &cluster.listen().to_string(),
        "--token",
        &token,
        "--ca-hash",
        &pin,
        "--node-name",
        "n3",
        "--data-dir",
        &cluster.workdir().join("n3").display().to_string(),
    ]);
    assert!(!reuse.status.success());
    assert!(
        stderr(&reuse).contains("was already used by node \"n2\""),
        "{}",
        stderr(&reuse)
    );
    let (fresh, _) = create_token(&cluster);
    let wrong_pin = format!("sha256:{}", "0".repeat(64));
    let pinned = cluster.cli(&[
        "node",
        "--server",
        &cluster.listen().to_string(),
        "--token",
        &fresh,
        "--ca-hash",
        &wrong_pin,
        "--node-name",
        "n4",
        "--data-dir",
        &cluster.workdir().join("n4").display().to_string(),
    ]);
    assert!(!pinned.status.success());
    assert!(
        stderr(&pinned).contains("not the pinned sha256:000"),
        "{}",
        stderr(&pinned)
    );

    // A viewer reads but may not write or see secrets.
    let viewer_conf = cluster.workdir().join("alice.conf");
    cluster.cli_ok(&[
        "user",
        "add",
        "alice",
        "--role",
        "viewer",
        "--ttl",
        "1h",
        "-o",
        &viewer_conf.display().to_string(),
    ]);
    let viewer = Client::new(&binary, &viewer_conf, cluster.workdir());
    assert!(viewer.cli(&["get", "pods"]).status.success());
    let delete = viewer.cli(&["delete", "pod", "on-n2"]);
    assert!(
        stderr(&delete).contains("alice (role viewer) may not delete"),
        "{}",
        stderr(&delete)
    );
    assert!(!viewer.cli(&["get", "secrets", "-A"]).status.success());
    let denied = viewer.cli(&["user", "revoke", "alice"]);
    assert!(
        stderr(&denied).contains("only admins manage operators' certificates"),
        "{}",
        stderr(&denied)
    );

    // The container's log comes from the joined node's agent, over its own connection, and
    // exec reaches it the same way, standard input too.
    let logs = cluster.cli_ok(&["logs", "on-n2"]);
    assert_eq!(logs, "hello from n2\n");
    let ran = cluster.cli(&["exec", "on-n2", "--", "sh", "-c", "echo ran on n2; exit 5"]);
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "ran on n2\n");
    assert_eq!(ran.status.code(), Some(5));
    let piped = cluster
        .client()
        .cli_with_input(&["exec", "-i", "on-n2", "--", "cat"], b"to n2\n");
    assert_eq!(String::from_utf8_lossy(&piped.stdout), "to n2\n");

    // An operator's certificate is listed and revocable like a node's.
    let users = cluster.cli_ok(&["user", "list"]);
    assert!(
        users
            .lines()
            .any(|l| l.starts_with("alice") && l.contains("viewer") && l.contains("Valid")),
        "{users}"
    );
    let revoked = cluster.cli_ok(&["user", "revoke", "alice"]);
    assert!(revoked.contains("1 certificate(s) revoked"), "{revoked}");
    let cut_off = viewer.cli(&["get", "pods"]);
    assert!(stderr(&cut_off).contains("revoked"), "{}", stderr(&cut_off));
    let users = cluster.cli_ok(&["user", "list"]);
    assert!(
        users
            .lines()
            .any(|l| l.starts_with("alice") && l.contains("Revoked")),
        "{users}"
    );

    // Revoked: the node's certificate no longer gets through a handshake.
    let revoked = cluster.cli_ok(&["node", "revoke", "n2"]);
    assert!(revoked.contains("1 certificate(s) revoked"), "{revoked}");
    let cut_off = as_node.cli(&["get", "node", "n2"]);
    assert!(stderr(&cut_off).contains("revoked"), "{}", stderr(&cut_off));
}

#[test]
fn deleting_a_node_revokes_its_certificate() {
    if !running_as_root_or_skip("deleting_a_node_revokes_its_certificate") {
        return;
    }
    let cluster = Cluster::start(ClusterOptions::default()).expect("cluster starts");
    let (token, pin) = create_token(&cluster);
    let node = JoinedNode::start(&cluster, "n2", &token, &pin, &[]).expect("node starts");
    node_ready(&cluster, "n2");
    let binary = flotilla_binary().expect("binary");
    let as_node = Client::new(&binary, &node.config(), cluster.workdir());
    drop(node);
    cluster.cli_ok(&["delete", "node", "n2"]);
    let cut_off = as_node.cli(&["get", "node", "n2"]);
    assert!(!cut_off.status.success());
    assert!(stderr(&cut_off).contains("revoked"), "{}", stderr(&cut_off));
}

#[test]
fn a_node_renews_its_certificate_and_stays_ready() {
    if !running_as_root_or_skip("a_node_renews_its_certificate_and_stays_ready") {
        return;
    }
    let options = ClusterOptions {
        extra_args: vec!["--node-cert-ttl".into(), "10s".into()],
        ..ClusterOptions::default()
    };
    let cluster = Cluster::start(options).expect("cluster starts");
    let (token, pin) = create_token(&cluster);
    let node = JoinedNode::start(&cluster, "n2", &token, &pin, &[]).expect("node starts");
    node_ready(&cluster, "n2");
    let first = std::fs::read_to_string(node.config()).expect("node.conf");
    // Renewal is due at 70% of the 10 s (plus clock-skew allowance) lifetime.
    wait_until(
        Duration::from_secs(150),
        "the node certificate to be renewed",
        || {
            let now = std::fs::read_to_string(node.config())?;
            Ok(
                if now != first && node.log().contains("renewed the node certificate") {
                    Observation::Done
                } else {
                    Observation::Waiting("the certificate is unchanged".into())
                },
            )
        },
    );
    let binary = flotilla_binary().expect("binary");
    let as_node = Client::new(&binary, &node.config(), cluster.workdir());
    let got = as_node.cli(&["get", "node", "n2"]);
    assert!(
        got.status.success(),
        "the renewed certificate works: {}",
        stderr(&got)
    );
    let issued = cluster.get_object("configmap", "issued-certificates", Some("flotilla-system"));
    let issued = issued.expect("the issued-certificates record");
    let count = issued["data"].as_object().map_or(0, |data| data.len());
    assert!(count >= 2, "both certificates are recorded: {issued}");
}
