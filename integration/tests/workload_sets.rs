//! End to end on test hosts (a server and three nodes): a DaemonSet runs one pod on each
//! node, gets one onto a node that joins later, rolls a new template out node by node, and its
//! pods go with it. A StatefulSet creates its pods in order, each once the one below is Ready,
//! gives them their stable names back, and scales down from the highest ordinal, one at a
//! time.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use flotilla_integration::{Fleet, Observation, objects, running_as_root_or_skip, wait_until};
use flotilla_kernel::object::Time;
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

/// A headless Service and a StatefulSet of `replicas` host pods that turn Ready two seconds
/// after they start, with `extra` lines appended to the set's spec.
fn web(replicas: i32, service: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1
kind: Service
metadata:
  name: nginx
spec:
  clusterIP: None
  selector:
    app: web
  ports:
  - port: 80
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  replicas: {replicas}
  serviceName: {service}
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: main
        image: host
        command: [\"/bin/sleep\", \"600\"]
        readinessProbe:
          exec:
            command: [\"/bin/true\"]
          initialDelaySeconds: 2
          periodSeconds: 1
{extra}"
    )
}

fn time(value: &Value) -> Option<SystemTime> {
    serde_json::from_value::<Time>(value.clone())
        .ok()
        .map(|t| t.system_time())
}

/// When pod `pod` was created, and when it last turned Ready.
fn created_and_ready(pod: &Value) -> (Option<SystemTime>, Option<SystemTime>) {
    let ready = pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready" && c["status"] == "True")
        .and_then(|c| time(&c["lastTransitionTime"]));
    (time(&pod["metadata"]["creationTimestamp"]), ready)
}

/// Waits until the live pods of the set are exactly `names`, each Running and Ready.
fn wait_ready(fleet: &Fleet, names: &[&str]) -> BTreeMap<String, Value> {
    let mut found = BTreeMap::new();
    wait_until(
        DEADLINE,
        &format!("pods {names:?} Running and Ready"),
        || {
            let pods = live_pods(fleet, "web")?;
            let ready = pods.values().all(|pod| created_and_ready(pod).1.is_some());
            let same = pods.keys().map(String::as_str).eq(names.iter().copied());
            Ok(if same && ready {
                found = pods;
                Observation::Done
            } else {
                Observation::Waiting(format!("{:?}", pods.keys()))
            })
        },
    );
    found
}

#[test]
fn a_stateful_set_scales_up_in_order_and_down_in_reverse() {
    if !running_as_root_or_skip("a_stateful_set_scales_up_in_order_and_down_in_reverse") {
        return;
    }
    let fleet = Fleet::start(3, &[], &[]).expect("fleet");
    fleet
        .apply(&web(3, "nginx", ""))
        .expect("apply the StatefulSet");
    let pods = wait_ready(&fleet, &["web-0", "web-1", "web-2"]);

    // Each pod was created only once the one below it was Ready (which takes two seconds).
    for (below, above) in [("web-0", "web-1"), ("web-1", "web-2")] {
        let (created_below, ready_below) = created_and_ready(&pods[below]);
        let (created_above, _) = created_and_ready(&pods[above]);
        let (Some(created_below), Some(ready_below), Some(created_above)) =
            (created_below, ready_below, created_above)
        else {
            panic!("timestamps of {below} and {above}: {pods:?}");
        };
        assert!(ready_below > created_below, "{below} Ready after its start");
        assert!(
            created_above >= ready_below,
            "{above} created before {below} was Ready: {pods:?}"
        );
    }
    let pod = &pods["web-1"];
    assert_eq!(pod["spec"]["hostname"], "web-1", "{pod}");
    assert_eq!(pod["spec"]["subdomain"], "nginx", "{pod}");
    let labels = &pod["metadata"]["labels"];
    assert_eq!(
        labels["statefulset.kubernetes.io/pod-name"], "web-1",
        "{labels}"
    );
    assert_eq!(labels["apps.kubernetes.io/pod-index"], "1", "{labels}");
    wait_until(DEADLINE, "get sts to show 3/3", || {
        let table = fleet.cli(&["get", "sts"])?;
        let row: Vec<&str> = table
            .lines()
            .nth(1)
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        Ok(
            if table.starts_with("NAME") && row[..row.len().min(2)] == ["web", "3/3"] {
                Observation::Done
            } else {
                Observation::Waiting(table)
            },
        )
    });

    // A deleted pod comes back under its name.
    let uid = pods["web-0"]["metadata"]["uid"].clone();
    fleet
        .cli(&["delete", "pod", "web-0"])
        .expect("delete web-0");
    let pods = wait_ready(&fleet, &["web-0", "web-1", "web-2"]);
    assert_ne!(pods["web-0"]["metadata"]["uid"], uid, "a new web-0");

    // Scaling down removes web-2 first, and web-1 only once web-2 is gone.
    assert_eq!(
        fleet
            .cli(&["scale", "sts", "web", "--replicas", "1"])
            .expect("scale"),
        "statefulset.apps/web scaled\n"
    );
    wait_until(DEADLINE, "web-0 alone", || {
        let list = fleet.json(&["get", "pods"])?;
        let all: BTreeMap<&str, &Value> = objects::items(&list)?
            .iter()
            .map(|pod| (objects::name(pod), pod))
            .collect();
        let going = |name: &str| {
            all.get(name)
                .is_none_or(|pod| !pod["metadata"]["deletionTimestamp"].is_null())
        };
        assert!(
            !going("web-1") || !all.contains_key("web-2"),
            "web-1 went while web-2 was still there: {:?}",
            all.keys()
        );
        Ok(if all.keys().copied().eq(["web-0"]) {
            Observation::Done
        } else {
            Observation::Waiting(format!("{:?}", all.keys()))
        })
    });

    // Identity fields are immutable, and claims are refused until they are served.
    let moved = fleet
        .apply(&web(1, "other", ""))
        .expect_err("a new serviceName is refused");
    assert!(
        format!("{moved:#}").contains("spec.serviceName: field is immutable"),
        "{moved:#}"
    );
    let claims = "  volumeClaimTemplates:\n  - metadata:\n      name: www\n";
    let refused = fleet
        .apply(&web(1, "nginx", claims).replace("  name: web\n", "  name: db\n"))
        .expect_err("claims are refused");
    assert!(
        format!("{refused:#}").contains("spec.volumeClaimTemplates: Forbidden"),
        "{refused:#}"
    );

    fleet
        .cli(&["delete", "sts", "web"])
        .expect("delete the StatefulSet");
    wait_until(DEADLINE, "the StatefulSet's pods gone", || {
        let pods = live_pods(&fleet, "web")?;
        Ok(if pods.is_empty() {
            Observation::Done
        } else {
            Observation::Waiting(format!("{:?}", pods.keys()))
        })
    });
}
