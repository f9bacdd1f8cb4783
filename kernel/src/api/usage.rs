//! What pods and nodes use (`flotilla top`), as it crosses the wire twice: a node agent
//! measures its containers' cgroups and the node itself ([`AgentUsage`], answering a
//! `NodeRequest::Usage`), and the API server names what was measured after the pods and
//! nodes it stores ([`TopReport`], answering a `Request::Top`). There is no metrics server:
//! every `top` asks the agents afresh.

use serde::{Deserialize, Serialize};

/// CPU and memory in use, in the units `kubectl top` prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceUsage {
    /// CPU in millicores, averaged over the agent's sampling window.
    pub cpu_millis: u64,
    /// Memory in bytes: the working set (in use minus the inactive file cache) for a
    /// container, `MemTotal - MemAvailable` for a node.
    pub memory_bytes: u64,
}

/// One container of one pod, as a node agent knows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PodContainer {
    pub pod_uid: String,
    pub container: String,
}

/// What one container used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerUsage {
    pub container: PodContainer,
    pub usage: ResourceUsage,
}

/// A node agent's measurements: the node's own and those of the containers asked about that
/// are running (the others are left out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentUsage {
    pub node: ResourceUsage,
    pub containers: Vec<ContainerUsage>,
}

/// The answer to a `Request::Top`: pods (for `Kind::Pod`) or nodes (for `Kind::Node`), sorted
/// by namespace and name, and why some could not be measured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopReport {
    pub pods: Vec<PodMetrics>,
    pub nodes: Vec<NodeMetrics>,
    /// One message per node that could not be asked (or pod named that has no measurements),
    /// naming it and saying why.
    pub unavailable: Vec<String>,
}

/// What a pod's running containers use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodMetrics {
    pub namespace: String,
    pub name: String,
    /// In the order of the pod's spec.
    pub containers: Vec<ContainerMetrics>,
}

impl PodMetrics {
    /// The sum over the pod's containers.
    pub fn total(&self) -> ResourceUsage {
        self.containers
            .iter()
            .fold(ResourceUsage::default(), |sum, c| ResourceUsage {
                cpu_millis: sum.cpu_millis.saturating_add(c.usage.cpu_millis),
                memory_bytes: sum.memory_bytes.saturating_add(c.usage.memory_bytes),
            })
    }
}

/// What one container of a pod uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerMetrics {
    pub name: String,
    pub usage: ResourceUsage,
}

/// What a node uses, beside what it offers to pods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeMetrics {
    pub name: String,
    /// `None` when its agent could not be asked (the reason is in
    /// [`TopReport::unavailable`]).
    pub usage: Option<ResourceUsage>,
    /// The node's allocatable CPU and memory (its capacity when it reports none); zero when
    /// unknown.
    pub allocatable: ResourceUsage,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_uses_what_its_containers_use() {
        let container = |name: &str, cpu_millis, memory_bytes| ContainerMetrics {
            name: name.to_string(),
            usage: ResourceUsage {
                cpu_millis,
                memory_bytes,
            },
        };
        let pod = PodMetrics {
            namespace: "default".into(),
            name: "web".into(),
            containers: vec![
                container("app", 250, 1 << 20),
                container("proxy", 5, 3 << 20),
            ],
        };
        assert_eq!(
            pod.total(),
            ResourceUsage {
                cpu_millis: 255,
                memory_bytes: 4 << 20
            }
        );
    }
}
