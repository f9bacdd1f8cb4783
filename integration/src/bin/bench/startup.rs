//! `bench startup`: how fast a one-machine flotilla comes up and starts pods.
//!
//! Launches `flotilla up` (every component on, its pod network included) on a temporary data
//! dir and a free loopback port, measures the time to a Ready node, the idle resident memory
//! 10 s later and the binary's size, then applies 50 single-container pods in one manifest and
//! records, per pod, the time from the start of `apply` until the pod is first seen Running. The cluster is stopped and cleaned up whatever
//! happens (the harness's `Drop`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use flotilla_integration::{
    Cluster, ClusterOptions, Observation, PROC, StartupReport, flotilla_binary, objects,
    percentile, poll_until, resident_kib,
};
use nix::unistd::geteuid;

/// How many pods the manifest holds.
const PODS: usize = 50;
/// Name prefix of the benchmark's pods.
const POD_PREFIX: &str = "bench-";
/// Polling interval while waiting for the node.
const READY_POLL: Duration = Duration::from_millis(20);
/// Polling interval while waiting for the pods.
const PODS_POLL: Duration = Duration::from_millis(50);
/// How long the cluster idles before its memory is read.
const IDLE: Duration = Duration::from_secs(10);
/// Give up on the node after this long.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Give up on the pods after this long.
const PODS_TIMEOUT: Duration = Duration::from_secs(180);

/// Runs the benchmark once.
pub fn startup() -> Result<StartupReport> {
    if !geteuid().is_root() {
        eprintln!("bench: not root: pods need cgroups, so they may never run");
    }
    let binary = flotilla_binary()?;
    let binary_bytes = fs::metadata(&binary)
        .with_context(|| format!("could not stat {}", binary.display()))?
        .len();

    let launched = Instant::now();
    let mut cluster = Cluster::launch(ClusterOptions {
        node_name: "bench".to_owned(),
        ready_timeout: READY_TIMEOUT,
        ready_poll: READY_POLL,
        // Every component on, as `flotilla up` runs by default: the pod network, service proxy
        // and DNS too (in this machine's own network namespace; `up` takes them down at exit).
        extra_args: vec!["--network-backend".to_owned(), "host-gw".to_owned()],
    })?;
    cluster.wait_ready()?;
    let time_to_ready = launched.elapsed();
    eprintln!("bench: node Ready after {time_to_ready:?}; idling {IDLE:?}");

    thread::sleep(IDLE);
    let pid = cluster.pid().context("flotilla up is not running")?;
    let idle_rss_kib = resident_kib(Path::new(PROC), pid)?;

    let manifest = cluster.write_file("pods.yaml", &pods_manifest(PODS))?;
    eprintln!("bench: applying {PODS} pods");
    let applied = Instant::now();
    let output = cluster
        .client()
        .try_cli(&["apply", "-f", &manifest.to_string_lossy()])?;
    if !output.status.success() {
        bail!(
            "apply failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let first_running = watch_pods_start(&cluster, applied)?;
    let latencies: Vec<Duration> = first_running.values().copied().collect();

    let status = cluster.stop()?;
    if !status.success() {
        eprintln!("bench: flotilla up exited with {status} on SIGTERM");
    }
    Ok(StartupReport {
        binary_bytes,
        time_to_ready,
        idle_rss_kib,
        pods: PODS,
        pod_running_p50: percentile(&latencies, 50).unwrap_or_default(),
        pod_running_p99: percentile(&latencies, 99).unwrap_or_default(),
        all_pods_running: latencies.iter().copied().max().unwrap_or_default(),
    })
}

/// Polls the pods until every benchmark pod has been seen Running; returns, per pod, the time
/// from `applied` to the first poll that saw it Running.
fn watch_pods_start(cluster: &Cluster, applied: Instant) -> Result<BTreeMap<String, Duration>> {
    let mut first_running = BTreeMap::new();
    poll_until(PODS_TIMEOUT, PODS_POLL, || {
        let list = cluster.get_json("pods", Some("default"))?;
        let seen_at = applied.elapsed();
        for pod in objects::items(&list)? {
            let name = objects::name(pod);
            if name.starts_with(POD_PREFIX) && objects::is_running(pod) {
                first_running.entry(name.to_owned()).or_insert(seen_at);
            }
        }
        Ok(if first_running.len() >= PODS {
            Observation::Done
        } else {
            Observation::Waiting(format!("{} of {PODS} pods Running", first_running.len()))
        })
    })
    .context("not every pod reached Running")?;
    Ok(first_running)
}

/// A multi-document manifest of `count` single-container host pods sleeping an hour.
fn pods_manifest(count: usize) -> String {
    let mut manifest = String::new();
    for index in 0..count {
        let _ = write!(
            manifest,
            "---\n\
             apiVersion: v1\n\
             kind: Pod\n\
             metadata:\n\
             \x20 name: {POD_PREFIX}{index}\n\
             \x20 labels:\n\
             \x20   app: bench\n\
             spec:\n\
             \x20 restartPolicy: Never\n\
             \x20 containers:\n\
             \x20 - name: main\n\
             \x20   image: host\n\
             \x20   command: [\"sleep\", \"3600\"]\n\
             \x20   resources:\n\
             \x20     requests:\n\
             \x20       cpu: 10m\n\
             \x20       memory: 16Mi\n"
        );
    }
    manifest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_has_one_document_per_pod() {
        let manifest = pods_manifest(3);
        assert_eq!(manifest.matches("---\n").count(), 3);
        assert_eq!(manifest.matches("kind: Pod\n").count(), 3);
        assert!(manifest.contains("  name: bench-0\n"));
        assert!(manifest.contains("  name: bench-2\n"));
        assert!(!manifest.contains("bench-3"));
        assert!(manifest.contains("        cpu: 10m\n        memory: 16Mi\n"));
    }
}
