//! The burst part of `bench api`: does a crowd of pods that fit nowhere keep a cluster busy,
//! and new pods waiting?
//!
//! On a fresh one-machine `flotilla up` (its own node Ready, default settings), 256 clients
//! create 5,000 pods whose nodeSelector matches no node. Ten seconds after the last one, the
//! server's CPU time (`/proc/PID/stat`, all threads) is read over ten seconds. Then one pod that
//! fits the node is created and timed until a watch of its namespace sees it bound.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use flotilla_integration::{Burst, Cluster, ClusterOptions, PROC, cpu_time};
use flotilla_kernel::api::ApiClient;
use flotilla_kernel::object::{Kind, Pod};

use crate::api_objects::{Admin, Placement, connections_for, pod};
use crate::closed_loop::{pick, run_count};

const PODS: usize = 5_000;
const CLIENTS: usize = 256;
const IDLE_AFTER: Duration = Duration::from_secs(10);
const IDLE_WINDOW: Duration = Duration::from_secs(10);
const BIND_DEADLINE: Duration = Duration::from_secs(600);
const NAMESPACE: &str = "bench";
/// The schedulable pod's own namespace, so its watch sees nothing else.
const BIND_NAMESPACE: &str = "bench-bind";
/// A node label no node has.
const SELECTOR: (&str, &str) = ("bench.flotilla.io/pool", "none");
/// How many lines of the cluster's log a failure prints.
const LOG_LINES: usize = 60;

pub async fn burst() -> Result<Burst> {
    eprintln!("bench: {PODS} unschedulable pods on flotilla up");
    let cluster = Cluster::start(ClusterOptions {
        node_name: "bench".to_string(),
        ..ClusterOptions::default()
    })?;
    let outcome = measure(&cluster).await;
    if outcome.is_err() {
        let log = cluster.log();
        let lines: Vec<&str> = log.lines().collect();
        eprintln!(
            "---- end of the log of flotilla up ----\n{}\n----",
            lines[lines.len().saturating_sub(LOG_LINES)..].join("\n")
        );
    }
    outcome
}

async fn measure(cluster: &Cluster) -> Result<Burst> {
    let pid = cluster.pid().context("flotilla up is not running")?;
    let config = cluster.data_dir().join("admin.conf");
    let admin = Admin::connect(&config, connections_for(CLIENTS)).await?;
    admin.create_namespace(NAMESPACE).await?;
    admin.create_namespace(BIND_NAMESPACE).await?;

    let template = pod(
        NAMESPACE,
        "template",
        Placement::Selector(SELECTOR.0, SELECTOR.1),
    )?;
    let apis = admin.api.clone();
    let creates = run_count(CLIENTS, PODS, move |client, i| {
        let apis = apis.clone();
        let mut pod = template.clone();
        pod.metadata.name = format!("u{i:05}");
        async move {
            pick(&apis, client)?.create(&pod).await?;
            Ok(())
        }
    })
    .await
    .with_context(|| format!("creating {PODS} unschedulable pods"))?;
    let burst_end = Instant::now();

    eprintln!("bench: server CPU over {IDLE_WINDOW:?}, {IDLE_AFTER:?} after the burst");
    tokio::time::sleep_until((burst_end + IDLE_AFTER).into()).await;
    let before = cpu_time(Path::new(PROC), pid)?;
    let window = Instant::now();
    tokio::time::sleep(IDLE_WINDOW).await;
    let spent = cpu_time(Path::new(PROC), pid)?.saturating_sub(before);
    let idle_cpu_percent = spent.as_secs_f64() / window.elapsed().as_secs_f64() * 100.0;

    eprintln!("bench: a schedulable pod, until bound (at most {BIND_DEADLINE:?})");
    let bind = bind_time(admin.first()?).await?;
    admin.close().await;
    Ok(Burst {
        pods: PODS,
        clients: CLIENTS,
        creates,
        bind,
        bind_deadline: BIND_DEADLINE,
        idle_after: IDLE_AFTER,
        idle_window: IDLE_WINDOW,
        idle_cpu_percent,
    })
}

/// From creating a pod that fits until its watch shows it bound; `None` past the deadline.
async fn bind_time(api: &ApiClient) -> Result<Option<Duration>> {
    let (_, revision) = api.list_raw(Kind::Pod, Some(BIND_NAMESPACE), None).await?;
    let mut events = api
        .watch::<Pod>(Some(BIND_NAMESPACE), revision, None)
        .await?;
    let pod = pod(BIND_NAMESPACE, "schedulable", Placement::Anywhere)?;
    let created = Instant::now();
    api.create(&pod)
        .await
        .context("creating the schedulable pod")?;
    let deadline = tokio::time::sleep(BIND_DEADLINE);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => return Ok(None),
            event = events.recv() => match event {
                None => bail!("the watch of namespace {BIND_NAMESPACE} ended"),
                Some(event) => {
                    if !event?.object.spec.node_name.is_empty() {
                        return Ok(Some(created.elapsed()));
                    }
                }
            },
        }
    }
}
