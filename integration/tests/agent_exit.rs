//! Stopping a node agent must not stop its workloads: SIGTERM ends `flotilla node` and leaves
//! its containers running for the next agent to take over (`--stop-pods-on-exit` keeps the old
//! behaviour). As PID 1 of its PID namespace, the agent's init reaps the orphans the kernel
//! hands it.

use std::fs;
use std::time::Duration;

use flotilla_integration::{
    Cluster, ClusterOptions, JoinedNode, Observation, objects, running_as_root_or_skip, wait_until,
};

fn pod_on_n2(command: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: keeps-running
spec:
  nodeSelector:
    kubernetes.io/hostname: n2
  containers:
  - name: main
    image: host
    command: ["/bin/sh", "-c", "{command}"]
"#
    )
}

fn run_pod(cluster: &Cluster, command: &str) {
    let applied = cluster.apply_manifest("pod.yaml", &pod_on_n2(command));
    assert!(applied.status.success(), "{:?}", applied);
    wait_until(Duration::from_secs(60), "the pod to run on n2", || {
        let pod = cluster.get_object("pod", "keeps-running", Some("default"))?;
        Ok(match objects::phase(&pod) {
            "Running" => Observation::Done,
            phase => Observation::Waiting(format!("phase {phase:?}")),
        })
    });
}

/// Whether `pid` runs: it exists and has not exited (a zombie whose parent has not reaped it
/// yet has).
fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| state(&stat) != Some("Z"))
}

/// The state field of a `/proc/PID/stat` line, which follows the command in parentheses.
fn state(stat: &str) -> Option<&str> {
    stat.rsplit_once(')')?.1.split_whitespace().next()
}

#[test]
fn sigterm_leaves_containers_running_for_the_next_agent() {
    if !running_as_root_or_skip("sigterm_leaves_containers_running_for_the_next_agent") {
        return;
    }
    let cluster = Cluster::start(ClusterOptions::default()).expect("cluster starts");
    let mut node = JoinedNode::join(&cluster, "n2", &[]).expect("n2 joins");
    run_pod(&cluster, "sleep 600");
    let before = node.container_pids().expect("container pids");
    assert!(!before.is_empty());

    let status = node.stop().expect("the agent stops on SIGTERM");
    assert!(status.success(), "a clean stop: {status}");
    assert!(
        node.log().contains("containers keep running"),
        "{}",
        node.log()
    );
    assert_eq!(node.container_pids().expect("pids"), before);
    assert!(before.iter().all(|&pid| alive(pid)));

    node.start_again().expect("a new agent starts");
    wait_until(
        Duration::from_secs(60),
        "the new agent to take the container over",
        || {
            Ok(if node.log().contains("re-adopted a running container") {
                Observation::Done
            } else {
                Observation::Waiting("not yet".into())
            })
        },
    );
    let pod = cluster
        .get_object("pod", "keeps-running", Some("default"))
        .expect("the pod");
    assert_eq!(objects::phase(&pod), "Running");
    assert_eq!(pod["status"]["containerStatuses"][0]["restartCount"], 0);
    assert_eq!(node.container_pids().expect("pids"), before);
}

#[test]
fn with_stop_pods_on_exit_sigterm_stops_the_containers_too() {
    if !running_as_root_or_skip("with_stop_pods_on_exit_sigterm_stops_the_containers_too") {
        return;
    }
    let cluster = Cluster::start(ClusterOptions::default()).expect("cluster starts");
    let mut node = JoinedNode::join(&cluster, "n2", &["--stop-pods-on-exit"]).expect("n2 joins");
    run_pod(&cluster, "sleep 600");
    let before = node.container_pids().expect("container pids");
    assert!(!before.is_empty());
    node.stop().expect("the agent stops on SIGTERM");
    assert!(node.container_pids().expect("pids").is_empty());
    assert!(before.iter().all(|&pid| !alive(pid)));
}

#[test]
fn as_pid1_the_agent_reaps_orphans() {
    if !running_as_root_or_skip("as_pid1_the_agent_reaps_orphans") {
        return;
    }
    let cluster = Cluster::start(ClusterOptions::default()).expect("cluster starts");
    let node = JoinedNode::join_as_pid1(&cluster, "n2", &[]).expect("n2 joins");
    // The background sleep's parent shell exits at once, so the kernel hands the sleep to the
    // namespace's PID 1, which must reap it when it exits.
    run_pod(&cluster, "(sleep 0.2 &); exec sleep 600");
    let init = node.init_pid().expect("PID 1 of the node's namespace");
    wait_until(
        Duration::from_secs(10),
        "the orphaned sleep to exit",
        || {
            Ok(if live_with_cmdline(b"sleep\x000.2\x00")?.is_empty() {
                Observation::Done
            } else {
                Observation::Waiting("still sleeping".into())
            })
        },
    );
    wait_until(Duration::from_secs(10), "PID 1 to reap the orphan", || {
        let zombies = zombie_children(init)?;
        Ok(if zombies.is_empty() {
            Observation::Done
        } else {
            Observation::Waiting(format!("zombies of {init}: {zombies:?}"))
        })
    });
}

/// Every process whose command line is `cmdline` (arguments NUL-terminated).
fn live_with_cmdline(cmdline: &[u8]) -> anyhow::Result<Vec<u32>> {
    Ok(pids()?
        .into_iter()
        .filter(|pid| fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == cmdline))
        .collect())
}

fn pids() -> anyhow::Result<Vec<u32>> {
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc")? {
        if let Some(pid) = entry?.file_name().to_str().and_then(|n| n.parse().ok()) {
            pids.push(pid);
        }
    }
    Ok(pids)
}

/// The children of `parent` that exited and were not reaped.
fn zombie_children(parent: u32) -> anyhow::Result<Vec<u32>> {
    let parent = parent.to_string();
    Ok(pids()?
        .into_iter()
        .filter(|pid| {
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // The state, then the parent's pid.
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map(|(_, rest)| rest.split_whitespace().collect())
                .unwrap_or_default();
            state(&stat) == Some("Z") && fields.get(1) == Some(&parent.as_str())
        })
        .collect())
}
