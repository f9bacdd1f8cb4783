//! The scheduler: assigns each pending pod to a node.
//!
//! The decision is a pure framework of plug-ins per stage ([`framework`], [`plugins`]) over
//! the nodes and the load already bound to them, kept in memory by the scheduler's [`cache`]
//! from watch-fed [`Informer`]s; [`queue`] is Kubernetes' scheduling queue (priority order,
//! backoff, pods that fit nowhere parked until a cluster event could help), and
//! [`scheduling`] ties them into a core that decides one pod at a time.
//!
//! This actor only feeds the core: informer notices and timers in, decisions out as API calls
//! ([`api_calls`]) that run beside it and report back. A bind is a compare-and-swap in the API
//! server, which also sets `PodScheduled=True`; a pod that fits nowhere gets
//! `PodScheduled=False, reason Unschedulable`. If a watch ends the actor fails and its
//! supervisor restarts it, which lists and watches again.

pub mod api_calls;
pub mod cache;
pub mod events;
pub mod fit_error;
pub mod framework;
pub mod host_ports;
pub mod node_info;
pub mod plugins;
pub mod pod_index;
pub mod queue;
pub mod scheduling;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef};

use flotilla_kernel::api::{ApiClient, ClientError, EventType};
use flotilla_kernel::object::{Kind, Namespace, Node, Pod, Resource};

use crate::controllers::driver::chain;
use crate::controllers::key::ObjectKey;
use crate::informer::{Cache, Informer, Notice};
use api_calls::ApiCalls;
use framework::Framework;
use queue::QueueSettings;
use scheduling::{Decision, Scheduling, is_pending};

/// Decisions per message, so watch events are taken in between.
const DECISIONS_PER_TURN: usize = 64;

/// The timer wakes the actor at most this often (Kubernetes flushes its backoff queue every
/// second): thousands of pods parked a moment apart come back in a few batches, not with a
/// wake-up each.
const FLUSH_PERIOD: Duration = Duration::from_secs(1);

/// The scheduler actor.
pub struct Scheduler;

/// The scheduler's arguments.
pub struct SchedulerArgs {
    pub api: ApiClient,
    pub queue: QueueSettings,
}

impl SchedulerArgs {
    /// Arguments with Kubernetes' queue clocks.
    pub fn new(api: ApiClient) -> Self {
        Self {
            api,
            queue: QueueSettings::default(),
        }
    }
}

/// Messages of the scheduler actor.
#[derive(Debug)]
pub enum SchedulerMsg {
    Pod(Notice<Pod>),
    Node(Notice<Node>),
    Namespace(Notice<Namespace>),
    /// Decide the next pods (sent by the actor to itself).
    Work,
    /// A waiting pod may be due (sent by a timer).
    Wake,
    Bound {
        pod: ObjectKey,
        node: String,
        result: Result<(), ClientError>,
    },
    ConditionWritten {
        pod: ObjectKey,
        message: String,
        result: Result<(), ClientError>,
    },
}

/// Why the scheduler stops; its supervisor restarts it.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("the scheduler could not list and watch {kind}s")]
    Start {
        kind: Kind,
        #[source]
        source: ClientError,
    },
    #[error("the scheduler's {kind} watch failed")]
    WatchFailed {
        kind: Kind,
        #[source]
        source: ClientError,
    },
    #[error("the API server ended the scheduler's {kind} watch")]
    WatchEnded { kind: Kind },
}

pub struct SchedulerState {
    scheduling: Scheduling,
    pods: Informer<Pod>,
    nodes: Informer<Node>,
    /// For pod affinity terms that select namespaces by label.
    namespaces: Informer<Namespace>,
    calls: ApiCalls,
    /// A `Work` message is in the mailbox.
    work_sent: bool,
    /// A `Wake` timer is armed for this instant.
    wake_at: Option<Instant>,
    /// When the last `Wake` timer fired.
    woken_at: Option<Instant>,
}

impl Actor for Scheduler {
    type Msg = SchedulerMsg;
    type State = SchedulerState;
    type Arguments = SchedulerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SchedulerMsg>,
        args: SchedulerArgs,
    ) -> Result<SchedulerState, ActorProcessingErr> {
        let nodes = start(&args.api, &myself, SchedulerMsg::Node).await?;
        let namespaces = start(&args.api, &myself, SchedulerMsg::Namespace).await?;
        let pods = start(&args.api, &myself, SchedulerMsg::Pod).await?;
        Ok(SchedulerState {
            scheduling: Scheduling::new(Framework::with_default_plugins(), args.queue),
            pods,
            nodes,
            namespaces,
            calls: ApiCalls::new(args.api),
            work_sent: false,
            wake_at: None,
            woken_at: None,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<SchedulerMsg>,
        state: &mut SchedulerState,
    ) -> Result<(), ActorProcessingErr> {
        state.kick(&myself);
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<SchedulerMsg>,
        message: SchedulerMsg,
        state: &mut SchedulerState,
    ) -> Result<(), ActorProcessingErr> {
        let now = Instant::now();
        match message {
            SchedulerMsg::Pod(Notice::Changed(change)) => {
                if change.event == EventType::Deleted || !is_pending(&change.new) {
                    state.calls.forget(&ObjectKey::of(&change.new.metadata));
                }
                state.scheduling.pod_changed(&change, now);
            }
            SchedulerMsg::Node(Notice::Changed(change)) => {
                state.scheduling.node_changed(&change, now);
            }
            // A namespace's labels matter only to pods that select namespaces, when decided.
            SchedulerMsg::Namespace(Notice::Changed(_)) => {}
            SchedulerMsg::Pod(Notice::Ended { kind, error })
            | SchedulerMsg::Node(Notice::Ended { kind, error })
            | SchedulerMsg::Namespace(Notice::Ended { kind, error }) => {
                return Err(fail(match error {
                    Some(source) => SchedulerError::WatchFailed { kind, source },
                    None => SchedulerError::WatchEnded { kind },
                }));
            }
            SchedulerMsg::Work => {
                state.work_sent = false;
                state.decide(&myself, now);
            }
            SchedulerMsg::Wake => {
                if state.wake_at.is_some_and(|at| at <= now) {
                    state.wake_at = None;
                    state.woken_at = Some(now);
                }
            }
            SchedulerMsg::Bound { pod, node, result } => {
                state.calls.bind_finished();
                match result {
                    Ok(()) => {
                        tracing::info!(%pod, %node, "bound");
                        state.scheduling.bound(&pod);
                    }
                    Err(error) => {
                        tracing::warn!(%pod, %node, error = %chain(&error), "binding failed");
                        state.scheduling.bind_failed(&pod, now);
                    }
                }
            }
            SchedulerMsg::ConditionWritten {
                pod,
                message,
                result,
            } => state.calls.write_finished(pod, message, result),
        }
        state.calls.write_conditions(&myself, &state.pods.read());
        state.kick(&myself);
        Ok(())
    }
}

impl SchedulerState {
    /// Decides the pods due now, a turn's worth, and starts their API calls.
    fn decide(&mut self, myself: &ActorRef<SchedulerMsg>, now: Instant) {
        for _ in 0..DECISIONS_PER_TURN {
            if !self.calls.can_bind() {
                return;
            }
            let decision = {
                let (pods, nodes) = (self.pods.read(), self.nodes.read());
                let namespaces = self.namespaces.read();
                self.scheduling.next(now, &pods, &nodes, &namespaces)
            };
            match decision {
                None => return,
                Some(Decision::Bind { pod, node }) => self.calls.bind(myself, pod, node),
                Some(Decision::Unschedulable { pod, message }) => {
                    self.calls.mark_unschedulable(pod, message);
                }
            }
        }
    }

    /// Makes sure the actor hears of the next due pod: at once, or by a timer.
    fn kick(&mut self, myself: &ActorRef<SchedulerMsg>) {
        let now = Instant::now();
        if self.scheduling.has_due(now) {
            // With every bind slot taken, the next `Bound` report kicks again.
            if self.calls.can_bind() && !self.work_sent && myself.cast(SchedulerMsg::Work).is_ok() {
                self.work_sent = true;
            }
            return;
        }
        let Some(due) = self.scheduling.next_deadline() else {
            return;
        };
        let at = self
            .woken_at
            .map_or(due, |woken| due.max(woken + FLUSH_PERIOD));
        if self.wake_at.is_none_or(|armed| at < armed) {
            self.wake_at = Some(at);
            myself.send_after(at.saturating_duration_since(now), || SchedulerMsg::Wake);
        }
    }
}

/// Starts an informer whose notices reach the actor as `wrap(notice)`.
async fn start<T: Resource>(
    api: &ApiClient,
    myself: &ActorRef<SchedulerMsg>,
    wrap: fn(Notice<T>) -> SchedulerMsg,
) -> Result<Informer<T>, ActorProcessingErr> {
    let actor = myself.clone();
    Informer::start(myself.get_cell(), api, None, Cache::new(), move |notice| {
        // A stopped actor needs no notices.
        let _ = actor.cast(wrap(notice));
    })
    .await
    .map_err(|source| {
        fail(SchedulerError::Start {
            kind: T::KIND,
            source,
        })
    })
}

/// Logs why the actor stops (with every cause) and hands the error to ractor.
fn fail(error: SchedulerError) -> ActorProcessingErr {
    tracing::error!(error = %chain(&error), "scheduler stopping to be restarted");
    Box::new(error)
}
