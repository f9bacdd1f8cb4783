//! `flotilla up`: the whole cluster in one process. Boot prepares what outlives actors (data
//! dir, PKI, the store, the container runtime), starts the root supervisor with every
//! component under it, and shuts it all down in order on SIGTERM or Ctrl-C.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ractor::{Actor, ActorRef};
use tokio::signal::unix::{SignalKind, signal};

use flotilla_actors::apiserver::{ApiServer, ApiServerArgs, QuicListen};
use flotilla_actors::compactor::{COMPACTOR, CompactionRecord, Compactor, CompactorArgs};
use flotilla_actors::controllers;
use flotilla_actors::kubelet::{
    NodeAgent, NodeAgentArgs, Registries, RuntimeHandlers, stop_all_containers,
};
use flotilla_actors::node_lifecycle::{NodeLifecycle, NodeLifecycleArgs, Settings};
use flotilla_actors::scheduler::{Scheduler, SchedulerArgs};
use flotilla_actors::store_service::StoreService;
use flotilla_cri::CriRuntime;
use flotilla_images::ImageGcPolicy;
use flotilla_kernel::api::{APISERVER, ApiClient, LocalApi};
use flotilla_kernel::supervision::{
    Backoff, ChildSpec, Intensity, Strategy, Supervisor, SupervisorArgs, SupervisorMsg,
};
use flotilla_node_os::{NativeRuntime, Runtime, SystemCgroups};
use flotilla_store::Store;
use flotilla_transport::{ClusterPki, Identity};

use crate::config::{self, ClientConfig};
use crate::image_gc_args::ImageGcArgs;
use crate::network_args::{ClusterNetworkArgs, NodeNetworkFlags};
use crate::registry_args::RegistryArgs;
use crate::runtime_args::RuntimeArgs;

/// What the control plane needs: `flotilla server`, and part of `flotilla up`.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Where the cluster keeps its state (store, certificates, logs).
    #[arg(long, default_value = "/var/lib/flotilla")]
    pub data_dir: PathBuf,
    /// Address of the API (QUIC, mutual TLS).
    #[arg(long, default_value = "127.0.0.1:7443")]
    pub listen: SocketAddr,
    /// More DNS names or IP addresses the API's certificate is valid for (the address nodes
    /// and operators use to reach this machine); may be repeated.
    #[arg(long = "san", value_name = "NAME")]
    pub sans: Vec<String>,
    /// How long the certificates issued to joining nodes live (they renew at about 70%).
    #[arg(long, default_value = "24h", value_parser = crate::ttl::parse_ttl)]
    pub node_cert_ttl: Duration,
    /// How long a node's lease may go unrenewed before the node counts as unreachable.
    #[arg(long, default_value = "10s", value_parser = crate::ttl::parse_duration)]
    pub node_grace_period: Duration,
    /// How long pods stay on an unreachable node before they are replaced elsewhere.
    #[arg(long, default_value = "10s", value_parser = crate::ttl::parse_duration)]
    pub pod_eviction_timeout: Duration,
    /// How much store history automatic compaction keeps (e.g. 30m, 1h; a bare number is
    /// hours); 0 turns it off.
    #[arg(long, default_value = "1h", value_parser = crate::ttl::parse_retention)]
    pub auto_compaction_retention: Duration,
    #[command(flatten)]
    pub network: ClusterNetworkArgs,
}

/// `flotilla up`: the control plane and a node agent for this machine.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Name of this machine's Node (default: the hostname).
    #[arg(long)]
    pub node_name: Option<String>,
    /// Name of the cgroup under which every container's cgroup is created.
    #[arg(long, default_value = "flotilla")]
    pub cgroup_root: String,
    /// How often this node renews its lease (its heartbeat).
    #[arg(long, default_value = "2s", value_parser = crate::ttl::parse_ttl)]
    pub lease_renew: Duration,
    #[command(flatten)]
    pub registries: RegistryArgs,
    #[command(flatten)]
    pub runtimes: RuntimeArgs,
    #[command(flatten)]
    pub image_gc: ImageGcArgs,
    #[command(flatten)]
    pub pod_network: NodeNetworkFlags,
}

/// How long containers get to stop when the node shuts down.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How often a node refreshes its Node status (liveness goes by its lease instead).
pub const HEARTBEAT: Duration = Duration::from_secs(10);
pub const CERT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// The node agent `flotilla up` runs beside the control plane.
struct LocalNode {
    name: String,
    runtime: Arc<dyn Runtime>,
    lease_renew: Duration,
    registries: Registries,
    runtime_handlers: RuntimeHandlers,
    cri: Option<Arc<CriRuntime>>,
    image_gc: ImageGcPolicy,
    pod_network: NodeNetworkFlags,
}

pub async fn up(args: UpArgs) -> anyhow::Result<ExitCode> {
    let image_gc = args.image_gc.policy()?;
    let name = match args.node_name.clone() {
        Some(name) => name,
        None => hostname()?,
    };
    let cgroups = Arc::new(SystemCgroups::new(&args.cgroup_root)?);
    let native = Arc::new(NativeRuntime::new(
        cgroups,
        args.server.data_dir.join("runtime"),
    ));
    let runtimes = args.runtimes.runtimes(native, &args.cgroup_root).await?;
    let node = LocalNode {
        name,
        runtime: runtimes.runtime,
        lease_renew: args.lease_renew,
        registries: args.registries.registries(),
        runtime_handlers: runtimes.handlers,
        cri: runtimes.cri,
        image_gc,
        pod_network: args.pod_network,
    };
    run(args.server, Some(node)).await
}

/// `flotilla server`: the control plane only; nodes join with `flotilla node`.
pub async fn server(args: ServerArgs) -> anyhow::Result<ExitCode> {
    run(args, None).await
}

async fn run(args: ServerArgs, node: Option<LocalNode>) -> anyhow::Result<ExitCode> {
    let machine = match &node {
        Some(node) => node.name.clone(),
        None => hostname()?,
    };
    let pod_ranges = args.network.pod_ranges()?;
    let service_cidr = args.network.service_range()?;
    let node_port_range = args.network.service_node_port_range;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating the data dir {}", args.data_dir.display()))?;
    let pki = ClusterPki::load_or_create(&args.data_dir.join("pki"))?;
    let server_credentials = pki.issue_server(
        &server_names(&args.listen, &machine, &args.sans),
        CERT_VALIDITY,
    )?;
    write_admin_config(&args.data_dir, &args.listen, &pki, true)?;
    let pki = Arc::new(pki);

    let store = Store::open(&args.data_dir.join("store"))?;
    let compaction = CompactionRecord::new(args.auto_compaction_retention);
    let store_service = Arc::new(StoreService::new(
        store.clone(),
        args.data_dir.clone(),
        compaction.clone(),
    ));
    let local = LocalApi::default();
    let control_plane = ApiClient::local(
        Identity::new("flotilla-controller", "control-plane"),
        local.clone(),
    );

    let mut children = vec![
        {
            let store = store.clone();
            ChildSpec::actor(COMPACTOR, move || {
                let args = CompactorArgs {
                    store: store.clone(),
                    record: compaction.clone(),
                };
                (Compactor, args)
            })
        },
        {
            let local = local.clone();
            let listen = args.listen;
            let node_cert_validity = args.node_cert_ttl;
            ChildSpec::actor(APISERVER, move || {
                let args = ApiServerArgs {
                    local: local.clone(),
                    store: store.clone(),
                    listen: Some(QuicListen {
                        addr: listen,
                        credentials: server_credentials.clone(),
                    }),
                    pki: Some(Arc::clone(&pki)),
                    node_cert_validity,
                    store_service: Some(Arc::clone(&store_service)),
                    service_cidr,
                    node_port_range,
                };
                (ApiServer, args)
            })
        },
        {
            let api = control_plane.clone();
            ChildSpec::actor("scheduler", move || {
                (Scheduler, SchedulerArgs::new(api.clone()))
            })
        },
        {
            let api = control_plane.clone();
            ChildSpec::actor("controller-manager", move || {
                (
                    Supervisor,
                    one_for_one(controllers::controller_specs(api.clone(), pod_ranges)),
                )
            })
        },
        {
            let api = control_plane.clone();
            let settings = Settings {
                grace: args.node_grace_period,
                eviction: args.pod_eviction_timeout,
            };
            ChildSpec::actor("node-lifecycle", move || {
                let args = NodeLifecycleArgs {
                    api: api.clone(),
                    settings,
                };
                (NodeLifecycle, args)
            })
        },
    ];
    let pod_network = node
        .as_ref()
        .map(|node| node.pod_network.pod_network(&args.data_dir));
    if let Some(node) = &node {
        let node_api = ApiClient::local(
            Identity::new(format!("node:{}", node.name), "node"),
            local.clone(),
        );
        children.extend(
            node.pod_network
                .actors(&node.name, &node_api, &args.data_dir),
        );
        let agent = NodeAgentArgs {
            node_name: node.name.clone(),
            address: node_address(&args.listen),
            api: node_api,
            runtime: Arc::clone(&node.runtime),
            proc_root: PathBuf::from("/proc"),
            log_dir: args.data_dir.join("logs"),
            image_dir: args.data_dir.join("images"),
            registries: node.registries.clone(),
            runtime_handlers: node.runtime_handlers.clone(),
            cri: node.cri.clone(),
            image_gc: node.image_gc,
            network: pod_network.clone(),
            heartbeat: HEARTBEAT,
            lease_renew: node.lease_renew,
        };
        children.push(ChildSpec::actor("node-agent", move || {
            (NodeAgent, agent.clone())
        }));
    }
    let (root, root_done) = Actor::spawn(None, Supervisor, one_for_one(children))
        .await
        .context("starting the cluster")?;
    tracing::info!(
        api = %args.listen,
        config = %args.data_dir.join("admin.conf").display(),
        "flotilla is up"
    );

    let mut terminate = signal(SignalKind::terminate())?;
    let mut root_done = std::pin::pin!(root_done);
    let clean = tokio::select! {
        _ = tokio::signal::ctrl_c() => true,
        _ = terminate.recv() => true,
        _ = &mut root_done => false,
    };
    if clean {
        tracing::info!("shutting down");
        shutdown(&root).await;
        root_done.await.ok();
    } else {
        tracing::error!("the root supervisor gave up; stopping");
    }
    if let Some(node) = &node {
        stop_all_containers(&node.runtime, pod_network.as_ref(), SHUTDOWN_GRACE).await;
        if node.pod_network.runs_network() {
            crate::network_teardown::take_down().await;
        }
    }
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

const INTENSITY: Intensity = Intensity {
    max_restarts: 5,
    within: Duration::from_secs(30),
};
pub const BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(100),
    max: Duration::from_secs(5),
};

/// A supervisor of `children` that restarts each alone, giving up as every flotilla process
/// does: more than five restarts within 30 s.
pub fn one_for_one(children: Vec<ChildSpec>) -> SupervisorArgs {
    SupervisorArgs {
        strategy: Strategy::OneForOne,
        intensity: INTENSITY,
        backoff: BACKOFF,
        children,
    }
}

pub async fn shutdown(root: &ActorRef<SupervisorMsg>) {
    let stopped = root
        .call(SupervisorMsg::Shutdown, Some(Duration::from_secs(120)))
        .await;
    if stopped.is_err() {
        tracing::warn!("components did not stop in time");
    }
    root.stop(None);
}

pub fn hostname() -> anyhow::Result<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .context("reading the hostname (pass --node-name)")?;
    Ok(name.trim().to_lowercase())
}

/// Names the API's certificate is valid for, beyond localhost.
pub fn server_names(listen: &SocketAddr, node_name: &str, sans: &[String]) -> Vec<String> {
    let mut names = vec![node_name.to_string()];
    if !listen.ip().is_unspecified() {
        names.push(listen.ip().to_string());
    }
    names.extend(sans.iter().cloned());
    names
}

/// Where clients on this machine reach the API.
fn client_address(listen: &SocketAddr) -> SocketAddr {
    if listen.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), listen.port())
    } else {
        *listen
    }
}

fn node_address(listen: &SocketAddr) -> String {
    client_address(listen).ip().to_string()
}

/// Writes `DATA_DIR/admin.conf` on first start (and `~/.flotilla/config` if there is none and
/// `user_default` asks for it); later starts keep its certificate and update the address.
pub fn write_admin_config(
    data_dir: &Path,
    listen: &SocketAddr,
    pki: &ClusterPki,
    user_default: bool,
) -> anyhow::Result<()> {
    let admin_conf = data_dir.join("admin.conf");
    let existing = admin_conf
        .exists()
        .then(|| ClientConfig::load(&admin_conf))
        .transpose()?;
    let config = match existing {
        Some(mut config) => {
            config.server = client_address(listen);
            config
        }
        None => {
            let admin = pki.issue_client(&Identity::new("admin", "admin"), CERT_VALIDITY)?;
            ClientConfig::new(client_address(listen), "localhost", admin)
        }
    };
    config.save(&admin_conf)?;
    if let Some(user_config) = config::default_path().filter(|p| user_default && !p.exists()) {
        config.save(&user_config)?;
        tracing::info!(path = %user_config.display(), "wrote the admin client config");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_reach_an_unspecified_listen_address_on_loopback() {
        let any: SocketAddr = "0.0.0.0:7443".parse().unwrap();
        assert_eq!(client_address(&any), "127.0.0.1:7443".parse().unwrap());
        let one: SocketAddr = "10.0.0.5:7443".parse().unwrap();
        assert_eq!(client_address(&one), one);
        assert_eq!(server_names(&one, "n1", &[]), vec!["n1", "10.0.0.5"]);
        let sans = ["api.example".to_string()];
        assert_eq!(server_names(&any, "n1", &sans), vec!["n1", "api.example"]);
    }
}
