//! End to end on test hosts (a server and three nodes, a fourth joining later): a DaemonSet
//! runs one pod on each node, gets one onto the node that joins, rolls a new template out
//! node by node, and its pods go with it.

use std::collections::BTreeMap;
use std::time::Duration;

use flotilla_integration::{Fleet, Observation, objects, running_as_root_or_skip, wait_until};
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(90);

fn agent(version: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels:
      app: agent
  template:
    metadata:
      labels:
        app: agent
    spec:
      containers:
      - name: main
        image: host
        command: [\"/bin/sleep\", \"600\"]
        env:
        - name: VERSION
          value: \"{version}\"
"
    )
}

/// The live (not terminating) pods labelled `app=<app>`, by name.
fn live_pods(fleet: &Fleet, app: &str) -> anyhow::Result<BTreeMap<String, Value>> {
    let list = fleet.json(&["get", "pods"])?;
    Ok(objects::items(&list)?
        .iter()
        .filter(|pod| pod["metadata"]["labels"]["app"] == app)
        .filter(|pod| pod["metadata"]["deletionTimestamp"].is_null())
        .map(|pod| (objects::name(pod).to_string(), pod.clone()))
        .collect())
}

/// Waits until each of `nodes` runs exactly one live agent pod, running and carrying
/// `revision` (any revision if `None`); returns the revision they carry.
fn wait_one_per_node(fleet: &Fleet, nodes: &[&str], revision: Option<&str>) -> String {
    let mut seen = String::new();
    wait_until(
        DEADLINE,
        &format!("one agent pod on each of {nodes:?}"),
        || {
            let pods = live_pods(fleet, "agent")?;
            let mut by_node: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
            for pod in pods.values() {
                let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
                by_node.entry(node).or_default().push(pod);
            }
            let revisions: Vec<&str> = pods
                .values()
                .filter_map(|pod| pod["metadata"]["labels"]["controller-revision-hash"].as_str())
                .collect();
            let placed = by_node.len() == nodes.len()
                && nodes.iter().all(|node| {
                    by_node
                        .get(node)
                        .is_some_and(|on| on.len() == 1 && objects::is_running(on[0]))
                });
            let same = revisions.len() == nodes.len()
                && revisions
                    .iter()
                    .all(|r| Some(*r) == revision.or(revisions.first().copied()));
            Ok(if placed && same {
                seen = revisions[0].to_string();
                Observation::Done
            } else {
                let summary: Vec<(&str, usize)> =
                    by_node.iter().map(|(n, p)| (*n, p.len())).collect();
                Observation::Waiting(format!(
                    "pods per node {summary:?}, revisions {revisions:?}"
                ))
            })
        },
    );
    seen
}

#[test]
fn a_daemon_set_runs_on_every_node_and_on_one_that_joins() {
    if !running_as_root_or_skip("a_daemon_set_runs_on_every_node_and_on_one_that_joins") {
        return;
    }
    let mut fleet = Fleet::start_with_spares(3, 1, &[], &[]).expect("fleet");
    fleet.apply(&agent("1")).expect("apply the DaemonSet");
    let first = wait_one_per_node(&fleet, &["n1", "n2", "n3"], None);

    wait_until(
        DEADLINE,
        "the DaemonSet's status counts three nodes",
        || {
            let table = fleet.cli(&["get", "ds", "agent"])?;
            let row: Vec<&str> = table
                .lines()
                .nth(1)
                .unwrap_or_default()
                .split_whitespace()
                .collect();
            Ok(
                if row[..row.len().min(7)] == ["agent", "3", "3", "3", "3", "3", "<none>"] {
                    Observation::Done
                } else {
                    Observation::Waiting(table)
                },
            )
        },
    );
    let table = fleet.cli(&["get", "daemonsets"]).expect("get daemonsets");
    assert!(
        table.starts_with(
            "NAME    DESIRED   CURRENT   READY   UP-TO-DATE   AVAILABLE   NODE SELECTOR   AGE"
        ),
        "{table}"
    );

    fleet.join_later(4, &[]).expect("n4 joins");
    wait_one_per_node(&fleet, &["n1", "n2", "n3", "n4"], Some(&first));

    // A new template rolls out node by node (maxUnavailable 1) to every node.
    fleet.apply(&agent("2")).expect("apply the new template");
    let second = wait_one_per_node(&fleet, &["n1", "n2", "n3", "n4"], None);
    assert_ne!(first, second, "the template changed, so must the revision");
    let status = fleet.json(&["get", "ds", "agent"]).expect("the DaemonSet")["status"].clone();
    assert_eq!(status["desiredNumberScheduled"], 4, "{status}");
    assert_eq!(status["updatedNumberScheduled"], 4, "{status}");

    // A changed selector is refused with its path, and nothing is written.
    let changed = agent("2").replace("app: agent", "app: agent2");
    let refused = fleet
        .apply(&changed)
        .expect_err("a new selector is refused");
    assert!(
        format!("{refused:#}").contains("spec.selector: field is immutable"),
        "{refused:#}"
    );

    fleet
        .cli(&["delete", "ds", "agent"])
        .expect("delete the DaemonSet");
    wait_until(DEADLINE, "the DaemonSet's pods gone", || {
        let pods = live_pods(&fleet, "agent")?;
        Ok(if pods.is_empty() {
            Observation::Done
        } else {
            Observation::Waiting(format!("{:?}", pods.keys()))
        })
    });
}
