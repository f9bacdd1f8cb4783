//! Filter: a pod whose containers claim a `hostPort` goes only to a node where no pod placed
//! there claims the same port (see `host_ports` for when two claims clash), as Kubernetes'
//! NodePorts plug-in.

use crate::scheduler::events::ClusterEvents;
use crate::scheduler::framework::{FilterPlugin, PodInfo, Unfit};
use crate::scheduler::host_ports::HostPort;
use crate::scheduler::node_info::NodeInfo;

pub struct NodePorts;

impl FilterPlugin for NodePorts {
    fn name(&self) -> &'static str {
        "node_ports"
    }

    fn filter(&self, pod: &PodInfo<'_>, node: &NodeInfo<'_>) -> Result<(), Unfit> {
        let wanted = HostPort::of(pod.pod);
        let taken = wanted
            .iter()
            .any(|port| node.host_ports.iter().any(|used| port.clashes_with(used)));
        if taken {
            Err(Unfit::because(
                "node(s) didn't have free ports for the requested pod ports",
            ))
        } else {
            Ok(())
        }
    }

    fn requeue_on(&self) -> ClusterEvents {
        ClusterEvents::NODE_ADD | ClusterEvents::ASSIGNED_POD_DELETE
    }
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::ContainerPort;

    use super::*;
    use crate::scheduler::fixtures::{node_infos, pod_with, ready_node};

    fn serving_on(host_port: i32) -> flotilla_kernel::object::Pod {
        let mut pod = pod_with(&[], &[]);
        pod.spec.containers[0].ports = vec![ContainerPort {
            container_port: 8080,
            host_port,
            ..ContainerPort::default()
        }];
        pod
    }

    #[test]
    fn a_claimed_host_port_keeps_the_next_claimant_off_the_node() {
        let nodes = [ready_node("a", "1", "1Gi"), ready_node("b", "1", "1Gi")];
        let mut bound = serving_on(30080);
        bound.spec.node_name = "a".into();
        let infos = node_infos(&nodes, &[bound]);
        let same = serving_on(30080);
        let same = PodInfo::new(&same);
        assert_eq!(
            NodePorts.filter(&same, &infos[0]),
            Err(Unfit::because(
                "node(s) didn't have free ports for the requested pod ports"
            ))
        );
        assert_eq!(NodePorts.filter(&same, &infos[1]), Ok(()));
        let other = serving_on(30081);
        assert_eq!(NodePorts.filter(&PodInfo::new(&other), &infos[0]), Ok(()));
        let none = pod_with(&[], &[]);
        assert_eq!(NodePorts.filter(&PodInfo::new(&none), &infos[0]), Ok(()));
    }
}
