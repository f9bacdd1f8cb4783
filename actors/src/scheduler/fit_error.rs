//! Why a pod fits no node, summarized as kube-scheduler does for the pod's `PodScheduled`
//! condition: how many nodes there are and how many failed for each reason, e.g.
//! "0/3 nodes are available: 1 Insufficient memory, 2 node(s) didn't match Pod's node
//! selector." (reasons sorted as text, like Kubernetes sorts them). It also says which cluster
//! events could change that, so the pod waits for one of them.

use std::collections::BTreeMap;
use std::fmt;

use super::events::ClusterEvents;

/// The pod fits none of the nodes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FitError {
    pub nodes: usize,
    /// Reason → how many nodes failed for it (a node may fail for several).
    pub reasons: BTreeMap<String, usize>,
    /// The events that could make the pod fit: a new node, and those the rejecting plug-ins
    /// named.
    pub wake_on: ClusterEvents,
}

impl FitError {
    pub fn new(nodes: usize) -> Self {
        Self {
            nodes,
            reasons: BTreeMap::new(),
            wake_on: ClusterEvents::NODE_ADD,
        }
    }

    /// Records that one node failed for `reasons`, which only `wake_on` could change.
    pub fn add_node(&mut self, reasons: &[String], wake_on: ClusterEvents) {
        for reason in reasons {
            *self.reasons.entry(reason.clone()).or_insert(0) += 1;
        }
        self.wake_on = self.wake_on | wake_on;
    }
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nodes == 0 {
            return f.write_str("no nodes available to schedule pods");
        }
        write!(f, "0/{} nodes are available", self.nodes)?;
        let mut counted: Vec<String> = self
            .reasons
            .iter()
            .map(|(reason, count)| format!("{count} {reason}"))
            .collect();
        counted.sort();
        if counted.is_empty() {
            f.write_str(".")
        } else {
            write!(f, ": {}.", counted.join(", "))
        }
    }
}

impl std::error::Error for FitError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_counts_nodes_per_reason_like_kube_scheduler() {
        let mut e = FitError::new(2);
        e.add_node(
            &["node(s) didn't match Pod's node affinity/selector".into()],
            ClusterEvents::NODE_LABEL_UPDATE,
        );
        e.add_node(
            &["Insufficient memory".into()],
            ClusterEvents::ASSIGNED_POD_DELETE,
        );
        assert_eq!(
            e.to_string(),
            "0/2 nodes are available: 1 Insufficient memory, 1 node(s) didn't match Pod's node affinity/selector."
        );
        assert_eq!(
            e.wake_on,
            ClusterEvents::NODE_ADD
                | ClusterEvents::NODE_LABEL_UPDATE
                | ClusterEvents::ASSIGNED_POD_DELETE
        );
    }

    #[test]
    fn a_node_may_fail_for_several_reasons() {
        let mut e = FitError::new(3);
        let room = ClusterEvents::ASSIGNED_POD_DELETE;
        e.add_node(
            &["Insufficient cpu".into(), "Insufficient memory".into()],
            room,
        );
        e.add_node(&["Insufficient cpu".into()], room);
        e.add_node(
            &["node(s) were unschedulable".into()],
            ClusterEvents::NODE_UNSCHEDULABLE_UPDATE,
        );
        assert_eq!(
            e.to_string(),
            "0/3 nodes are available: 1 Insufficient memory, 1 node(s) were unschedulable, 2 Insufficient cpu."
        );
    }

    #[test]
    fn no_nodes_at_all_is_said_plainly() {
        assert_eq!(
            FitError::new(0).to_string(),
            "no nodes available to schedule pods"
        );
    }
}
