//! The scheduler's accounting: what each node offers (allocatable cpu, memory and pod slots)
//! and what the pods bound to it already ask for ([`Usage`], kept by the scheduler's cache).

use std::ops::{Add, Sub};

use flotilla_kernel::object::{Container, Node, Pod, Quantity, RESOURCE_CPU, RESOURCE_MEMORY};

use super::host_ports::HostPort;

/// What a pod asks for when it does not say, for scoring only (Kubernetes' defaults), so that
/// pods without requests still spread across nodes.
const DEFAULT_CPU_MILLIS: i64 = 100;
const DEFAULT_MEMORY_BYTES: i64 = 200 * 1024 * 1024;

/// An amount of the two resources the scheduler accounts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resources {
    pub cpu_millis: i64,
    pub memory_bytes: i64,
}

impl Add for Resources {
    type Output = Resources;

    fn add(self, other: Resources) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis.saturating_add(other.cpu_millis),
            memory_bytes: self.memory_bytes.saturating_add(other.memory_bytes),
        }
    }
}

impl Sub for Resources {
    type Output = Resources;

    fn sub(self, other: Resources) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis.saturating_sub(other.cpu_millis),
            memory_bytes: self.memory_bytes.saturating_sub(other.memory_bytes),
        }
    }
}

/// What one pod asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PodRequests {
    /// The sum of its containers' requests (limits where a request is missing).
    pub requested: Resources,
    /// The same with a default for every container that asks for nothing (for scoring).
    pub non_zero: Resources,
}

impl PodRequests {
    pub fn of(pod: &Pod) -> Self {
        pod.spec
            .containers
            .iter()
            .map(container_requests)
            .fold(PodRequests::default(), |sum, c| PodRequests {
                requested: sum.requested + c.requested,
                non_zero: sum.non_zero + c.non_zero,
            })
    }
}

fn container_requests(container: &Container) -> PodRequests {
    let resources = &container.resources;
    let cpu = millis(resources.effective_request(RESOURCE_CPU));
    let memory = bytes(resources.effective_request(RESOURCE_MEMORY));
    PodRequests {
        requested: Resources {
            cpu_millis: cpu,
            memory_bytes: memory,
        },
        non_zero: Resources {
            cpu_millis: if cpu == 0 { DEFAULT_CPU_MILLIS } else { cpu },
            memory_bytes: if memory == 0 {
                DEFAULT_MEMORY_BYTES
            } else {
                memory
            },
        },
    }
}

// Quantities were validated by the API server; one that does not parse (or does not fit)
// counts as zero: a pod then asks for nothing of it, a node offers nothing of it.

fn millis(quantity: Option<&Quantity>) -> i64 {
    quantity
        .and_then(|q| q.cpu_millis().ok())
        .and_then(|v| i64::try_from(v).ok())
        .unwrap_or(0)
}

fn bytes(quantity: Option<&Quantity>) -> i64 {
    quantity
        .and_then(|q| q.bytes().ok())
        .and_then(|v| i64::try_from(v).ok())
        .unwrap_or(0)
}

/// What the pods placed on one node ask for, summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub requested: Resources,
    /// The same with defaults for pods that ask for nothing (for scoring).
    pub non_zero_requested: Resources,
    pub pods: i64,
}

impl Usage {
    /// Counts a pod as placed on the node.
    pub fn add(&mut self, pod: &PodRequests) {
        self.requested = self.requested + pod.requested;
        self.non_zero_requested = self.non_zero_requested + pod.non_zero;
        self.pods += 1;
    }

    /// Stops counting a pod [`Usage::add`] counted.
    pub fn remove(&mut self, pod: &PodRequests) {
        self.requested = self.requested - pod.requested;
        self.non_zero_requested = self.non_zero_requested - pod.non_zero;
        self.pods -= 1;
    }

    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }
}

/// What a node offers pods, read from its status once per change rather than per decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capacity {
    /// Its allocatable, or its capacity where not reported.
    pub allocatable: Resources,
    /// How many pods it takes, if it says.
    pub max_pods: Option<i64>,
}

impl Capacity {
    pub fn of(node: &Node) -> Self {
        let status = &node.status;
        let offered = |name: &str| -> Option<&Quantity> {
            status
                .allocatable
                .get(name)
                .or_else(|| status.capacity.get(name))
        };
        Self {
            allocatable: Resources {
                cpu_millis: millis(offered(RESOURCE_CPU)),
                memory_bytes: bytes(offered(RESOURCE_MEMORY)),
            },
            max_pods: offered("pods")
                .and_then(|q| q.value().ok())
                .and_then(|v| i64::try_from(v).ok()),
        }
    }
}

/// One node and the load already placed on it.
#[derive(Debug, Clone)]
pub struct NodeInfo<'a> {
    pub node: &'a Node,
    /// What the node offers pods (its allocatable, or its capacity where not reported).
    pub allocatable: Resources,
    /// How many pods it takes, if it says.
    pub max_pods: Option<i64>,
    /// The sum of the requests of the non-terminal pods bound to it.
    pub requested: Resources,
    /// The same with defaults for pods that ask for nothing (for scoring).
    pub non_zero_requested: Resources,
    pub pods: i64,
    /// The host ports the pods placed on it claim.
    pub host_ports: Vec<HostPort>,
}

impl<'a> NodeInfo<'a> {
    /// The node with nothing placed on it yet.
    pub fn new(node: &'a Node) -> Self {
        Self::with_capacity(node, Capacity::of(node))
    }

    /// The node with what it offers already read from it.
    pub fn with_capacity(node: &'a Node, capacity: Capacity) -> Self {
        Self {
            node,
            allocatable: capacity.allocatable,
            max_pods: capacity.max_pods,
            requested: Resources::default(),
            non_zero_requested: Resources::default(),
            pods: 0,
            host_ports: Vec::new(),
        }
    }

    /// The node with `usage` placed on it, and `host_ports` claimed.
    pub fn with_usage(self, usage: Usage, host_ports: Vec<HostPort>) -> Self {
        Self {
            requested: usage.requested,
            non_zero_requested: usage.non_zero_requested,
            pods: usage.pods,
            host_ports,
            ..self
        }
    }

    pub fn name(&self) -> &str {
        &self.node.metadata.name
    }

    /// Counts one more pod with `requests` claiming `ports` here.
    pub fn add_pod(&mut self, requests: &PodRequests, ports: &[HostPort]) {
        self.requested = self.requested + requests.requested;
        self.non_zero_requested = self.non_zero_requested + requests.non_zero;
        self.pods += 1;
        self.host_ports.extend_from_slice(ports);
    }

    /// Stops counting a pod [`NodeInfo::add_pod`] (or the cache) counted.
    pub fn remove_pod(&mut self, requests: &PodRequests, ports: &[HostPort]) {
        self.requested = self.requested - requests.requested;
        self.non_zero_requested = self.non_zero_requested - requests.non_zero;
        self.pods -= 1;
        for port in ports {
            if let Some(at) = self.host_ports.iter().position(|held| held == port) {
                self.host_ports.swap_remove(at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::PodPhase;

    use super::*;
    use crate::scheduler::fixtures::{node_infos, pod_with, quantities};

    fn node(name: &str) -> Node {
        let mut node = Node::default();
        node.metadata.name = name.into();
        node.status.capacity = quantities(&[("cpu", "4"), ("memory", "8Gi"), ("pods", "110")]);
        node.status.allocatable = quantities(&[("cpu", "3500m"), ("memory", "7Gi")]);
        node
    }

    fn pod(node: &str, requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Pod {
        let mut pod = pod_with(requests, limits);
        pod.spec.node_name = node.into();
        pod
    }

    #[test]
    fn requests_fall_back_to_limits_and_default_for_scoring() {
        let p = pod("", &[("cpu", "250m")], &[("memory", "64Mi")]);
        let r = PodRequests::of(&p);
        assert_eq!(
            r.requested,
            Resources {
                cpu_millis: 250,
                memory_bytes: 64 << 20
            }
        );
        let empty = PodRequests::of(&pod("", &[], &[]));
        assert_eq!(empty.requested, Resources::default());
        assert_eq!(
            empty.non_zero,
            Resources {
                cpu_millis: DEFAULT_CPU_MILLIS,
                memory_bytes: DEFAULT_MEMORY_BYTES
            }
        );
    }

    #[test]
    fn allocatable_falls_back_to_capacity() {
        let n = node("a");
        let info = NodeInfo::new(&n);
        assert_eq!(
            info.allocatable,
            Resources {
                cpu_millis: 3500,
                memory_bytes: 7 << 30
            }
        );
        assert_eq!(info.max_pods, Some(110));
    }

    #[test]
    fn bound_non_terminal_pods_are_counted_on_their_node() {
        let nodes = [node("b"), node("a")];
        let mut done = pod("a", &[("cpu", "1")], &[]);
        done.status.phase = PodPhase::Succeeded;
        let pods = [
            pod("a", &[("cpu", "1"), ("memory", "1Gi")], &[]),
            pod("a", &[("cpu", "500m")], &[]),
            done,
            pod("", &[("cpu", "2")], &[]),
            pod("gone", &[("cpu", "2")], &[]),
        ];
        let infos = node_infos(&nodes, &pods);
        assert_eq!(infos[0].name(), "a");
        assert_eq!(
            infos[0].requested,
            Resources {
                cpu_millis: 1500,
                memory_bytes: 1 << 30
            }
        );
        assert_eq!(infos[0].pods, 2);
        assert_eq!(infos[1].requested, Resources::default());
    }
}
