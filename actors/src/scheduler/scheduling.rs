//! The scheduler's reconcile loop over pending pods, run by the shared controller driver.
//!
//! Keys are pending pods (no node, not being deleted, not finished). One reconcile takes one
//! pod: it reads the pod, the nodes and every pod fresh (so the pod bound just before is
//! counted), asks the [`Framework`] for a node and binds the pod there. A pod that fits
//! nowhere gets `PodScheduled=False, reason Unschedulable` with the framework's message and is
//! tried again after a while, and at once when something that could make room happens: a node
//! changes in a way that matters to scheduling, or a bound pod finishes or is deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use flotilla_kernel::api::{ApiClient, ClientError, EventType, Watched};
use flotilla_kernel::object::{ConditionStatus, Node, Pod, PodCondition, Quantity, Time};

use super::framework::Framework;
use super::node_info::node_infos;
use crate::controllers::driver::{Action, Controller, Watches};
use crate::controllers::key::ObjectKey;
use crate::controllers::ownership::is_terminating;

/// Whether the scheduler should place `pod`.
pub fn is_pending(pod: &Pod) -> bool {
    pod.spec.node_name.is_empty() && !is_terminating(&pod.metadata) && !pod.is_terminal()
}

/// What of a node matters to scheduling; a change in it may make room for waiting pods.
#[derive(Debug, Clone, PartialEq)]
struct NodeFingerprint {
    ready: bool,
    unschedulable: bool,
    labels: BTreeMap<String, String>,
    allocatable: BTreeMap<String, Quantity>,
    capacity: BTreeMap<String, Quantity>,
}

impl NodeFingerprint {
    fn of(node: &Node) -> Self {
        Self {
            ready: node.is_ready(),
            unschedulable: node.spec.unschedulable,
            labels: node.metadata.labels.clone(),
            allocatable: node.status.allocatable.clone(),
            capacity: node.status.capacity.clone(),
        }
    }
}

/// The scheduling loop's state: the plug-ins, the pods that fit nowhere last time and what
/// was last seen of each node (both only to decide when to try again).
pub struct PodScheduling {
    framework: Framework,
    unschedulable: BTreeSet<ObjectKey>,
    nodes: BTreeMap<String, NodeFingerprint>,
    retry_unschedulable: Duration,
}

impl PodScheduling {
    pub fn new(framework: Framework, retry_unschedulable: Duration) -> Self {
        Self {
            framework,
            unschedulable: BTreeSet::new(),
            nodes: BTreeMap::new(),
            retry_unschedulable,
        }
    }

    fn waiting(&self) -> Vec<ObjectKey> {
        self.unschedulable.iter().cloned().collect()
    }

    fn route_pod(&mut self, event: EventType, pod: &Pod) -> Vec<ObjectKey> {
        let key = ObjectKey::of(&pod.metadata);
        let bound = !pod.spec.node_name.is_empty();
        if event == EventType::Deleted {
            self.unschedulable.remove(&key);
            return if bound { self.waiting() } else { Vec::new() };
        }
        if is_pending(pod) {
            return vec![key];
        }
        self.unschedulable.remove(&key);
        if bound && pod.is_terminal() {
            self.waiting()
        } else {
            Vec::new()
        }
    }

    fn route_node(&mut self, event: EventType, node: &Node) -> Vec<ObjectKey> {
        let name = node.metadata.name.clone();
        let changed = if event == EventType::Deleted {
            self.nodes.remove(&name).is_some()
        } else {
            let fingerprint = NodeFingerprint::of(node);
            self.nodes.insert(name, fingerprint.clone()) != Some(fingerprint)
        };
        if changed { self.waiting() } else { Vec::new() }
    }
}

/// What the scheduler watches.
#[derive(Debug)]
pub enum SchedulerEvent {
    Pod(Watched<Pod>),
    Node(Watched<Node>),
}

/// Why one scheduling attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum SchedulingError {
    #[error("reading pod {pod}")]
    ReadPod {
        pod: ObjectKey,
        #[source]
        source: ClientError,
    },
    #[error("listing the {what} to schedule pod {pod}")]
    List {
        pod: ObjectKey,
        what: &'static str,
        #[source]
        source: ClientError,
    },
    #[error("binding pod {pod} to node {node}")]
    Bind {
        pod: ObjectKey,
        node: String,
        #[source]
        source: ClientError,
    },
    #[error("marking pod {pod} unschedulable")]
    MarkUnschedulable {
        pod: ObjectKey,
        #[source]
        source: ClientError,
    },
}

impl Controller for PodScheduling {
    const NAME: &'static str = "scheduler";
    type Key = ObjectKey;
    type Event = SchedulerEvent;
    type Error = SchedulingError;

    async fn open_watches(watches: &mut Watches<SchedulerEvent>) -> Result<(), ClientError> {
        watches.open("nodes", SchedulerEvent::Node).await?;
        watches.open("pods", SchedulerEvent::Pod).await
    }

    fn route(&mut self, event: SchedulerEvent) -> Vec<ObjectKey> {
        match event {
            SchedulerEvent::Pod(w) => self.route_pod(w.event, &w.object),
            SchedulerEvent::Node(w) => self.route_node(w.event, &w.object),
        }
    }

    async fn resync(&mut self, api: &ApiClient) -> Result<Vec<ObjectKey>, ClientError> {
        let (pods, _) = api.list::<Pod>(None, None).await?;
        Ok(pods
            .iter()
            .filter(|p| is_pending(p))
            .map(|p| ObjectKey::of(&p.metadata))
            .collect())
    }

    async fn reconcile(
        &mut self,
        api: &ApiClient,
        key: &ObjectKey,
    ) -> Result<Action, SchedulingError> {
        let found = api.find::<Pod>(&key.namespace, &key.name).await;
        let pod = match found {
            Ok(Some(pod)) if is_pending(&pod) => pod,
            Ok(_) => {
                self.unschedulable.remove(key);
                return Ok(Action::Done);
            }
            Err(source) => {
                return Err(SchedulingError::ReadPod {
                    pod: key.clone(),
                    source,
                });
            }
        };
        let list_error = |what| {
            move |source| SchedulingError::List {
                pod: key.clone(),
                what,
                source,
            }
        };
        let (nodes, _) = api
            .list::<Node>(None, None)
            .await
            .map_err(list_error("nodes"))?;
        let (pods, _) = api
            .list::<Pod>(None, None)
            .await
            .map_err(list_error("pods"))?;
        let decision = self.framework.schedule(&pod, &node_infos(&nodes, &pods));
        match decision {
            Ok(node) => {
                api.bind(&key.namespace, &key.name, &node)
                    .await
                    .map_err(|source| SchedulingError::Bind {
                        pod: key.clone(),
                        node: node.clone(),
                        source,
                    })?;
                tracing::info!(pod = %key, %node, "bound");
                self.unschedulable.remove(key);
                Ok(Action::Done)
            }
            Err(unfit) => {
                let message = unfit.to_string();
                let mut marked = pod;
                let condition = PodCondition {
                    type_: PodCondition::SCHEDULED.into(),
                    status: ConditionStatus::False,
                    reason: "Unschedulable".into(),
                    message: message.clone(),
                    last_transition_time: None,
                };
                if marked.set_condition(condition, Time::now()) {
                    tracing::info!(pod = %key, %message, "unschedulable");
                    api.update_status(&marked).await.map_err(|source| {
                        SchedulingError::MarkUnschedulable {
                            pod: key.clone(),
                            source,
                        }
                    })?;
                }
                self.unschedulable.insert(key.clone());
                Ok(Action::Requeue(self.retry_unschedulable))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::fixtures::{pod_with, ready_node};
    use flotilla_kernel::object::PodPhase;

    fn scheduling() -> PodScheduling {
        PodScheduling::new(Framework::with_default_plugins(), Duration::from_secs(5))
    }

    #[test]
    fn pending_means_unbound_alive_and_unfinished() {
        let mut pod = pod_with(&[], &[]);
        assert!(is_pending(&pod));
        pod.spec.node_name = "a".into();
        assert!(!is_pending(&pod));
        pod.spec.node_name.clear();
        pod.metadata.deletion_timestamp = Some(Time::now());
        assert!(!is_pending(&pod));
        pod.metadata.deletion_timestamp = None;
        pod.status.phase = PodPhase::Failed;
        assert!(!is_pending(&pod));
    }

    #[test]
    fn pending_pods_are_queued_and_waiting_ones_woken_by_freed_room() {
        let mut s = scheduling();
        let pending = pod_with(&[], &[]);
        let key = ObjectKey::of(&pending.metadata);
        assert_eq!(
            s.route_pod(EventType::Added, &pending),
            std::slice::from_ref(&key)
        );
        s.unschedulable.insert(key.clone());

        let mut running = pod_with(&[], &[]);
        running.metadata.name = "running".into();
        running.spec.node_name = "a".into();
        running.status.phase = PodPhase::Running;
        assert!(s.route_pod(EventType::Modified, &running).is_empty());
        running.status.phase = PodPhase::Succeeded;
        assert_eq!(
            s.route_pod(EventType::Modified, &running),
            std::slice::from_ref(&key)
        );
        assert_eq!(
            s.route_pod(EventType::Deleted, &running),
            std::slice::from_ref(&key)
        );

        assert!(s.route_pod(EventType::Deleted, &pending).is_empty());
        assert!(s.unschedulable.is_empty());
    }

    #[test]
    fn only_node_changes_that_matter_wake_waiting_pods() {
        let mut s = scheduling();
        let key = ObjectKey::new("default", "p");
        s.unschedulable.insert(key.clone());
        let mut node = ready_node("a", "1", "1Gi");
        assert_eq!(
            s.route_node(EventType::Added, &node),
            std::slice::from_ref(&key)
        );
        node.status.node_info.kernel_version = "6.1".into();
        assert!(
            s.route_node(EventType::Modified, &node).is_empty(),
            "a heartbeat"
        );
        node.spec.unschedulable = true;
        assert_eq!(
            s.route_node(EventType::Modified, &node),
            std::slice::from_ref(&key)
        );
        assert_eq!(
            s.route_node(EventType::Deleted, &node),
            std::slice::from_ref(&key)
        );
        assert!(s.route_node(EventType::Deleted, &node).is_empty());
    }
}
