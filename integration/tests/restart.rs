//! End to end: what a cluster holds survives a clean restart. Objects keep their uids (they come
//! back from the store, not re-created), a SIGTERM shutdown exits 0 and stops the pods, and the
//! pods run again after the restart.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use flotilla_integration::{
    Cluster, ClusterOptions, ContainerId, Observation, PROC, objects, process_exists,
    running_as_root_or_skip, wait_until,
};
use serde_json::Value;

const NAMESPACE: &str = "shop";
const DEADLINE: Duration = Duration::from_secs(60);

const MANIFEST: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cart
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels:
      app: cart
  template:
    metadata:
      labels:
        app: cart
    spec:
      containers:
      - name: main
        image: host
        command: ["/bin/sh", "-c", "exec sleep 3600"]
        resources:
          limits:
            cpu: 100m
            memory: 32Mi
"#;

fn cart_pods(cluster: &Cluster) -> Result<Vec<Value>> {
    let list = cluster.get_json("pods", Some(NAMESPACE))?;
    Ok(objects::items(&list)?
        .iter()
        .filter(|pod| objects::label(pod, "app") == Some("cart"))
        .cloned()
        .collect())
}

fn wait_for_two_running(cluster: &Cluster, when: &str) {
    wait_until(DEADLINE, &format!("2 cart pods Running {when}"), || {
        let pods = cart_pods(cluster)?;
        let running = pods.iter().filter(|pod| objects::is_running(pod)).count();
        Ok(if running == 2 {
            Observation::Done
        } else {
            Observation::Waiting(format!("{running} of {} pods Running", pods.len()))
        })
    });
}

/// The uids of the Namespace and the Deployment.
fn uids(cluster: &Cluster) -> (String, String) {
    let namespace = cluster
        .get_object("namespace", NAMESPACE, None)
        .expect("the Namespace exists");
    let deployment = cluster
        .get_object("deployment", "cart", Some(NAMESPACE))
        .expect("the Deployment exists");
    let uids = (
        objects::uid(&namespace).to_owned(),
        objects::uid(&deployment).to_owned(),
    );
    assert!(
        !uids.0.is_empty() && !uids.1.is_empty(),
        "objects have uids: {uids:?}"
    );
    uids
}

#[test]
fn objects_and_pods_survive_a_clean_restart() {
    if !running_as_root_or_skip("objects_and_pods_survive_a_clean_restart") {
        return;
    }
    let mut cluster = Cluster::start(ClusterOptions::default()).expect("cluster starts");
    let applied = cluster.apply_manifest("shop.yaml", MANIFEST);
    assert!(
        applied.status.success(),
        "apply: {}",
        String::from_utf8_lossy(&applied.stderr)
    );
    wait_for_two_running(&cluster, "before the restart");
    let before = uids(&cluster);
    let mut processes: BTreeMap<ContainerId, Vec<u32>> = BTreeMap::new();
    for id in cart_pods(&cluster)
        .unwrap()
        .iter()
        .flat_map(objects::container_ids)
    {
        let pids = cluster.container_cgroup(&id).pids().unwrap();
        processes.insert(id, pids);
    }
    assert_eq!(processes.len(), 2, "two running containers");

    let status = cluster.stop().expect("flotilla up stops on SIGTERM");
    assert!(
        status.success(),
        "flotilla up exited with {status} on SIGTERM"
    );
    for (id, pids) in &processes {
        for pid in pids {
            assert!(
                !process_exists(Path::new(PROC), *pid),
                "pid {pid} of container {id} outlived the clean shutdown"
            );
        }
    }

    cluster
        .restart()
        .expect("cluster starts again on the same data dir");
    assert_eq!(
        uids(&cluster),
        before,
        "same objects (uids) after the restart"
    );
    wait_for_two_running(&cluster, "after the restart");
}
