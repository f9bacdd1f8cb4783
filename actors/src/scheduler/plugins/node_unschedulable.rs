//! Filter: a cordoned node (`spec.unschedulable`) takes no new pods.

use crate::scheduler::events::ClusterEvents;
use crate::scheduler::framework::{FilterPlugin, PodInfo, Unfit};
use crate::scheduler::node_info::NodeInfo;

pub struct NodeUnschedulable;

impl FilterPlugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        "node_unschedulable"
    }

    fn filter(&self, _pod: &PodInfo<'_>, node: &NodeInfo<'_>) -> Result<(), Unfit> {
        if node.node.spec.unschedulable {
            Err(Unfit::because("node(s) were unschedulable"))
        } else {
            Ok(())
        }
    }

    fn requeue_on(&self) -> ClusterEvents {
        ClusterEvents::NODE_ADD | ClusterEvents::NODE_UNSCHEDULABLE_UPDATE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::fixtures::{pod_with, ready_node};

    #[test]
    fn cordoned_nodes_are_rejected() {
        let pod = pod_with(&[], &[]);
        let pod = PodInfo::new(&pod);
        let mut node = ready_node("a", "1", "1Gi");
        assert_eq!(
            NodeUnschedulable.filter(&pod, &NodeInfo::new(&node)),
            Ok(())
        );
        node.spec.unschedulable = true;
        assert_eq!(
            NodeUnschedulable.filter(&pod, &NodeInfo::new(&node)),
            Err(Unfit::because("node(s) were unschedulable"))
        );
    }
}
