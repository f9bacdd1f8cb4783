//! Builders of nodes and pods shared by the scheduler's tests.

use std::collections::BTreeMap;

use flotilla_kernel::api::EventType;
use flotilla_kernel::object::{
    ConditionStatus, Container, Node, NodeCondition, Pod, Quantity, ResourceRequirements,
};

use super::cache::SchedulerCache;
use super::node_info::NodeInfo;

pub fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
        .collect()
}

/// A ready node offering `cpu` and `memory`.
pub fn ready_node(name: &str, cpu: &str, memory: &str) -> Node {
    let mut node = Node::default();
    node.metadata.name = name.into();
    node.status.allocatable = quantities(&[("cpu", cpu), ("memory", memory)]);
    node.status.capacity = node.status.allocatable.clone();
    node.status.conditions = vec![NodeCondition {
        type_: NodeCondition::READY.into(),
        status: ConditionStatus::True,
        ..NodeCondition::default()
    }];
    node
}

/// A pod of one container with these requests and limits.
pub fn pod_with(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Pod {
    let mut pod = Pod::default();
    pod.metadata.namespace = "default".into();
    pod.metadata.name = "p".into();
    pod.spec.containers = vec![Container {
        name: "c".into(),
        image: "host".into(),
        resources: ResourceRequirements {
            requests: quantities(requests),
            limits: quantities(limits),
        },
        ..Container::default()
    }];
    pod
}

/// The nodes with `pods` counted where they are bound, as the scheduler's cache sees them.
pub fn node_infos<'a>(nodes: &'a [Node], pods: &[Pod]) -> Vec<NodeInfo<'a>> {
    let mut cache = SchedulerCache::default();
    for (i, pod) in pods.iter().enumerate() {
        // Fixture pods often share a name; each one counts.
        let mut pod = pod.clone();
        pod.metadata.name = format!("{}-{i}", pod.metadata.name);
        cache.pod_changed(EventType::Added, &pod);
    }
    cache.node_infos(nodes.iter())
}
