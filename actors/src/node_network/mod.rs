//! The node network actor: makes this node's part of the pod network match the Nodes, as
//! flannel's host-gw and vxlan backends do. It watches the Nodes and, whenever what matters
//! changes, writes the node's CNI configuration for its pod range (once the IPAM controller has
//! given one), reaches every other node's range — routed via that node's address (host-gw), or
//! through a VXLAN overlay to it (vxlan) — and masquerades pod traffic that leaves the pod
//! network. The decisions are in [`plan`].
//!
//! Once the node has its range, it also starts the node's cluster DNS server on the pods'
//! gateway address (see [`crate::dns`]) as a child of its own: a DNS server that stops stops
//! this actor, whose supervisor starts both again.
//!
//! Everything it makes is kept when it stops or restarts — pods' connections outlive the
//! agent — and a restarted actor converges from a fresh list: stale routes are removed by
//! their marker, the overlay's stale entries by their device, the masquerade table is replaced
//! whole.

mod plan;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::task::JoinHandle;

use flotilla_kernel::api::{ApiClient, EventType, Watched};
use flotilla_kernel::object::Node;
use flotilla_kernel::supervision::spawn_owned;
use flotilla_node_os::network::cni::{default_conflist, write_default};
use flotilla_node_os::network::{masquerade, routes, vxlan};

use crate::controllers::driver::chain;
use crate::dns::{ClusterDns, ClusterDnsArgs, DnsMsg};

pub use plan::{Backend, NetworkPlan, NodeView, PeerNetwork, plan, pod_gateway};

/// The bridge flotilla's default CNI configuration puts pods on.
pub const BRIDGE: &str = "flotilla0";

/// How soon a failed step is tried again.
const RETRY: Duration = Duration::from_secs(5);

pub struct NodeNetwork;

#[derive(Clone)]
pub struct NodeNetworkArgs {
    pub node_name: String,
    pub api: ApiClient,
    /// How the other nodes' pods are reached (`--network-backend`).
    pub backend: Backend,
    /// Where the node's CNI configuration goes (`--cni-conf-dir`).
    pub cni_conf_dir: PathBuf,
    /// Where the host-local plug-in keeps the addresses it gave.
    pub ipam_dir: PathBuf,
    /// The cluster DNS the node serves its pods; `None`: none.
    pub dns: Option<DnsSettings>,
}

/// What the node's cluster DNS server serves.
#[derive(Debug, Clone)]
pub struct DnsSettings {
    /// `cluster.local`.
    pub cluster_domain: String,
    /// Where other names are forwarded: the node's own resolvers.
    pub upstreams: Vec<std::net::SocketAddr>,
}

/// The port the cluster DNS server listens on, at the pods' gateway.
pub const DNS_PORT: u16 = 53;

pub enum NetworkMsg {
    Node(Box<Watched<Node>>),
    /// Bring the node's network to the current plan.
    Apply,
}

pub struct NetworkState {
    args: NodeNetworkArgs,
    nodes: BTreeMap<String, NodeView>,
    /// What was last applied whole.
    applied: Option<NetworkPlan>,
    apply_queued: bool,
    watch: JoinHandle<()>,
    dns: Option<ActorRef<DnsMsg>>,
}

impl Actor for NodeNetwork {
    type Msg = NetworkMsg;
    type State = NetworkState;
    type Arguments = NodeNetworkArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<NetworkMsg>,
        args: NodeNetworkArgs,
    ) -> Result<NetworkState, ActorProcessingErr> {
        let mut events = args.api.watch::<Node>(None, 0, None).await?;
        let me = myself.clone();
        let watch = spawn_owned(myself.get_cell(), "node watch", async move {
            while let Some(event) = events.recv().await {
                match event {
                    Ok(event) => {
                        if me.cast(NetworkMsg::Node(Box::new(event))).is_err() {
                            return;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "the node network's watch failed");
                        return;
                    }
                }
            }
        });
        Ok(NetworkState {
            args,
            nodes: BTreeMap::new(),
            applied: None,
            apply_queued: false,
            watch,
            dns: None,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<NetworkMsg>,
        msg: NetworkMsg,
        state: &mut NetworkState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            NetworkMsg::Node(watched) => {
                let name = watched.object.metadata.name.clone();
                match watched.event {
                    EventType::Deleted => state.nodes.remove(&name),
                    EventType::Added | EventType::Modified => {
                        state.nodes.insert(name, NodeView::of(&watched.object))
                    }
                };
                // Events come in bursts (the initial list): apply once they are in.
                if !state.apply_queued {
                    state.apply_queued = true;
                    myself.cast(NetworkMsg::Apply)?;
                }
            }
            NetworkMsg::Apply => {
                state.apply_queued = false;
                let wanted = plan(&state.args.node_name, &state.nodes, state.args.backend);
                if let (None, Some(range), Some(dns)) =
                    (&state.dns, wanted.own_range, &state.args.dns)
                {
                    state.dns = Some(start_dns(&myself, &state.args, dns, range).await?);
                }
                if state.applied.as_ref() != Some(&wanted) {
                    match apply(&state.args, &wanted).await {
                        Ok(()) => state.applied = Some(wanted),
                        Err(error) => {
                            tracing::warn!(%error, "the node's pod network is not set up yet; retrying");
                            state.applied = None;
                            myself.send_after(RETRY, || NetworkMsg::Apply);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<NetworkMsg>,
        event: SupervisionEvent,
        _: &mut NetworkState,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(_, error) => {
                Err(format!("the cluster DNS server failed: {error}").into())
            }
            SupervisionEvent::ActorTerminated(_, _, reason) => Err(format!(
                "the cluster DNS server stopped: {}",
                reason.unwrap_or_default()
            )
            .into()),
            _ => Ok(()),
        }
    }

    async fn post_stop(
        &self,
        myself: ActorRef<NetworkMsg>,
        state: &mut NetworkState,
    ) -> Result<(), ActorProcessingErr> {
        state.watch.abort();
        if let Some(dns) = state.dns.take() {
            // Its sockets must be closed before a restarted server binds the same address.
            dns.unlink(myself.get_cell());
            let _ = dns.stop_and_wait(None, Some(DNS_STOP)).await;
        }
        Ok(())
    }
}

/// How long the DNS server gets to stop.
const DNS_STOP: Duration = Duration::from_secs(5);

/// Starts the node's cluster DNS server on the gateway of its pods' `range`.
async fn start_dns(
    myself: &ActorRef<NetworkMsg>,
    args: &NodeNetworkArgs,
    dns: &DnsSettings,
    range: ipnet::Ipv4Net,
) -> Result<ActorRef<DnsMsg>, ActorProcessingErr> {
    let listen = std::net::SocketAddr::from((pod_gateway(range), DNS_PORT));
    let dns_args = ClusterDnsArgs {
        api: args.api.clone(),
        listen,
        cluster_domain: dns.cluster_domain.clone(),
        upstreams: dns.upstreams.clone(),
    };
    let (dns, _) = Actor::spawn_linked(None, ClusterDns, dns_args, myself.get_cell()).await?;
    Ok(dns)
}

/// Makes the node's network match `wanted`. Each part is tried even if one before failed;
/// the file and nftables work runs on the blocking pool.
async fn apply(args: &NodeNetworkArgs, wanted: &NetworkPlan) -> Result<(), String> {
    let mut problems = Vec::new();
    match &wanted.peers {
        PeerNetwork::Routes(peer_routes) => {
            // A node switched from vxlan: its overlay's routes go with the device.
            if let Err(error) = vxlan::remove_overlay().await {
                problems.push(chain(&error));
            }
            if let Err(error) = routes::sync_peer_routes(peer_routes).await {
                problems.push(chain(&error));
            }
        }
        PeerNetwork::Overlay(Some(overlay)) => {
            if let Err(error) = vxlan::sync_overlay(overlay).await {
                problems.push(chain(&error));
            }
        }
        // Until this node has its range and address, what is there stays.
        PeerNetwork::Overlay(None) => {}
    }
    let (args_for_pool, wanted_for_pool) = (args.clone(), wanted.clone());
    match tokio::task::spawn_blocking(move || apply_local(&args_for_pool, &wanted_for_pool)).await {
        Ok(more) => problems.extend(more),
        Err(error) => problems.push(format!("the node network update panicked: {error}")),
    }
    if problems.is_empty() {
        tracing::info!(
            peers = wanted.peers.count(),
            ranges = wanted.pod_ranges.len(),
            "the node's pod network is up to date"
        );
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// The CNI configuration, forwarding and masquerade; what went wrong.
fn apply_local(args: &NodeNetworkArgs, wanted: &NetworkPlan) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(range) = wanted.own_range {
        let conflist = default_conflist(&range.to_string(), BRIDGE, &args.ipam_dir, wanted.pod_mtu);
        match write_default(&args.cni_conf_dir, &conflist) {
            Ok(true) => {
                tracing::info!(%range, dir = %args.cni_conf_dir.display(), "wrote the node's CNI configuration")
            }
            Ok(false) => {}
            Err(error) => problems.push(error.to_string()),
        }
    }
    if let Err(error) = enable_forwarding() {
        problems.push(format!("enabling IPv4 forwarding: {error}"));
    }
    if let Err(error) = filter_bridged_traffic() {
        problems.push(format!("passing bridged traffic through nftables: {error}"));
    }
    if let Err(error) = masquerade::sync_masquerade(&wanted.pod_ranges) {
        problems.push(error.to_string());
    }
    problems
}

/// Nodes route pod traffic: forwarding must be on in the node's network namespace.
fn enable_forwarding() -> std::io::Result<()> {
    switch_on("/proc/sys/net/ipv4/ip_forward")
}

/// A pod reaching a pod on its own bridge through a Service's address is answered straight
/// over the bridge: the reply must pass the proxy's NAT too, which bridged traffic does only
/// when the kernel's bridge netfilter hands it over. Without that module (it cannot be loaded
/// here) there is nothing to switch on.
fn filter_bridged_traffic() -> std::io::Result<()> {
    const BRIDGE_NF: &str = "/proc/sys/net/bridge/bridge-nf-call-iptables";
    if !std::path::Path::new(BRIDGE_NF).exists() {
        tracing::warn!(
            "no bridge netfilter in this kernel: pods cannot reach same-node pods through a Service"
        );
        return Ok(());
    }
    switch_on(BRIDGE_NF)
}

fn switch_on(sysctl: &str) -> std::io::Result<()> {
    if std::fs::read_to_string(sysctl)?.trim() == "1" {
        return Ok(());
    }
    std::fs::write(sysctl, "1")
}
