//! End to end: the whole life of a Deployment on a one-machine cluster, checked against what the
//! kernel enforces — cgroup limits and live processes — not only against flotilla's own status.
//! Create (3 replicas), scale up to 5 and down to 1, roll out a template change, delete; after
//! every removal the processes and cgroups of the removed containers must be gone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use flotilla_integration::{
    Cluster, ClusterOptions, ContainerId, CpuQuota, Observation, PROC, objects, process_exists,
    running_as_root_or_skip, wait_until,
};
use serde_json::Value;

const NAMESPACE: &str = "default";
const DEADLINE: Duration = Duration::from_secs(60);
const MEMORY_LIMIT_BYTES: u64 = 64 * 1024 * 1024;
const PIDS_LIMIT: u64 = 64;
const CPU_LIMIT: CpuQuota = CpuQuota {
    quota_us: 25_000,
    period_us: 100_000,
};

/// The Deployment under test; `version` lands in an env var, so changing it changes the
/// pod template and triggers a rollout.
fn web_deployment(replicas: u32, version: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
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
      containers:
      - name: main
        image: host
        command: ["/bin/sh", "-c", "exec sleep 3600"]
        env:
        - name: VERSION
          value: "{version}"
        resources:
          requests:
            cpu: 100m
            memory: 32Mi
          limits:
            cpu: 250m
            memory: 64Mi
            pids: {PIDS_LIMIT}
"#
    )
}

/// The pods of the `web` Deployment, whatever their phase.
fn web_pods(cluster: &Cluster) -> Result<Vec<Value>> {
    let list = cluster.get_json("pods", Some(NAMESPACE))?;
    Ok(objects::items(&list)?
        .iter()
        .filter(|pod| objects::label(pod, "app") == Some("web"))
        .cloned()
        .collect())
}

/// The ReplicaSets owned by the `web` Deployment.
fn web_replica_sets(cluster: &Cluster) -> Result<Vec<Value>> {
    let list = cluster.get_json("replicasets", Some(NAMESPACE))?;
    Ok(objects::items(&list)?
        .iter()
        .filter(|rs| objects::is_owned_by(rs, "Deployment", "web"))
        .cloned()
        .collect())
}

/// "name=Phase" of each pod, for timeout messages.
fn phases(pods: &[Value]) -> String {
    pods.iter()
        .map(|pod| format!("{}={}", objects::name(pod), objects::phase(pod)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Waits until exactly `count` web pods exist and all of them are Running.
fn wait_for_running(cluster: &Cluster, count: usize) {
    wait_until(DEADLINE, &format!("{count} web pods Running"), || {
        let pods = web_pods(cluster)?;
        let running = pods.iter().filter(|pod| objects::is_running(pod)).count();
        Ok(if running == count && pods.len() == count {
            Observation::Done
        } else {
            Observation::Waiting(format!(
                "{running} Running of {}: {}",
                pods.len(),
                phases(&pods)
            ))
        })
    });
}

/// Checks each running container's cgroup limits and processes and remembers its pids.
fn check_and_record(cluster: &Cluster, pods: &[Value], seen: &mut BTreeMap<ContainerId, Vec<u32>>) {
    for pod in pods {
        let ids = objects::container_ids(pod);
        assert_eq!(
            ids.len(),
            1,
            "pod {} has one container id",
            objects::name(pod)
        );
        for id in ids {
            let cgroup = cluster.container_cgroup(&id);
            assert_eq!(
                cgroup.memory_limit_bytes().expect("memory limit readable"),
                Some(MEMORY_LIMIT_BYTES),
                "memory limit of container {id}"
            );
            assert_eq!(
                cgroup.cpu_quota().expect("CPU quota readable"),
                Some(CPU_LIMIT),
                "CPU quota of container {id}"
            );
            assert_eq!(
                cgroup.pids_max().expect("pids limit readable"),
                Some(PIDS_LIMIT),
                "pids limit of container {id}"
            );
            let pids = cgroup.pids().expect("cgroup.procs readable");
            assert!(
                !pids.is_empty(),
                "container {id} has no process in its cgroup"
            );
            for pid in &pids {
                assert!(
                    process_exists(Path::new(PROC), *pid),
                    "pid {pid} of {id} not in /proc"
                );
            }
            seen.insert(id, pids);
        }
    }
}

/// Waits until none of `containers`' processes exist and none of their cgroups remain.
fn wait_for_gone(cluster: &Cluster, containers: &BTreeMap<ContainerId, Vec<u32>>, what: &str) {
    wait_until(DEADLINE, what, || {
        for (id, pids) in containers {
            if let Some(pid) = pids
                .iter()
                .find(|pid| process_exists(Path::new(PROC), **pid))
            {
                return Ok(Observation::Waiting(format!(
                    "pid {pid} of {id} still exists"
                )));
            }
            if let Err(error) = cluster.container_cgroup(id).ensure_gone() {
                return Ok(Observation::Waiting(format!("{error:#}")));
            }
        }
        Ok(Observation::Done)
    });
}

#[test]
fn deployment_lifecycle() {
    if !running_as_root_or_skip("deployment_lifecycle") {
        return;
    }
    let cluster = Cluster::start(ClusterOptions::default()).expect("cluster starts");
    let mut seen = BTreeMap::new();

    // Create: 3 replicas, each limited by its cgroup.
    let applied = cluster.apply_manifest("web.yaml", &web_deployment(3, "1"));
    let stdout = String::from_utf8_lossy(&applied.stdout);
    assert!(
        applied.status.success() && stdout.contains("deployment.apps/web created"),
        "apply: {stdout}{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    wait_for_running(&cluster, 3);
    check_and_record(&cluster, &web_pods(&cluster).unwrap(), &mut seen);

    // Scale up to 5.
    cluster.cli_ok(&[
        "scale",
        "deployment/web",
        "--replicas",
        "5",
        "-n",
        NAMESPACE,
    ]);
    wait_for_running(&cluster, 5);
    check_and_record(&cluster, &web_pods(&cluster).unwrap(), &mut seen);
    assert_eq!(
        seen.len(),
        5,
        "the 3 first containers kept running through the scale-up"
    );

    // Scale down to 1: the other 4 pods go, with their processes and cgroups.
    cluster.cli_ok(&[
        "scale",
        "deployment/web",
        "--replicas",
        "1",
        "-n",
        NAMESPACE,
    ]);
    wait_for_running(&cluster, 1);
    let survivors: BTreeSet<ContainerId> = web_pods(&cluster)
        .unwrap()
        .iter()
        .flat_map(objects::container_ids)
        .collect();
    let removed: BTreeMap<ContainerId, Vec<u32>> = seen
        .iter()
        .filter(|(id, _)| !survivors.contains(*id))
        .map(|(id, pids)| (id.clone(), pids.clone()))
        .collect();
    assert_eq!(removed.len(), 4, "scaling 5 -> 1 removes 4 containers");
    wait_for_gone(
        &cluster,
        &removed,
        "the 4 scaled-down containers to be gone",
    );

    // Rolling update: a template change makes a new ReplicaSet that takes over all pods.
    let old_sets = web_replica_sets(&cluster).unwrap();
    assert_eq!(old_sets.len(), 1, "one ReplicaSet before the update");
    let old_set = objects::name(&old_sets[0]).to_owned();
    let old_hash = objects::label(&old_sets[0], "pod-template-hash")
        .expect("the ReplicaSet carries pod-template-hash")
        .to_owned();
    let reapplied = cluster.apply_manifest("web-v2.yaml", &web_deployment(3, "2"));
    assert!(
        String::from_utf8_lossy(&reapplied.stdout).contains("deployment.apps/web configured"),
        "re-apply: {}{}",
        String::from_utf8_lossy(&reapplied.stdout),
        String::from_utf8_lossy(&reapplied.stderr)
    );
    wait_until(DEADLINE * 2, "the rollout to the new template", || {
        let sets = web_replica_sets(&cluster)?;
        let Some(new_set) = sets
            .iter()
            .find(|rs| objects::label(rs, "pod-template-hash") != Some(old_hash.as_str()))
        else {
            return Ok(Observation::Waiting("no new ReplicaSet yet".into()));
        };
        let new_hash = objects::label(new_set, "pod-template-hash").unwrap_or_default();
        let old_replicas = sets
            .iter()
            .find(|rs| objects::name(rs) == old_set)
            .and_then(objects::spec_replicas);
        let pods = web_pods(&cluster)?;
        let on_new = pods
            .iter()
            .filter(|pod| objects::label(pod, "pod-template-hash") == Some(new_hash))
            .count();
        let running = pods.iter().filter(|pod| objects::is_running(pod)).count();
        Ok(
            if pods.len() == 3 && on_new == 3 && running == 3 && old_replicas.unwrap_or(0) == 0 {
                Observation::Done
            } else {
                Observation::Waiting(format!(
                    "{on_new} of {} pods on hash {new_hash}, {running} Running, old ReplicaSet {old_set} replicas {old_replicas:?}",
                    pods.len()
                ))
            },
        )
    });
    check_and_record(&cluster, &web_pods(&cluster).unwrap(), &mut seen);

    // Delete: every pod, ReplicaSet, process and cgroup goes.
    cluster.cli_ok(&["delete", "deployment", "web", "-n", NAMESPACE]);
    wait_until(
        DEADLINE,
        "every pod and ReplicaSet of web to be gone",
        || {
            let pods = web_pods(&cluster)?;
            let sets = web_replica_sets(&cluster)?;
            Ok(if pods.is_empty() && sets.is_empty() {
                Observation::Done
            } else {
                Observation::Waiting(format!(
                    "{} pods ({}), {} ReplicaSets left",
                    pods.len(),
                    phases(&pods),
                    sets.len()
                ))
            })
        },
    );
    wait_for_gone(&cluster, &seen, "every container of web to be gone");
}
