//! `flotilla cordon|uncordon|drain NODE`: take a node out of scheduling, and empty it
//! gracefully. Drain evicts a few pods at a time ([`plan`]), so every Deployment keeps the
//! availability its maxUnavailable promises while replacements start elsewhere, and shows its
//! progress until the node holds no pods or the timeout passes.

mod plan;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use flotilla_kernel::api::{ApiClient, ErrorCode};
use flotilla_kernel::object::{Deployment, Kind, Node, Pod, ReplicaSet};
use indicatif::{ProgressBar, ProgressStyle};

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
    let mut progress: Option<ProgressBar> = None;
    loop {
        let (pods, _) = api.list::<Pod>(None, None).await.context("listing pods")?;
        let (sets, _) = api
            .list::<ReplicaSet>(None, None)
            .await
            .context("listing replicasets")?;
        let (deployments, _) = api
            .list::<Deployment>(None, None)
            .await
            .context("listing deployments")?;
        let plan = plan::plan(&args.node, &pods, &sets, &deployments, args.force);
        if !plan.unmanaged.is_empty() {
            bail!(
                "cannot drain node {}: no controller would replace pods {}; pass --force to \
                 delete them anyway",
                args.node,
                plan.unmanaged.join(", ")
            );
        }
        let bar = progress.get_or_insert_with(|| bar(plan.remaining));
        bar.set_position(
            bar.length()
                .unwrap_or(0)
                .saturating_sub(plan.remaining as u64),
        );
        bar.set_message(plan.waiting.join("; "));
        if plan.remaining == 0 {
            bar.finish_with_message("done");
            terminal::print_line(format!("node/{} drained", args.node))?;
            return Ok(ExitCode::SUCCESS);
        }
        for (namespace, name) in &plan.evict {
            match api.delete(Kind::Pod, namespace, name, None).await {
                Ok(_) => bar.println(format!("evicting pod {namespace}/{name}")),
                Err(e) if e.api_code() == Some(ErrorCode::NotFound) => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("evicting pod {namespace}/{name}"));
                }
            }
        }
        if Instant::now() >= deadline {
            bar.abandon();
            bail!(
                "node {} still holds {} pod(s) after {:?}{}",
                args.node,
                plan.remaining,
                args.timeout,
                match plan.waiting.is_empty() {
                    true => String::new(),
                    false => format!(": {}", plan.waiting.join("; ")),
                }
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

fn bar(total: usize) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} pods gone {wide_msg}") {
        bar.set_style(style);
    }
    bar
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
