//! End to end: `delete --cascade` as kubectl's. A foreground delete of a Deployment removes
//! its pods and ReplicaSet before the Deployment itself; an orphan delete leaves the
//! dependents running without the owner in their ownerReferences.

use std::time::Duration;

use flotilla_integration::{
    Cluster, ClusterOptions, Observation, objects, running_as_root_or_skip, wait_until,
};

fn deployment(name: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 2
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
        command: ["/bin/sleep", "600"]
"#
    )
}

/// The objects of `kind` labelled `app=NAME` (the pods and ReplicaSets of a Deployment).
fn labelled(cluster: &Cluster, kind: &str, app: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    let list = cluster.get_json(kind, Some("default"))?;
    Ok(objects::items(&list)?
        .iter()
        .filter(|o| objects::label(o, "app") == Some(app))
        .cloned()
        .collect())
}

fn start_running(cluster: &Cluster, name: &str) {
    let applied = cluster.apply_manifest(&format!("{name}.yaml"), &deployment(name));
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    wait_until(Duration::from_secs(60), "2 pods Running", || {
        let running = labelled(cluster, "pods", name)?
            .iter()
            .filter(|p| objects::phase(p) == "Running")
            .count();
        Ok(if running == 2 {
            Observation::Done
        } else {
            Observation::Waiting(format!("{running} Running"))
        })
    });
}

#[test]
fn cascading_deletes_follow_the_propagation_policy() {
    if !running_as_root_or_skip("cascading_deletes_follow_the_propagation_policy") {
        return;
    }
    let cluster = Cluster::start(ClusterOptions::default()).expect("cluster starts");

    start_running(&cluster, "front");
    let deleted = cluster.cli_ok(&["delete", "deploy", "front", "--cascade=foreground"]);
    assert!(
        deleted.contains("deployment.apps \"front\" deleted"),
        "{deleted}"
    );
    let mut saw_marked = false;
    wait_until(
        Duration::from_secs(90),
        "the Deployment and its pods gone",
        || {
            let deployment = cluster.get_object("deploy", "front", Some("default")).ok();
            let pods = labelled(&cluster, "pods", "front")?;
            let sets = labelled(&cluster, "rs", "front")?;
            if let Some(deployment) = &deployment {
                saw_marked |= objects::is_terminating(deployment)
                    && deployment["metadata"]["finalizers"][0] == "foregroundDeletion";
                return Ok(Observation::Waiting(format!(
                    "{} pods, {} replicasets",
                    pods.len(),
                    sets.len()
                )));
            }
            assert!(
                pods.is_empty() && sets.is_empty(),
                "the Deployment went before its dependents: {} pods, {} replicasets",
                pods.len(),
                sets.len()
            );
            Ok(Observation::Done)
        },
    );
    assert!(
        saw_marked,
        "the Deployment waited, marked, for its dependents"
    );

    start_running(&cluster, "back");
    cluster.cli_ok(&["delete", "deploy", "back", "--cascade=orphan"]);
    wait_until(
        Duration::from_secs(60),
        "the Deployment gone, its ReplicaSet orphaned",
        || {
            let gone = cluster
                .get_object("deploy", "back", Some("default"))
                .is_err();
            let sets = labelled(&cluster, "rs", "back")?;
            let orphaned = sets.len() == 1 && sets[0]["metadata"]["ownerReferences"].is_null();
            Ok(if gone && orphaned {
                Observation::Done
            } else {
                Observation::Waiting(format!("deployment gone: {gone}, replicasets: {sets:?}"))
            })
        },
    );
    let set = labelled(&cluster, "rs", "back").expect("replicasets")[0].clone();
    cluster.cli_ok(&["delete", "rs", objects::name(&set), "--cascade=orphan"]);
    wait_until(
        Duration::from_secs(60),
        "the ReplicaSet gone, its pods orphaned",
        || {
            let sets = labelled(&cluster, "rs", "back")?;
            let pods = labelled(&cluster, "pods", "back")?;
            let orphans = pods
                .iter()
                .filter(|p| {
                    p["metadata"]["ownerReferences"].is_null() && objects::phase(p) == "Running"
                })
                .count();
            Ok(if sets.is_empty() && orphans == 2 {
                Observation::Done
            } else {
                Observation::Waiting(format!(
                    "{} replicasets, {orphans} orphaned pods",
                    sets.len()
                ))
            })
        },
    );
    for pod in labelled(&cluster, "pods", "back").expect("pods") {
        cluster.cli_ok(&["delete", "pod", objects::name(&pod)]);
    }
}
