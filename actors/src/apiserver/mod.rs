//! The API server actor: the only client of the store. It serves [`ApiCall`]s from in-process
//! components and, through its QUIC listener, from remote ones; each call runs in its own task
//! and calls the store directly, so a long watch or a slow write never holds up other requests.

mod admission;
mod allocation;
mod authz;
mod certificates;
mod deletion;
mod eviction;
mod handler;
mod keys;
mod node_pods;
mod priority;
mod quic;
mod stored;
mod watch;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use flotilla_kernel::api::{ApiCall, LocalApi};
use flotilla_kernel::supervision::spawn_owned;
use flotilla_store::Store;
use flotilla_transport::{ClusterPki, Credentials, Revocations, Server, ServerOptions};

pub use allocation::{NodePortRange, ServiceCidr, ServiceRangeError};
pub use keys::{list_prefix, object_key};

use certificates::{Certificates, load_revocations};
use handler::Context;
use node_pods::NodePods;
use stored::Stored;

use crate::store_service::StoreService;

pub struct ApiServer;

pub struct ApiServerArgs {
    /// Where in-process clients find this server once it runs.
    pub local: LocalApi,
    /// The store this server is the only client of.
    pub store: Store,
    /// Where to serve QUIC; `None` serves in-process callers only.
    pub listen: Option<QuicListen>,
    /// The cluster CA, with which the server admits joining nodes, renews and revokes their
    /// certificates; `None` turns joining off.
    pub pki: Option<Arc<ClusterPki>>,
    /// How long node certificates live; nodes renew them at about 70% of it.
    pub node_cert_validity: Duration,
    /// Serves `flotilla store` calls beside the API; `None` refuses them.
    pub store_service: Option<Arc<StoreService>>,
    /// The range Services' ClusterIPs come from (`--service-cidr`); its first address is the
    /// `kubernetes` Service's.
    pub service_cidr: ServiceCidr,
    /// The ports `NodePort` Services' node ports come from.
    pub node_port_range: NodePortRange,
}

/// The API's QUIC endpoint: its address and the server's own credentials.
#[derive(Clone)]
pub struct QuicListen {
    pub addr: SocketAddr,
    pub credentials: Credentials,
}

pub struct ApiServerState {
    context: Arc<Context>,
    local: LocalApi,
    listener: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    indexing: JoinHandle<()>,
}

impl Actor for ApiServer {
    type Msg = ApiCall;
    type State = ApiServerState;
    type Arguments = ApiServerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ApiCall>,
        args: ApiServerArgs,
    ) -> Result<ApiServerState, ActorProcessingErr> {
        let ranges = allocation::Ranges {
            cluster_ips: args.service_cidr,
            node_ports: args.node_port_range,
        };
        let stored = Stored::new(args.store, ranges);
        handler::ensure_system_objects(&stored)
            .await
            .map_err(|e| format!("creating the system namespaces: {e}"))?;
        let revocations = Arc::new(Revocations::default());
        load_revocations(&stored, &revocations)
            .await
            .map_err(|e| format!("reading revoked certificates: {e}"))?;
        let options = ServerOptions {
            allow_anonymous: args.pki.is_some(),
            revocations: Some(Arc::clone(&revocations)),
            ..ServerOptions::default()
        };
        let certificates = args.pki.map(|pki| {
            Certificates::new(stored.clone(), pki, revocations, args.node_cert_validity)
        });
        // Bound before any task starts, so a failed start leaves nothing behind.
        let server = match &args.listen {
            Some(QuicListen { addr, credentials }) => Some(
                Server::bind_with(*addr, credentials, options)
                    .map_err(|e| format!("serving the API on {addr}: {e}"))?,
            ),
            None => None,
        };
        let node_pods = Arc::new(NodePods::new(stored.clone()));
        let indexing = {
            let node_pods = Arc::clone(&node_pods);
            spawn_owned(myself.get_cell(), "pod index", async move {
                node_pods.feed().await;
            })
        };
        let context = Arc::new(Context {
            stored,
            node_pods,
            links: args.local.links().clone(),
            certificates,
        });
        let listener = server.map(|server| {
            let addr = server.local_addr();
            let front = Arc::new(quic::QuicFront {
                context: Arc::clone(&context),
                store: args.store_service,
            });
            let (stop, stopped) = oneshot::channel::<()>();
            let task = spawn_owned(myself.get_cell(), "QUIC listener", async move {
                let shutdown = async {
                    let _ = stopped.await;
                };
                if let Err(error) = server.serve(front, shutdown).await {
                    tracing::error!(%error, "the API listener stopped");
                }
            });
            tracing::info!(%addr, "API listening (QUIC, mutual TLS)");
            (stop, task)
        });
        args.local.serve(myself);
        Ok(ApiServerState {
            context,
            local: args.local,
            listener,
            indexing,
        })
    }

    async fn handle(
        &self,
        _: ActorRef<ApiCall>,
        call: ApiCall,
        state: &mut ApiServerState,
    ) -> Result<(), ActorProcessingErr> {
        tokio::spawn(handler::serve(call, Arc::clone(&state.context)));
        Ok(())
    }

    async fn post_stop(
        &self,
        myself: ActorRef<ApiCall>,
        state: &mut ApiServerState,
    ) -> Result<(), ActorProcessingErr> {
        state.local.stop_serving(&myself);
        state.indexing.abort();
        if let Some((stop, task)) = state.listener.take() {
            let _ = stop.send(());
            // The listener closes its endpoint on shutdown; do not hang a restart on it.
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        Ok(())
    }
}
