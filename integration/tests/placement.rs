//! End to end on three test-host nodes: pod placement rules. Replicas with required
//! anti-affinity by hostname land one per node, and one more waits, Pending with the
//! scheduler's reason; a pod with required node affinity to a zone label lands only there.

use std::time::Duration;

use serde_json::Value;

use flotilla_integration::{Fleet, Observation, objects, running_as_root_or_skip, wait_until};

const LIMIT: Duration = Duration::from_secs(60);

/// A Deployment of `replicas` whose pods keep apart by node.
fn spread_web(replicas: usize) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector:
              matchLabels:
                app: web
            topologyKey: kubernetes.io/hostname
      containers:
      - name: main
        image: host
        command: [\"/bin/sleep\", \"600\"]
"
    )
}

const IN_ZONE_B: &str = "apiVersion: v1
kind: Pod
metadata:
  name: zoned
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - key: topology.kubernetes.io/zone
            operator: In
            values: [b]
  containers:
  - name: main
    image: host
    command: [\"/bin/sleep\", \"600\"]
";

/// The `PodScheduled` condition's message of a pending pod, if it has one.
fn unschedulable_message(pod: &Value) -> Option<String> {
    pod["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "PodScheduled" && c["status"] == "False")
        .and_then(|c| c["message"].as_str())
        .map(str::to_string)
}

#[test]
fn anti_affinity_spreads_replicas_and_node_affinity_picks_the_zone() {
    if !running_as_root_or_skip("anti_affinity_spreads_replicas_and_node_affinity_picks_the_zone") {
        return;
    }
    let fleet = Fleet::start(3, &[], &[]).expect("fleet");
    for (node, zone) in [("n1", "a"), ("n2", "a"), ("n3", "b")] {
        fleet
            .cli(&[
                "label",
                "nodes",
                node,
                &format!("topology.kubernetes.io/zone={zone}"),
            ])
            .expect("label");
    }
    fleet.apply(&spread_web(3)).expect("apply");
    wait_until(LIMIT, "3 replicas Running, one per node", || {
        let pods = fleet.pods()?;
        let mut nodes: Vec<&str> = pods
            .iter()
            .filter(|p| p.running)
            .map(|p| p.node.as_str())
            .collect();
        nodes.sort();
        Ok(if nodes == ["n1", "n2", "n3"] {
            Observation::Done
        } else {
            Observation::Waiting(format!("{pods:?}"))
        })
    });

    fleet.apply(&spread_web(4)).expect("scale to 4");
    wait_until(LIMIT, "the 4th replica Pending with the reason", || {
        let list = fleet.json(&["get", "pods"])?;
        let pending: Vec<&Value> = objects::items(&list)?
            .iter()
            .filter(|p| p["spec"]["nodeName"].as_str().unwrap_or("").is_empty())
            .collect();
        let message = pending.first().and_then(|p| unschedulable_message(p));
        Ok(match message {
            Some(message) if pending.len() == 1 => {
                assert_eq!(
                    message,
                    "0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity rules."
                );
                Observation::Done
            }
            _ => Observation::Waiting(format!("{} pending: {message:?}", pending.len())),
        })
    });

    fleet.apply(IN_ZONE_B).expect("apply the zoned pod");
    wait_until(LIMIT, "the zoned pod Running on n3", || {
        let pod = fleet.json(&["get", "pod", "zoned"])?;
        let node = pod["spec"]["nodeName"].as_str().unwrap_or("").to_string();
        Ok(if objects::is_running(&pod) {
            assert_eq!(node, "n3", "only n3 is in zone b");
            Observation::Done
        } else {
            Observation::Waiting(format!("{}", pod["status"]))
        })
    });
}
