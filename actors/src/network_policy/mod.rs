//! The network policy enforcer: one actor on every node that turns the NetworkPolicies
//! selecting this node's pods into the node's nftables table (see
//! `flotilla_node_os::network::policy_table` for its layout).
//!
//! It keeps the node's narrow view: it lists and watches the NetworkPolicies and only the pods
//! bound to this node, as the node agent does. The peers a policy names by selector come
//! resolved to addresses in the policy's status, written by the network policy controller
//! (`controllers::network_policy`), so the node needs neither the other nodes' pods nor the
//! Namespaces. What each pod allows is decided by the pure [`plan`].
//!
//! Bursts of changes are coalesced into one `Apply`, which plans the whole table and writes
//! it in one nft transaction: whole after a start (which also removes whatever a previous run
//! left) or a failed write, else only the difference from the table in force. The table is
//! kept when the actor stops, so the pods stay protected while it restarts; if a watch ends
//! the actor stops and its supervisor starts it again, which lists and writes anew.

mod plan;

use std::collections::BTreeMap;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use flotilla_kernel::api::{ApiClient, ClientError, EventType, Watched};
use flotilla_kernel::object::{NetworkPolicy, Pod, Resource};
use flotilla_kernel::supervision::spawn_owned;
use flotilla_node_os::network::nft::NftError;
use flotilla_node_os::network::policy_table::{self, Table};

use crate::controllers::queue::RetryBackoff;
use plan::plan;

/// How soon a failed write is tried again: after 200 ms, doubling up to 30 s.
const RETRY: RetryBackoff = RetryBackoff {
    initial: Duration::from_millis(200),
    max: Duration::from_secs(30),
};

pub struct NetworkPolicyEnforcer;

#[derive(Clone)]
pub struct NetworkPolicyArgs {
    /// This node: the pods bound to it are the ones it protects.
    pub node_name: String,
    pub api: ApiClient,
}

pub enum EnforcerMsg {
    Policy(Box<Watched<NetworkPolicy>>),
    Pod(Box<Watched<Pod>>),
    /// Bring the table to the plan.
    Apply,
}

pub struct EnforcerState {
    /// The policies and this node's pods, by `namespace/name`.
    policies: BTreeMap<String, NetworkPolicy>,
    pods: BTreeMap<String, Pod>,
    /// The table in force; `None` until a whole table has been written.
    applied: Option<Table>,
    apply_queued: bool,
    /// Failed writes in a row.
    failures: u32,
    watches: Vec<JoinHandle<()>>,
}

/// Why the enforcer stops; its supervisor starts it again.
#[derive(Debug, thiserror::Error)]
pub enum EnforcerError {
    #[error("the network policy enforcer could not list and watch the network policies")]
    Policies(#[source] ClientError),
    #[error("the network policy enforcer could not list and watch the pods of node {node}")]
    Pods {
        node: String,
        #[source]
        source: ClientError,
    },
    #[error("the network policy enforcer's table update panicked")]
    Panicked(#[source] tokio::task::JoinError),
}

impl Actor for NetworkPolicyEnforcer {
    type Msg = EnforcerMsg;
    type State = EnforcerState;
    type Arguments = NetworkPolicyArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<EnforcerMsg>,
        args: NetworkPolicyArgs,
    ) -> Result<EnforcerState, ActorProcessingErr> {
        // Listed first, so the first table written is whole; watched from the listings.
        let api = &args.api;
        let (policies, policy_revision) = api
            .list::<NetworkPolicy>(None, None)
            .await
            .map_err(EnforcerError::Policies)?;
        let pods_error = |source| EnforcerError::Pods {
            node: args.node_name.clone(),
            source,
        };
        let (pods, pod_revision) = api
            .pods_on_node(&args.node_name)
            .await
            .map_err(pods_error)?;
        let policy_events = api
            .watch::<NetworkPolicy>(None, policy_revision, None)
            .await
            .map_err(EnforcerError::Policies)?;
        let pod_events = api
            .watch::<Pod>(None, pod_revision, Some(&args.node_name))
            .await
            .map_err(pods_error)?;
        let watches = vec![
            forward(&myself, "policy watch", policy_events, |event| {
                EnforcerMsg::Policy(Box::new(event))
            }),
            forward(&myself, "pod watch", pod_events, |event| {
                EnforcerMsg::Pod(Box::new(event))
            }),
        ];
        myself.cast(EnforcerMsg::Apply)?;
        Ok(EnforcerState {
            policies: policies.into_iter().map(|p| (key(&p), p)).collect(),
            pods: pods.into_iter().map(|p| (key(&p), p)).collect(),
            applied: None,
            apply_queued: true,
            failures: 0,
            watches,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<EnforcerMsg>,
        message: EnforcerMsg,
        state: &mut EnforcerState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            EnforcerMsg::Policy(watched) => {
                file(&mut state.policies, *watched);
                queue_apply(&myself, state)?;
            }
            EnforcerMsg::Pod(watched) => {
                file(&mut state.pods, *watched);
                queue_apply(&myself, state)?;
            }
            EnforcerMsg::Apply => {
                state.apply_queued = false;
                if let Err(error) = apply(state).await? {
                    // The table may be anything now: write it whole next time.
                    state.applied = None;
                    state.failures = state.failures.saturating_add(1);
                    let after = RETRY.delay(state.failures);
                    tracing::warn!(%error, ?after, "the network policy enforcer could not write its table; retrying");
                    state.apply_queued = true;
                    myself.send_after(after, || EnforcerMsg::Apply);
                } else {
                    state.failures = 0;
                }
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _: ActorRef<EnforcerMsg>,
        state: &mut EnforcerState,
    ) -> Result<(), ActorProcessingErr> {
        state.watches.iter().for_each(JoinHandle::abort);
        Ok(())
    }
}

/// Relays a watch's events to the actor. The task ends with the watch, which stops the
/// actor (see `spawn_owned`) to be started again.
fn forward<T: Send + 'static>(
    myself: &ActorRef<EnforcerMsg>,
    what: &'static str,
    mut events: mpsc::Receiver<Result<Watched<T>, ClientError>>,
    wrap: fn(Watched<T>) -> EnforcerMsg,
) -> JoinHandle<()> {
    let actor = myself.clone();
    spawn_owned(myself.get_cell(), what, async move {
        while let Some(event) = events.recv().await {
            match event {
                Ok(event) => {
                    if actor.cast(wrap(event)).is_err() {
                        return;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, what, "the network policy enforcer's watch failed");
                    return;
                }
            }
        }
    })
}

/// Files a watch event in `objects`.
fn file<T: Resource>(objects: &mut BTreeMap<String, T>, watched: Watched<T>) {
    let key = key(&watched.object);
    match watched.event {
        EventType::Deleted => objects.remove(&key),
        EventType::Added | EventType::Modified => objects.insert(key, watched.object),
    };
}

/// Casts one `Apply` for however many changes come before it is handled.
fn queue_apply(
    myself: &ActorRef<EnforcerMsg>,
    state: &mut EnforcerState,
) -> Result<(), ActorProcessingErr> {
    if !state.apply_queued {
        state.apply_queued = true;
        myself.cast(EnforcerMsg::Apply)?;
    }
    Ok(())
}

/// Writes the plan, whole or as a difference, off the runtime's threads. The outer error stops
/// the actor; the inner one is retried.
async fn apply(state: &mut EnforcerState) -> Result<Result<(), NftError>, ActorProcessingErr> {
    let wanted = plan(state.pods.values(), state.policies.values());
    if state.applied.as_ref() == Some(&wanted) {
        return Ok(Ok(()));
    }
    let current = state.applied.take();
    let (written, wanted) = tokio::task::spawn_blocking(move || {
        let written = match &current {
            None => policy_table::replace(&wanted),
            Some(current) => policy_table::update(current, &wanted),
        };
        (written, wanted)
    })
    .await
    .map_err(|error| Box::new(EnforcerError::Panicked(error)) as ActorProcessingErr)?;
    if written.is_ok() {
        tracing::debug!(
            pods = wanted.pods.len(),
            sets = wanted.address_sets.len() + wanted.endpoint_sets.len(),
            "the network policy table is up to date"
        );
        state.applied = Some(wanted);
    }
    Ok(written)
}

/// `namespace/name` of an object.
fn key<T: Resource>(object: &T) -> String {
    let meta = object.meta();
    format!("{}/{}", meta.namespace, meta.name)
}

#[cfg(test)]
mod tests;
