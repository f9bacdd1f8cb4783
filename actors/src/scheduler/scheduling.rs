//! The scheduling core: the pending pods in a [`SchedulingQueue`], decided one at a time by the
//! [`Framework`] against the nodes and the load the [`SchedulerCache`] keeps — all in memory,
//! nothing listed per pod. Watch changes of pods and nodes feed the cache and move waiting
//! pods on; the actor around it performs the decisions (binds, `Unschedulable` conditions) and
//! reports how each bind went. Every call takes `now`, so tests step the clock.

use std::time::Instant;

use flotilla_kernel::api::EventType;
use flotilla_kernel::object::{Namespace, Node, Pod};

use super::cache::SchedulerCache;
use super::events::ClusterEvents;
use super::framework::{Cluster, Framework};
use super::queue::{QueueCounts, QueueSettings, SchedulingQueue};
use crate::controllers::key::ObjectKey;
use crate::controllers::ownership::is_terminating;
use crate::informer::{Cache, Change};

/// Whether the scheduler should place `pod`: unbound, not ending and not held back by
/// scheduling gates (removing the last one makes it pending).
pub fn is_pending(pod: &Pod) -> bool {
    pod.spec.node_name.is_empty()
        && pod.spec.scheduling_gates.is_empty()
        && !is_terminating(&pod.metadata)
        && !pod.is_terminal()
}

/// The pod's `spec.priority` (0 when absent, as in Kubernetes without a PriorityClass).
pub fn priority(pod: &Pod) -> i32 {
    pod.spec.priority.unwrap_or(0)
}

/// Whether a pending pod changed in a way that may change where it fits. Its status (the
/// scheduler's own `Unschedulable` condition among it) does not count.
fn may_fit_differently(old: &Pod, new: &Pod) -> bool {
    old.spec != new.spec
        || old.metadata.labels != new.metadata.labels
        || old.metadata.annotations != new.metadata.annotations
}

/// What the actor should do about one pending pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Bind the pod to the node; the pod already counts there.
    Bind { pod: ObjectKey, node: String },
    /// The pod fits nowhere: say so in its `PodScheduled` condition.
    Unschedulable { pod: ObjectKey, message: String },
}

/// The scheduler's state.
pub struct Scheduling {
    framework: Framework,
    cache: SchedulerCache,
    queue: SchedulingQueue<ObjectKey>,
}

impl Scheduling {
    pub fn new(framework: Framework, settings: QueueSettings) -> Self {
        Self {
            framework,
            cache: SchedulerCache::default(),
            queue: SchedulingQueue::new(settings),
        }
    }

    /// Takes in a change of a pod: the load on its node, its place in the queue, and the
    /// waiting pods that room it freed could help.
    pub fn pod_changed(&mut self, change: &Change<Pod>, now: Instant) {
        let pod = &change.new;
        let key = ObjectKey::of(&pod.metadata);
        let freed = self.cache.pod_changed(change.event, pod);
        if change.event == EventType::Deleted || !is_pending(pod) {
            self.queue.remove(&key);
        } else if self.cache.is_assumed(&key) {
            // Being bound: a late event from before the binding.
        } else if change
            .old
            .as_deref()
            .is_some_and(|old| may_fit_differently(old, pod))
        {
            self.queue.update(key, priority(pod), now);
        } else {
            self.queue.add(key, priority(pod), now);
        }
        self.queue.move_on(freed, now);
    }

    /// Takes in a change of a node: a change that matters moves on the pods it could help.
    pub fn node_changed(&mut self, change: &Change<Node>, now: Instant) {
        if change.event != EventType::Deleted {
            let events = ClusterEvents::of_node_update(change.old.as_deref(), &change.new);
            self.queue.move_on(events, now);
        }
    }

    /// Decides the next pod due at `now`, if any, reading pods, nodes and namespaces from the
    /// caches.
    pub fn next(
        &mut self,
        now: Instant,
        pods: &Cache<Pod>,
        nodes: &Cache<Node>,
        namespaces: &Cache<Namespace>,
    ) -> Option<Decision> {
        loop {
            let key = self.queue.pop(now)?;
            let pod = match pods.get(&key.namespace, &key.name) {
                Some(pod) if is_pending(pod) && !self.cache.is_assumed(&key) => pod,
                _ => {
                    self.queue.remove(&key);
                    continue;
                }
            };
            let infos = self.cache.node_infos(nodes.iter().map(|node| &**node));
            let namespace_labels = |name: &str| {
                namespaces
                    .get("", name)
                    .map(|ns| ns.metadata.labels.clone())
            };
            let cluster = Cluster {
                nodes: &infos,
                pods: self.cache.index(),
                namespace_labels: &namespace_labels,
            };
            return Some(match self.framework.schedule(pod, &cluster) {
                Ok(node) => {
                    self.cache.assume(pod, &node);
                    Decision::Bind { pod: key, node }
                }
                Err(unfit) => {
                    self.queue.unschedulable(&key, unfit.wake_on, now);
                    Decision::Unschedulable {
                        pod: key,
                        message: unfit.to_string(),
                    }
                }
            });
        }
    }

    /// The API bound the pod as decided.
    pub fn bound(&mut self, key: &ObjectKey) {
        self.queue.remove(key);
    }

    /// Binding the pod failed: it no longer counts on the node and is tried again after its
    /// backoff.
    pub fn bind_failed(&mut self, key: &ObjectKey, now: Instant) {
        self.cache.forget(key);
        self.queue.retry(key, now);
    }

    /// Whether a pod is due at `now`.
    pub fn has_due(&self, now: Instant) -> bool {
        self.queue.has_due(now)
    }

    /// When the next waiting pod becomes due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.next_deadline()
    }

    pub fn counts(&self) -> QueueCounts {
        self.queue.counts()
    }
}

#[cfg(test)]
mod tests;
