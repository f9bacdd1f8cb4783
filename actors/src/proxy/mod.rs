//! The service proxy: one actor on every node that turns Services and EndpointSlices into
//! this node's nftables table (see `flotilla_node_os::network::service_table` for its layout),
//! as kube-proxy's nftables mode does.
//!
//! It lists and watches Services, EndpointSlices and Nodes (the Nodes for the pod ranges:
//! ClusterIP traffic from outside them is masqueraded) into watch-fed caches. Each change marks
//! the Services it touches; bursts of changes are coalesced into one `Apply`, which plans only
//! the marked Services ([`plan`]), diffs them against the plan in force ([`rules`]) and writes
//! the difference in one nft transaction, so one Service's change costs the same with ten or
//! ten thousand others; a new Service waits briefly for its endpoints, so that the two go in
//! one transaction. The first `Apply` after a start is a full resync: the table is replaced
//! whole in one transaction, which also removes whatever a previous run left. A failed write
//! is logged and retried, as a full resync, since the plan and the table may then differ.
//!
//! The table is kept when the actor stops: established connections outlive the proxy, and a
//! restarted proxy converges from a fresh listing. If a watch ends, the actor fails, and its
//! supervisor restarts it, which lists and resyncs.

mod plan;
mod rules;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use ractor::{Actor, ActorProcessingErr, ActorRef};

use flotilla_kernel::api::{ApiClient, ClientError, EventType};
use flotilla_kernel::object::{EndpointSlice, Kind, Node, Resource, Service};
use flotilla_node_os::network::nft::NftError;
use flotilla_node_os::network::service_table::{self, Changes};

pub use plan::{ServiceRules, service_rules};
pub use rules::Ruleset;

use crate::controllers::queue::RetryBackoff;
use crate::informer::{Cache, Change, Informer, Notice};

/// How soon a failed write is tried again: after 200 ms, doubling up to 30 s.
const RETRY: RetryBackoff = RetryBackoff {
    initial: Duration::from_millis(200),
    max: Duration::from_secs(30),
};

/// How long a new Service without endpoints yet waits for them before its rules (which then
/// reject its connections) are written all the same.
const ENDPOINTS_GRACE: Duration = Duration::from_millis(50);

pub struct ServiceProxy;

#[derive(Clone)]
pub struct ServiceProxyArgs {
    /// This node: endpoints on it serve traffic under the `Local` traffic policies.
    pub node_name: String,
    pub api: ApiClient,
}

pub enum ProxyMsg {
    /// These Services (`namespace/name`), or their endpoints, changed.
    Changed(Vec<String>),
    /// This Service is new.
    Added(String),
    /// A Node's pod range may have changed.
    NodesChanged,
    /// Bring the table to the plan.
    Apply,
    /// One of the watches ended (`error`: it failed).
    WatchEnded {
        kind: Kind,
        error: Option<ClientError>,
    },
}

pub struct ProxyState {
    node_name: String,
    services: Informer<Service>,
    slices: Informer<EndpointSlice>,
    nodes: Informer<Node>,
    /// The plan in force; `None` until a full resync has been written.
    ruleset: Option<Ruleset>,
    /// Services to plan again at the next incremental `Apply`.
    dirty: BTreeSet<String>,
    pod_ranges_dirty: bool,
    apply_queued: bool,
    /// Failed writes in a row.
    failures: u32,
}

/// Why the proxy stops; its supervisor restarts it.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("the service proxy could not list and watch {kind}s")]
    Start {
        kind: Kind,
        #[source]
        source: ClientError,
    },
    #[error("the {kind} watch of the service proxy failed")]
    WatchFailed {
        kind: Kind,
        #[source]
        source: ClientError,
    },
    #[error("the API server ended the {kind} watch of the service proxy")]
    WatchEnded { kind: Kind },
    #[error("the service proxy's table update panicked")]
    Panicked(#[source] tokio::task::JoinError),
}

impl Actor for ServiceProxy {
    type Msg = ProxyMsg;
    type State = ProxyState;
    type Arguments = ServiceProxyArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ProxyMsg>,
        args: ServiceProxyArgs,
    ) -> Result<ProxyState, ActorProcessingErr> {
        // The listings are in the caches when these return; the full resync that follows
        // sees them all. Their notices only mark Services the resync plans anyway.
        let services = start(
            &args.api,
            &myself,
            Cache::new(),
            |change: &Change<Service>| {
                let key = key(change.new.as_ref());
                Some(
                    if change.old.is_none() && change.event == EventType::Added {
                        ProxyMsg::Added(key)
                    } else {
                        ProxyMsg::Changed(vec![key])
                    },
                )
            },
        )
        .await?;
        let slices = start(
            &args.api,
            &myself,
            Cache::indexed(service_of_slice),
            |change: &Change<EndpointSlice>| {
                let mut keys: Vec<String> = change
                    .old
                    .as_deref()
                    .and_then(service_of_slice)
                    .into_iter()
                    .collect();
                keys.extend(service_of_slice(&change.new));
                keys.dedup();
                Some(ProxyMsg::Changed(keys))
            },
        )
        .await?;
        let nodes = start(&args.api, &myself, Cache::new(), |change: &Change<Node>| {
            let range = |node: &Node| node.spec.pod_cidr.clone();
            let same = change.event != EventType::Deleted
                && change.old.as_deref().map(range) == Some(range(&change.new));
            (!same).then_some(ProxyMsg::NodesChanged)
        })
        .await?;
        myself.cast(ProxyMsg::Apply)?;
        Ok(ProxyState {
            node_name: args.node_name,
            services,
            slices,
            nodes,
            ruleset: None,
            dirty: BTreeSet::new(),
            pod_ranges_dirty: false,
            apply_queued: true,
            failures: 0,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<ProxyMsg>,
        message: ProxyMsg,
        state: &mut ProxyState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ProxyMsg::Changed(keys) => {
                state.dirty.extend(keys);
                queue_apply(&myself, state)?;
            }
            ProxyMsg::Added(key) => {
                // Its EndpointSlice usually follows within milliseconds: wait for it a little,
                // so that both go in one transaction rather than two (each costs tens of ms
                // with thousands of Services). The slice's change marks the Service too.
                let awaited = state.ruleset.is_some()
                    && state.slices.read().indexed_under(&key).next().is_none();
                if awaited {
                    myself.send_after(ENDPOINTS_GRACE, || ProxyMsg::Changed(vec![key]));
                } else {
                    state.dirty.insert(key);
                    queue_apply(&myself, state)?;
                }
            }
            ProxyMsg::NodesChanged => {
                state.pod_ranges_dirty = true;
                queue_apply(&myself, state)?;
            }
            ProxyMsg::Apply => {
                state.apply_queued = false;
                match apply(state).await? {
                    Ok(()) => state.failures = 0,
                    Err(error) => {
                        // The plan has moved on without the table: resync it whole.
                        state.ruleset = None;
                        state.failures = state.failures.saturating_add(1);
                        let after = RETRY.delay(state.failures);
                        tracing::warn!(%error, ?after, "the service proxy could not write its table; resyncing");
                        state.apply_queued = true;
                        myself.send_after(after, || ProxyMsg::Apply);
                    }
                }
            }
            ProxyMsg::WatchEnded { kind, error } => {
                let error = match error {
                    Some(source) => ProxyError::WatchFailed { kind, source },
                    None => ProxyError::WatchEnded { kind },
                };
                tracing::error!(%error, "service proxy stopping to be restarted");
                return Err(Box::new(error));
            }
        }
        Ok(())
    }
}

/// Casts one `Apply` for however many changes come before it is handled.
fn queue_apply(
    myself: &ActorRef<ProxyMsg>,
    state: &mut ProxyState,
) -> Result<(), ActorProcessingErr> {
    if !state.apply_queued {
        state.apply_queued = true;
        myself.cast(ProxyMsg::Apply)?;
    }
    Ok(())
}

/// Writes the plan: whole after a start or a failure, else the marked Services' changes.
/// The outer error stops the actor; the inner one is retried.
async fn apply(state: &mut ProxyState) -> Result<Result<(), NftError>, ActorProcessingErr> {
    let started = Instant::now();
    let Some(ruleset) = state.ruleset.as_mut() else {
        let ruleset = plan_all(state);
        let table = ruleset.table();
        let services = state.services.read().len();
        let endpoints: usize = state.slices.read().iter().map(|s| s.endpoints.len()).sum();
        let written = on_blocking_pool(move || service_table::replace(&table)).await?;
        if written.is_ok() {
            let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            tracing::info!(
                services,
                endpoints,
                elapsed_ms,
                "the service proxy resynced its table"
            );
            state.ruleset = Some(ruleset);
            state.dirty.clear();
            state.pod_ranges_dirty = false;
        }
        return Ok(written);
    };
    let dirty = std::mem::take(&mut state.dirty);
    let updates: Vec<(String, Option<ServiceRules>)> = {
        let services = state.services.read();
        let slices = state.slices.read();
        dirty
            .into_iter()
            .map(|key| {
                let rules = plan_one(&state.node_name, &services, &slices, &key);
                (key, rules)
            })
            .collect()
    };
    let pod_ranges =
        std::mem::take(&mut state.pod_ranges_dirty).then(|| pod_ranges(&state.nodes.read()));
    let count = updates.len();
    let changes: Changes = ruleset.update(updates, pod_ranges);
    if changes.is_empty() {
        return Ok(Ok(()));
    }
    let written = on_blocking_pool(move || service_table::update(&changes)).await?;
    if written.is_ok() {
        tracing::debug!(services = count, elapsed = ?started.elapsed(), "the service proxy updated its table");
    }
    Ok(written)
}

/// The plan of every Service in the caches.
fn plan_all(state: &ProxyState) -> Ruleset {
    let services = state.services.read();
    let slices = state.slices.read();
    let planned = services.iter().filter_map(|service| {
        let key = key(service.as_ref());
        let slices: Vec<&EndpointSlice> = slices.indexed_under(&key).map(AsRef::as_ref).collect();
        let rules = service_rules(&state.node_name, service, &slices)?;
        Some((key, rules))
    });
    Ruleset::new(planned.collect::<Vec<_>>(), pod_ranges(&state.nodes.read()))
}

/// The plan of the Service `key` (`namespace/name`), if it exists and asks for rules.
fn plan_one(
    node: &str,
    services: &Cache<Service>,
    slices: &Cache<EndpointSlice>,
    key: &str,
) -> Option<ServiceRules> {
    let (namespace, name) = key.split_once('/')?;
    let service = services.get(namespace, name)?;
    let slices: Vec<&EndpointSlice> = slices.indexed_under(key).map(AsRef::as_ref).collect();
    service_rules(node, service, &slices)
}

/// The pod ranges the Nodes have been given.
fn pod_ranges(nodes: &Cache<Node>) -> Vec<Ipv4Net> {
    nodes
        .iter()
        .filter_map(|node| node.spec.pod_cidr.parse().ok())
        .collect()
}

/// `namespace/name` of an object.
fn key<T: Resource>(object: &T) -> String {
    let meta = object.meta();
    format!("{}/{}", meta.namespace, meta.name)
}

/// `namespace/service` of the Service a slice belongs to.
fn service_of_slice(slice: &EndpointSlice) -> Option<String> {
    Some(format!(
        "{}/{}",
        slice.metadata.namespace,
        slice.service_name()?
    ))
}

/// Runs nft's work off the runtime's threads.
async fn on_blocking_pool(
    work: impl FnOnce() -> Result<(), NftError> + Send + 'static,
) -> Result<Result<(), NftError>, ActorProcessingErr> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| Box::new(ProxyError::Panicked(error)) as ActorProcessingErr)
}

/// Starts an informer whose changes the actor hears of as `notice` says (`None`: not at all).
async fn start<T: Resource>(
    api: &ApiClient,
    myself: &ActorRef<ProxyMsg>,
    cache: Cache<T>,
    notice: fn(&Change<T>) -> Option<ProxyMsg>,
) -> Result<Informer<T>, ActorProcessingErr> {
    let actor = myself.clone();
    Informer::start(myself.get_cell(), api, None, cache, move |heard| {
        let message = match heard {
            Notice::Changed(change) => notice(&change),
            Notice::Ended { kind, error } => Some(ProxyMsg::WatchEnded { kind, error }),
        };
        if let Some(message) = message {
            // A stopped actor needs no notice.
            let _ = actor.cast(message);
        }
    })
    .await
    .map_err(|source| {
        Box::new(ProxyError::Start {
            kind: T::KIND,
            source,
        }) as ActorProcessingErr
    })
}

#[cfg(test)]
mod tests;
