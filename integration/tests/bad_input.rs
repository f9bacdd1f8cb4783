//! End to end: wrong input gets an error a person can act on, never a panic. Malformed YAML
//! names `file:line:col`, an unknown kind lists the supported ones, an invalid quantity names its
//! field path, one bad document in a multi-document file fails alone (the others are applied and
//! the exit status is non-zero), and a CLI whose server is gone prints one line and exits non-zero.

use std::process::Output;

use flotilla_integration::{Cluster, ClusterOptions, objects, running_as_root_or_skip};

const MALFORMED: &str = "apiVersion: v1
kind: Namespace
metadata:
  name: broken
 labels: {team: a}
";

const UNKNOWN_KIND: &str = "apiVersion: v1
kind: Gizmo
metadata:
  name: thing
";

const MEMORY_PATH: &str = "spec.template.spec.containers[0].resources.limits.memory";

fn deployment_with_memory_limit(name: &str, memory: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: main
        image: host
        command: ["/bin/sh", "-c", "exec sleep 3600"]
        resources:
          limits:
            memory: {memory}
"#
    )
}

fn namespace(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn both(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        stderr(output)
    )
}

/// The `LINE:COL` that follows `file_name:` in `text`, if any.
fn position_after(text: &str, file_name: &str) -> Option<(u32, u32)> {
    let marker = format!("{file_name}:");
    text.match_indices(&marker).find_map(|(at, _)| {
        let rest = &text[at + marker.len()..];
        let (line, rest) = rest.split_once(':')?;
        let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
        Some((line.parse().ok()?, column.parse().ok()?))
    })
}

fn names(cluster: &Cluster, kind: &str, namespace: Option<&str>) -> Vec<String> {
    let list = cluster
        .get_json(kind, namespace)
        .expect("get -o json works");
    objects::items(&list)
        .expect("get without a name prints a List")
        .iter()
        .map(|object| objects::name(object).to_owned())
        .collect()
}

#[test]
fn rejected_manifests_say_where_and_why() {
    if !running_as_root_or_skip("rejected_manifests_say_where_and_why") {
        return;
    }
    let cluster = Cluster::start(ClusterOptions::default()).expect("cluster starts");

    let malformed = cluster.apply_manifest("broken.yaml", MALFORMED);
    assert!(!malformed.status.success(), "malformed YAML was accepted");
    let (line, column) = position_after(&stderr(&malformed), "broken.yaml")
        .unwrap_or_else(|| panic!("no broken.yaml:LINE:COL in: {}", stderr(&malformed)));
    let lines = u32::try_from(MALFORMED.lines().count()).unwrap();
    assert!(
        (1..=lines + 1).contains(&line) && column >= 1,
        "position {line}:{column} is outside the file"
    );

    let unknown = cluster.apply_manifest("gizmo.yaml", UNKNOWN_KIND);
    assert!(!unknown.status.success(), "unknown kind was accepted");
    let message = stderr(&unknown);
    for expected in ["Gizmo", "Deployment", "Pod", "Namespace"] {
        assert!(message.contains(expected), "no {expected:?} in: {message}");
    }

    let bad_quantity = cluster.apply_manifest(
        "quantity.yaml",
        &deployment_with_memory_limit("greedy", "sixty-four"),
    );
    assert!(
        !bad_quantity.status.success(),
        "invalid quantity was accepted"
    );
    assert!(
        stderr(&bad_quantity).contains(MEMORY_PATH),
        "no {MEMORY_PATH} in: {}",
        stderr(&bad_quantity)
    );

    let multi = [
        namespace("multi-a"),
        deployment_with_memory_limit("multi-bad", "64Zz"),
        namespace("multi-c"),
    ]
    .join("---\n");
    let applied = cluster.apply_manifest("multi.yaml", &multi);
    assert!(
        !applied.status.success(),
        "a file with a bad document exited 0"
    );
    let report = both(&applied);
    for name in ["multi-a", "multi-bad", "multi-c"] {
        assert!(
            report.contains(name),
            "document {name} not reported in: {report}"
        );
    }

    let namespaces = names(&cluster, "namespaces", None);
    assert!(
        namespaces.iter().any(|name| name == "multi-a"),
        "{namespaces:?}"
    );
    assert!(
        namespaces.iter().any(|name| name == "multi-c"),
        "{namespaces:?}"
    );
    let deployments = names(&cluster, "deployments", Some("default"));
    assert!(
        !deployments
            .iter()
            .any(|name| name == "greedy" || name == "multi-bad"),
        "an invalid Deployment was created: {deployments:?}"
    );
}

#[test]
fn unreachable_server_gives_one_line_error() {
    if !running_as_root_or_skip("unreachable_server_gives_one_line_error") {
        return;
    }
    let mut cluster = Cluster::start(ClusterOptions::default()).expect("cluster starts");
    let status = cluster.stop().expect("flotilla up stops");
    assert!(status.success(), "flotilla up exited with {status}");

    // The admin config still names the now-closed port.
    let output = cluster.cli(&["get", "nodes"]);
    let message = stderr(&output);
    assert!(
        !output.status.success(),
        "get nodes succeeded with no server"
    );
    assert!(!message.contains("panicked"), "the CLI panicked: {message}");
    assert_eq!(
        message.trim().lines().count(),
        1,
        "expected a one-line error, got: {message}"
    );
}

#[test]
fn finds_the_position_after_the_file_name() {
    assert_eq!(
        position_after(
            "error: /tmp/x/broken.yaml:5:2: did not find expected key",
            "broken.yaml"
        ),
        Some((5, 2))
    );
    assert_eq!(
        position_after("broken.yaml: bad, then broken.yaml:12:7", "broken.yaml"),
        Some((12, 7))
    );
    assert_eq!(position_after("broken.yaml:x:1", "broken.yaml"), None);
    assert_eq!(position_after("nothing here", "broken.yaml"), None);
}
