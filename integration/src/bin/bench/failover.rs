//! `bench failover`: three nodes (the `flotilla up` node and two joined agents) run a
//! 6-replica Deployment; one joined node dies (its agent and every container killed at once, as
//! a machine losing power), and the run measures from the kill until the control plane marks
//! the node NotReady and until all six replicas run on the survivors. Each setting runs
//! [`RUNS`] times on a fresh cluster; a survivor ever seen not Ready counts as a false NotReady.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use flotilla_integration::{
    Cluster, ClusterOptions, FailoverReport, FailoverRun, FailoverSeries, JoinedNode, Observation,
    objects, poll_until,
};
use serde_json::Value;

const RUNS: usize = 5;
const REPLICAS: usize = 6;
const POLL: Duration = Duration::from_millis(50);
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(180);

/// A setting: `flotilla up` flags and `flotilla node` flags.
struct Setting {
    label: &'static str,
    server: &'static [&'static str],
    node: &'static [&'static str],
}

const SETTINGS: [Setting; 2] = [
    Setting {
        label: "default",
        server: &[],
        node: &[],
    },
    Setting {
        label: "fast",
        server: &[
            "--node-grace-period",
            "1s",
            "--pod-eviction-timeout",
            "0s",
            "--lease-renew",
            "200ms",
        ],
        node: &["--lease-renew", "200ms"],
    },
];

pub fn failover() -> Result<FailoverReport> {
    let mut series = Vec::new();
    for setting in &SETTINGS {
        let mut runs = Vec::new();
        let mut false_not_ready = 0;
        for run in 1..=RUNS {
            let (figures, false_alarms) =
                one_run(setting).with_context(|| format!("{} run {run}", setting.label))?;
            eprintln!(
                "bench: {} run {run}: NotReady after {:?}, replaced after {:?}",
                setting.label, figures.not_ready, figures.replaced
            );
            runs.push(figures);
            false_not_ready += false_alarms;
        }
        let flags = [setting.server, setting.node]
            .iter()
            .zip(["up", "node"])
            .filter(|(flags, _)| !flags.is_empty())
            .map(|(flags, who)| format!("{who} {}", flags.join(" ")))
            .collect::<Vec<_>>();
        series.push(FailoverSeries {
            label: setting.label.to_string(),
            flags: if flags.is_empty() {
                "the defaults".to_string()
            } else {
                flags.join("; ")
            },
            runs,
            false_not_ready,
        });
    }
    Ok(FailoverReport {
        replicas: REPLICAS,
        series,
    })
}

fn one_run(setting: &Setting) -> Result<(FailoverRun, usize)> {
    let cluster = Cluster::start(ClusterOptions {
        node_name: "n1".into(),
        extra_args: setting.server.iter().map(|s| s.to_string()).collect(),
        ..ClusterOptions::default()
    })?;
    let mut nodes = vec![
        JoinedNode::join(&cluster, "n2", setting.node)?,
        JoinedNode::join(&cluster, "n3", setting.node)?,
    ];
    poll_until(SETUP_TIMEOUT, POLL, || {
        let ready = ["n1", "n2", "n3"]
            .iter()
            .filter(|n| ready(&cluster, n))
            .count();
        Ok(if ready == 3 {
            Observation::Done
        } else {
            Observation::Waiting(format!("{ready} of 3 nodes Ready"))
        })
    })?;
    let applied = cluster.apply_manifest("web.yaml", &deployment());
    if !applied.status.success() {
        bail!("apply: {}", String::from_utf8_lossy(&applied.stderr));
    }
    poll_until(SETUP_TIMEOUT, POLL, || {
        let running = running_elsewhere(&cluster, "")?;
        let on_victim = placed(&cluster)?.iter().filter(|n| *n == "n3").count();
        Ok(if running == REPLICAS && on_victim > 0 {
            Observation::Done
        } else {
            Observation::Waiting(format!("{running} Running, {on_victim} on n3"))
        })
    })?;

    let victim = nodes.pop().context("the victim node")?;
    let mut victim = victim;
    victim.crash()?;
    let killed = Instant::now();
    let mut not_ready = None;
    let mut false_alarms = 0;
    poll_until(FAILOVER_TIMEOUT, POLL, || {
        if not_ready.is_none() && !ready(&cluster, "n3") {
            not_ready = Some(killed.elapsed());
        }
        false_alarms += ["n1", "n2"].iter().filter(|n| !ready(&cluster, n)).count();
        let running = running_elsewhere(&cluster, "n3")?;
        Ok(if running == REPLICAS && not_ready.is_some() {
            Observation::Done
        } else {
            Observation::Waiting(format!(
                "{running} of {REPLICAS} replicas Running elsewhere"
            ))
        })
    })?;
    let replaced = killed.elapsed();
    Ok((
        FailoverRun {
            not_ready: not_ready.unwrap_or(replaced),
            replaced,
        },
        false_alarms,
    ))
}

fn deployment() -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  \
         replicas: {REPLICAS}\n  selector:\n    matchLabels:\n      app: web\n  template:\n    \
         metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      \
         - name: main\n        image: host\n        command: [\"/bin/sleep\", \"3600\"]\n        \
         resources:\n          requests:\n            cpu: 100m\n"
    )
}

fn ready(cluster: &Cluster, node: &str) -> bool {
    cluster
        .get_object("node", node, None)
        .is_ok_and(|node| objects::node_is_ready(&node))
}

fn pods(cluster: &Cluster) -> Result<Vec<Value>> {
    let list = cluster.get_json("pods", Some("default"))?;
    Ok(objects::items(&list)?.to_vec())
}

/// The nodes the pods are bound to.
fn placed(cluster: &Cluster) -> Result<Vec<String>> {
    Ok(pods(cluster)?
        .iter()
        .map(|p| p["spec"]["nodeName"].as_str().unwrap_or("").to_string())
        .collect())
}

/// Pods Running, not being deleted, on a node other than `excluded`.
fn running_elsewhere(cluster: &Cluster, excluded: &str) -> Result<usize> {
    Ok(pods(cluster)?
        .iter()
        .filter(|p| p["spec"]["nodeName"] != excluded)
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| objects::is_running(p))
        .count())
}
