//! `flotilla cordon|uncordon|drain NODE`: take a node out of scheduling, and empty it the
//! way kubectl's drain does — through the Eviction call, so every PodDisruptionBudget holds
//! even when two operators drain at once: the API refuses an eviction its budget does not
//! allow, and drain asks again every few seconds until `--timeout`, while the pods' controllers
//! bring replacements up elsewhere.

mod select;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use flotilla_kernel::api::{ApiClient, ClientError, DeleteOptions, ErrorCode};
use flotilla_kernel::object::{Node, Pod};

use self::select::{EVICTION_RETRY, Evictee, retry_line, select};
use super::terminal;

/// How often drain looks again while pods leave.
const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, clap::Args)]
pub struct NodeNameArgs {
    /// The node.
    node: String,
}

#[derive(Debug, clap::Args)]
pub struct DrainArgs {
    /// The node to empty.
    node: String,
    /// Give up after this long, e.g. 90s or 10m.
    #[arg(long, default_value = "5m", value_parser = crate::ttl::parse_ttl)]
    timeout: Duration,
    /// Also delete pods no controller would replace.
    #[arg(long)]
    force: bool,
}

pub async fn cordon(
    args: NodeNameArgs,
    api: &ApiClient,
    unschedulable: bool,
) -> anyhow::Result<ExitCode> {
    let changed = set_unschedulable(api, &args.node, unschedulable).await?;
    let verb = if unschedulable {
        "cordoned"
    } else {
        "uncordoned"
    };
    let note = if changed { "" } else { " (already)" };
    terminal::print_line(format!("node/{} {verb}{note}", args.node))?;
    Ok(ExitCode::SUCCESS)
}

pub async fn drain(args: DrainArgs, api: &ApiClient) -> anyhow::Result<ExitCode> {
    set_unschedulable(api, &args.node, true).await?;
    terminal::print_line(format!("node/{} cordoned", args.node))?;
    let deadline = Instant::now() + args.timeout;
    let (pods, _) = api
        .pods_on_node(&args.node)
        .await
        .context("listing the node's pods")?;
    let (evictees, unmanaged) = select(&args.node, &pods, args.force)?;
    if !unmanaged.is_empty() {
        terminal::print_line(format!(
            "Warning: deleting Pods that declare no controller: {}",
            unmanaged.join(", ")
        ))?;
    }
    let mut asking: BTreeMap<String, (Evictee, Instant)> = evictees
        .into_iter()
        .map(|pod| (pod.to_string(), (pod, Instant::now())))
        .collect();
    for (pod, _) in asking.values() {
        terminal::print_line(format!("evicting pod {pod}"))?;
    }
    let mut leaving: Vec<Evictee> = Vec::new();
    loop {
        let now = Instant::now();
        let due: Vec<String> = asking
            .iter()
            .filter(|(_, (_, at))| *at <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in due {
            let Some((pod, _)) = asking.remove(&key) else {
                continue;
            };
            match evict(api, &pod).await {
                Ok(()) => leaving.push(pod),
                Err(e) if e.api_code() == Some(ErrorCode::TooManyRequests) => {
                    terminal::print_line(retry_line(&pod, &e.to_string()))?;
                    asking.insert(key, (pod, now + EVICTION_RETRY));
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!(
                            "error when evicting pods/{:?} -n {:?}",
                            pod.name, pod.namespace
                        )
                    });
                }
            }
        }
        let mut still = Vec::new();
        for pod in leaving {
            if gone(api, &pod).await? {
                terminal::print_line(format!("pod/{} evicted", pod.name))?;
            } else {
                still.push(pod);
            }
        }
        leaving = still;
        if asking.is_empty() && leaving.is_empty() {
            terminal::print_line(format!("node/{} drained", args.node))?;
            return Ok(ExitCode::SUCCESS);
        }
        if Instant::now() >= deadline {
            let waiting: Vec<String> = asking
                .values()
                .map(|(pod, _)| pod)
                .chain(&leaving)
                .map(|pod| format!("pods/{:?} -n {:?}", pod.name, pod.namespace))
                .collect();
            bail!(
                "unable to drain node {:?}: global timeout reached: {:?}; still waiting for {}",
                args.node,
                args.timeout,
                waiting.join(", ")
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Asks the API to evict `pod`; one already gone counts as evicted.
async fn evict(api: &ApiClient, pod: &Evictee) -> Result<(), ClientError> {
    match api
        .evict(&pod.namespace, &pod.name, DeleteOptions::default())
        .await
    {
        Err(e) if e.api_code() == Some(ErrorCode::NotFound) => Ok(()),
        done => done,
    }
}

/// Whether the evicted pod is gone (a successor of the same name does not count).
async fn gone(api: &ApiClient, pod: &Evictee) -> anyhow::Result<bool> {
    let found: Option<Pod> = api
        .find(&pod.namespace, &pod.name)
        .await
        .with_context(|| format!("reading pod {pod}"))?;
    Ok(found.is_none_or(|found| found.metadata.uid != pod.uid))
}

/// Sets `spec.unschedulable`; returns whether it changed.
async fn set_unschedulable(
    api: &ApiClient,
    node: &str,
    unschedulable: bool,
) -> anyhow::Result<bool> {
    let mut current: Node = api
        .get("", node)
        .await
        .with_context(|| format!("reading node {node:?}"))?;
    if current.spec.unschedulable == unschedulable {
        return Ok(false);
    }
    current.spec.unschedulable = unschedulable;
    api.update(&current)
        .await
        .with_context(|| format!("updating node {node:?}"))?;
    Ok(true)
}
