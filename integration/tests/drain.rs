//! End to end: `drain` empties a node into the rest of the cluster through evictions, refuses
//! pods nothing would replace unless forced, waits while a PodDisruptionBudget allows no
//! eviction and goes on once a replacement is ready elsewhere, and `uncordon` makes the node
//! schedulable again.

use std::time::Duration;

use flotilla_integration::{
    Cluster, ClusterOptions, JoinedNode, Observation, objects, running_as_root_or_skip, wait_until,
};

const WEB: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 4
  strategy:
    rollingUpdate:
      maxUnavailable: 1
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
"#;

const BARE: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: bare
spec:
  nodeSelector:
    kubernetes.io/hostname: n2
  containers:
  - name: main
    image: host
    command: ["/bin/sleep", "600"]
"#;

fn on_node(cluster: &Cluster, node: &str) -> Vec<String> {
    let list = cluster.get_json("pods", Some("default")).expect("pods");
    objects::items(&list)
        .expect("items")
        .iter()
        .filter(|p| p["spec"]["nodeName"] == node)
        .map(|p| objects::name(p).to_string())
        .collect()
}

#[test]
fn drain_moves_pods_off_a_node_and_uncordon_brings_it_back() {
    if !running_as_root_or_skip("drain_moves_pods_off_a_node_and_uncordon_brings_it_back") {
        return;
    }
    let options = ClusterOptions {
        node_name: "n1".into(),
        ..ClusterOptions::default()
    };
    let cluster = Cluster::start(options).expect("cluster starts");
    let _n2 = JoinedNode::join(&cluster, "n2", &[]).expect("n2 joins");
    wait_until(Duration::from_secs(60), "n2 Ready", || {
        Ok(match cluster.get_object("node", "n2", None) {
            Ok(node) if objects::node_is_ready(&node) => Observation::Done,
            other => Observation::Waiting(format!("{other:?}")),
        })
    });
    for (file, manifest) in [("web.yaml", WEB), ("bare.yaml", BARE)] {
        let applied = cluster.apply_manifest(file, manifest);
        assert!(
            applied.status.success(),
            "{}",
            String::from_utf8_lossy(&applied.stderr)
        );
    }
    wait_until(
        Duration::from_secs(60),
        "5 pods Running, web on both nodes",
        || {
            let list = cluster.get_json("pods", Some("default"))?;
            let pods = objects::items(&list)?;
            let running = pods
                .iter()
                .filter(|p| objects::phase(p) == "Running")
                .count();
            let web_on_n2 = on_node(&cluster, "n2")
                .iter()
                .filter(|n| n.starts_with("web"))
                .count();
            Ok(if running == 5 && web_on_n2 > 0 {
                Observation::Done
            } else {
                Observation::Waiting(format!("{running} running, {web_on_n2} web pods on n2"))
            })
        },
    );

    let refused = cluster.cli(&["drain", "n2", "--timeout", "30s"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(
            "cannot delete Pods that declare no controller (use --force to override): default/bare"
        ),
        "{stderr}"
    );

    let drained = cluster.cli_ok(&["drain", "n2", "--timeout", "90s", "--force"]);
    assert!(drained.contains("node/n2 drained"), "{drained}");
    assert!(on_node(&cluster, "n2").is_empty());
    let node = cluster.get_object("node", "n2", None).expect("n2");
    assert_eq!(node["spec"]["unschedulable"], true);
    wait_until(Duration::from_secs(60), "4 web pods Running on n1", || {
        let list = cluster.get_json("pods", Some("default"))?;
        let running = objects::items(&list)?
            .iter()
            .filter(|p| p["spec"]["nodeName"] == "n1" && objects::phase(p) == "Running")
            .count();
        Ok(if running == 4 {
            Observation::Done
        } else {
            Observation::Waiting(format!("{running} Running on n1"))
        })
    });

    let uncordoned = cluster.cli_ok(&["uncordon", "n2"]);
    assert!(uncordoned.contains("node/n2 uncordoned"), "{uncordoned}");
    let node = cluster.get_object("node", "n2", None).expect("n2");
    assert!(node["spec"]["unschedulable"].is_null() || node["spec"]["unschedulable"] == false);
}

const BUDGETED: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 2
  selector:
    matchLabels:
      app: api
  template:
    metadata:
      labels:
        app: api
    spec:
      containers:
      - name: main
        image: host
        command: ["/bin/sleep", "600"]
"#;

const BUDGET: &str = r#"apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: api
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app: api
"#;

/// The budget's `status.disruptionsAllowed`, once the controller has observed its spec.
fn disruptions_allowed(cluster: &Cluster) -> anyhow::Result<Option<i64>> {
    let pdb = cluster.get_object("pdb", "api", Some("default"))?;
    let observed = pdb["status"]["observedGeneration"] == pdb["metadata"]["generation"];
    Ok(observed.then(|| pdb["status"]["disruptionsAllowed"].as_i64().unwrap_or(0)))
}

#[test]
fn a_drain_waits_for_the_disruption_budget() {
    if !running_as_root_or_skip("a_drain_waits_for_the_disruption_budget") {
        return;
    }
    let options = ClusterOptions {
        node_name: "n1".into(),
        ..ClusterOptions::default()
    };
    let cluster = Cluster::start(options).expect("cluster starts");
    let _n2 = JoinedNode::join(&cluster, "n2", &[]).expect("n2 joins");
    wait_until(Duration::from_secs(60), "n2 Ready", || {
        Ok(match cluster.get_object("node", "n2", None) {
            Ok(node) if objects::node_is_ready(&node) => Observation::Done,
            other => Observation::Waiting(format!("{other:?}")),
        })
    });
    // Both pods start on n2, so draining it must take them one at a time.
    cluster.cli_ok(&["cordon", "n1"]);
    for (file, manifest) in [("api.yaml", BUDGETED), ("pdb.yaml", BUDGET)] {
        let applied = cluster.apply_manifest(file, manifest);
        assert!(
            applied.status.success(),
            "{}",
            String::from_utf8_lossy(&applied.stderr)
        );
    }
    wait_until(Duration::from_secs(60), "2 api pods Running on n2", || {
        let list = cluster.get_json("pods", Some("default"))?;
        let running = objects::items(&list)?
            .iter()
            .filter(|p| p["spec"]["nodeName"] == "n2" && objects::phase(p) == "Running")
            .count();
        Ok(if running == 2 {
            Observation::Done
        } else {
            Observation::Waiting(format!("{running} Running on n2"))
        })
    });
    wait_until(Duration::from_secs(60), "the budget allows 1", || {
        let allowed = disruptions_allowed(&cluster)?;
        Ok(if allowed == Some(1) {
            Observation::Done
        } else {
            Observation::Waiting(format!("allowed {allowed:?}"))
        })
    });
    let budgets = cluster.cli_ok(&["get", "pdb"]);
    assert!(
        budgets.contains("MIN AVAILABLE") && budgets.contains("ALLOWED DISRUPTIONS"),
        "{budgets}"
    );
    cluster.cli_ok(&["uncordon", "n1"]);

    let drained = cluster.cli_ok(&["drain", "n2", "--timeout", "120s"]);
    assert!(
        drained.contains("(will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget."),
        "the second pod waited for the first one's replacement: {drained}"
    );
    assert!(drained.contains("node/n2 drained"), "{drained}");
    assert!(on_node(&cluster, "n2").is_empty());
    wait_until(Duration::from_secs(60), "2 api pods Running on n1", || {
        let list = cluster.get_json("pods", Some("default"))?;
        let running = objects::items(&list)?
            .iter()
            .filter(|p| p["spec"]["nodeName"] == "n1" && objects::phase(p) == "Running")
            .count();
        Ok(if running == 2 {
            Observation::Done
        } else {
            Observation::Waiting(format!("{running} Running on n1"))
        })
    });
}
