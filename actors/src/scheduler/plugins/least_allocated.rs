//! Score: prefer the node with the most room left after placing the pod, averaging the free
//! fraction of cpu and memory (Kubernetes' LeastAllocated). Pods without requests count with
//! default requests here, so they spread too.

use crate::scheduler::framework::{MAX_SCORE, PodInfo, ScorePlugin};
use crate::scheduler::node_info::NodeInfo;

pub struct LeastAllocated;

impl ScorePlugin for LeastAllocated {
    fn name(&self) -> &'static str {
        "least_allocated"
    }

    fn score(&self, pod: &PodInfo<'_>, node: &NodeInfo<'_>) -> i64 {
        let after = node.non_zero_requested + pod.requests.non_zero;
        let cpu = free_share(after.cpu_millis, node.allocatable.cpu_millis);
        let memory = free_share(after.memory_bytes, node.allocatable.memory_bytes);
        (cpu + memory) / 2
    }
}

/// The free share of `capacity` once `requested` is taken, from 0 to [`MAX_SCORE`].
fn free_share(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 || requested > capacity {
        return 0;
    }
    let free = i128::from(capacity - requested) * i128::from(MAX_SCORE) / i128::from(capacity);
    i64::try_from(free).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::fixtures::{node_infos, pod_with, ready_node};

    #[test]
    fn emptier_nodes_score_higher() {
        let nodes = [ready_node("a", "4", "8Gi"), ready_node("b", "4", "8Gi")];
        let mut bound = pod_with(&[("cpu", "2"), ("memory", "4Gi")], &[]);
        bound.spec.node_name = "a".into();
        let infos = node_infos(&nodes, &[bound]);
        let pod = pod_with(&[("cpu", "1"), ("memory", "2Gi")], &[]);
        let pod = PodInfo::new(&pod);
        assert_eq!(LeastAllocated.score(&pod, &infos[0]), 25);
        assert_eq!(LeastAllocated.score(&pod, &infos[1]), 75);
    }

    #[test]
    fn free_share_is_bounded() {
        assert_eq!(free_share(0, 100), MAX_SCORE);
        assert_eq!(free_share(150, 100), 0);
        assert_eq!(free_share(1, 0), 0);
        assert_eq!(free_share(i64::MAX - 1, i64::MAX), 0);
    }
}
