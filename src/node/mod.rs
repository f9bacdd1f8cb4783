//! `flotilla node`: a node agent on its own machine, talking to a remote API server.
//!
//! The first start joins ([`join`]) and keeps the certificate it gets in `DATA_DIR/node.conf`;
//! later starts reuse it, and [`renewal`] renews it when 70% of its remaining lifetime has
//! passed. `flotilla node revoke NAME` is the operator's side: it cuts the node off at once.
//!
//! Stopping the agent (SIGTERM, an upgrade) leaves its containers running: the next agent
//! re-adopts them. `--stop-pods-on-exit` stops them too. An agent whose certificate the control
//! plane revokes (`node revoke`, or its Node deleted) is told why and stops, leaving its
//! containers to the operator. As PID 1 (a container's or a machine's init) it first becomes a
//! small init that reaps orphans and runs the agent as its child ([`flotilla_node_os::init`]).

mod join;
mod renewal;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ractor::Actor;
use tokio::signal::unix::{SignalKind, signal};

use flotilla_actors::kubelet::{NodeAgent, NodeAgentArgs, stop_all_containers};
use flotilla_kernel::api::ApiClient;
use flotilla_kernel::supervision::{ChildSpec, Intensity, Strategy, Supervisor, SupervisorArgs};
use flotilla_node_os::{NativeRuntime, SystemCgroups, init};

use crate::boot::{BACKOFF, HEARTBEAT, SHUTDOWN_GRACE, hostname, shutdown};
use crate::config::ClientConfig;
use crate::image_gc_args::ImageGcArgs;
use crate::network_args::NodeNetworkFlags;
use crate::registry_args::RegistryArgs;
use crate::runtime_args::RuntimeArgs;
use renewal::{CertRenewal, RenewalArgs};

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct NodeArgs {
    #[command(subcommand)]
    action: Option<NodeAction>,
    /// The API server, HOST:PORT (needed to join).
    #[arg(long)]
    server: Option<String>,
    /// A bootstrap token from `flotilla token create` (needed to join).
    #[arg(long)]
    token: Option<String>,
    /// The cluster CA's pin, sha256:<hex>, as `flotilla token create` prints it.
    #[arg(long)]
    ca_hash: Option<String>,
    /// Where the agent keeps its certificate, key and container logs.
    #[arg(long, default_value = "/var/lib/flotilla-node")]
    data_dir: PathBuf,
    /// Name of this machine's Node (default: the hostname).
    #[arg(long)]
    node_name: Option<String>,
    /// Name of the cgroup under which every container's cgroup is created.
    #[arg(long, default_value = "flotilla")]
    cgroup_root: String,
    /// How often this node renews its lease (its heartbeat).
    #[arg(long, default_value = "2s", value_parser = crate::ttl::parse_ttl)]
    lease_renew: Duration,
    /// Stop every container when the agent stops (by default they keep running, and the next
    /// agent takes them over).
    #[arg(long)]
    stop_pods_on_exit: bool,
    #[command(flatten)]
    registries: RegistryArgs,
    #[command(flatten)]
    runtimes: RuntimeArgs,
    #[command(flatten)]
    image_gc: ImageGcArgs,
    #[command(flatten)]
    pod_network: NodeNetworkFlags,
}

#[derive(Debug, clap::Subcommand)]
enum NodeAction {
    /// Cut a node off: its certificates fail their next handshake and its open connections
    /// are closed (uses the client config).
    Revoke { name: String },
}

/// The agent restarts (relisting and re-adopting its containers) whenever it loses the API,
/// for as long as the control plane is away: giving up would stop every workload on the
/// machine because a server was down. The supervisor's backoff spaces the attempts.
const AGENT_INTENSITY: Intensity = Intensity {
    max_restarts: usize::MAX,
    within: Duration::from_secs(60),
};

/// Why the agent process ends.
enum Exit {
    /// SIGTERM or Ctrl-C: a clean stop.
    Asked,
    /// The control plane revoked this node's certificate.
    Revoked(String),
    /// The root supervisor gave up.
    GaveUp,
}

impl NodeArgs {
    /// Whether this runs an agent, rather than an operator's subcommand.
    pub fn runs_agent(&self) -> bool {
        self.action.is_none()
    }
}

/// `flotilla node` as PID 1: runs the same command line as its child and reaps orphans until
/// the child exits, then exits as it did.
pub fn as_init() -> ExitCode {
    let program = std::env::current_exe()
        .ok()
        .or_else(|| std::env::args_os().next().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("flotilla"));
    let mut agent = std::process::Command::new(program);
    agent.args(std::env::args_os().skip(1));
    match init::run_as_init(&mut agent) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(error) => {
            eprintln!("error: {:#}", anyhow::Error::from(error));
            ExitCode::FAILURE
        }
    }
}

pub async fn run(args: NodeArgs, config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    match args.action {
        Some(NodeAction::Revoke { name }) => {
            let path = crate::config::resolve(config)?;
            let api = ClientConfig::load(&path)?.connect()?;
            let revoked = api.revoke_node(&name).await;
            api.close().await;
            let revoked = revoked.with_context(|| format!("revoking node {name:?}"))?;
            println!("node {name:?}: {revoked} certificate(s) revoked");
            Ok(ExitCode::SUCCESS)
        }
        None => agent(args).await,
    }
}

async fn agent(args: NodeArgs) -> anyhow::Result<ExitCode> {
    let image_gc = args.image_gc.policy()?;
    let node_name = match &args.node_name {
        Some(name) => name.clone(),
        None => hostname()?,
    };
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating the data dir {}", args.data_dir.display()))?;
    let config_path = args.data_dir.join("node.conf");
    let config = if config_path.exists() {
        ClientConfig::load(&config_path)?
    } else {
        let config = join::join(&args, &node_name).await?;
        config.save(&config_path)?;
        tracing::info!(node = %node_name, server = %config.server, "joined the cluster");
        config
    };
    let address = join::local_address_towards(config.server)?;
    let transport = config.transport()?;
    let api = ApiClient::remote(transport.clone());

    let cgroups = Arc::new(SystemCgroups::new(&args.cgroup_root)?);
    let native = Arc::new(NativeRuntime::new(cgroups, args.data_dir.join("runtime")));
    let runtimes = args.runtimes.runtimes(native, &args.cgroup_root).await?;
    let runtime = runtimes.runtime;
    let pod_network = args.pod_network.pod_network(&args.data_dir);
    let network_actors = args.pod_network.actors(&node_name, &api, &args.data_dir);
    let agent_args = NodeAgentArgs {
        node_name,
        address,
        api: api.clone(),
        runtime: Arc::clone(&runtime),
        proc_root: PathBuf::from("/proc"),
        log_dir: args.data_dir.join("logs"),
        image_dir: args.data_dir.join("images"),
        registries: args.registries.registries(),
        runtime_handlers: runtimes.handlers,
        cri: runtimes.cri,
        image_gc,
        network: Some(pod_network.clone()),
        heartbeat: HEARTBEAT,
        lease_renew: args.lease_renew,
    };
    let renewal_args = RenewalArgs {
        api,
        transport: transport.clone(),
        path: config_path,
    };
    let mut children = vec![ChildSpec::actor("cert-renewal", move || {
        (CertRenewal, renewal_args.clone())
    })];
    children.extend(network_actors);
    children.push(ChildSpec::actor("node-agent", move || {
        (NodeAgent, agent_args.clone())
    }));
    let supervisor = SupervisorArgs {
        strategy: Strategy::OneForOne,
        intensity: AGENT_INTENSITY,
        backoff: BACKOFF,
        children,
    };
    let (root, root_done) = Actor::spawn(None, Supervisor, supervisor)
        .await
        .context("starting the node agent")?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut root_done = std::pin::pin!(root_done);
    let exit = tokio::select! {
        _ = tokio::signal::ctrl_c() => Exit::Asked,
        _ = terminate.recv() => Exit::Asked,
        reason = transport.revoked() => Exit::Revoked(reason),
        _ = &mut root_done => Exit::GaveUp,
    };
    match &exit {
        Exit::Asked => tracing::info!("shutting down"),
        Exit::Revoked(reason) => tracing::error!(
            reason,
            "the control plane revoked this node's certificate; stopping. Its containers keep \
             running until an operator stops them; to rejoin, delete {} and join with a new token",
            args.data_dir.join("node.conf").display()
        ),
        Exit::GaveUp => tracing::error!("the node agent's supervisor gave up; stopping"),
    }
    if !matches!(exit, Exit::GaveUp) {
        shutdown(&root).await;
        root_done.await.ok();
    }
    if args.stop_pods_on_exit {
        stop_all_containers(&runtime, Some(&pod_network), SHUTDOWN_GRACE).await;
        if args.pod_network.runs_network() {
            crate::network_teardown::take_down().await;
        }
    } else {
        tracing::info!("containers keep running; the next agent on this machine takes them over");
    }
    transport.close().await;
    Ok(match exit {
        Exit::Asked => ExitCode::SUCCESS,
        Exit::Revoked(_) | Exit::GaveUp => ExitCode::FAILURE,
    })
}
