//! `flotilla node`: a node agent on its own machine, talking to a remote API server.
//!
//! The first start joins: the agent generates its key, sends only a certificate signing
//! request with a bootstrap token, checks the server by the CA pin the operator passed (so a
//! man in the middle cannot pose as the cluster), and keeps the certificate it gets in
//! `DATA_DIR/node.conf`. Later starts reuse it. The certificate is renewed when 70% of its
//! remaining lifetime has passed; streams open at that moment finish on the old connection. `flotilla node revoke
//! NAME` is the operator's side: it makes the node's certificates fail their next handshake.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, anyhow};
use ractor::Actor;
use tokio::signal::unix::{SignalKind, signal};

use flotilla_actors::kubelet::{NodeAgent, NodeAgentArgs, stop_all_containers};
use flotilla_kernel::api::{ApiClient, NodeLinks, Request};
use flotilla_kernel::supervision::{ChildSpec, Strategy, Supervisor, SupervisorArgs};
use flotilla_node_os::{NativeRuntime, Runtime, SystemCgroups};
use flotilla_transport::{CaPin, Client, ClientOptions, certificate_facts, new_csr};

use flotilla_kernel::supervision::Intensity;

use crate::boot::{BACKOFF, HEARTBEAT, SHUTDOWN_GRACE, hostname, shutdown};
use crate::config::ClientConfig;

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
}

#[derive(Debug, clap::Subcommand)]
enum NodeAction {
    /// Make every certificate of a node fail its next handshake (uses the client config).
    Revoke { name: String },
}

/// The agent restarts (relisting and re-adopting its containers) whenever it loses the API,
/// for as long as the control plane is away: giving up would stop every workload on the
/// machine because a server was down. The supervisor's backoff spaces the attempts.
const AGENT_INTENSITY: Intensity = Intensity {
    max_restarts: usize::MAX,
    within: Duration::from_secs(60),
};

/// Renew when this share of the certificate's remaining lifetime has passed.
const RENEW_AT: f64 = 0.7;
/// Never renew more often than this, however short the certificate.
const RENEW_MIN_WAIT: Duration = Duration::from_secs(1);
/// Wait before retrying a failed renewal.
const RENEW_RETRY: Duration = Duration::from_secs(30);

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
        let config = join(&args, &node_name).await?;
        config.save(&config_path)?;
        tracing::info!(node = %node_name, server = %config.server, "joined the cluster");
        config
    };
    let address = local_address_towards(config.server)?;
    let transport = config.transport()?;
    let api = ApiClient::remote(transport.clone());
    let renewal = tokio::spawn(renew_forever(api.clone(), transport, config, config_path));

    let cgroups = Arc::new(SystemCgroups::new(&args.cgroup_root)?);
    let runtime: Arc<dyn Runtime> = Arc::new(NativeRuntime::new(cgroups));
    let agent_args = NodeAgentArgs {
        node_name,
        address,
        api,
        runtime: Arc::clone(&runtime),
        links: NodeLinks::default(),
        proc_root: PathBuf::from("/proc"),
        log_dir: args.data_dir.join("logs"),
        heartbeat: HEARTBEAT,
        lease_renew: args.lease_renew,
    };
    let children = vec![ChildSpec::actor("node-agent", move || {
        (NodeAgent, agent_args.clone())
    })];
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
    let clean = tokio::select! {
        _ = tokio::signal::ctrl_c() => true,
        _ = terminate.recv() => true,
        _ = &mut root_done => false,
    };
    renewal.abort();
    if clean {
        tracing::info!("shutting down");
        shutdown(&root).await;
        root_done.await.ok();
    } else {
        tracing::error!("the node agent's supervisor gave up; stopping");
    }
    stop_all_containers(runtime.as_ref(), SHUTDOWN_GRACE).await;
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Joins with the token: the key is made here and never sent.
async fn join(args: &NodeArgs, node_name: &str) -> anyhow::Result<ClientConfig> {
    let missing = |flag: &str| {
        anyhow!(
            "{} holds no certificate yet: pass --server, --token and --ca-hash to join",
            args.data_dir.display()
        )
        .context(format!("{flag} is missing"))
    };
    let server = args.server.as_deref().ok_or_else(|| missing("--server"))?;
    let token = args.token.clone().ok_or_else(|| missing("--token"))?;
    let pin: CaPin = args
        .ca_hash
        .as_deref()
        .ok_or_else(|| missing("--ca-hash"))?
        .parse()?;
    let (addr, host) = resolve(server)?;
    let client = Client::bootstrap(addr, &host, pin, ClientOptions::default())?;
    let (key_pem, csr_pem) = new_csr(node_name)?;
    let bootstrap = ApiClient::remote(client);
    let issued = bootstrap
        .certificate(Request::Join {
            token,
            node_name: node_name.to_string(),
            csr_pem,
        })
        .await;
    bootstrap.close().await;
    let (cert_pem, ca_pem) = issued.with_context(|| format!("joining the cluster at {server}"))?;
    let credentials = flotilla_transport::Credentials {
        cert_pem,
        key_pem,
        ca_pem,
    };
    Ok(ClientConfig::new(addr, &host, credentials))
}

/// `HOST:PORT` → the address to dial and the name the server's certificate must carry.
fn resolve(server: &str) -> anyhow::Result<(SocketAddr, String)> {
    let (host, _) = server
        .rsplit_once(':')
        .ok_or_else(|| anyhow!("--server {server:?} is not HOST:PORT"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let addr = server
        .to_socket_addrs()
        .with_context(|| format!("resolving --server {server:?}"))?
        .next()
        .ok_or_else(|| anyhow!("--server {server:?} resolves to no address"))?;
    Ok((addr, host))
}

/// This machine's address on the route to `server`: what the Node reports. Connecting a UDP
/// socket only picks the route; nothing is sent.
fn local_address_towards(server: SocketAddr) -> anyhow::Result<String> {
    let any: SocketAddr = match server {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = std::net::UdpSocket::bind(any).context("finding this machine's address")?;
    socket
        .connect(server)
        .with_context(|| format!("finding the route to {server}"))?;
    Ok(socket.local_addr()?.ip().to_string())
}

/// Renews the certificate before it expires, forever.
async fn renew_forever(api: ApiClient, transport: Client, mut config: ClientConfig, path: PathBuf) {
    loop {
        match renewal_wait(&config.cert, SystemTime::now()) {
            Ok(wait) => tokio::time::sleep(wait).await,
            Err(error) => {
                tracing::error!(%error, "cannot read this node's certificate; not renewing");
                return;
            }
        }
        match renew(&api, &transport, &mut config, &path).await {
            Ok(()) => tracing::info!("renewed the node certificate"),
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "renewing the certificate failed");
                tokio::time::sleep(RENEW_RETRY).await;
            }
        }
    }
}

/// How long to wait, from `now`, before renewing the certificate in `cert_pem`: 70% of what
/// is left of it. Counted from now rather than from its start, which the CA backdates to allow
/// for clock skew.
fn renewal_wait(cert_pem: &str, now: SystemTime) -> anyhow::Result<Duration> {
    let facts = certificate_facts(cert_pem)?;
    let left = facts.not_after.duration_since(now).unwrap_or_default();
    Ok(left.mul_f64(RENEW_AT).max(RENEW_MIN_WAIT))
}

async fn renew(
    api: &ApiClient,
    transport: &Client,
    config: &mut ClientConfig,
    path: &Path,
) -> anyhow::Result<()> {
    let (key_pem, csr_pem) = new_csr("renewal")?;
    let (cert_pem, ca_pem) = api
        .certificate(Request::RenewCertificate { csr_pem })
        .await?;
    let mut renewed = config.clone();
    renewed.cert = cert_pem;
    renewed.key = key_pem;
    renewed.ca = ca_pem;
    // Saved first: a crash right after must not leave the node with only the old certificate.
    renewed.save(path)?;
    transport.set_credentials(&renewed.credentials()).await?;
    *config = renewed;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_due_at_seventy_percent_of_what_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let pki = flotilla_transport::ClusterPki::load_or_create(dir.path()).unwrap();
        let identity = flotilla_transport::Identity::new("node:a", "node");
        let day = Duration::from_secs(86_400);
        let creds = pki.issue_client(&identity, day).unwrap();
        let not_after = certificate_facts(&creds.cert_pem).unwrap().not_after;
        let now = not_after - Duration::from_secs(1000);
        assert_eq!(
            renewal_wait(&creds.cert_pem, now).unwrap(),
            Duration::from_secs(700)
        );
        let almost_expired = not_after - Duration::from_millis(10);
        assert_eq!(
            renewal_wait(&creds.cert_pem, almost_expired).unwrap(),
            RENEW_MIN_WAIT
        );
        assert!(renewal_wait("garbage", now).is_err());
    }

    #[test]
    fn servers_resolve_with_their_host_as_the_certificate_name() {
        let (addr, host) = resolve("127.0.0.1:7443").unwrap();
        assert_eq!(addr, "127.0.0.1:7443".parse().unwrap());
        assert_eq!(host, "127.0.0.1");
        let (_, host) = resolve("[::1]:7443").unwrap();
        assert_eq!(host, "::1");
        assert!(resolve("no-port").is_err());
    }
}
