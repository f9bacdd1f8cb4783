//! The API server actor: the only client of the store actor. It serves [`ApiCall`]s from
//! in-process components and, through its QUIC listener, from remote ones; each call runs in
//! its own task so a long watch never holds up other requests.

mod admission;
mod authz;
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
use flotilla_transport::{Credentials, Server};

pub use keys::{list_prefix, object_key};

pub struct ApiServer;

pub struct ApiServerArgs {
    /// Where to serve QUIC; `None` serves in-process callers only.
    pub listen: Option<SocketAddr>,
    pub credentials: Credentials,
    pub links: NodeLinks,
}

pub struct ApiServerState {
    links: NodeLinks,
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
        let listener = match args.listen {
            Some(addr) => {
                let server = Server::bind(addr, &args.credentials)
                    .map_err(|e| format!("serving the API on {addr}: {e}"))?;
                let (stop, stopped) = oneshot::channel::<()>();
                let task = tokio::spawn(async move {
                    let shutdown = async {
                        let _ = stopped.await;
                    };
                    if let Err(error) = server.serve(Arc::new(quic::QuicFront), shutdown).await {
                        tracing::error!(%error, "the API listener stopped");
                    }
                });
                tracing::info!(%addr, "API listening (QUIC, mutual TLS)");
                Some((stop, task))
            }
            None => None,
        };
        Ok(ApiServerState {
            links: args.links,
            listener,
        })
    }

    async fn handle(
        &self,
        _: ActorRef<ApiCall>,
        call: ApiCall,
        state: &mut ApiServerState,
    ) -> Result<(), ActorProcessingErr> {
        tokio::spawn(handler::serve(call, state.links.clone()));
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
