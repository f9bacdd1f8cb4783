//! The cluster DNS server: an actor on every node that answers the pods' queries for the
//! cluster domain (`web.default.svc.cluster.local`) and forwards the others to the node's
//! own resolvers, as CoreDNS does in Kubernetes.
//!
//! It lists the Services and EndpointSlices into a [`RecordStore`] (the pure core) before it
//! serves, then follows their watches: answers change with the watch
//! events, never by polling. hickory-server runs the UDP and TCP loops and calls our request
//! handler, which reads the store through a read lock it holds for one hash lookup; the actor
//! takes the write lock for one event at a time. Should a watch end, the actor stops and its
//! supervisor starts it again, which lists afresh.

mod forward;
mod handler;
mod records;
mod resolv_conf;
mod server;
mod service_records;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock, RwLockWriteGuard};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use flotilla_kernel::api::{ApiClient, ClientError, EventType, Watched};
use flotilla_kernel::object::{EndpointSlice, Resource, Service};
use flotilla_kernel::supervision::spawn_owned;

pub use records::{InvalidDomain, RecordSet, RecordStore, Resolution};
pub use resolv_conf::parse_resolv_conf;
pub use server::BindError;

use forward::Upstreams;
use handler::SharedRecords;

/// How long one upstream server has to answer a forwarded query.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(2);

pub struct ClusterDns;

#[derive(Clone)]
pub struct ClusterDnsArgs {
    pub api: ApiClient,
    /// Where to serve, UDP and TCP: the node's pod bridge gateway on port 53. The address
    /// need not exist yet.
    pub listen: SocketAddr,
    /// The cluster domain (`cluster.local`).
    pub cluster_domain: String,
    /// Where other names go: the node's nameservers ([`parse_resolv_conf`]), asked in order.
    pub upstreams: Vec<SocketAddr>,
}

/// The DNS server could not start.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error(transparent)]
    Domain(#[from] InvalidDomain),
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("the DNS server could not list or watch the {kind}s")]
    Api {
        kind: &'static str,
        #[source]
        source: ClientError,
    },
}

pub enum DnsMsg {
    Service(Box<Watched<Service>>),
    Slice(Box<Watched<EndpointSlice>>),
}

pub struct DnsState {
    records: SharedRecords,
    watches: [JoinHandle<()>; 2],
    server: JoinHandle<()>,
}

impl Actor for ClusterDns {
    type Msg = DnsMsg;
    type State = DnsState;
    type Arguments = ClusterDnsArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<DnsMsg>,
        args: ClusterDnsArgs,
    ) -> Result<DnsState, ActorProcessingErr> {
        let mut store = RecordStore::new(&args.cluster_domain).map_err(DnsError::from)?;
        let (services, service_revision) = list::<Service>(&args.api).await?;
        let (slices, slice_revision) = list::<EndpointSlice>(&args.api).await?;
        for service in &services {
            store.apply_service(EventType::Added, service);
        }
        for slice in &slices {
            store.apply_slice(EventType::Added, slice);
        }
        let service_events = watch::<Service>(&args.api, service_revision).await?;
        let slice_events = watch::<EndpointSlice>(&args.api, slice_revision).await?;
        let records = Arc::new(RwLock::new(store));
        let upstreams = Upstreams::new(args.upstreams.clone(), FORWARD_TIMEOUT);
        let (mut server, address) =
            server::serve(args.listen, records.clone(), upstreams).map_err(DnsError::from)?;
        tracing::info!(
            %address,
            domain = %args.cluster_domain,
            services = services.len(),
            upstreams = ?args.upstreams,
            "serving the cluster's DNS"
        );
        let watches = [
            follow(&myself, "service watch", service_events, DnsMsg::Service),
            follow(&myself, "endpoint slice watch", slice_events, DnsMsg::Slice),
        ];
        let server = spawn_owned(myself.get_cell(), "DNS server", async move {
            if let Err(error) = server.block_until_done().await {
                tracing::error!(%error, "the DNS server failed");
            }
        });
        Ok(DnsState {
            records,
            watches,
            server,
        })
    }

    async fn handle(
        &self,
        _: ActorRef<DnsMsg>,
        msg: DnsMsg,
        state: &mut DnsState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            DnsMsg::Service(watched) => {
                write(&state.records).apply_service(watched.event, &watched.object);
            }
            DnsMsg::Slice(watched) => {
                write(&state.records).apply_slice(watched.event, &watched.object);
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _: ActorRef<DnsMsg>,
        state: &mut DnsState,
    ) -> Result<(), ActorProcessingErr> {
        for watch in &state.watches {
            watch.abort();
        }
        // Dropping the server closes its sockets and ends its connections.
        state.server.abort();
        Ok(())
    }
}

async fn list<T: Resource>(api: &ApiClient) -> Result<(Vec<T>, u64), DnsError> {
    api.list::<T>(None, None)
        .await
        .map_err(|source| DnsError::Api {
            kind: T::KIND.as_str(),
            source,
        })
}

type Events<T> = mpsc::Receiver<Result<Watched<T>, ClientError>>;

async fn watch<T: Resource>(api: &ApiClient, after_revision: u64) -> Result<Events<T>, DnsError> {
    api.watch::<T>(None, after_revision, None)
        .await
        .map_err(|source| DnsError::Api {
            kind: T::KIND.as_str(),
            source,
        })
}

/// A task owned by the actor that turns watch events into its messages; it ends (and so
/// stops the actor) with the watch.
fn follow<T: Send + 'static>(
    myself: &ActorRef<DnsMsg>,
    what: &'static str,
    mut events: Events<T>,
    message: fn(Box<Watched<T>>) -> DnsMsg,
) -> JoinHandle<()> {
    let me = myself.clone();
    spawn_owned(myself.get_cell(), what, async move {
        while let Some(event) = events.recv().await {
            match event {
                Ok(event) => {
                    if me.cast(message(Box::new(event))).is_err() {
                        return;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "the DNS server's {what} failed");
                    return;
                }
            }
        }
    })
}

/// The store for an update. A panic while it was written left whole records in or out.
fn write(records: &RwLock<RecordStore>) -> RwLockWriteGuard<'_, RecordStore> {
    records.write().unwrap_or_else(PoisonError::into_inner)
}
