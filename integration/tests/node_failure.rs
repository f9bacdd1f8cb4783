//! End to end: a node whose agent dies stops renewing its lease; the control plane marks it
//! unreachable after the grace period and, after the eviction timeout, replaces its pods on the
//! other node — except a pod that asks for at-most-one semantics. When the agent comes back it
//! stops the pods it no longer owns, and the node is Ready again.

use std::time::Duration;

use flotilla_integration::{
    Cluster, ClusterOptions, JoinedNode, Observation, objects, running_as_root_or_skip, wait_until,
};
use serde_json::Value;

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 4
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
        command: ["/bin/sleep", "600"]
        resources:
          requests:
            cpu: 100m
---
apiVersion: v1
kind: Pod
metadata:
  name: single
  annotations:
    flotilla.io/at-most-one: "true"
spec:
  nodeSelector:
    kubernetes.io/hostname: n2
  containers:
  - name: main
    image: host
    command: ["/bin/sleep", "600"]
"#;

fn pods(cluster: &Cluster) -> Vec<Value> {
    let list = cluster.get_json("pods", Some("default")).expect("pods");
    objects::items(&list).expect("items").to_vec()
}

fn on(pod: &Value) -> &str {
    pod["spec"]["nodeName"].as_str().unwrap_or("")
}

fn terminating(pod: &Value) -> bool {
    !pod["metadata"]["deletionTimestamp"].is_null()
}

fn ready_status(cluster: &Cluster, node: &str) -> String {
    cluster
        .get_object("node", node, None)
        .ok()
        .and_then(|node| {
            node["status"]["conditions"]
                .as_array()?
                .iter()
                .find(|c| c["type"] == "Ready")
                .map(|c| c["status"].as_str().unwrap_or("").to_string())
        })
        .unwrap_or_default()
}

#[test]
fn a_dead_node_is_replaced_and_cleans_up_when_it_returns() {
    if !running_as_root_or_skip("a_dead_node_is_replaced_and_cleans_up_when_it_returns") {
        return;
    }
    let options = ClusterOptions {
        node_name: "n1".into(),
        extra_args: ["--node-grace-period", "2s", "--pod-eviction-timeout", "1s"]
            .map(String::from)
            .to_vec(),
        ..ClusterOptions::default()
    };
    let cluster = Cluster::start(options).expect("cluster starts");
    let out = cluster.cli_ok(&["token", "create"]);
    let token = out.lines().next().expect("token").trim().to_string();
    let pin = out
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .expect("pin")
        .to_string();
    let mut n2 = JoinedNode::start(&cluster, "n2", &token, &pin, &["--lease-renew", "250ms"])
        .expect("node starts");
    wait_until(Duration::from_secs(60), "n2 Ready", || {
        Ok(match ready_status(&cluster, "n2").as_str() {
            "True" => Observation::Done,
            other => Observation::Waiting(format!("Ready={other:?}")),
        })
    });
    let applied = cluster.apply_manifest("web.yaml", DEPLOYMENT);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    wait_until(
        Duration::from_secs(60),
        "5 pods Running, some on n2",
        || {
            let pods = pods(&cluster);
            let running = pods
                .iter()
                .filter(|p| objects::phase(p) == "Running")
                .count();
            let web_on_n2 = pods
                .iter()
                .filter(|p| on(p) == "n2" && objects::name(p) != "single")
                .count();
            Ok(if running == 5 && web_on_n2 > 0 {
                Observation::Done
            } else {
                Observation::Waiting(format!("{running} running, {web_on_n2} web pods on n2"))
            })
        },
    );
    let stale: Vec<String> = pods(&cluster)
        .iter()
        .filter(|p| on(p) == "n2" && objects::name(p) != "single")
        .map(|p| objects::name(p).to_string())
        .collect();

    n2.kill().expect("kill -9 the agent");
    wait_until(
        Duration::from_secs(30),
        "n2 to be marked unreachable",
        || {
            Ok(match ready_status(&cluster, "n2").as_str() {
                "Unknown" => Observation::Done,
                other => Observation::Waiting(format!("Ready={other:?}")),
            })
        },
    );
    wait_until(Duration::from_secs(60), "4 web pods Running on n1", || {
        let pods = pods(&cluster);
        let live_on_n1 = pods
            .iter()
            .filter(|p| on(p) == "n1" && !terminating(p) && objects::phase(p) == "Running")
            .count();
        Ok(if live_on_n1 == 4 {
            Observation::Done
        } else {
            Observation::Waiting(format!("{live_on_n1} web pods Running on n1"))
        })
    });
    let single = cluster
        .get_object("pod", "single", Some("default"))
        .expect("single");
    assert!(
        !terminating(&single),
        "the at-most-one pod waits for its node: {single}"
    );

    n2.restart().expect("the agent starts again");
    wait_until(
        Duration::from_secs(60),
        "n2 Ready and its stale pods gone",
        || {
            let pods = pods(&cluster);
            let left: Vec<&str> = pods
                .iter()
                .map(objects::name)
                .filter(|name| stale.iter().any(|s| s == name))
                .collect();
            let ready = ready_status(&cluster, "n2");
            Ok(if ready == "True" && left.is_empty() {
                Observation::Done
            } else {
                Observation::Waiting(format!("Ready={ready:?}, stale pods left: {left:?}"))
            })
        },
    );
    let single = cluster
        .get_object("pod", "single", Some("default"))
        .expect("single");
    assert_eq!(objects::phase(&single), "Running", "{single}");
    assert_eq!(on(&single), "n2");
}

/// (name, containerStatuses startedAt, restartCount) of each pod on `node`.
fn pod_runs(cluster: &Cluster, node: &str) -> Vec<(String, String, u64)> {
    let mut runs: Vec<_> = pods(cluster)
        .iter()
        .filter(|p| on(p) == node)
        .map(|p| {
            let started = p["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
                .as_str()
                .unwrap_or("")
                .to_string();
            (
                objects::name(p).to_string(),
                started,
                objects::restart_count(p),
            )
        })
        .collect();
    runs.sort();
    runs
}

#[test]
fn workloads_survive_a_control_plane_crash() {
    if !running_as_root_or_skip("workloads_survive_a_control_plane_crash") {
        return;
    }
    let options = ClusterOptions {
        node_name: "n1".into(),
        ..ClusterOptions::default()
    };
    let mut cluster = Cluster::start(options).expect("cluster starts");
    let out = cluster.cli_ok(&["token", "create"]);
    let token = out.lines().next().expect("token").trim().to_string();
    let pin = out
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .expect("pin")
        .to_string();
    let n2 = JoinedNode::start(&cluster, "n2", &token, &pin, &[]).expect("node starts");
    let pinned = DEPLOYMENT.replace(
        "      containers:\n      - name: main\n        image: host\n        command: [\"/bin/sleep\", \"600\"]\n        resources:",
        "      nodeSelector:\n        kubernetes.io/hostname: n2\n      containers:\n      - name: main\n        image: host\n        command: [\"/bin/sleep\", \"600\"]\n        resources:",
    );
    assert_ne!(pinned, DEPLOYMENT, "the deployment is pinned to n2");
    wait_until(Duration::from_secs(60), "n2 Ready", || {
        Ok(match ready_status(&cluster, "n2").as_str() {
            "True" => Observation::Done,
            other => Observation::Waiting(format!("Ready={other:?}")),
        })
    });
    let applied = cluster.apply_manifest("web.yaml", &pinned);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    wait_until(Duration::from_secs(60), "5 pods Running on n2", || {
        let running = pods(&cluster)
            .iter()
            .filter(|p| on(p) == "n2" && objects::phase(p) == "Running")
            .count();
        Ok(if running == 5 {
            Observation::Done
        } else {
            Observation::Waiting(format!("{running} running on n2"))
        })
    });
    let before = pod_runs(&cluster, "n2");

    cluster.kill().expect("kill -9 the control plane");
    std::thread::sleep(Duration::from_secs(3));
    cluster.restart().expect("the control plane comes back");
    wait_until(
        Duration::from_secs(60),
        "n2 to reconnect and report",
        || {
            let ready = ready_status(&cluster, "n2");
            let after = pod_runs(&cluster, "n2");
            Ok(if ready == "True" && after == before {
                Observation::Done
            } else {
                Observation::Waiting(format!("Ready={ready:?}, pods {after:?} vs {before:?}"))
            })
        },
    );
    assert!(n2.log().contains("node agent ready"), "{}", n2.log());
}

#[test]
fn a_restarted_agent_adopts_its_running_containers() {
    if !running_as_root_or_skip("a_restarted_agent_adopts_its_running_containers") {
        return;
    }
    let options = ClusterOptions {
        node_name: "n1".into(),
        ..ClusterOptions::default()
    };
    let cluster = Cluster::start(options).expect("cluster starts");
    let mut n2 = JoinedNode::join(&cluster, "n2", &[]).expect("n2 joins");
    wait_until(Duration::from_secs(60), "n2 Ready", || {
        Ok(match ready_status(&cluster, "n2").as_str() {
            "True" => Observation::Done,
            other => Observation::Waiting(format!("Ready={other:?}")),
        })
    });
    let single = DEPLOYMENT.split("---\n").nth(1).expect("the pinned pod");
    let applied = cluster.apply_manifest("single.yaml", single);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    wait_until(Duration::from_secs(60), "the pod Running on n2", || {
        let runs = pod_runs(&cluster, "n2");
        Ok(if runs.len() == 1 && !runs[0].1.is_empty() {
            Observation::Done
        } else {
            Observation::Waiting(format!("{runs:?}"))
        })
    });
    let before = pod_runs(&cluster, "n2");
    let pids = n2.container_pids().expect("pids");
    assert!(!pids.is_empty());

    n2.kill().expect("kill -9 the agent");
    n2.restart().expect("the agent starts again");
    wait_until(
        Duration::from_secs(60),
        "the new agent to take over",
        || {
            Ok(
                if n2
                    .log()
                    .contains("took over containers left by a previous agent")
                {
                    Observation::Done
                } else {
                    Observation::Waiting("no takeover logged yet".into())
                },
            )
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        n2.container_pids().expect("pids"),
        pids,
        "the same processes run"
    );
    assert_eq!(
        pod_runs(&cluster, "n2"),
        before,
        "same start time and restart count"
    );
}
