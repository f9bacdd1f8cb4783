//! Filter: only nodes whose `Ready` condition is True take pods (a node agent that stopped
//! reporting cannot start them).

use crate::scheduler::events::ClusterEvents;
use crate::scheduler::framework::{FilterPlugin, PodInfo, Unfit};
use crate::scheduler::node_info::NodeInfo;

pub struct NodeReady;

impl FilterPlugin for NodeReady {
    fn name(&self) -> &'static str {
        "node_ready"
    }

    fn filter(&self, _pod: &PodInfo<'_>, node: &NodeInfo<'_>) -> Result<(), Unfit> {
        if node.node.is_ready() {
            Ok(())
        } else {
            Err(Unfit::because("node(s) were not ready"))
        }
    }

    fn requeue_on(&self) -> ClusterEvents {
        ClusterEvents::NODE_ADD | ClusterEvents::NODE_CONDITION_UPDATE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::fixtures::{pod_with, ready_node};
    use flotilla_kernel::object::ConditionStatus;

    #[test]
    fn only_ready_nodes_pass() {
        let pod = pod_with(&[], &[]);
        let pod = PodInfo::new(&pod);
        let mut node = ready_node("a", "1", "1Gi");
        assert_eq!(NodeReady.filter(&pod, &NodeInfo::new(&node)), Ok(()));
        node.status.conditions[0].status = ConditionStatus::Unknown;
        assert_eq!(
            NodeReady.filter(&pod, &NodeInfo::new(&node)),
            Err(Unfit::because("node(s) were not ready"))
        );
    }
}
