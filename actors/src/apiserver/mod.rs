//! The API server actor: the only client of the store actor. It serves [`ApiCall`]s from
//! in-process components and, through its QUIC listener, from remote ones; each call runs in
//! its own task so a long watch never holds up other requests.

mod admission;
mod authz;
mod certificates;
mod handler;
mod keys;
mod quic;
mod stored;
mod watch;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use flotilla_kernel::api::{ApiCall, NodeLinks};
use flotilla_transport::{ClusterPki, Credentials, Server, ServerOptions};

pub use keys::{list_prefix, object_key};

use certificates::{Certificates, Revocations};
use handler::Context;

use crate::store_service::StoreService;

pub struct ApiServer;

pub struct ApiServerArgs {
    /// Where to serve QUIC; `None` serves in-process callers only.
    pub listen: Option<SocketAddr>,
    pub credentials: Credentials,
    pub links: NodeLinks,
    /// The cluster CA, with which the server admits joining nodes, renews and revokes their
    /// certificates; `None` turns joining off.
    pub pki: Option<Arc<ClusterPki>>,
    /// How long node certificates live; nodes renew them at about 70% of it.
    pub node_cert_validity: Duration,
    /// Serves `flotilla store` calls beside the API; `None` refuses them.
    pub store: Option<Arc<StoreService>>,
}

pub struct ApiServerState {
    context: Arc<Context>,
    listener: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Actor for ApiServer {
    type Msg = ApiCall;
    type State = ApiServerState;
    type Arguments = ApiServerArgs;

    async fn pre_start(
        &self,
        _: ActorRef<ApiCall>,
        args: ApiServerArgs,
    ) -> Result<ApiServerState, ActorProcessingErr> {
        handler::ensure_system_namespaces()
            .await
            .map_err(|e| format!("creating the system namespaces: {e}"))?;
        let revocations = Revocations::default();
        revocations
            .load()
            .await
            .map_err(|e| format!("reading revoked certificates: {e}"))?;
        let options = ServerOptions {
            allow_anonymous: args.pki.is_some(),
            revoked: Some(revocations.check()),
            ..ServerOptions::default()
        };
        let certificates = args.pki.map(|pki| Certificates {
            pki,
            revocations,
            validity: args.node_cert_validity,
        });
        let listener = match args.listen {
            Some(addr) => {
                let store = args.store;
                let server = Server::bind_with(addr, &args.credentials, options)
                    .map_err(|e| format!("serving the API on {addr}: {e}"))?;
                let (stop, stopped) = oneshot::channel::<()>();
                let task = tokio::spawn(async move {
                    let shutdown = async {
                        let _ = stopped.await;
                    };
                    if let Err(error) = server
                        .serve(Arc::new(quic::QuicFront { store }), shutdown)
                        .await
                    {
                        tracing::error!(%error, "the API listener stopped");
                    }
                });
                tracing::info!(%addr, "API listening (QUIC, mutual TLS)");
                Some((stop, task))
            }
            None => None,
        };
        Ok(ApiServerState {
            context: Arc::new(Context {
                links: args.links,
                certificates,
            }),
            listener,
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
        _: ActorRef<ApiCall>,
        state: &mut ApiServerState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some((stop, task)) = state.listener.take() {
            let _ = stop.send(());
            // The listener closes its endpoint on shutdown; do not hang a restart on it.
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        Ok(())
    }
}
