//! `bench failover`: four test hosts (network namespaces on a bridge): `flotilla server` in one,
//! `flotilla node` in three, running a 6-replica Deployment. One node's host dies (its agent and
//! every container killed at once), and the run measures from the kill until the control plane
//! marks the node NotReady and until all six replicas run on the survivors. Each setting runs
//! [`RUNS`] times on a fresh fleet; a survivor ever seen not Ready counts as a false NotReady.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use flotilla_integration::{
    FailoverReport, FailoverRun, FailoverSeries, Fleet, Observation, poll_until,
};

const RUNS: usize = 5;
const REPLICAS: usize = 6;
const NODES: usize = 3;
const POLL: Duration = Duration::from_millis(50);
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(180);

/// A setting: `flotilla server` flags and `flotilla node` flags.
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
        server: &["--node-grace-period", "1s", "--pod-eviction-timeout", "0s"],
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
        let flags: Vec<String> = [(setting.server, "server"), (setting.node, "node")]
            .iter()
            .filter(|(flags, _)| !flags.is_empty())
            .map(|(flags, who)| format!("{who} {}", flags.join(" ")))
            .collect();
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
    let mut fleet = Fleet::start(NODES, setting.server, setting.node)?;
    fleet.apply(&deployment())?;
    let victim = format!("n{NODES}");
    poll_until(SETUP_TIMEOUT, POLL, || {
        let pods = fleet.pods()?;
        let running = pods.iter().filter(|p| p.running).count();
        let on_victim = pods.iter().filter(|p| p.node == victim).count();
        Ok(if running == REPLICAS && on_victim > 0 {
            Observation::Done
        } else {
            Observation::Waiting(format!("{running} Running, {on_victim} on {victim}"))
        })
    })?;

    let host = fleet.node_host(NODES)?;
    fleet.hosts.crash(host)?;
    let killed = Instant::now();
    let survivors: Vec<String> = (1..NODES).map(|i| format!("n{i}")).collect();
    let mut not_ready = None;
    let mut false_alarms = 0;
    poll_until(FAILOVER_TIMEOUT, POLL, || {
        if not_ready.is_none() && !fleet.ready(&victim) {
            not_ready = Some(killed.elapsed());
        }
        false_alarms += survivors.iter().filter(|n| !fleet.ready(n)).count();
        let running = fleet
            .pods()?
            .iter()
            .filter(|p| p.node != victim && !p.terminating && p.running)
            .count();
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
