//! The node lifecycle controller: notices nodes whose agent stopped renewing its Lease, marks
//! them unreachable and, after the eviction timeout, has their pods replaced elsewhere (see
//! [`monitor`] for the rules); and evicts pods from nodes with `NoExecute` taints they do not
//! tolerate (see [`taint_eviction`]). A thin actor that looks at watch-fed caches of nodes, leases
//! and pods on a timer; if one of their watches ends it fails, and its supervisor restarts it,
//! which lists and watches again.

mod monitor;
mod taint_eviction;

use std::time::{Duration, SystemTime};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;

use flotilla_kernel::api::{ApiClient, ClientError, ErrorCode};
use flotilla_kernel::object::{
    ConditionStatus, Kind, Lease, NODE_LEASE_NAMESPACE, Node, NodeCondition, Pod, PodCondition,
    Resource, Time,
};

pub use monitor::{AT_MOST_ONE, Settings};

use crate::controllers::driver::chain;
use crate::informer::{Cache, Informer, Notice, bound_node};
use monitor::{Action, Monitor};
use taint_eviction::TaintEviction;

/// Looks at most this far apart, and more often when the grace period is short.
const MAX_PERIOD: Duration = Duration::from_secs(1);

pub struct NodeLifecycle;

pub struct NodeLifecycleArgs {
    pub api: ApiClient,
    pub settings: Settings,
}

pub struct NodeLifecycleState {
    api: ApiClient,
    settings: Settings,
    monitor: Monitor,
    taint_eviction: TaintEviction,
    nodes: Informer<Node>,
    leases: Informer<Lease>,
    pods: Informer<Pod>,
    ticker: JoinHandle<()>,
}

pub enum NodeLifecycleMsg {
    /// Time for a look.
    Tick,
    /// One of the informers' watches ended (`error`: it failed).
    WatchEnded {
        kind: Kind,
        error: Option<ClientError>,
    },
}

/// Why the controller stops; its supervisor restarts it.
#[derive(Debug, thiserror::Error)]
pub enum NodeLifecycleError {
    #[error("node lifecycle could not list and watch {kind}s")]
    Start {
        kind: Kind,
        #[source]
        source: ClientError,
    },
    #[error("the {kind} watch of node lifecycle failed")]
    WatchFailed {
        kind: Kind,
        #[source]
        source: ClientError,
    },
    #[error("the API server ended the {kind} watch of node lifecycle")]
    WatchEnded { kind: Kind },
}

impl Actor for NodeLifecycle {
    type Msg = NodeLifecycleMsg;
    type State = NodeLifecycleState;
    type Arguments = NodeLifecycleArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<NodeLifecycleMsg>,
        args: NodeLifecycleArgs,
    ) -> Result<NodeLifecycleState, ActorProcessingErr> {
        let nodes = start(&args.api, &myself, None, Cache::new()).await?;
        let leases = start(&args.api, &myself, Some(NODE_LEASE_NAMESPACE), Cache::new()).await?;
        let pods = start(&args.api, &myself, None, Cache::indexed(bound_node)).await?;
        let period = (args.settings.grace / 4).clamp(Duration::from_millis(50), MAX_PERIOD);
        Ok(NodeLifecycleState {
            api: args.api,
            settings: args.settings,
            monitor: Monitor::default(),
            taint_eviction: TaintEviction::default(),
            nodes,
            leases,
            pods,
            ticker: myself.send_interval(period, || NodeLifecycleMsg::Tick),
        })
    }

    async fn handle(
        &self,
        _: ActorRef<NodeLifecycleMsg>,
        message: NodeLifecycleMsg,
        state: &mut NodeLifecycleState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            NodeLifecycleMsg::Tick => {
                look(state).await;
                Ok(())
            }
            NodeLifecycleMsg::WatchEnded { kind, error } => Err(fail(match error {
                Some(source) => NodeLifecycleError::WatchFailed { kind, source },
                None => NodeLifecycleError::WatchEnded { kind },
            })),
        }
    }

    async fn post_stop(
        &self,
        _: ActorRef<NodeLifecycleMsg>,
        state: &mut NodeLifecycleState,
    ) -> Result<(), ActorProcessingErr> {
        state.ticker.abort();
        Ok(())
    }
}

/// Starts an informer that tells the actor only when its watch ends: the controller reads
/// the cache at each look.
async fn start<T: Resource>(
    api: &ApiClient,
    myself: &ActorRef<NodeLifecycleMsg>,
    namespace: Option<&str>,
    cache: Cache<T>,
) -> Result<Informer<T>, ActorProcessingErr> {
    let actor = myself.clone();
    Informer::start(myself.get_cell(), api, namespace, cache, move |notice| {
        if let Notice::Ended { kind, error } = notice {
            // A stopped actor needs no notice.
            let _ = actor.cast(NodeLifecycleMsg::WatchEnded { kind, error });
        }
    })
    .await
    .map_err(|source| {
        fail(NodeLifecycleError::Start {
            kind: T::KIND,
            source,
        })
    })
}

/// Logs why the actor stops (with every cause) and hands the error to ractor.
fn fail(error: NodeLifecycleError) -> ActorProcessingErr {
    tracing::error!(error = %chain(&error), "node lifecycle stopping to be restarted");
    Box::new(error)
}

/// One look at the caches, and the actions it calls for. A failed action is retried at a
/// later look if it is still called for; the monitor's memory stays.
async fn look(state: &mut NodeLifecycleState) {
    let now = SystemTime::now();
    let planned: Vec<(Action, Option<Node>, Option<Pod>)> = {
        let nodes = state.nodes.read();
        let pods = state.pods.read();
        let mut actions =
            state
                .monitor
                .observe(now, state.settings, &nodes, &state.leases.read(), &pods);
        actions.extend(state.taint_eviction.observe(now, &nodes, &pods));
        actions
            .into_iter()
            .map(|action| {
                let (node, pod) = match &action {
                    Action::MarkUnreachable { node, .. } => {
                        (nodes.get("", node).map(|n| Node::clone(n)), None)
                    }
                    Action::MarkPodNotReady {
                        namespace, name, ..
                    } => (None, pods.get(namespace, name).map(|p| Pod::clone(p))),
                    _ => (None, None),
                };
                (action, node, pod)
            })
            .collect()
    };
    for (action, node, pod) in planned {
        if let Err(error) = apply(&state.api, node, pod, &action, now).await {
            tracing::warn!(?action, %error, "node lifecycle action failed");
        }
    }
}

async fn apply(
    api: &ApiClient,
    node: Option<Node>,
    pod: Option<Pod>,
    action: &Action,
    now: SystemTime,
) -> Result<(), ClientError> {
    let outcome = match action {
        Action::MarkUnreachable {
            node: name,
            message,
        } => {
            let Some(mut current) = node else {
                return Ok(());
            };
            set_unknown(&mut current, message, Time::from(now));
            tracing::warn!(node = name, message, "node unreachable");
            api.update_status(&current).await.map(|_| ())
        }
        Action::MarkPodNotReady { name, node, .. } => {
            let Some(mut current) = pod else {
                return Ok(());
            };
            let not_ready = PodCondition {
                type_: PodCondition::READY.into(),
                status: ConditionStatus::False,
                reason: "NodeNotReady".into(),
                message: format!("node {node} is unreachable"),
                ..PodCondition::default()
            };
            current.set_condition(not_ready, Time::from(now));
            tracing::warn!(pod = %name, node, "marking a pod of an unreachable node not ready");
            api.update_status(&current).await.map(|_| ())
        }
        Action::Evict {
            namespace,
            name,
            node,
        } => {
            tracing::warn!(pod = %name, node, "evicting a pod from an unreachable node");
            api.delete(Kind::Pod, namespace, name, None)
                .await
                .map(|_| ())
        }
        Action::EvictTainted {
            namespace,
            name,
            node,
            taint,
        } => {
            tracing::warn!(pod = %name, node, taint, "evicting a pod for a NoExecute taint");
            api.delete(Kind::Pod, namespace, name, None)
                .await
                .map(|_| ())
        }
        Action::Remove {
            namespace,
            name,
            node,
        } => {
            tracing::warn!(pod = %name, node, "removing a pod of a deleted node");
            api.delete(Kind::Pod, namespace, name, Some(0))
                .await
                .map(|_| ())
        }
    };
    match outcome {
        // Someone else got there first; the next look sees the new state.
        Err(e)
            if matches!(
                e.api_code(),
                Some(ErrorCode::NotFound | ErrorCode::Conflict)
            ) =>
        {
            Ok(())
        }
        other => other,
    }
}

fn set_unknown(node: &mut Node, message: &str, now: Time) {
    let condition = NodeCondition {
        type_: NodeCondition::READY.into(),
        status: ConditionStatus::Unknown,
        reason: "NodeStatusUnknown".into(),
        message: message.to_string(),
        last_heartbeat_time: node
            .condition(NodeCondition::READY)
            .and_then(|c| c.last_heartbeat_time),
        last_transition_time: Some(now),
    };
    node.status
        .conditions
        .retain(|c| c.type_ != NodeCondition::READY);
    node.status.conditions.insert(0, condition);
}
