//! End to end: priority classes and preemption. The built-in classes exist; a pod naming an
//! unknown class is refused; a pod gets its class's priority; a high-priority pod that fits
//! nowhere preempts one low-priority pod (not both) and runs in its place.

use std::time::Duration;

use serde_json::Value;

use flotilla_integration::{
    Cluster, ClusterOptions, Observation, objects, running_as_root_or_skip, wait_until,
};

const DEADLINE: Duration = Duration::from_secs(60);
const NODE: &str = "flotilla-test";

const CLASSES: &str = "apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata:
  name: low
value: 10
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata:
  name: high
value: 1000
description: runs first and may preempt
";

/// A sleeping host pod of `class` asking for `millis` of cpu.
fn pod(name: &str, class: &str, millis: u64) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  priorityClassName: {class}
  containers:
  - name: main
    image: host
    command: [\"/bin/sleep\", \"600\"]
    resources:
      requests:
        cpu: {millis}m
"
    )
}

/// The node's allocatable cpu in millicores (`2` or `1900m`).
fn allocatable_millis(node: &Value) -> u64 {
    let text = node["status"]["allocatable"]["cpu"]
        .as_str()
        .expect("allocatable cpu");
    match text.strip_suffix('m') {
        Some(millis) => millis.parse().expect("millicores"),
        None => text.parse::<u64>().expect("cores") * 1000,
    }
}

fn running(cluster: &Cluster, name: &str) -> bool {
    cluster
        .get_object("pod", name, None)
        .is_ok_and(|pod| objects::is_running(&pod))
}

#[test]
fn a_high_priority_pod_preempts_a_low_one() {
    if !running_as_root_or_skip("a_high_priority_pod_preempts_a_low_one") {
        return;
    }
    let cluster = Cluster::start(ClusterOptions::default()).expect("cluster starts");
    let classes = cluster.cli_ok(&["get", "priorityclasses"]);
    assert!(
        classes.contains("system-cluster-critical") && classes.contains("system-node-critical"),
        "{classes}"
    );
    let refused = cluster.apply_manifest("gold.yaml", &pod("gold", "gold", 10));
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("no PriorityClass with name gold was found"),
        "{stderr}"
    );
    assert!(
        cluster
            .apply_manifest("classes.yaml", CLASSES)
            .status
            .success()
    );

    let node = cluster.get_object("node", NODE, None).expect("the node");
    let share = allocatable_millis(&node) * 2 / 5;
    for name in ["low-1", "low-2"] {
        let out = cluster.apply_manifest(&format!("{name}.yaml"), &pod(name, "low", share));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    wait_until(DEADLINE, "both low pods Running", || {
        Ok(
            if running(&cluster, "low-1") && running(&cluster, "low-2") {
                Observation::Done
            } else {
                Observation::Waiting("low pods starting".into())
            },
        )
    });
    let low = cluster.get_object("pod", "low-1", None).expect("low-1");
    assert_eq!(low["spec"]["priority"], 10, "{low}");

    let out = cluster.apply_manifest("high.yaml", &pod("high", "high", share + share / 2));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(
        DEADLINE,
        "the high pod Running after one preemption",
        || {
            let lows = ["low-1", "low-2"]
                .iter()
                .filter(|name| cluster.get_object("pod", name, None).is_ok())
                .count();
            Ok(if running(&cluster, "high") {
                assert_eq!(lows, 1, "exactly one low pod made room");
                Observation::Done
            } else {
                Observation::Waiting(format!("{lows} low pods left"))
            })
        },
    );
}
