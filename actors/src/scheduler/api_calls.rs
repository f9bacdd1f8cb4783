//! The scheduler's calls to the API: binds and `Unschedulable` conditions. Each runs as a task
//! of its own that reports back to the actor, so deciding the next pod never waits for the
//! API. At most [`MAX_BINDS`] binds are in flight (deciding pauses at that); condition writes,
//! which nothing waits for, go out [`MAX_CONDITION_WRITES`] at a time from a backlog holding the
//! latest message per pod, so a burst of pods that fit nowhere does not crowd out the binds.

use std::collections::{HashMap, VecDeque};

use ractor::ActorRef;
use tokio::task::JoinSet;

use flotilla_kernel::api::{ApiClient, ClientError, ErrorCode};
use flotilla_kernel::object::{ConditionStatus, Kind, Pod, PodCondition, Time};

use super::SchedulerMsg;
use super::scheduling::is_pending;
use crate::controllers::key::ObjectKey;
use crate::informer::Cache;

/// Binds in flight at most.
pub const MAX_BINDS: usize = 64;
/// `Unschedulable` condition writes in flight at most.
pub const MAX_CONDITION_WRITES: usize = 8;

/// The calls in flight and the conditions waiting to be written.
pub struct ApiCalls {
    api: ApiClient,
    /// Every call's task; they end with the actor.
    tasks: JoinSet<()>,
    binds: usize,
    writes: usize,
    /// Pods whose condition waits to be written, oldest first; each is in `messages` unless
    /// it stopped pending meanwhile.
    backlog: VecDeque<ObjectKey>,
    messages: HashMap<ObjectKey, Unschedulable>,
}

/// What a pod's `PodScheduled=False` condition and `nominatedNodeName` should say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unschedulable {
    pub message: String,
    /// The node room is being made on by preemption.
    pub nominated: Option<String>,
}

impl ApiCalls {
    pub fn new(api: ApiClient) -> Self {
        Self {
            api,
            tasks: JoinSet::new(),
            binds: 0,
            writes: 0,
            backlog: VecDeque::new(),
            messages: HashMap::new(),
        }
    }

    /// Whether another bind may start.
    pub fn can_bind(&self) -> bool {
        self.binds < MAX_BINDS
    }

    /// Binds `pod` to `node`; the actor hears [`SchedulerMsg::Bound`].
    pub fn bind(&mut self, actor: &ActorRef<SchedulerMsg>, pod: ObjectKey, node: String) {
        self.binds += 1;
        let api = self.api.clone();
        let report = Report::new(actor, {
            let (pod, node) = (pod.clone(), node.clone());
            move |result| SchedulerMsg::Bound { pod, node, result }
        });
        self.tasks.spawn(async move {
            report.send(api.bind(&pod.namespace, &pod.name, &node).await);
        });
    }

    /// Queues writing `message` into the pod's `PodScheduled=False` condition, and the node
    /// preemption nominated for it into its `nominatedNodeName`.
    pub fn mark_unschedulable(
        &mut self,
        pod: ObjectKey,
        message: String,
        nominated: Option<String>,
    ) {
        let marked = Unschedulable { message, nominated };
        if self.messages.insert(pod.clone(), marked).is_none() {
            self.backlog.push_back(pod);
        }
    }

    /// Deletes the victims of a preemption, each with its own grace period (their deletion
    /// comes back as watch events; a failure is only logged: the pod is tried again anyway).
    pub fn evict(&mut self, victims: Vec<ObjectKey>) {
        for victim in victims {
            let api = self.api.clone();
            self.tasks.spawn(async move {
                let deleted = api
                    .delete(Kind::Pod, &victim.namespace, &victim.name, None)
                    .await;
                if let Err(error) = deleted
                    && error.api_code() != Some(ErrorCode::NotFound)
                {
                    tracing::warn!(pod = %victim, %error, "preempting failed");
                }
            });
        }
    }

    /// Drops a waiting condition write: the pod is gone or no longer pending.
    pub fn forget(&mut self, pod: &ObjectKey) {
        self.messages.remove(pod);
    }

    /// Starts condition writes from the backlog while there is room, on the pods as the cache
    /// has them now; a write that would change nothing is skipped.
    pub fn write_conditions(&mut self, actor: &ActorRef<SchedulerMsg>, pods: &Cache<Pod>) {
        while self.writes < MAX_CONDITION_WRITES {
            let Some(key) = self.backlog.pop_front() else {
                return;
            };
            let Some(wanted) = self.messages.remove(&key) else {
                continue;
            };
            let Some(pod) = pods
                .get(&key.namespace, &key.name)
                .filter(|p| is_pending(p))
            else {
                continue;
            };
            let mut marked = Pod::clone(pod);
            let condition = PodCondition {
                type_: PodCondition::SCHEDULED.into(),
                status: ConditionStatus::False,
                reason: "Unschedulable".into(),
                message: wanted.message.clone(),
                last_transition_time: None,
            };
            let nominated = wanted.nominated.clone().unwrap_or_default();
            let renominated = marked.status.nominated_node_name != nominated;
            marked.status.nominated_node_name = nominated;
            if !marked.set_condition(condition, Time::now()) && !renominated {
                continue;
            }
            tracing::debug!(pod = %key, message = %wanted.message, "unschedulable");
            self.writes += 1;
            let api = self.api.clone();
            let report = Report::new(actor, move |result| SchedulerMsg::ConditionWritten {
                pod: key,
                wanted,
                result,
            });
            self.tasks.spawn(async move {
                report.send(api.update_status(&marked).await.map(drop));
            });
        }
    }

    /// A bind reported back.
    pub fn bind_finished(&mut self) {
        self.binds = self.binds.saturating_sub(1);
        self.reap();
    }

    /// A condition write reported back. One that lost a race with another change of the pod
    /// is written again on the pod as the cache will have it, unless a newer message waits.
    pub fn write_finished(
        &mut self,
        pod: ObjectKey,
        wanted: Unschedulable,
        result: Result<(), ClientError>,
    ) {
        self.writes = self.writes.saturating_sub(1);
        self.reap();
        match result {
            Ok(()) => {}
            Err(error) if error.api_code() == Some(ErrorCode::Conflict) => {
                if !self.messages.contains_key(&pod) {
                    self.mark_unschedulable(pod, wanted.message, wanted.nominated);
                }
            }
            Err(error) if error.api_code() == Some(ErrorCode::NotFound) => {}
            Err(error) => {
                tracing::warn!(%pod, %error, "writing the Unschedulable condition failed");
            }
        }
    }

    /// Frees the finished tasks' slots in the join set.
    fn reap(&mut self) {
        while self.tasks.try_join_next().is_some() {}
    }
}

/// Tells the actor how one call went, exactly once: its result, or `NoAnswer` if the task
/// ended without one (it panicked, or the actor is stopping and aborted it).
struct Report<F: FnOnce(Result<(), ClientError>) -> SchedulerMsg> {
    actor: ActorRef<SchedulerMsg>,
    message: Option<F>,
}

impl<F: FnOnce(Result<(), ClientError>) -> SchedulerMsg> Report<F> {
    fn new(actor: &ActorRef<SchedulerMsg>, message: F) -> Self {
        Self {
            actor: actor.clone(),
            message: Some(message),
        }
    }

    fn send(mut self, result: Result<(), ClientError>) {
        if let Some(message) = self.message.take() {
            // A stopped actor needs no answer.
            let _ = self.actor.cast(message(result));
        }
    }
}

impl<F: FnOnce(Result<(), ClientError>) -> SchedulerMsg> Drop for Report<F> {
    fn drop(&mut self) {
        if let Some(message) = self.message.take() {
            let _ = self.actor.cast(message(Err(ClientError::NoAnswer)));
        }
    }
}
