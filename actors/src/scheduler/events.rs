//! The cluster events that can make a waiting pod fit somewhere, after Kubernetes'
//! `ClusterEvent`s. Each filter plug-in names the events that could change its verdict; a pod
//! parked as unschedulable waits only for the events of the plug-ins that rejected it, so a
//! pod whose node selector matches no node is not retried whenever some other pod ends.

use std::fmt;
use std::ops::BitOr;

use flotilla_kernel::object::Node;

/// A set of cluster events.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct ClusterEvents(u16);

impl ClusterEvents {
    pub const NONE: Self = Self(0);
    /// A node was added.
    pub const NODE_ADD: Self = Self(1);
    /// A node's allocatable (or capacity) changed.
    pub const NODE_ALLOCATABLE_UPDATE: Self = Self(1 << 1);
    /// A node's labels changed.
    pub const NODE_LABEL_UPDATE: Self = Self(1 << 2);
    /// A node's Ready condition changed.
    pub const NODE_CONDITION_UPDATE: Self = Self(1 << 3);
    /// A node was cordoned or uncordoned (`spec.unschedulable`; a taint in Kubernetes).
    pub const NODE_UNSCHEDULABLE_UPDATE: Self = Self(1 << 4);
    /// A pod bound to a node was deleted or finished, so its requests are free again.
    pub const ASSIGNED_POD_DELETE: Self = Self(1 << 5);
    /// A node's taints changed.
    pub const NODE_TAINT_UPDATE: Self = Self(1 << 6);
    /// A pod was bound to a node, or a bound pod's labels changed: pod affinity and spreading
    /// see other pods in its topology domain now.
    pub const ASSIGNED_POD_ADD: Self = Self(1 << 7);
    pub const ALL: Self = Self((1 << 8) - 1);

    const NAMES: [&'static str; 8] = [
        "NodeAdd",
        "NodeAllocatableUpdate",
        "NodeLabelUpdate",
        "NodeConditionUpdate",
        "NodeUnschedulableUpdate",
        "AssignedPodDelete",
        "NodeTaintUpdate",
        "AssignedPodAdd",
    ];

    pub fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// What changed between two versions of a node that scheduling looks at (`old` is `None`
    /// for a node just added). A heartbeat changes none of it.
    pub fn of_node_update(old: Option<&Node>, new: &Node) -> Self {
        let Some(old) = old else {
            return Self::NODE_ADD;
        };
        let mut events = Self::NONE;
        if old.status.allocatable != new.status.allocatable
            || old.status.capacity != new.status.capacity
        {
            events = events | Self::NODE_ALLOCATABLE_UPDATE;
        }
        if old.metadata.labels != new.metadata.labels {
            events = events | Self::NODE_LABEL_UPDATE;
        }
        if old.is_ready() != new.is_ready() {
            events = events | Self::NODE_CONDITION_UPDATE;
        }
        if old.spec.unschedulable != new.spec.unschedulable {
            events = events | Self::NODE_UNSCHEDULABLE_UPDATE;
        }
        if old.spec.taints != new.spec.taints {
            events = events | Self::NODE_TAINT_UPDATE;
        }
        events
    }
}

impl BitOr for ClusterEvents {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

impl fmt::Debug for ClusterEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = Self::NAMES
            .iter()
            .enumerate()
            .filter(|(bit, _)| self.0 & (1 << bit) != 0)
            .map(|(_, name)| *name);
        f.debug_set().entries(names).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::fixtures::ready_node;

    #[test]
    fn only_what_scheduling_reads_is_an_event() {
        let node = ready_node("a", "1", "1Gi");
        assert_eq!(
            ClusterEvents::of_node_update(None, &node),
            ClusterEvents::NODE_ADD
        );
        let mut heartbeat = node.clone();
        heartbeat.status.node_info.kernel_version = "6.1".into();
        heartbeat.metadata.resource_version = "9".into();
        assert!(ClusterEvents::of_node_update(Some(&node), &heartbeat).is_empty());

        let mut changed = node.clone();
        changed.spec.unschedulable = true;
        changed.metadata.labels.insert("disk".into(), "ssd".into());
        changed
            .spec
            .taints
            .push(flotilla_kernel::object::Taint::default());
        assert_eq!(
            ClusterEvents::of_node_update(Some(&node), &changed),
            ClusterEvents::NODE_LABEL_UPDATE
                | ClusterEvents::NODE_UNSCHEDULABLE_UPDATE
                | ClusterEvents::NODE_TAINT_UPDATE
        );
        let mut not_ready = node.clone();
        not_ready.status.conditions.clear();
        not_ready.status.allocatable.clear();
        assert_eq!(
            ClusterEvents::of_node_update(Some(&node), &not_ready),
            ClusterEvents::NODE_ALLOCATABLE_UPDATE | ClusterEvents::NODE_CONDITION_UPDATE
        );
    }

    #[test]
    fn sets_print_their_members() {
        let events = ClusterEvents::NODE_ADD | ClusterEvents::ASSIGNED_POD_DELETE;
        assert_eq!(format!("{events:?}"), r#"{"NodeAdd", "AssignedPodDelete"}"#);
        assert!(events.intersects(ClusterEvents::NODE_ADD));
        assert!(!events.intersects(ClusterEvents::NODE_LABEL_UPDATE));
        assert!(ClusterEvents::ALL.intersects(ClusterEvents::ASSIGNED_POD_DELETE));
    }
}
