//! The scheduler's cache, after Kubernetes': what the pods bound to each node request (and the
//! host ports they claim), kept up to date from pod watch events instead of summed from a
//! listing before each decision.
//!
//! A pod the scheduler has just decided to bind is *assumed* on its node at once, before the
//! API has answered and long before the watch reports it bound, so the next decision already
//! counts it and two pods in a row cannot overcommit a node. The watch event of the binding
//! confirms the assumption; a failed binding forgets it.
//!
//! The placed pods are also indexed by label, and by the affinity terms they carry, for
//! inter-pod affinity and topology spread ([`PodIndex`]).

use std::collections::HashMap;

use flotilla_kernel::api::EventType;
use flotilla_kernel::object::{Node, Pod};

use super::events::ClusterEvents;
use super::host_ports::HostPort;
use super::node_info::{NodeInfo, PodRequests, Usage};
use super::pod_index::PodIndex;
use crate::controllers::key::ObjectKey;

/// A pod counted on a node.
#[derive(Debug, Clone)]
struct Placed {
    node: String,
    requests: PodRequests,
    host_ports: Vec<HostPort>,
    /// Bound by this scheduler, and not yet seen bound by the watch.
    assumed: bool,
}

/// The load on every node, by node name (nodes the scheduler has not seen yet included).
#[derive(Debug, Default)]
pub struct SchedulerCache {
    usage: HashMap<String, Usage>,
    /// The host ports claimed on each node that has any.
    host_ports: HashMap<String, Vec<HostPort>>,
    placed: HashMap<ObjectKey, Placed>,
    index: PodIndex,
}

impl SchedulerCache {
    /// Records a pod watch event; returns [`ClusterEvents::ASSIGNED_POD_DELETE`] when a pod
    /// that counted on a node stopped counting (deleted or finished), freeing room, and
    /// [`ClusterEvents::ASSIGNED_POD_ADD`] when the watch shows a pod bound (or its labels
    /// changed on its node).
    pub fn pod_changed(&mut self, event: EventType, pod: &Pod) -> ClusterEvents {
        let key = ObjectKey::of(&pod.metadata);
        let node = &pod.spec.node_name;
        if event != EventType::Deleted && node.is_empty() {
            // Pending: an assumption stands until the watch shows the binding.
            return ClusterEvents::NONE;
        }
        if event == EventType::Deleted || pod.is_terminal() {
            return if self.unplace(&key) {
                ClusterEvents::ASSIGNED_POD_DELETE
            } else {
                ClusterEvents::NONE
            };
        }
        match self.placed.get_mut(&key) {
            // A pod's requests and node never change once bound: only confirm.
            Some(placed) if &placed.node == node => {
                let confirmed = std::mem::replace(&mut placed.assumed, false);
                if self.index.labels_changed(&key, pod) {
                    self.index.remove(&key);
                    self.index.insert(&key, node, pod);
                } else if !confirmed {
                    return ClusterEvents::NONE;
                }
            }
            _ => {
                self.unplace(&key);
                self.place(key, node.clone(), pod, false);
            }
        }
        ClusterEvents::ASSIGNED_POD_ADD
    }

    /// Counts `pod` on `node` ahead of the watch (see the module doc).
    pub fn assume(&mut self, pod: &Pod, node: &str) {
        let key = ObjectKey::of(&pod.metadata);
        self.unplace(&key);
        self.place(key, node.to_string(), pod, true);
    }

    /// Stops counting an assumed pod whose binding failed.
    pub fn forget(&mut self, key: &ObjectKey) {
        if self.is_assumed(key) {
            self.unplace(key);
        }
    }

    /// Whether `key` is assumed: bound by this scheduler a moment ago.
    pub fn is_assumed(&self, key: &ObjectKey) -> bool {
        self.placed.get(key).is_some_and(|p| p.assumed)
    }

    /// The placed pods by label and affinity term.
    pub fn index(&self) -> &PodIndex {
        &self.index
    }

    /// The nodes with their load, sorted by name.
    pub fn node_infos<'a>(&self, nodes: impl Iterator<Item = &'a Node>) -> Vec<NodeInfo<'a>> {
        let mut infos: Vec<NodeInfo<'a>> = nodes
            .map(|node| {
                let name = &node.metadata.name;
                let usage = self.usage.get(name).copied().unwrap_or_default();
                let host_ports = self.host_ports.get(name).cloned().unwrap_or_default();
                NodeInfo::new(node).with_usage(usage, host_ports)
            })
            .collect();
        infos.sort_by(|a, b| a.name().cmp(b.name()));
        infos
    }

    fn place(&mut self, key: ObjectKey, node: String, pod: &Pod, assumed: bool) {
        let requests = PodRequests::of(pod);
        let host_ports = HostPort::of(pod);
        self.index.insert(&key, &node, pod);
        self.usage.entry(node.clone()).or_default().add(&requests);
        if !host_ports.is_empty() {
            let claimed = self.host_ports.entry(node.clone()).or_default();
            claimed.extend(host_ports.iter().cloned());
        }
        self.placed.insert(
            key,
            Placed {
                node,
                requests,
                host_ports,
                assumed,
            },
        );
    }

    /// Stops counting `key`; returns whether it counted.
    fn unplace(&mut self, key: &ObjectKey) -> bool {
        let Some(placed) = self.placed.remove(key) else {
            return false;
        };
        self.index.remove(key);
        if let Some(usage) = self.usage.get_mut(&placed.node) {
            usage.remove(&placed.requests);
            if usage.is_empty() {
                self.usage.remove(&placed.node);
            }
        }
        if let Some(claimed) = self.host_ports.get_mut(&placed.node) {
            for port in &placed.host_ports {
                if let Some(at) = claimed.iter().position(|held| held == port) {
                    claimed.swap_remove(at);
                }
            }
            if claimed.is_empty() {
                self.host_ports.remove(&placed.node);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::PodPhase;

    use super::*;
    use crate::scheduler::fixtures::{pod_with, ready_node};
    use crate::scheduler::node_info::Resources;

    fn pod(name: &str, node: &str, cpu: &str) -> Pod {
        let mut pod = pod_with(&[("cpu", cpu)], &[]);
        pod.metadata.name = name.into();
        pod.spec.node_name = node.into();
        pod
    }

    fn cpu_on(cache: &SchedulerCache, node: &Node) -> (i64, i64) {
        let info = &cache.node_infos(std::iter::once(node))[0];
        (info.requested.cpu_millis, info.pods)
    }

    #[test]
    fn bound_pods_count_until_they_finish_or_go() {
        let node = ready_node("a", "4", "4Gi");
        let mut cache = SchedulerCache::default();
        assert_eq!(
            cache.pod_changed(EventType::Added, &pod("p", "a", "1")),
            ClusterEvents::ASSIGNED_POD_ADD
        );
        cache.pod_changed(EventType::Added, &pod("q", "a", "500m"));
        assert!(
            cache
                .pod_changed(EventType::Added, &pod("pending", "", "2"))
                .is_empty()
        );
        assert!(
            cache
                .pod_changed(EventType::Modified, &pod("p", "a", "1"))
                .is_empty(),
            "nothing changed for scheduling"
        );
        let mut relabelled = pod("p", "a", "1");
        relabelled
            .metadata
            .labels
            .insert("tier".into(), "db".into());
        assert_eq!(
            cache.pod_changed(EventType::Modified, &relabelled),
            ClusterEvents::ASSIGNED_POD_ADD,
            "pod affinity may see it differently"
        );
        assert_eq!(cpu_on(&cache, &node), (1500, 2));

        let mut done = pod("q", "a", "500m");
        done.status.phase = PodPhase::Succeeded;
        assert_eq!(
            cache.pod_changed(EventType::Modified, &done),
            ClusterEvents::ASSIGNED_POD_DELETE
        );
        assert!(
            cache.pod_changed(EventType::Deleted, &done).is_empty(),
            "it had stopped counting already"
        );
        assert_eq!(
            cache.pod_changed(EventType::Deleted, &pod("p", "a", "1")),
            ClusterEvents::ASSIGNED_POD_DELETE
        );
        assert_eq!(cpu_on(&cache, &node), (0, 0));
        assert!(cache.usage.is_empty());
    }

    #[test]
    fn an_assumed_pod_counts_at_once_and_is_confirmed_by_the_watch() {
        let node = ready_node("a", "4", "4Gi");
        let mut cache = SchedulerCache::default();
        let pending = pod("p", "", "1");
        let key = ObjectKey::of(&pending.metadata);
        cache.pod_changed(EventType::Added, &pending);
        cache.assume(&pending, "a");
        assert!(cache.is_assumed(&key));
        assert_eq!(cpu_on(&cache, &node), (1000, 1));
        cache.pod_changed(EventType::Modified, &pending);
        assert_eq!(
            cpu_on(&cache, &node),
            (1000, 1),
            "a late event of the pending pod keeps the assumption"
        );
        cache.pod_changed(EventType::Modified, &pod("p", "a", "1"));
        assert!(!cache.is_assumed(&key));
        cache.forget(&key);
        assert_eq!(cpu_on(&cache, &node), (1000, 1), "confirmed: not forgotten");
    }

    #[test]
    fn a_failed_binding_is_forgotten() {
        let node = ready_node("a", "4", "4Gi");
        let mut cache = SchedulerCache::default();
        let pending = pod("p", "", "1");
        cache.assume(&pending, "a");
        cache.forget(&ObjectKey::of(&pending.metadata));
        assert_eq!(cpu_on(&cache, &node), (0, 0));
        let info = &cache.node_infos(std::iter::once(&node))[0];
        assert_eq!(info.non_zero_requested, Resources::default());
    }

    #[test]
    fn host_ports_are_claimed_while_their_pods_count() {
        let node = ready_node("a", "4", "4Gi");
        let mut cache = SchedulerCache::default();
        let mut web = pod("web", "", "1");
        web.spec.containers[0].ports = vec![flotilla_kernel::object::ContainerPort {
            container_port: 8080,
            host_port: 30080,
            ..Default::default()
        }];
        let claimed =
            |cache: &SchedulerCache| cache.node_infos(std::iter::once(&node))[0].host_ports.len();
        cache.assume(&web, "a");
        assert_eq!(claimed(&cache), 1);
        web.spec.node_name = "a".into();
        cache.pod_changed(EventType::Modified, &web);
        assert_eq!(claimed(&cache), 1, "confirmed, not claimed twice");
        cache.pod_changed(EventType::Deleted, &web);
        assert_eq!(claimed(&cache), 0);
        assert!(cache.host_ports.is_empty());
    }
}
