//! The pure core of node failure handling: which nodes stopped heartbeating and what to do
//! about their pods.
//!
//! A node is alive while its Lease keeps changing. The monitor notes, on its own clock, when it
//! last saw each lease change — never the renew time the node wrote, so clock skew between
//! machines cannot make a node look dead or alive. After `grace` without a change the Node's
//! Ready condition becomes Unknown and its pods' Ready condition False (so Services stop sending
//! them traffic at once, as Kubernetes' MarkPodsNotReady does); after a further `eviction` its
//! pods are deleted gracefully
//! (they stop counting for their ReplicaSet, which replaces them elsewhere, and the node stops
//! them if it comes back), except pods annotated [`AT_MOST_ONE`], which must never run twice and
//! so wait for their node. Pods bound to a Node that no longer exists are deleted at once.
//!
//! It reads watch-fed caches, the pods indexed by node, so a look costs a step per node and
//! per pod it acts on, however many pods the cluster runs.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use flotilla_kernel::object::{
    ConditionStatus, Lease, NODE_LEASE_NAMESPACE, Node, NodeCondition, Pod,
};

use crate::informer::Cache;

/// Annotation (value `"true"`) of a pod that must never run twice, even while its node is only
/// unreachable: it is not replaced until its node confirms it stopped or the Node is deleted.
pub const AT_MOST_ONE: &str = "flotilla.io/at-most-one";

/// Cluster-wide timing of failure handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How long a lease may stay unchanged before the node counts as unreachable.
    pub grace: Duration,
    /// How long pods stay on an unreachable node before they are replaced.
    pub eviction: Duration,
}

/// What the controller should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Set the node's Ready condition to Unknown with this message.
    MarkUnreachable { node: String, message: String },
    /// Set the pod's Ready condition to False: its node is unreachable.
    MarkPodNotReady {
        namespace: String,
        name: String,
        node: String,
    },
    /// Delete the pod gracefully: its node is unreachable.
    Evict {
        namespace: String,
        name: String,
        node: String,
    },
    /// Delete the pod gracefully: its node has a `NoExecute` taint (`taint`) it does not
    /// tolerate, or no longer tolerates.
    EvictTainted {
        namespace: String,
        name: String,
        node: String,
        taint: String,
    },
    /// Delete the pod at once: its node no longer exists.
    Remove {
        namespace: String,
        name: String,
        node: String,
    },
}

#[derive(Debug, Clone)]
struct Seen {
    lease_version: Option<String>,
    changed: SystemTime,
    unreachable_since: Option<SystemTime>,
}

/// What the controller remembers between looks.
#[derive(Debug, Default)]
pub struct Monitor {
    seen: HashMap<String, Seen>,
}

impl Monitor {
    /// One look at the cluster at `now`; returns what to do. `pods` must be indexed by
    /// [`crate::informer::bound_node`].
    pub fn observe(
        &mut self,
        now: SystemTime,
        settings: Settings,
        nodes: &Cache<Node>,
        leases: &Cache<Lease>,
        pods: &Cache<Pod>,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        self.seen.retain(|name, _| nodes.get("", name).is_some());
        for node in nodes.iter() {
            let name = &node.metadata.name;
            let version = leases
                .get(NODE_LEASE_NAMESPACE, name)
                .map(|lease| lease.metadata.resource_version.clone());
            // A node first seen (or the controller just started) gets a full grace period.
            let seen = self.seen.entry(name.clone()).or_insert_with(|| Seen {
                lease_version: version.clone(),
                changed: now,
                unreachable_since: None,
            });
            if seen.lease_version != version {
                seen.lease_version = version;
                seen.changed = now;
            }
            let silent = now.duration_since(seen.changed).unwrap_or_default();
            if silent <= settings.grace {
                seen.unreachable_since = None;
                continue;
            }
            let since = *seen.unreachable_since.get_or_insert(now);
            if ready_status(node) != Some(ConditionStatus::Unknown) {
                actions.push(Action::MarkUnreachable {
                    node: name.clone(),
                    message: format!(
                        "the node agent has not renewed its lease for {}s",
                        silent.as_secs()
                    ),
                });
            }
            actions.extend(
                pods.indexed_under(name)
                    .filter(|pod| pod.is_ready())
                    .map(|pod| Action::MarkPodNotReady {
                        namespace: pod.metadata.namespace.clone(),
                        name: pod.metadata.name.clone(),
                        node: name.clone(),
                    }),
            );
            if now.duration_since(since).unwrap_or_default() >= settings.eviction {
                actions.extend(pods.indexed_under(name).filter(|pod| replaceable(pod)).map(
                    |pod| Action::Evict {
                        namespace: pod.metadata.namespace.clone(),
                        name: pod.metadata.name.clone(),
                        node: name.clone(),
                    },
                ));
            }
        }
        let orphaned = pods
            .index_values()
            .filter(|node| nodes.get("", node).is_none());
        actions.extend(orphaned.flat_map(|node| {
            pods.indexed_under(node).map(|pod| Action::Remove {
                namespace: pod.metadata.namespace.clone(),
                name: pod.metadata.name.clone(),
                node: node.to_string(),
            })
        }));
        actions
    }
}

fn ready_status(node: &Node) -> Option<ConditionStatus> {
    node.condition(NodeCondition::READY).map(|c| c.status)
}

/// Whether a pod on an unreachable node may be replaced now.
fn replaceable(pod: &Pod) -> bool {
    let at_most_one = pod
        .metadata
        .annotations
        .get(AT_MOST_ONE)
        .is_some_and(|value| value == "true");
    pod.metadata.deletion_timestamp.is_none() && !pod.is_terminal() && !at_most_one
}

#[cfg(test)]
mod tests;
