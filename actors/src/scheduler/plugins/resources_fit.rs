//! Filter: the node must have room for the pod — the requests of the non-terminal pods bound
//! to it plus this pod's must stay within its allocatable cpu and memory, and its pod count
//! within its `pods` allocatable if it reports one. A resource the pod does not request is not
//! checked, as in Kubernetes.

use crate::scheduler::events::ClusterEvents;
use crate::scheduler::framework::{FilterPlugin, PodInfo, Unfit};
use crate::scheduler::node_info::NodeInfo;

pub struct ResourcesFit;

impl FilterPlugin for ResourcesFit {
    fn name(&self) -> &'static str {
        "resources_fit"
    }

    fn filter(&self, pod: &PodInfo<'_>, node: &NodeInfo<'_>) -> Result<(), Unfit> {
        let mut reasons = Vec::new();
        if node.max_pods.is_some_and(|max| node.pods + 1 > max) {
            reasons.push("Too many pods".to_string());
        }
        let wanted = pod.requests.requested;
        let used = node.requested;
        let free = node.allocatable;
        if wanted.cpu_millis > 0 && used.cpu_millis + wanted.cpu_millis > free.cpu_millis {
            reasons.push("Insufficient cpu".to_string());
        }
        if wanted.memory_bytes > 0 && used.memory_bytes + wanted.memory_bytes > free.memory_bytes {
            reasons.push("Insufficient memory".to_string());
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(Unfit(reasons))
        }
    }

    fn requeue_on(&self) -> ClusterEvents {
        ClusterEvents::NODE_ADD
            | ClusterEvents::NODE_ALLOCATABLE_UPDATE
            | ClusterEvents::ASSIGNED_POD_DELETE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::fixtures::{node_infos, pod_with, quantities, ready_node};

    #[test]
    fn requests_must_fit_beside_the_bound_pods() {
        let nodes = [ready_node("a", "2", "1Gi")];
        let mut bound = pod_with(&[("cpu", "1500m"), ("memory", "512Mi")], &[]);
        bound.spec.node_name = "a".into();
        let infos = node_infos(&nodes, &[bound]);
        let fits = |requests: &[(&str, &str)]| {
            let pod = pod_with(requests, &[]);
            ResourcesFit.filter(&PodInfo::new(&pod), &infos[0])
        };
        assert_eq!(fits(&[("cpu", "500m"), ("memory", "512Mi")]), Ok(()));
        assert_eq!(
            fits(&[("cpu", "501m")]),
            Err(Unfit::because("Insufficient cpu"))
        );
        assert_eq!(
            fits(&[("cpu", "1"), ("memory", "1Gi")]),
            Err(Unfit(vec![
                "Insufficient cpu".into(),
                "Insufficient memory".into()
            ]))
        );
        assert_eq!(fits(&[]), Ok(()), "a pod without requests always fits");
    }

    #[test]
    fn the_pod_count_is_limited_when_the_node_says() {
        let mut node = ready_node("a", "2", "1Gi");
        node.status.allocatable.extend(quantities(&[("pods", "1")]));
        let nodes = [node];
        let mut bound = pod_with(&[], &[]);
        bound.spec.node_name = "a".into();
        let infos = node_infos(&nodes, &[bound]);
        let pod = pod_with(&[], &[]);
        assert_eq!(
            ResourcesFit.filter(&PodInfo::new(&pod), &infos[0]),
            Err(Unfit::because("Too many pods"))
        );
    }
}
