//! The node lifecycle controller: notices nodes whose agent stopped renewing its Lease, marks
//! them unreachable and, after the eviction timeout, has their pods replaced elsewhere (see
//! [`monitor`] for the rules). A thin actor that looks at the cluster on a timer.

mod monitor;

use std::time::{Duration, SystemTime};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;

use flotilla_kernel::api::{ApiClient, ClientError, ErrorCode};
use flotilla_kernel::object::{
    ConditionStatus, Kind, Lease, NODE_LEASE_NAMESPACE, Node, NodeCondition, Pod, Time,
};

pub use monitor::{AT_MOST_ONE, Settings};

use monitor::{Action, Monitor};

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
    ticker: JoinHandle<()>,
}

pub struct Tick;

impl Actor for NodeLifecycle {
    type Msg = Tick;
    type State = NodeLifecycleState;
    type Arguments = NodeLifecycleArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Tick>,
        args: NodeLifecycleArgs,
    ) -> Result<NodeLifecycleState, ActorProcessingErr> {
        let period = (args.settings.grace / 4).clamp(Duration::from_millis(50), MAX_PERIOD);
        Ok(NodeLifecycleState {
            api: args.api,
            settings: args.settings,
            monitor: Monitor::default(),
            ticker: myself.send_interval(period, || Tick),
        })
    }

    async fn handle(
        &self,
        _: ActorRef<Tick>,
        _: Tick,
        state: &mut NodeLifecycleState,
    ) -> Result<(), ActorProcessingErr> {
        // A failed look is retried at the next tick; the monitor's memory stays.
        if let Err(error) = look(state).await {
            tracing::warn!(%error, "node lifecycle: reading the cluster failed");
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _: ActorRef<Tick>,
        state: &mut NodeLifecycleState,
    ) -> Result<(), ActorProcessingErr> {
        state.ticker.abort();
        Ok(())
    }
}

async fn look(state: &mut NodeLifecycleState) -> Result<(), ClientError> {
    let (nodes, _) = state.api.list::<Node>(None, None).await?;
    let (leases, _) = state
        .api
        .list::<Lease>(Some(NODE_LEASE_NAMESPACE), None)
        .await?;
    let (pods, _) = state.api.list::<Pod>(None, None).await?;
    let now = SystemTime::now();
    let actions = state
        .monitor
        .observe(now, state.settings, &nodes, &leases, &pods);
    for action in actions {
        if let Err(error) = apply(&state.api, &nodes, &action, now).await {
            tracing::warn!(?action, %error, "node lifecycle action failed");
        }
    }
    Ok(())
}

async fn apply(
    api: &ApiClient,
    nodes: &[Node],
    action: &Action,
    now: SystemTime,
) -> Result<(), ClientError> {
    let outcome = match action {
        Action::MarkUnreachable { node, message } => {
            let Some(mut current) = nodes.iter().find(|n| &n.metadata.name == node).cloned() else {
                return Ok(());
            };
            set_unknown(&mut current, message, Time::from(now));
            tracing::warn!(node, message, "node unreachable");
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
